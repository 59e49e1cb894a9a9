"""Real-style titles (English and Spanish, brands the lexicon does not know, codes in every position and
spelling, accessories) and what the normalizer must read in them; each veto and each override alone.

The titles are written by hand in the style of real retail listings; none is copied from the public
benchmark data sets (tests/unit/test_retail_real_data.py runs those).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from processors.retail.attributes import code_in_title, code_kind, codes_in, parse_listing
from processors.retail.config import MatchConfig
from processors.retail.lexicon import DATA_DIR, load_data
from processors.retail.similarity import (
    _brand_named,
    _series_split,
    agreeing_code,
    codes_comparable,
    evidence,
    name_swap,
    numbers_conflict,
    same_code,
    score,
    series_conflict,
    titles_compared,
    veto,
)

CFG = MatchConfig()

# title, brand field, model number -> category, brand, codes, accessory
TITLES: list[tuple[str, str | None, str | None, tuple[str, str | None, tuple[str, ...], bool]]] = [
    # codes in every spelling: hyphen, glued, letters written apart
    (
        "Sony WH-1000XM5 Wireless Noise Cancelling Headphones Black",
        None,
        None,
        ("headphones", "sony", ("WH1000XM5",), False),
    ),
    ("Sony WH1000XM5 Headphones", None, None, ("headphones", "sony", ("WH1000XM5",), False)),
    ("Sony WH 1000XM5 Over-Ear Headphones", None, None, ("headphones", "sony", ("1000XM5", "WH1000XM5"), False)),
    ("Audífonos Sony WH-CH720N Azul", None, None, ("headphones", "sony", ("WHCH720N",), False)),
    ("Celular Samsung Galaxy A54 5G 128GB Negro SM-A546E", None, None, ("phone", "samsung", ("SMA546E",), False)),
    ("Samsung SMA546E Galaxy A54 256GB", None, None, ("phone", "samsung", ("SMA546E",), False)),
    ("Tablet Samsung Galaxy Tab A9+ 64GB SM-X210", None, None, ("tablet", "samsung", ("SMX210",), False)),
    # codes first, in the middle, last; brands the lexicon does not know
    ("Koss EQ50 3-Band Stereo Equalizer", None, None, ("other", None, ("EQ50",), False)),
    ("Koss EQ50 3-Band Stereo Equalizer", "Koss", None, ("other", "koss", ("EQ50",), False)),
    ("Kodak Black Ink Cartridge 10B 1163641", None, None, ("other", None, ("1163641",), False)),
    ("Epson 1500 Hours 200W UHE Projector Lamp ELPLP12", None, None, ("other", None, ("ELPLP12",), False)),
    ("Brother HL-L6200DW Laser Printer 1200 x 1200 DPI A4 Wi-Fi", None, None, ("other", None, ("HLL6200DW",), False)),
    ("HP 75 Tri-color Inkjet Cartridge CB337WN", None, None, ("other", "hp", ("CB337WN",), False)),
    ("Logitech M310 Wireless Mouse", None, None, ("other", "logitech", ("M310",), False)),
    ("Nikon D3000 10.2MP DSLR Camera Kit with 18-55mm Lens", None, None, ("other", None, ("D3000",), False)),
    ("Canon EOS 2000D + EF-S 18-55mm III", None, None, ("other", None, ("2000D", "EOS2000D"), False)),
    ("APC Back-UPS 750VA 120V BE750G", None, None, ("other", None, ("BE750G",), False)),
    ("Garmin Foretrex 401 Portable GPS 010-00777-00", None, None, ("other", "garmin", ("0100077700",), False)),
    ("D-Link DCS-1100 Network Camera", None, None, ("other", None, ("DCS1100",), False)),
    ("StarTech.com RKPW247015 24 Outlet Power Strip", None, None, ("other", None, ("RKPW247015",), False)),
    ("3M FR530CB Ergonomic Adjustable Footrest", None, None, ("other", None, ("FR530CB",), False)),
    ("Visioneer RW120-WU RoadWarrior Sheetfed Scanner", None, None, ("other", None, ("RW120WU",), False)),
    ("Monitor Dell 24 P2422H", None, None, ("other", "dell", ("P2422H",), False)),
    ("Sandisk Cruzer Glide 64GB USB 2.0 SDCZ60-064G", None, None, ("other", None, ("SDCZ60064G",), False)),
    ("Canon imageCLASS X25 Black Toner Cartridge 8489A001AA", None, None, ("other", None, ("8489A001AA",), False)),
    ("Disco Duro Externo Seagate 2TB STKM2000400", None, None, ("other", None, ("STKM2000400",), False)),
    ("Mouse Logitech G203 Lightsync Negro", None, None, ("other", "logitech", ("G203",), False)),
    ("Teclado Mecánico Redragon Kumara K552 RGB", None, None, ("other", None, ("K552",), False)),
    ("Audifonos Gamer HyperX Cloud Stinger 2 Core 683L9AA", None, None, ("headphones", None, ("683L9AA",), False)),
    ("Impresora Multifuncional Epson EcoTank L3250", None, None, ("other", None, ("L3250",), False)),
    ("JBL Tune 520BT Wireless On-Ear Headphones Blue", None, None, ("headphones", "jbl", ("520BT",), False)),
    # quantities, versions, standards and years are not codes
    ("Kingston ValueRAM 2GB Kit 2x1GB PC3200 DDR 184-Pin", None, None, ("other", None, (), False)),
    ("Corel VideoStudio 11 Plus", None, None, ("other", None, (), False)),
    ("Adobe Photoshop Elements 5.0 Win", None, None, ("other", None, (), False)),
    ("Microsoft Office 2007 Small Business Edition", None, None, ("other", "microsoft", (), False)),
    ("Punch Software 17100 Punch! Super Home Suite v.3.0", None, None, ("other", None, (), False)),
    ("Reloj inteligente Huawei Watch GT 4 46mm", None, None, ("watch", "huawei", (), False)),
    ("Cámara Canon EOS Rebel T7 18-55mm", None, None, ("other", None, (), False)),
    ("Refrigerador No Frost Mademsa Altus 1350 324 Litros", None, None, ("fridge", "mademsa", (), False)),
    ("Auriculares inalámbricos Xiaomi Redmi Buds 4 Active", None, None, ("headphones", "xiaomi", (), False)),
    ("Bose QuietComfort 45 Auriculares Bluetooth Blanco", None, None, ("headphones", "bose", (), False)),
    # the lexicon's categories and shapes still read as before
    ('Smart TV LG 55" 4K UHD 55UR7800PSA', None, None, ("tv", "lg", ("55UR7800PSA",), False)),
    (
        'Smart TV Samsung Crystal UHD CU7000 55" UN55CU7000GXZS',
        None,
        None,
        ("tv", "samsung", ("CU7000", "UN55CU7000GXZS"), False),
    ),
    (
        "Notebook Lenovo IdeaPad Slim 3 15IRH8 Intel Core i5-13420H 16GB 512GB SSD",
        None,
        None,
        ("notebook", "lenovo", ("15IRH8",), False),
    ),
    ("Apple MacBook Air 13 M2 8GB 256GB MLY33LL/A", None, None, ("notebook", "apple", ("MLY33LLA",), False)),
    ("iPhone 15 Pro 256GB Titanio Natural MTV53LZ/A", None, None, ("phone", "apple", ("MTV53LZA",), False)),
    ("Lavadora Samsung 19 kg WA19CG6745BV", None, None, ("washer", "samsung", ("WA19CG6745BV",), False)),
    ("Microondas Oster 20 Litros POGYMWF1020", None, None, ("microwave", "oster", ("POGYMWF1020",), False)),
    ("Freidora de aire Philips HD9252/90 4.1 L", None, None, ("airfryer", "philips", ("HD925290",), False)),
    ("Consola PlayStation 5 Slim 1TB CFI-2015", None, None, ("console", "sony", ("CFI2015",), False)),
    ("Nintendo Switch OLED HEG-001", None, None, ("console", "nintendo", ("HEG001",), False)),
    ("Smartphone Motorola Moto G84 5G 256GB XT2347-1", None, None, ("phone", "motorola", ("XT23471",), False)),
    ("Xiaomi Redmi Note 13 Pro 8GB 256GB 2312DRA50G", None, None, ("phone", "xiaomi", ("2312DRA50G",), False)),
    # accessories: they do not take the brand, family or code of the product they are made for
    ("Funda para iPhone 15 Pro Max Silicona Negra", None, None, ("accessory", None, (), True)),
    ("Case for Samsung Galaxy S24 Ultra SM-S928B Clear", None, None, ("accessory", None, (), True)),
    ("Cable USB-C a Lightning 1m Apple", None, None, ("accessory", "apple", (), True)),
    ("Cargador Samsung 25W Carga Rápida EP-TA800", None, None, ("accessory", "samsung", ("EPTA800",), True)),
    ("Protector de pantalla compatible con Galaxy A54", None, None, ("accessory", None, (), True)),
    ("Screen protector compatible with iPhone 15", None, None, ("accessory", None, (), True)),
    ("Anker PowerCore 10000mAh Portable Charger A1263", None, None, ("accessory", "anker", ("A1263",), True)),
    ("Targus 15.6 Laptop Backpack TSB883", None, None, ("accessory", None, ("TSB883",), True)),
    ("Soporte de pared para TV 32 a 55 pulgadas", None, None, ("accessory", None, (), True)),
    ("Correa para Apple Watch 44mm Silicona", None, None, ("accessory", None, (), True)),
    # (the lamp's own part number: "for" is followed by no brand, family or code the lexicon knows)
    ("Replacement Lamp for Epson PowerLite 1700 ELPLP12", None, None, ("accessory", None, ("ELPLP12",), True)),
    # a retailer's model-number field: a code when it looks like one
    ("Draper Infrared Remote Transmitter", None, "121066", ("other", None, ("121066",), False)),
    ("Da-Lite Model B Manual Screen", None, "MATTE WHITE", ("other", None, (), False)),
    ("Canon imageCLASS Toner", None, "X-25", ("other", None, (), False)),
    ("Pioneer 10 in. Champion Series Subwoofer", "Pioneer", "TS-W2502D2", ("other", "pioneer", ("TSW2502D2",), False)),
    # session 17: a code ending in a lower-case letter away from the end, a field code beside a title
    # code, a number-led code in parentheses, a team name on a case
    ("Tonica TDR300d Chameleon Earphones with Mic", "Tonica", None, ("headphones", "tonica", ("TDR300D",), False)),
    (
        "Voltix VX-450B 450W Silent Fan ATX Power Supply",
        "Voltix",
        "14021",
        ("other", "voltix", ("14021", "VX450B"), False),
    ),
    ("Roadmate Universal Dash Mount", "Roadmate", "14021", ("accessory", "roadmate", ("14021",), True)),
    ("sonicguard global vpn client - license ( 01-ssc-5310 )", None, None, ("other", None, ("01SSC5310",), False)),
    ("Kovo Riverside Hawks iPhone 4 Silicone Case", None, None, ("accessory", None, (), True)),
]


def test_the_table_is_large_enough() -> None:
    assert len(TITLES) >= 60


@pytest.mark.parametrize(("title", "brand", "number", "expected"), TITLES)
def test_real_style_titles(
    title: str, brand: str | None, number: str | None, expected: tuple[str, str | None, tuple[str, ...], bool]
) -> None:
    a = parse_listing(title, brand, None, number)
    assert (a.category, a.brand, a.codes, a.accessory) == expected


def test_the_model_number_is_the_primary_code() -> None:
    a = parse_listing("Pioneer Champion Series Subwoofer", "Pioneer", None, "TS-W2502D2")
    assert (a.model_code, a.code_key) == ("TS-W2502D2", "TSW2502D2")


@pytest.mark.parametrize(
    ("title", "capacity"),
    [
        ("Eveready Gold Alkaline AA Batteries 24-Pack", "24pk"),
        ("Sharpie Fine Point Markers, Pack of 12", "12pk"),
        ("Intuit QuickBooks Pro 2008 3-User", "3u"),
        ("Norton Antivirus 5 Users", "5u"),
        ("Bolsas de basura 30 unidades", "30pk"),
        ("Eveready Gold Alkaline D Batteries", None),
    ],
)
def test_counts_are_a_capacity(title: str, capacity: str | None) -> None:
    assert parse_listing(title).capacity == capacity


@pytest.mark.parametrize(
    ("code", "title", "inside"),
    [
        ("WH1000XM5", "sony wh 1000xm5 black", True),
        ("WH1000XM5", "sony wh1000xm5", True),
        ("WH1000XM5", "sony wh 1000xm50", False),
        ("A546E", "samsung sm a546e", True),
        ("A546", "samsung sm a546e", False),
    ],
)
def test_a_code_inside_a_title_respects_word_boundaries(code: str, title: str, inside: bool) -> None:
    assert code_in_title(code, title) is inside


@pytest.mark.parametrize(
    ("x", "y", "same"),
    [
        ("DCB309", "DCB309BLACK", True),
        ("8489A001", "8489A001AA", True),
        ("97185", "VER97185", True),
        ("2312DRA50G", "2312DRA50G5", False),  # a one-character suffix: another model
        ("CB337WN", "CB337WN140", False),  # a digit suffix: another model
        ("520BT", "03520BT", False),  # a digit prefix is not a vendor's
        ("SMA546E", "SMA546B", False),
        ("OCZSSDPX1RVD0110", "OCZSSDPX1RVD110", True),  # a digit run's leading zeros
        ("108R00602", "108R602", True),
        ("108R00602", "108R00603", False),
        ("CU7000", "UN55CU7000GXZS", False),  # inside another: a series code, not one model
        ("MF8090AA004", "51MF8090AA004", False),  # a digit prefix is not a vendor's
        ("X346AA", "HPX346AA", True),  # a letter prefix: the vendor's
    ],
)
def test_same_code(x: str, y: str, same: bool) -> None:
    assert same_code(x, y) is same
    assert same_code(y, x) is same


@settings(max_examples=200, deadline=None)
@given(
    letters=st.text(alphabet="ABCDHKMXZ", min_size=1, max_size=4),
    number=st.integers(1, 99_999),
    zeros=st.integers(1, 3),
    tail=st.text(alphabet="ABCDHKMXZ", max_size=3),
)
def test_leading_zeros_never_tell_codes_apart(letters: str, number: int, zeros: int, tail: str) -> None:
    plain = f"{letters}{number}{tail}"
    padded = f"{letters}{'0' * zeros}{number}{tail}"
    assert same_code(plain, padded) and same_code(padded, plain)
    assert not same_code(plain, f"{letters}{number + 1}{tail}")


# --------------------------------------------------------------------------- each veto alone
@pytest.mark.parametrize(
    ("a", "b", "vetoed_by"),
    [
        ("HP 56 Black Inkjet Cartridge C6656AN", "Remanufactured HP 56 Black Inkjet Cartridge C6656AN", "condition"),
        ("Funda para iPhone 15", "Apple iPhone 15 128GB Negro", "accessory"),
        ("Sony Headphones WH-1000XM5", "Sony Headphones WH-1000XM4", "model_code"),
        ("Celular Xiaomi Redmi Note 13 128GB", "Celular Xiaomi Redmi Note 12 128GB", "model"),
        ("Celular Samsung Galaxy A54 128GB Negro", "Celular Samsung Galaxy A54 256GB Negro", "storage_gb"),
        ("Celular Samsung Galaxy A54 8GB RAM 128GB Negro", "Celular Samsung Galaxy A54 6GB RAM 128GB Negro", "ram_gb"),
        ("Celular Samsung Galaxy A54 128GB Negro", "Celular Samsung Galaxy A54 128GB Blanco", "color"),
        ("Eveready Gold Alkaline AA Batteries 24-Pack", "Eveready Gold Alkaline AA Batteries 4-Pack", "capacity"),
        ("Notebook HP 15 Core i5 8GB 512GB SSD", "Notebook HP 15 Core i7 8GB 512GB SSD", "cpu"),
        ('Smart TV LG 55" UHD UR7800', 'Smart TV LG 65" UHD UR7800', "screen_inches"),
        ("Apple MacBook Air M2 8GB 256GB", "Apple MacBook Air M3 8GB 256GB", "model"),
        # (category and variant, each alone: test_retail_matcher.py::test_veto)
    ],
)
def test_each_veto_alone(a: str, b: str, vetoed_by: str) -> None:
    pa, pb = parse_listing(a), parse_listing(b)
    assert veto(pa, pb, CFG) == vetoed_by
    assert veto(pb, pa, CFG) == vetoed_by


def test_the_brand_veto_alone() -> None:
    a, b = parse_listing("Stereo Equalizer", "Koss"), parse_listing("Stereo Equalizer", "Pioneer")
    assert veto(a, b, CFG) == veto(b, a, CFG) == "brand"


# --------------------------------------------------------------------------- each override alone
def _match(a: object, b: object) -> bool:
    v = score(a, b, CFG)  # type: ignore[arg-type]
    return v.veto is None and v.score >= CFG.threshold


def test_a_code_agreement_overrules_the_brand_veto() -> None:
    # a distributor in one brand field, the manufacturer in the other; both state the code
    a = parse_listing("Stereo Equalizer EQ50", "Koss")
    b = parse_listing("Stereo Equalizer EQ50 3-Band", "Electronics Expo")
    assert agreeing_code(a, b) == "EQ50"
    assert _match(a, b)
    c = parse_listing("Stereo Equalizer", "Koss")
    d = parse_listing("Stereo Equalizer 3-Band", "Electronics Expo")
    assert veto(c, d, CFG) == "brand"


def test_a_code_agreement_overrules_the_category_veto() -> None:
    a = parse_listing("3M Gel Mouse Pad MW310LE")  # "pad" reads as a tablet word
    b = parse_listing("3M MW310LE Precise Gel Wrist Rest Mouse Mat")
    assert a.category == "tablet"
    assert _match(a, b)


def test_a_code_agreement_overrules_the_model_key_veto() -> None:
    # one retailer names the camera by its line ("G7X"), the other by the series it reads ("Mark II")
    plain_a, plain_b = parse_listing("Canon PowerShot G7X Camera"), parse_listing("Canon PowerShot M2 Camera")
    assert veto(plain_a, plain_b, CFG) == "model"
    a = parse_listing("Canon PowerShot G7X Camera 1066C001")
    b = parse_listing("Canon 1066C001 PowerShot M2 Camera")
    assert agreeing_code(a, b) == "1066C001"
    assert _match(a, b)


def test_a_code_agreement_overrules_the_accessory_veto() -> None:
    a = parse_listing("Griffin Airstrap GB01759 Black")
    b = parse_listing("Griffin GB01759 Airstrap Case for iPad - Black")
    assert (a.accessory, b.accessory) == (False, True)
    assert _match(a, b)


def test_a_code_agreement_overrules_model_words() -> None:
    a = parse_listing("Sony 2.0 Wireless Headphones WH-1000XM5")
    b = parse_listing("Sony WH 1000XM5 Headphones Edition 3")
    assert _match(a, b)


def test_a_code_written_apart_agrees() -> None:
    a = parse_listing("Sony WH-1000XM5 Headphones")
    b = parse_listing("Sony Headphones WH 1000XM5")
    assert agreeing_code(a, b) == "WH1000XM5"


def test_a_code_agreement_never_overrules_storage() -> None:
    a = parse_listing("Samsung Galaxy A54 128GB SM-A546E")
    b = parse_listing("Samsung Galaxy A54 256GB SM-A546E")
    assert veto(a, b, CFG) == "storage_gb"


def test_a_code_that_is_the_model_word_keeps_the_variant_veto() -> None:
    a = parse_listing("Samsung Galaxy S2355 128GB Negro")
    b = parse_listing("Samsung Galaxy S2355 FE 128GB Negro")
    assert agreeing_code(a, b) == "S2355"
    assert veto(a, b, CFG) == "variant"


def test_an_accessory_does_not_take_the_device_code() -> None:
    case = parse_listing("Case for Samsung Galaxy S24 SM-S921B")
    phone = parse_listing("Samsung Galaxy S24 128GB SM-S921B")
    assert agreeing_code(case, phone) is None
    assert veto(case, phone, CFG) == "accessory"


def test_a_distributor_brand_field_is_no_conflict() -> None:
    a = parse_listing("Sharp EL1192BL Printing Calculator", "Sharp Electronics")
    b = parse_listing("Sharp Two-Color Printing Calculator", "Sharp")
    assert veto(a, b, CFG) is None


# --------------------------------------------------------------------------- properties
_LETTERS = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ", min_size=2, max_size=3)
_DIGITS = st.text(alphabet="0123456789", min_size=3, max_size=5)
_TAIL = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ", min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(_LETTERS, _DIGITS, _TAIL, st.sampled_from(["-", " ", "/", ""]))
def test_a_code_reads_the_same_whatever_the_separator(letters: str, digits: str, tail: str, sep: str) -> None:
    glued = f"Acme Widget {letters}{digits}{tail} Black"
    spaced = f"Acme Widget {letters}{sep}{digits}{tail} Black"
    a, b = parse_listing(glued), parse_listing(spaced)
    assume(a.codes)  # (a few prefixes name standards, not models: "PC3200", "USB3", "CAT6")
    assert agreeing_code(a, b) == f"{letters}{digits}{tail}"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/.", min_size=1, max_size=12), max_size=10))
def test_codes_are_upper_case_letters_and_digits(words: list[str]) -> None:
    for code in codes_in(words):
        assert code.isalnum() and code == code.upper() and len(code) >= 4


# --------------------------------------------------------------------------- the lexicon's data files
def test_a_users_data_file_extends_the_lexicon(tmp_path: Path) -> None:
    (tmp_path / "lexicon.toml").write_text('brands = ["sony"]\nstop_words = ["the"]\n[families]\n"bravia" = "sony"\n')
    (tmp_path / "categories.toml").write_text('category_words = [["headphones", "headphones"]]\n')
    (tmp_path / "my_shop.toml").write_text(
        'brands = ["acme", "sony"]\ncategory_words = [["anvil", "other"]]\n[families]\n"roadrunner" = "acme"\n'
    )
    data = load_data(tmp_path)
    assert data["brands"] == ["sony", "acme"]
    assert data["families"] == {"bravia": "sony", "roadrunner": "acme"}
    assert data["category_words"] == [("headphones", "headphones"), ("anvil", "other")]


def test_the_shipped_data_files_are_the_lexicon() -> None:
    data = load_data(DATA_DIR)
    assert "sony" in data["brands"] and ("headphones", "headphones") in data["category_words"]
    assert "funda" in data["accessory_words"] and "remanufactured" in data["condition_words"]


def test_the_evidence_names_a_code_found_inside_the_other_title() -> None:
    a = parse_listing("Koss Stereo Equalizer EQ50", "Koss")
    b = parse_listing("Stereo Equalizer by Koss, model EQ 50", "Koss")
    c = parse_listing("Koss EQ50 3-Band Equalizer", "Koss")
    rows = {e["attribute"]: e for e in evidence(a, c, CFG)}
    assert rows["code_in_both"] == {
        "attribute": "code_in_both",
        "value_a": "EQ50",
        "value_b": "EQ50",
        "outcome": "agree",
        "weight": 3.0,
    }
    assert agreeing_code(a, b) == "EQ50"  # "eq 50" written apart, found inside the title


# --------------------------------------------------------------------------- session 14: editions, platforms
def test_packaging_is_not_an_accessory() -> None:
    """A "(jewel case)" is how a CD is packed: the title is not an accessory and the words are not read."""
    boxed = parse_listing("Hoyle Solitaire (Jewel Case)")
    assert (boxed.accessory, boxed.category, boxed.product_line) == (False, "other", "hoyle solitaire")
    assert parse_listing("HP 564 Ink Cartridge in Retail Packaging").product_line == "564 ink cartridge"  # brand "hp"
    assert parse_listing("Funda Case iPhone 15 Pro Transparente").accessory  # a case, not packaging


@pytest.mark.parametrize(
    ("title", "line", "distinctive"),
    [
        ("Adobe Audition 2.0", "adobe audition 2", ("2",)),  # zero decimals: "2.0" = "2"
        ("Encore Marine Aquarium v.2.0", "encore marine aquarium 2", ("2",)),
        ("Sound Forge 9.00", "sound forge 9", ("9",)),
        ("Nero 7.5 Ultra", "nero 7 5 ultra", ("5", "7", "ultra")),  # a real decimal is kept
        ("Hoyle Texas Holdem (Win 98 ME 2000 XP)", "hoyle texas holdem win", ()),  # a platform's versions
        ("Scrabble Mac OS X 10.4 or later", "scrabble mac os or later", ()),
        ("Juego Carreras Windows XP Vista", "juego carreras windows", ()),
        ("Photo Studio 3 para Windows", "photo studio 3 windows", ("3",)),  # before the platform: the product's
        ("Painter v9 Win/Mac", "painter 9 win mac", ("9",)),  # a one-digit version: "v9" = "9"
        ("Flight Sim X-Plane v8 (Mac)", "flight x plane 8 mac", ("8", "x")),
        ("LG V50 ThinQ", "v50 thinq", ("v50",)),  # two digits after "v": a model, kept
        ("Acme V8x Router", "acme v8x router", ("v8x",)),  # letters after the digit: a model
    ],
)
def test_versions_and_platforms(title: str, line: str, distinctive: tuple[str, ...]) -> None:
    a = parse_listing(title)
    assert (a.product_line, a.distinctive) == (line, distinctive)


@pytest.mark.parametrize(
    ("title", "line", "qualifiers"),
    [
        ("Microsoft Office Professional 2007", "office pro 2007", ("pro",)),
        ("Suite Oficina Profesional 2007", "suite oficina pro 2007", ("pro",)),
        ("Visual Studio Pro 2005 Upgrade", "visual studio pro 2005 upgrade", ("pro", "upgrade")),
        ("Professionally Printed Cards", "professionally printed cards", ()),  # a whole word only
        ("Home Lawyer Dlx 2006 Upg", "home lawyer deluxe 2006 upgrade", ("upgrade",)),  # abbreviations
        ("Office Std 2007 Acad", "office standard 2007 academic", ("academic",)),
    ],
)
def test_a_word_written_two_ways_is_read_one_way(title: str, line: str, qualifiers: tuple[str, ...]) -> None:
    """data/lexicon.toml ``spellings``: "professional" / "profesional" are read as "pro", a variant word;
    "dlx", "std", "upg", "acad" as the words they abbreviate (two of them licence words)."""
    a = parse_listing(title)
    assert (a.product_line, a.qualifiers) == (line, qualifiers)


def test_pro_and_professional_are_one_variant() -> None:
    """Before ``spellings``, "Professional" on one side and "Pro" on the other vetoed (a variant word on
    one side only); now the two titles name one variant."""
    a = parse_listing("Microsoft Windows XP Professional SP2")
    b = parse_listing("Microsoft Windows XP Pro SP2")
    assert veto(a, b, CFG) is None
    assert score(a, b, CFG).score == 1.0
    assert veto(parse_listing("Microsoft Windows XP Home SP2"), b, CFG) == "variant"


@pytest.mark.parametrize(
    ("title", "model"),
    [
        ("Encore Software 10282 - Sharks 2.0 (Win 98 ME 2000 XP)", "sharks2"),  # the catalogue number skipped
        ("Sharks 2.0 (PC & Mac)", "sharks2"),  # ... so both sides name the same model
        ("Hoyle Board Games 10027", "hoyle"),  # no brand, after a publisher's words: the first name word
        ("Refrigerador Altus 011350 No Frost", "altus011350"),  # after one word: the model's number
        ("Juego Carreras 2007", "carreras2007"),  # four digits (a year, a version) still name the model
        ("Celular Apple iPhone 15 128GB", "iphone15"),
    ],
)
def test_a_long_bare_number_gives_way_to_a_later_model_word(title: str, model: str) -> None:
    """A bare number of five digits or more gives way to a later word with a digit: it is then a
    retailer's or publisher's catalogue number before the product's name."""
    assert parse_listing(title).model == model


def test_a_platform_list_on_one_side_does_not_veto() -> None:
    a = parse_listing("Hoyle Solitaire")
    b = parse_listing("Encore Hoyle Solitaire (Win 98 ME 2000 XP)")
    assert veto(a, b, CFG) is None


def test_a_licence_word_on_one_side_costs_the_penalty() -> None:
    """Licence words "upgrade", "academic"... (data/lexicon.toml ``licence_words``) on one side only: a
    penalty, not a veto; the same licence on both sides costs nothing."""
    full = parse_listing("Adobe Photoshop Elements 4 Mac")
    upgrade = parse_listing("Adobe Photoshop Elements 4 Mac Upgrade")
    both = parse_listing("Adobe Photoshop Elements 4 Upgrade Mac")
    assert upgrade.qualifiers == ("upgrade",)
    assert veto(full, upgrade, CFG) is None
    free = CFG.model_copy(update={"licence_penalty": 0.0})
    assert score(full, upgrade, free).score == 1.0  # the same model key, one line inside the other
    assert score(full, upgrade, CFG).score == round(1.0 - CFG.licence_penalty, 6) == 0.88
    assert score(upgrade, both, CFG).score == 1.0
    academic = parse_listing("Adobe Photoshop Elements 4 Mac Academic")
    assert score(upgrade, academic, CFG).score == round(score(upgrade, academic, free).score - 0.24, 6)


def test_a_code_agreement_ignores_the_licence_penalty() -> None:
    """Both model numbers agree: the manufacturer says it is one product, whatever one title adds."""
    a = parse_listing("Acme Office Suite 2007 Upgrade", "Acme", None, "OFS-2207")
    b = parse_listing("Acme Office Suite 2007", "Acme", None, "OFS2207")
    assert score(a, b, CFG).score == score(a, b, CFG.model_copy(update={"licence_penalty": 0.0})).score == 1.0


# --------------------------------------------------------------------------- kinds of identifier (session 16)
@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("148210", "number"),  # a retailer's catalogue number
        ("520117", "number"),  # a part number in digit groups, "520-117"
        ("AVE11890", "either"),  # a distributor's prefix on a number, or a model code
        ("MHC00027", "either"),
        ("DCB304", "code"),
        ("SMA546E", "code"),
        ("KFC1652S", "code"),
    ],
)
def test_code_kind(key: str, kind: str) -> None:
    assert code_kind(key) == kind


@given(st.integers(min_value=10_000, max_value=10**12))
def test_every_digit_run_is_a_number(n: int) -> None:
    assert code_kind(str(n)) == "number"


def test_a_catalogue_number_does_not_veto_a_model_code() -> None:
    # one retailer's model-number field holds its own catalogue number, the other the maker's code
    a = parse_listing("Targa Urban Shoulder Bag Large", "Targa", None, "148210")
    b = parse_listing("Targa UB-410 Urban Large Camera Shoulder Bag Grey", "Targa", None, "UB-410")
    assert (a.code_key, b.code_key) == ("148210", "UB410")
    assert not codes_comparable(a, b)
    assert veto(a, b, CFG) is None and veto(b, a, CFG) is None
    assert score(a, b, CFG) == (0.85, None)  # the titles' own similarity: one inside the other
    # neither counts as a code agreement: the evidence gives no code weight
    assert [(e["outcome"], e["weight"]) for e in evidence(a, b, CFG) if e["attribute"] == "model_code"] == [
        ("not_compared", 0.0)
    ]


def test_two_catalogue_numbers_still_veto() -> None:
    a = parse_listing("Targa Urban Shoulder Bag Large", "Targa", None, "148210")
    b = parse_listing("Targa Urban Shoulder Bag Large", "Targa", None, "148977")
    assert codes_comparable(a, b)
    assert veto(a, b, CFG) == "model_code"


def test_a_prefixed_number_is_compared_with_a_number() -> None:
    # "AVE11890": a distributor's prefix on the maker's number; "11830" is another item of the line
    a = parse_listing("Avant Index Tab Dividers 8-Tab White", "Avant", None, "11830")
    b = parse_listing("New-Avant 11890 - Index Tab Dividers 8-Tab White - AVE11890", "Avant", None, "AVE11890")
    assert codes_comparable(a, b)
    assert veto(a, b, CFG) == "model_code"
    c = parse_listing("Avant Index Tab Dividers 8-Tab White", "Avant", None, "11890")
    assert veto(c, b, CFG) is None


def test_two_model_codes_still_veto() -> None:
    a = parse_listing("Kenton 6.5 Coaxial Speakers", "Kenton", None, "KFC-1652")
    b = parse_listing("Kenton 6.5 Coaxial Speakers", "Kenton", None, "KFC-1692")
    assert veto(a, b, CFG) == "model_code"


@pytest.mark.parametrize(
    ("number", "brand", "model_code", "code_key", "codes"),
    [
        ("HP CB336WN", "HP", "CB336WN", "CB336WN", ("CB336WN",)),  # the brand before the code
        ("CB336WN#140", "HP", "CB336WN#140", "CB336WN140", ("CB336WN140", "CB336WN")),  # "#" option
        ("Q7551X/424", "HP", "Q7551X/424", "Q7551X424", ("Q7551X424", "Q7551X")),  # "/" and digits
        ("MQ8N3LZ/A", "Apple", "MQ8N3LZ/A", "MQ8N3LZA", ("MQ8N3LZA",)),  # a region in letters stays
        ("E8 SILVER", "Nokta", None, None, ()),  # a code and a colour: a description, not one code
        ("ZOOM 2 PACK", None, None, None, ()),
        ("DIGI -LP13CC400", "Dudley", None, None, ("LP13CC400",)),  # a word and a code: the code
        ("7532", "Tops", None, None, ("7532",)),  # four digits: an item number, a code but not the primary
        ("X-25", None, None, None, ()),
        ("753", None, None, None, ()),
        # letters in hyphenated groups: a code ("NT-WGHU"), not a word ("CD-BL" is too short to tell)
        ("NT-WGHU", "Sabrent", "NT-WGHU", "NTWGHU", ("NTWGHU",)),
        ("LD-MSD-USB", None, "LD-MSD-USB", "LDMSDUSB", ("LDMSDUSB",)),
        ("CD-BL", None, None, None, ()),
    ],
)
def test_the_model_number_field(
    number: str, brand: str | None, model_code: str | None, code_key: str | None, codes: tuple[str, ...]
) -> None:
    a = parse_listing("Storage Box", brand, None, number)
    assert (a.model_code, a.code_key, a.codes) == (model_code, code_key, codes)


def test_a_packaging_option_agrees_with_the_bare_code() -> None:
    a = parse_listing("HP 96 Black Inkjet Print Cartridge C8767WN", "HP", None, "HP C8767WN")
    b = parse_listing("HP 96 Black Ink Cartridge in Retail Packaging", "HP", None, "C8767WN#140")
    assert veto(a, b, CFG) is None
    assert score(a, b, CFG).score >= CFG.threshold


def test_model_words_spaced_differently_do_not_veto() -> None:
    a = parse_listing("printline platinum v 17.0")
    b = parse_listing("printline platinum v17")
    assert (a.distinctive, b.distinctive) == (("17", "v"), ("v17",))
    assert veto(a, b, CFG) is None
    # different numbers still do
    assert veto(parse_listing("printline platinum v 17.0"), parse_listing("printline platinum v18"), CFG) == "model"


def test_a_model_word_the_other_title_states_is_not_lacking() -> None:
    # one side reads "t q ledger" as the brand (its field), the other keeps "t q" as model words
    a = parse_listing("T&Q Ledger TaxPilot 2006 Premium Federal", "T&Q Ledger")
    b = parse_listing("T&Q Ledger TaxPilot Premium Federal Software for Windows")
    assert (a.brand, a.distinctive, b.brand, b.distinctive) == ("t q ledger", ("2006",), None, ("q", "t"))
    assert veto(a, b, CFG) is None and veto(b, a, CFG) is None
    # a number with a letter on one side only: "17r" / "17" (a screen size read as a model word)
    c = parse_listing("Dellor Switch Lid Fire Red 17R")
    d = parse_listing("Switch Lid by Dellor Fire Red 17-Inch")
    assert (c.distinctive, d.distinctive) == (("17r",), ("17",))
    assert veto(c, d, CFG) is None and veto(d, c, CFG) is None
    # a number alone elsewhere in the other title does not count ("25" in "set of 25")
    e = parse_listing("Connecta 25-Pin Male Connector with Hood Set of 25")
    f = parse_listing("Connecta 9-Pin Male Connector with Hood Set of 25")
    assert veto(e, f, CFG) == veto(f, e, CFG) == "model"
    # nor a number inside another number ("6" in "68")
    g = parse_listing("Sabrix 6-in-1 USB 2.0 Card Reader")
    h = parse_listing("Sabrix 68-in-1 USB 2.0 Card Reader")
    assert veto(g, h, CFG) == veto(h, g, CFG) == "model"


def test_a_code_named_in_both_titles_does_not_overrule_two_makers() -> None:
    # a chip both cards carry, sold by two makers: the code agrees, the brands differ
    a = parse_listing("Vistek Radeon HD7750 1GB GDDR5 Graphics Card", "Vistek", None, "900412")
    b = parse_listing("ZFX Radeon HD7750 1 GB DDR5 PCI-Express Video Card HD775XZNLC", "ZFX", None, "HD775XZNLC")
    assert agreeing_code(a, b) == "HD7750"
    assert veto(a, b, CFG) == veto(b, a, CFG) == "brand"
    # the same maker: the agreeing code counts
    c = parse_listing("Vistek Radeon HD7750 1 GB DDR5 Video Card", "Vistek")
    assert veto(a, c, CFG) is None
    # a primary code both state still overrules a distributor's brand field
    d = parse_listing("Stereo Equalizer EQ50", "Koss")
    e = parse_listing("Stereo Equalizer EQ50 3-Band", "Electronics Expo")
    assert veto(d, e, CFG) is None


# --------------------------------------------------------------------------- session 17: precision
def test_a_code_only_the_model_number_fields_state_does_not_overrule_two_makers() -> None:
    # both retailers' model-number fields say "14021", neither title names it, the brands differ
    a = parse_listing("Voltix VX-450B 450W Silent Fan ATX Power Supply", "Voltix", None, "14021")
    b = parse_listing("Roadmate Universal Dash Mount", "Roadmate", None, "14021")
    assert (a.code_key, b.code_key) == ("14021", "14021")
    assert veto(a, b, CFG) == veto(b, a, CFG) == "brand"
    # the same fields under one brand still agree
    c = parse_listing("Voltix 450W Silent ATX Power Supply Black", "Voltix", None, "14021")
    assert veto(a, c, CFG) is None
    # a distributor's brand field, the maker's name in the other title: not two makers
    d = parse_listing("Fenwick iPod Touch 4G SnapFit Case Pink", "Arlo Distribution", None, "FW01959")
    e = parse_listing("Fenwick Labs SnapFit for iPod touch 4G Pink", "Fenwick Labs", None, "FW01959")
    assert score(d, e, CFG) == (0.965, None)
    # a code a title names still overrules a brand field (test_a_code_agreement_overrules_the_brand_veto)


@pytest.mark.parametrize(
    ("x", "y", "split"),
    [
        ("IDR355MD", "IDR300D", True),  # one series, two numbers
        ("01SSC5310", "01SSC2574", True),  # a number-led series
        ("DSCH70", "DSCH70B", False),  # a suffix: one model (same_code)
        ("TDR355", "TDR355", False),
        ("213076B26", "231319B26", True),  # two part numbers with one option suffix
        ("21B26", "23B26", False),  # numbers shorter than three digits
        ("213076B", "231319B", False),  # a common end shorter than three characters
        ("213076026", "231319026", False),  # a common end of digits only
        ("AB1234", "AB5678", False),  # a common start of two characters: too short
        ("KDR320", "KDX320", False),  # parting at letters
    ],
)
def test_series_split(x: str, y: str, split: bool) -> None:
    assert _series_split(x, y) is split
    assert _series_split(y, x) is split


def test_a_series_code_anywhere_in_the_title_vetoes() -> None:
    # the primary code is read from the last word; the other title's code is elsewhere (not primary)
    a = parse_listing("Tonica Chameleon Earphones TDR355MD", "Tonica")
    b = parse_listing("Tonica TDR300d Chameleon Earphones with Mic", "Tonica")
    assert (a.code_key, b.code_key, b.codes) == ("TDR355MD", None, ("TDR300D",))
    assert series_conflict(a, b)
    assert veto(a, b, CFG) == veto(b, a, CFG) == "model_code"
    # the same series number with a suffix agrees
    c = parse_listing("Tonica TDR355 Chameleon Earphones", "Tonica")
    assert veto(a, c, CFG) is None


@pytest.mark.parametrize(
    ("a", "b", "swap", "before", "after"),
    [
        # a team or design name where the other title has its own
        (
            "Kovo Riverside Hawks iPhone 4 Silicone Case",
            "Kovo Lakeview Tigers iPhone 4 Silicone Case",
            True,
            0.934884,
            0.784884,
        ),
        ("Kovo Trivia Card Games 2011", "Kovo Trivia Puzzle Board Games 2011", True, 0.964286, 0.814286),
        # a word spelled two ways or cut short: no swap
        (
            "Extended Capacity Maintenance Kit for Phaser 8550",
            "Extended Capacity Maintanence Kit for Phaser 8550",
            False,
            0.985714,
            0.985714,
        ),
        ("Tonica Roadster Visor Speaker", "Tonica Roadster Visor Speakerphone", False, 0.920635, 0.920635),
        # a platform, a colour, words one title adds alone: no swap
        ("chessmaster 9000 (mac)", "chessmaster 9000 feral interactive", False, 0.961111, 0.961111),
        ("Kovo Hawks iPhone 4 Silicone Case", "Kovo Hawks iPhone 4 Silicone Case by Fanwear", False, 1.0, 1.0),
    ],
)
def test_a_name_swap_costs_the_penalty(a: str, b: str, swap: bool, before: float, after: float) -> None:
    pa, pb = parse_listing(a), parse_listing(b)
    assert name_swap(pa, pb) is swap
    assert name_swap(pb, pa) is swap
    assert score(pa, pb, MatchConfig(name_swap_penalty=0)) == (before, None)
    assert score(pa, pb, CFG) == score(pb, pa, CFG) == (after, None)
    assert round(before - after, 6) == (CFG.name_swap_penalty if swap else 0.0)


def test_a_name_swap_needs_titles_that_share_half_their_words() -> None:
    # two shops' wordings: a swap in the middle, but fewer than half the words shared in order
    a = parse_listing("Kovo Hawks Silicone Case")
    b = parse_listing("Kovo Tigers Silicone Case for iPhone 4 with Stand and Strap")
    assert not name_swap(a, b)


def test_a_code_agreement_ignores_a_name_swap() -> None:
    a = parse_listing("Kovo Riverside Hawks iPhone 4 Silicone Case KV4410")
    b = parse_listing("Kovo Lakeview Tigers iPhone 4 Silicone Case KV4410")
    assert name_swap(a, b)
    assert score(a, b, CFG) == score(a, b, MatchConfig(name_swap_penalty=0))


def test_the_evidence_says_differ_for_two_brands_that_did_not_veto() -> None:
    # a distributor's brand field, overruled by the code both titles state: the brands count for nothing
    a = parse_listing("Stereo Equalizer EQ50", "Koss")
    b = parse_listing("Stereo Equalizer EQ50 3-Band", "Electronics Expo")
    assert veto(a, b, CFG) is None
    rows = {e["attribute"]: (e["value_a"], e["value_b"], e["outcome"], e["weight"]) for e in evidence(a, b, CFG)}
    assert rows["brand"] == ("koss", "electronics expo", "differ", 0.0)
    assert rows["model"] == ("eq50", "eq50", "agree", 2.0)


def test_a_model_key_that_is_a_code_is_judged_by_the_code_rules() -> None:
    # one model key is the listing's catalogue code, the other an ordinal: the code rules judge the code
    a = parse_listing("Brightkid Smart Steps 3rd Grade")
    b = parse_listing("Brightkid B0454JCH - Smart Steps 3rd Grade - Win 95")
    assert (a.model, b.model, b.codes) == ("3rd", "b0454jch", ("B0454JCH",))
    assert score(a, b, CFG) == score(b, a, CFG) == (0.85, None)
    # two model words, neither a code, still veto ("m2" / "m3": test_each_veto_alone)


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        # where a variant word names a variant: last, before a number, before a function word
        ("Corvia Vireo 5 Slim Digital", "Corvia Vireo 5 Slim", (0.0, "variant")),
        ("Nordel Pad Mini 6 64GB", "Nordel Pad 6 64GB", (0.0, "variant")),
        ("Kestra Photo Studio Pro for Mac", "Kestra Photo Studio for Mac", (0.0, "variant")),
        # before a plain word it describes the product
        ("Corvia Vireo Digital SLR Camera Bag", "Corvia Vireo SLR Camera Bag", (0.870968, None)),
        ("Nordel Mini USB Car Charger 5V", "Nordel USB Car Charger 5V", (1.0, None)),
        ("Kestra Photo Studio Professional Editing Software", "Kestra Photo Studio", (0.85, None)),
    ],
)
def test_a_variant_word_before_a_plain_word_describes(a: str, b: str, verdict: tuple[float, str | None]) -> None:
    pa, pb = parse_listing(a), parse_listing(b)
    assert score(pa, pb, CFG) == score(pb, pa, CFG) == verdict


def test_a_maker_named_by_the_first_word_of_its_brand_is_no_brand_conflict() -> None:
    # a distributor's brand field on one side; the other side's maker ("ledgerly") is a word of its title
    a = parse_listing("Ledgerly MultiBooks", "Ledgerly Software")
    b = parse_listing("Northway Distribution Co MLW6.0 Ledgerly MultiBooks for PC/Mac", "Northway Distribution Co")
    assert (a.brand, b.brand) == ("ledgerly software", "northway distribution co")
    assert score(a, b, CFG) == score(b, a, CFG) == (0.85, None)
    # a brand starting with a product word ("case") is not named by that word in another title
    c = parse_listing("Case Logic 17 Laptop Briefcase", "Case Logic")
    d = parse_listing("Union Flag Laptop Carry Case Briefcase", "Union Flagco")
    assert veto(c, d, CFG) == veto(d, c, CFG) == "brand"


def test_a_code_stated_longer_on_one_side_agrees_whichever_listing_comes_first() -> None:
    # "TDR355" is one title's model word and its code; the other states "TDR355MD": a code agreement
    a = parse_listing("Tonica Chameleon Earphones TDR355MD", "Tonica")
    b = parse_listing("Tonica TDR355 Chameleon Earphones with Mic", "Tonica")
    assert (a.model, a.codes, b.model, b.codes) == ("chameleon", ("TDR355MD",), "tdr355", ("TDR355",))
    assert score(a, b, CFG) == score(b, a, CFG) == (1.0, None)
    # (the bare model word on both sides only lifts the weak vetoes: test_a_code_that_is_the_model_word_...)


def test_the_rules_that_look_at_one_listing_first_do_not_depend_on_the_order() -> None:
    # the word alignment of the name-swap rule
    a, b = parse_listing("Bedding Sets Twin Harlow Quilt Set"), parse_listing("Harlow - Multi - Twin Quilt Set")
    assert name_swap(a, b) is name_swap(b, a) is True
    assert score(a, b, CFG) == score(b, a, CFG) == (0.59375, None)
    # which agreeing code is found first (one listing's "Socket-AM4" in the other title, the other's "X570")
    c = parse_listing("Arvo Prime X570-P, Socket-AM4")
    d = parse_listing("Arvo Strix X570-F Gaming Socket AM4 ATX X570")
    assert agreeing_code(c, d) == agreeing_code(d, c) == "SOCKETAM4"
    assert score(c, d, CFG) == score(d, c, CFG) == (0.892308, None)


_ALL_TITLES = [(t, brand, number) for t, brand, number, _ in TITLES]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_ALL_TITLES), st.sampled_from(_ALL_TITLES))
def test_score_is_symmetric(x: tuple[str, str | None, str | None], y: tuple[str, str | None, str | None]) -> None:
    a, b = parse_listing(x[0], x[1], None, x[2]), parse_listing(y[0], y[1], None, y[2])
    assert score(a, b, CFG) == score(b, a, CFG)


def test_score_is_symmetric_on_every_pair_of_the_table() -> None:
    parsed = [parse_listing(t, brand, None, number) for t, brand, number in _ALL_TITLES]
    asymmetric = [
        (i, j) for i, a in enumerate(parsed) for j, b in enumerate(parsed[:i]) if score(a, b, CFG) != score(b, a, CFG)
    ]
    assert asymmetric == []


def test_two_part_numbers_with_one_option_suffix_veto() -> None:
    # one code where the primary code is read (last word), the other elsewhere: the series rule
    a = parse_listing("Hewlo 213076-B26 36GB 15K Hot-Plug Hard Drive", "Hewlo")
    b = parse_listing("Hewlo 36GB 15K Hot-Plug Hard Drive 231319-B26", "Hewlo")
    assert (a.code_key, a.codes, b.code_key, b.codes) == (None, ("213076B26",), "231319B26", ("231319B26",))
    assert series_conflict(a, b) and series_conflict(b, a)
    assert veto(a, b, CFG) == veto(b, a, CFG) == "model_code"


@pytest.mark.parametrize(
    ("a", "brand_a", "b", "brand_b", "compared", "expected"),
    [
        # one retailer keeps the maker in its brand field, the other writes it into a title with no brand
        (
            "Garden Planner Deluxe",
            "Fernhill Software",
            "Fernhill Software Garden Planner",
            None,
            ("garden planner deluxe", "garden planner"),
            0.85,  # was 0.68: "fernhill software" counted as two words the first title lacks
        ),
        (
            "Lantern Kit Deluxe",
            "Mossgrove Crafts",
            "Mossgrove Crafts Lantern Kit",
            None,
            ("lantern kit deluxe", "lantern kit"),
            0.85,
        ),
        # both listings state the brand: the titles are compared as written
        (
            "Garden Planner Deluxe",
            "Fernhill Software",
            "Fernhill Software Garden Planner",
            "Mossgrove",
            ("garden planner deluxe", "fernhill software garden planner"),
            0.68,
        ),
        # both titles spell it: nothing to take out
        (
            "Fernhill Software Garden Planner Deluxe",
            "Fernhill Software",
            "Fernhill Software Garden Planner",
            None,
            ("fernhill software garden planner deluxe", "fernhill software garden planner"),
            None,
        ),
    ],
)
def test_a_brand_only_one_title_spells_is_no_title_difference(
    a: str, brand_a: str | None, b: str, brand_b: str | None, compared: tuple[str, str], expected: float | None
) -> None:
    x, y = parse_listing(a, brand_a), parse_listing(b, brand_b)
    assert titles_compared(x, y) == compared
    assert titles_compared(y, x) == compared[::-1]
    if expected is not None:
        assert score(x, y, CFG).score == score(y, x, CFG).score == expected


@pytest.mark.parametrize(
    ("a", "b", "compared", "before", "after"),
    [
        # (before: the score without the joining, measured on the tree before the rule)
        (
            "Bright Path Web Page Designer Gold",
            "Webpage Designer Gold",
            ("bright path webpage designer gold", "webpage designer gold"),
            0.654545,
            0.85,
        ),
        (
            "Hilltop Story Book Builder",
            "Hilltop Storybook Builder Deluxe for Kids",
            ("hilltop storybook builder", "hilltop storybook builder deluxe for kids"),
            0.626866,
            0.85,
        ),
        (
            "Quill Note Taker Pro",
            "QuillNote Taker Pro Edition",
            ("quillnote taker pro", "quillnote taker pro edition"),
            0.723404,
            0.85,
        ),
    ],
)
def test_words_written_apart_are_joined_where_the_other_title_writes_one_word(
    a: str, b: str, compared: tuple[str, str], before: float, after: float
) -> None:
    x, y = parse_listing(a), parse_listing(b)
    assert titles_compared(x, y) == compared
    assert titles_compared(y, x) == compared[::-1]
    assert score(x, y, CFG).score == score(y, x, CFG).score == after
    assert after > before


def test_words_are_joined_only_into_a_word_of_the_other_title() -> None:
    x, y = parse_listing("Web Page Designer Gold"), parse_listing("Web Page Designer Platinum")
    assert titles_compared(x, y) == ("web page designer gold", "web page designer platinum")


@pytest.mark.parametrize(
    ("brand", "title", "named"),
    [
        ("fernhill media", "fernhill media garden quest 2", True),
        ("fernhill media", "fernhill garden quest 2", True),  # its first word
        ("fernhill media", "garden quest 2 media", False),
        ("case logic", "garden quest 2 case", False),  # a plain word says nothing of the maker
        ("ab media", "ab garden quest 2", False),  # too short to name a maker alone
    ],
)
def test_a_title_names_a_brand_by_its_words_or_its_first_word(brand: str, title: str, named: bool) -> None:
    assert _brand_named(brand, title) is named


def test_a_title_naming_the_brand_by_its_first_word_agrees_on_the_brand() -> None:
    a = parse_listing("Garden Quest 2 (Mac)", "Fernhill Media")
    # before: 0.82625, below the 0.87 of a title naming no maker at all ("Garden Quest 2")
    assert score(a, parse_listing("Fernhill Garden Quest 2"), CFG).score == 0.95625
    assert score(a, parse_listing("Fernhill Media Garden Quest 2"), CFG).score == 0.95625
    assert score(a, parse_listing("Garden Quest 2"), CFG).score == 0.87


PEN = ("Brightline Gel Pen Retractable Fine Black Dozen", "Brightline", None, "31004")


@pytest.mark.parametrize(
    ("other", "conflict", "verdict"),
    [
        # another item number of the maker's range, as long as the listing's own
        ("Brightline 31096 - Gel Pen Retractable Fine Black", True, (0.0, "model_code")),  # before: 0.87234
        # the listing's own number: no conflict
        ("Brightline 31004 - Gel Pen Retractable Fine Black", False, (0.90202, None)),  # (0.868254 before the
        # model word code counted as the model's agreement)
        # a count is no item number: shorter than the listing's
        ("Brightline Gel Pen Retractable Fine Black 12 Pack", False, (0.891667, None)),
    ],
)
def test_another_item_number_of_the_same_length_vetoes(
    other: str, conflict: bool, verdict: tuple[float, str | None]
) -> None:
    a, b = parse_listing(*PEN), parse_listing(other, "Brightline")
    assert a.codes == ("31004",)
    assert numbers_conflict(a, b) is conflict
    assert numbers_conflict(b, a) is conflict
    assert tuple(score(a, b, CFG)) == tuple(score(b, a, CFG)) == verdict


def test_a_number_both_titles_state_is_no_item_number_conflict() -> None:
    a = parse_listing("Brightline Gel Pen 31096 Refill Fine Black", "Brightline", None, "31004")
    b = parse_listing("Brightline 31096 - Gel Pen Retractable Fine Black", "Brightline")
    assert not numbers_conflict(a, b)


def test_a_four_digit_item_number_in_the_model_number_field() -> None:
    pads = parse_listing("Brightline Legal Pads 50 Sheet Pads Dozen", "Brightline", None, "4521")
    assert pads.codes == ("4521",) and pads.code_key is None
    # another item of the range (before: 0.772727, no veto)
    assert veto(pads, parse_listing("Brightline 4522 - Legal Pads Letter Size 50 Sheet", "Brightline"), CFG) == (
        "model_code"
    )
    # its own number in the other title agrees (before: 0.772727)
    same = parse_listing("Brightline Legal Pads Letter Size 50 Sheet 4521", "Brightline")
    assert tuple(score(pads, same, CFG)) == tuple(score(same, pads, CFG)) == (0.952273, None)


@pytest.mark.parametrize(
    ("a", "brand", "b", "before", "after"),
    [
        # the model keys read other words ("q2u" / "ac600"): the agreeing model word is the model's agreement
        (
            "Wireless USB Adapter Archer Q2U AC600 Norvik",
            None,
            "Wireless AC600 Dual Band Norvik Archer Q2U Nano USB",
            0.315,
            0.965,
        ),
        # a title that is its code alone (no model key): it scored 0
        ("Zentrix9", "Lumen Soft", "Zentrix9 Data Privacy Suite", 0.0, 0.433333),
    ],
)
def test_a_model_word_code_both_state_is_the_models_agreement(
    a: str, brand: str | None, b: str, before: float, after: float
) -> None:
    x, y = parse_listing(a, brand), parse_listing(b)
    assert tuple(score(x, y, CFG)) == tuple(score(y, x, CFG)) == (after, None)
    assert after > before


def test_cyan_is_a_colour() -> None:
    cyan = parse_listing("Inkwell CL-310 Cyan Ink Tank")
    assert cyan.color == "cian"  # (before: no colour, and the same code agreed with the magenta tank)
    assert veto(cyan, parse_listing("Inkwell CL310 Magenta Ink Tank"), CFG) == "color"
    assert tuple(score(cyan, parse_listing("Inkwell CL-310 Ink Tank Cyan"), CFG)) == (1.0, None)


def test_a_letter_code_in_both_model_number_fields_agrees() -> None:
    a = parse_listing("Quillon USB 2.0 Wireless 802.11g Adapter", "Quillon", None, "QN-WGHU")
    b = parse_listing("Quillon QN-WGHU High-Power Wireless USB 802.11g Adapter", "Quillon", None, "QN-WGHU")
    assert agreeing_code(a, b) == "QNWGHU"  # (before: no code, and the model words vetoed)
    assert veto(a, b, CFG) is None
    c = parse_listing("Quillon USB-AVCPT USB 2.0 Audio Video Capture", "Quillon", None, "USB-AVCPT")
    assert veto(a, c, CFG) == "model_code"
