"""What a listing's title says about the product: brand, line, model, code, storage, RAM, colour...

:func:`parse_title` is pure and memoized (same title, brand field and category path → same
:class:`ProductAttributes`); it never raises, whatever the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from processors.retail.lexicon import (
    ACCESSORY_PREPOSITIONS,
    ACCESSORY_WORDS,
    BRAND_ALIASES,
    BRANDS,
    CATEGORY_PATH_WORDS,
    CATEGORY_WORDS,
    COLORS,
    CONDITION_WORDS,
    EDITION_WORDS,
    FAMILIES,
    FAMILY_CATEGORY_WORDS,
    LICENCE_WORDS,
    NOISE_WORDS,
    PACKAGING_PHRASES,
    PLATFORM_VERSIONS,
    PLATFORM_WORDS,
    SOFT_QUALIFIERS,
    SPELLINGS,
    STRONG_QUALIFIERS,
)
from processors.retail.text import fold

_TOKEN = re.compile(r"[a-z0-9]+\+?")


def tokens_of(text: str) -> list[str]:
    return _TOKEN.findall(text)


class ProductAttributes(NamedTuple):
    """The product a title describes. ``None`` means the title does not say.

    A NamedTuple (immutable like a frozen dataclass): built several times faster, and, holding only
    strings, numbers and tuples of strings, not tracked by the garbage collector once it has seen it
    (the matcher keeps one per listing of each block).
    """

    normalized_title: str
    category: str
    brand: str | None
    product_line: str | None  # the line words left once brand, specs, colour and code are taken out
    model: str | None  # the model key: "a54", "iphone15", "cu7000"
    model_code: str | None  # manufacturer code, upper case as written: "SM-A546E", "MQ8N3LZ/A"
    storage_gb: int | None
    ram_gb: int | None
    screen_inches: float | None
    color: str | None  # canonical Spanish colour name
    capacity: str | None  # litres, kilos or millimetres: "312l", "17kg", "44mm"
    cpu: str | None  # processor family: "i5", "ryzen 5"
    qualifiers: tuple[str, ...]  # variant words present: "pro", "plus", "5g"...
    distinctive: tuple[str, ...]  # line tokens that name a model: with a digit, one letter, or a qualifier
    code_key: str | None  # the model code compared between listings: letters and digits only
    # every code-shaped word of the title (and the retailer's model number), letters and digits only, upper
    # case: "WH-1000XM5", "WH1000XM5" and "WH 1000XM5" are all "WH1000XM5" (matched inside the other title)
    codes: tuple[str, ...] = ()
    accessory: bool = False  # made for another product ("funda para iPhone 15", "case for Galaxy S24")


_NOT_CODE_CHARS = re.compile(r"[^A-Z0-9]")


def code_key_of(model_code: str | None) -> str | None:
    if model_code is None:
        return None
    return _NOT_CODE_CHARS.sub("", model_code.upper()) or None


# --------------------------------------------------------------------------- lexicon compiled
def _phrase_index(phrases: dict[tuple[str, ...], str]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """first token -> [(phrase tokens, value)], longest phrase first."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for toks, value in phrases.items():
        index.setdefault(toks[0], []).append((toks, value))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))
    return index


def _brand_phrases() -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for name in (*BRANDS, *BRAND_ALIASES):
        toks = tuple(tokens_of(name))
        if toks:
            out[toks] = BRAND_ALIASES.get(name, name)
    return out


_BRAND_INDEX = _phrase_index(_brand_phrases())
_COLOR_INDEX = _phrase_index({tuple(tokens_of(v)): canon for canon, vs in COLORS.items() for v in vs})
_PHRASE_STARTS = frozenset(_BRAND_INDEX) | frozenset(_COLOR_INDEX)
_QUALIFIERS = STRONG_QUALIFIERS | SOFT_QUALIFIERS | CONDITION_WORDS | LICENCE_WORDS
_CATEGORY_WORDS = dict(CATEGORY_WORDS)
_PLATFORM = PLATFORM_WORDS
_FAMILY_CATEGORY = dict(FAMILY_CATEGORY_WORDS)
_CATEGORY_RANK = {word: rank for rank, (word, _) in enumerate(CATEGORY_WORDS)}


def _match_phrase(toks: list[str], i: int, index: dict[str, list[tuple[tuple[str, ...], str]]]) -> tuple[int, str]:
    """(length, value) of the longest phrase of ``index`` starting at ``toks[i]``; (0, "") if none."""
    entries = index.get(toks[i])
    if entries:
        n = len(toks)
        for phrase, value in entries:
            k = len(phrase)
            if i + k <= n and (k == 1 or tuple(toks[i : i + k]) == phrase):
                return k, value
    return 0, ""


# --------------------------------------------------------------------------- units
# A number (not inside a word or another number) and the unit after it, in one scan of the title.
_UNIT = re.compile(
    r"""(?<![a-z0-9.,+/])(?P<n>\d{1,4}(?:[.,]\d{1,2})?)\s*
    (?:
        (?:gb\s*)?[+/]\s*(?P<n2>\d{1,4})\s*(?P<u2>gb|tb)\b
      | [+/]\s*\d{1,3}(?:[.,]\d)?\s*(?P<kg2>kg|kgs|kilos)\b
      | (?P<u>gb|tb)\b(?:\s*(?:de\s+)?(?:(?P<ram>(?:memoria\s+)?ram)|(?P<ssd>ssd|hdd|emmc|nvme))\b)?
      | (?P<scr>"|''|pulgadas\b|pulgada\b|pulg\b\.?|pul\b|inch(?:es)?\b)
      | (?P<mm>mm\b)
      | (?P<lt>(?:l|lt|lts|litros|litro|liters|litres)\b)
      | (?P<kg>(?:kg|kgs|kilos|kilo)\b)
      | (?P<ft>(?:pies|cu\.?\s*ft)\b)
    )""",
    re.VERBOSE,
)
_CPU_HINT = re.compile(r"i[3579]|ryzen|celeron|pentium|atom|ultra")
_CPU = re.compile(
    r"""\b(?:intel\s+)?core\s+ultra\s+(?P<cpu_u>[579])(?:\s+\d{3}[a-z]{0,2})?\b
      | \b(?:intel\s+)?(?:core\s+)?(?P<cpu_i>i[3579])(?:\s*-\s*n?\d{3,5}[a-z]{0,2})?\b
      | \b(?:amd\s+)?ryzen\s+(?P<cpu_r>[3579])(?:\s+\d{4}[a-z]{0,2})?\b
      | \b(?:intel\s+)?(?P<cpu_c>celeron|pentium|atom)(?:\s+[a-z]?\d{3,4}[a-z]?)?\b""",
    re.VERBOSE,
)


def _gb(n: str, unit: str) -> int:
    return int(n) * 1024 if unit == "tb" else int(n)


class _Units:
    __slots__ = ("ram", "storage", "ssd", "screen", "capacity", "cpu", "plain_gb")

    def __init__(self) -> None:
        self.ram: int | None = None
        self.storage: int | None = None
        self.ssd: int | None = None
        self.screen: float | None = None
        self.capacity: str | None = None
        self.cpu: str | None = None
        self.plain_gb: list[int] = []

    def take_cpu(self, m: re.Match[str]) -> None:
        r, u = m.group("cpu_r"), m.group("cpu_u")
        self.cpu = m.group("cpu_i") or (f"ryzen {r}" if r else f"ultra {u}" if u else m.group("cpu_c"))

    def take(self, m: re.Match[str]) -> bool:
        """Records one number with its unit; ``False`` when the pair means nothing here."""
        n = m.group("n")
        whole = n.isdigit()
        if m.group("u2") is not None:  # "8+128gb": RAM + storage
            if not whole or len(n) > 2:
                return False
            if self.ram is None:
                self.ram = int(n)
            self.plain_gb.append(_gb(m.group("n2"), m.group("u2")))
        elif m.group("u") is not None:
            if not whole:
                return False
            if m.group("ram") is not None:
                if len(n) > 3:
                    return False
                if self.ram is None:
                    self.ram = int(n)
            elif m.group("ssd") is not None:
                if self.ssd is None:
                    self.ssd = _gb(n, m.group("u"))
            else:
                self.plain_gb.append(_gb(n, m.group("u")))
        elif m.group("scr") is not None:
            if len(n.split(".")[0].split(",")[0]) > 3:
                return False
            if self.screen is None:
                self.screen = float(n.replace(",", "."))
        elif m.group("kg") is not None or m.group("kg2") is not None:  # "9 kg", "12/8 kg" (wash / dry)
            if self.capacity is None:
                self.capacity = f"{float(n.replace(',', '.')):g}kg"
        elif m.group("lt") is not None:
            if self.capacity is None:
                self.capacity = f"{float(n.replace(',', '.')):g}l"
        elif m.group("mm") is not None:
            if not whole or len(n) != 2:
                return False
            if self.capacity is None:
                self.capacity = f"{int(n)}mm"
        # cubic feet ("0.7 pies"): taken out, a second way of saying the litres
        return True

    def extract(self, text: str) -> str:
        """Takes every unit and processor out of ``text``; returns what is left."""
        spans: list[tuple[int, int]] = []
        cpu_at = (-1, -1)
        if _CPU_HINT.search(text) is not None:
            m = _CPU.search(text)
            if m is not None:
                self.take_cpu(m)
                cpu_at = m.span()
                spans.append(cpu_at)
        for m in _UNIT.finditer(text):
            a = m.start()
            if cpu_at[0] <= a < cpu_at[1]:
                continue
            if self.take(m):
                spans.append((a, m.end()))
        self.settle()
        if not spans:
            return text
        if cpu_at[0] >= 0:
            spans.sort()
        parts = []
        at = 0
        for a, b in spans:
            if a >= at:
                parts.append(text[at:a])
                at = b
        parts.append(text[at:])
        return " ".join(parts)

    def settle(self) -> None:
        """Storage is the SSD, else the largest plain size; a smaller plain size is the RAM."""
        sizes = self.plain_gb
        if self.ssd is not None:
            self.storage = self.ssd
            if self.ram is None and sizes:
                self.ram = min(sizes) if min(sizes) <= 64 else None
            return
        if not sizes:
            return
        self.storage = max(sizes)
        if self.ram is None and len(sizes) > 1:
            small = min(sizes)
            if small < self.storage and small <= 32:
                self.ram = small


# --------------------------------------------------------------------------- model codes
_CODE_SHAPE = re.compile(r"^(?=[a-z0-9()\-/.]*\d)(?=[a-z0-9()\-/.]*[a-z])[a-z0-9][a-z0-9()\-/.]{4,}$")
_NOT_A_CODE = re.compile(
    r"""^(?:
        \d+(?:[.,]\d+)?(?:gb|tb|mb|l|lt|lts|kg|mm|cm|w|hz|mah|mp|k|g|"|'')
      | \d{1,2}(?:gb)?[+/]\d{1,4}(?:gb|tb)
      | [a-z]?\d{1,2}(?:st|nd|rd|th|da|ra|ta|ma|va|na)
      | (?:i[3579]|r[3579]|ryzen\d?)-?\d*[a-z]*
      | \d+g
    )$""",
    re.VERBOSE,
)
# Codes recognised anywhere in a title: Samsung (SM-A546E), Apple (MQ8N3LZ/A), TVs led by their size
# (43UR7800PSA, 50PUD7908) and Sony's (KD-55X77L).
_STRONG_CODE = re.compile(
    r"^(?:sm-[a-z]\d{3,4}[a-z0-9]*|m[a-z0-9]{4}(?:lz|ll|am|ci|e|bz|cl)/a|\d{2}[a-z]{1,5}\d{3,5}[a-z0-9]*"
    r"|[a-z]{2,3}-\d{2}[a-z]\d{2,3}[a-z]?)$"
)


def _looks_like_code(tok: str) -> bool:
    return bool(_CODE_SHAPE.match(tok)) and not _NOT_A_CODE.match(tok)


# Words that are code-shaped but name a version, a resolution, a standard or a unit, never a model.
_NOT_ANY_CODE = re.compile(
    r"""^(?:v\d.*|802\.?11.*|[xh]\.?26[45]|mp[34]
      |(?:windows|win|office|ps|xbox|usb|hdmi|ddr|gddr|sata|pcie|pci|wifi|cat|ipx?|class|pc|lga|dx|uhs|atx|eps)-?\d.*
      |[a-z]\d{1,2}|\d{1,3}[a-z])$""",
    re.VERBOSE,
)
# A number (a range, a product "2x1") followed only by a unit is a quantity, not a code: "18-55mm",
# "750va", "3.5-5.6g", "2x1gb", "720p", "120v".
_QUANTITY = re.compile(
    r"^[\d.,\-x/]+(?:mm|cm|m|va|kva|w|kw|v|g|gb|tb|mb|kb|mhz|ghz|hz|khz|mp|mah|wh|in|inch|ft|lb|lbs|oz|p|i|k|x"
    r"|ms|fps|dpi|ppm|bit|nm|mw|db|ah|rpm|pin|pk|ct|th|st|nd|rd)$"
)
_UNIT_WORDS = frozenset(
    "gb tb mb kb mah w v hz mhz ghz mm cm m in inch inches ft lb lbs oz kg g pies pulgadas l lt watt watts "
    "volt pack pk count ct pcs piezas dpi ppm x".split()
)
_CODE_WORD = re.compile(r"^(?=[a-z0-9\-/.]*\d)(?=[a-z0-9\-/.]*[a-z])[a-z0-9][a-z0-9\-/.]*[a-z0-9]$")
_QUANTITY_WORD = re.compile(r"^\d+-?[a-z]{3,}$")  # "3-band", "24-outlet", "2-pack"


# one pattern for every word that is code-shaped but no code (one regex call per word with a digit)
_NO_CODE = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (_NOT_A_CODE, _NOT_ANY_CODE, _QUANTITY_WORD, _QUANTITY)), re.VERBOSE
)


def _is_code_word(w: str) -> bool:
    return _CODE_WORD.match(w) is not None and _NO_CODE.match(w) is None


_HAS_DIGIT = re.compile(r"\d")
_EDGE_PUNCT = ".,;:()[]{}!?\"'*#"


def codes_in(words: list[str]) -> list[str]:
    """Every code in these folded words, normalized (letters and digits, upper case), in title order:
    a code-shaped word ("fr530cb", "hl-l6200dw", "mq8n3lz/a"), a short letter prefix written apart from
    the code it starts ("wh 1000xm5", "kd 55x77l"), and long bare numbers that are not quantities
    ("1163641"). Hand-written: no library knows what a manufacturer code looks like."""
    out: list[str] = []
    n = len(words)
    for i, raw in enumerate(words):
        if len(raw) < 4 or raw.isalpha() or _HAS_DIGIT.search(raw) is None:
            continue
        w = raw.strip(_EDGE_PUNCT)
        if w.isdigit():
            if len(w) >= 6 and (i + 1 == n or words[i + 1].strip(_EDGE_PUNCT) not in _UNIT_WORDS):
                out.append(w)
            continue
        key = _code_of_word(w)
        if key is None:
            continue
        if key not in out:
            out.append(key)
        # "wh 1000xm5": two or three letters written apart from a code that starts with a digit
        if i and w[0].isdigit():
            a = words[i - 1]
            if 2 <= len(a) <= 3 and a.isalpha() and a not in _UNIT_WORDS and a not in NOISE_WORDS:
                joined = a.upper() + key
                if joined not in out:
                    out.append(joined)
    return out


@lru_cache(maxsize=1 << 16)
def _code_of_word(w: str) -> str | None:
    """The code key of one word with a digit (not a bare number), or ``None`` (titles repeat their words
    — "128gb", "sm-a546e" — so the answer is memoized)."""
    if "-" in w and w.replace("-", "").isdigit():  # a part number in digit groups: "010-00777-00"
        digits = w.replace("-", "")
        return digits if len(digits) >= 6 else None
    if not _is_code_word(w):
        return None
    key = _NOT_CODE_CHARS.sub("", w.upper())
    if len(key) < 4 or key.isdigit():
        return None
    return key


def _is_code_key(key: str) -> bool:
    """A code key that can identify a model: letters and digits (four or more), or a long number."""
    if key.isdigit():
        return len(key) >= 5
    return len(key) >= 4 and not key.isalpha()


_COUNT = re.compile(
    r"\b(?:(\d{1,4})\s*-?\s*(?:pack|pk|pcs|piezas|unidades|count|ct)|(?:pack|set|box)\s+of\s+(\d{1,4}))\b"
)
_USERS = re.compile(r"\b(\d{1,5})\s*-?\s*(?:users?|usuarios?|licen[sc]es?|seats?)\b")


_COUNT_HINTS = ("pack", "pk", "pcs", "piezas", "unidades", "count", "ct", "user", "usuario", "licen", "seat", " of ")


def _count(text: str) -> tuple[str | None, str]:
    """How many items or users a listing sells ("24-pack", "pack of 6", "5 users"), as a capacity ("24pk",
    "5u": a different count is a different product), and the text without it (a count is not a model)."""
    if not any(h in text for h in _COUNT_HINTS):
        return None, text
    m = _COUNT.search(text)
    if m is not None:
        n = int(m.group(1) or m.group(2))
        return (f"{n}pk" if n > 1 else None), text[: m.start()] + text[m.end() :]
    m = _USERS.search(text)
    if m is not None:
        return f"{int(m.group(1))}u", text[: m.start()] + text[m.end() :]
    return None, text


_PACKAGING_SUFFIX = re.compile(r"/[0-9]{3,}$")


def _without_region(raw: str) -> str | None:
    """The code key before a region or packaging option: after "#" ("VZ346AA#ABA" -> "VZ346AA") or a slash
    and digits ("C6658AN/424" -> "C6658AN"), when that is still a code; else ``None``."""
    at = raw.find("#")
    if at < 0:
        m = _PACKAGING_SUFFIX.search(raw)
        if m is None:
            return None
        at = m.start()
    key = code_key_of(raw[:at])
    return key if key is not None and _is_code_key(key) else None


def _field_code(model_number: str, brand_field: str | None) -> tuple[str | None, list[str]]:
    """A retailer's model-number field as (its code as written, folded; further codes). The primary code
    key is read from the first (:func:`code_key_of`), as a snapshot or a normalized record does. The brand
    written before the code is not part of it ("HP CD994FN" -> "CD994FN"). A field with a word of three
    letters or more besides the code is a description, not one code ("N8 GREEN", "ELPH 100 HS - BL",
    "IPAD 9.7"): no key, only the code-shaped words in it. A key must look like a code: "MATTE WHITE",
    "X-25", "7020" are not; four digits alone ("7532") are a retailer's item number, a further code (it
    agrees with the same number in another title and conflicts with another as long,
    :func:`processors.retail.similarity.numbers_conflict`), never the primary code. Letters alone in
    hyphenated groups of two or more, six characters or more ("NT-WGHU", "CRW-EXT", "LD-MSD-USB") are a
    code: a field holds no hyphenated word."""
    words = [w for w in (w.strip("-") for w in fold(model_number).split()) if w]
    if len(words) > 1 and brand_field:
        brand = fold(brand_field).split()
        if brand and words[0] == brand[0]:
            words = words[1:]
    if len(words) > 1 and any(len(w) >= 3 and w.isalpha() for w in words):
        return None, codes_in(words)
    field = " ".join(words)
    key = code_key_of(field)
    if key is not None and _LETTER_CODE.fullmatch(field) is not None:
        return field, []
    if key is None or not _is_code_key(key):
        return None, [key] if key is not None and key.isdigit() and len(key) == 4 else []
    return field, []


# a model-number field of letters in hyphenated groups ("nt-wghu", "ld-msd-usb"; not "cd-bl": too short)
_LETTER_CODE = re.compile(r"(?=[a-z-]{6,}$)[a-z]{2,}(?:-[a-z]{2,})+")
_PREFIXED_NUMBER = re.compile(r"[A-Z]{1,4}[0-9]{5,}")


def code_kind(key: str) -> str:
    """What kind of identifier a code key is: ``"number"`` (digits only: a retailer's catalogue number or a
    part number, "136902", "638-623"), ``"code"`` (letters and digits mixed: a manufacturer's model code,
    "SM-A546E", "DCB-304") or ``"either"`` (a number after a short letter prefix, "AVE11406", "MHC-00019":
    a distributor's prefix on a number, or a model code). Codes of different kinds are not compared
    (:func:`processors.retail.similarity.codes_comparable`): a catalogue number says nothing against a
    model code."""
    if key.isdigit():
        return "number"
    return "either" if _PREFIXED_NUMBER.fullmatch(key) else "code"


def code_in_title(code: str, normalized_title: str) -> bool:
    """Whether ``code`` (a code key) is one word or consecutive words of a normalized title once its
    spaces are ignored: "WH1000XM5" is in "sony wh 1000xm5 black", not in "sony wh 1000xm50"."""
    compact = normalized_title.replace(" ", "")
    needle = code.lower()
    at = compact.find(needle)
    if at < 0:
        return False
    bounds = {0}
    k = 0
    for w in normalized_title.split(" "):
        k += len(w)
        bounds.add(k)
    while at >= 0:
        if at in bounds and at + len(needle) in bounds:
            return True
        at = compact.find(needle, at + 1)
    return False


@lru_cache(maxsize=1 << 16)
def _primary_shape(w: str) -> bool:
    return _looks_like_code(w) and _NO_CODE.match(w) is None


def _model_code(raw_words: list[str]) -> tuple[str | None, int]:
    """The manufacturer code and its word index: the last word if code-shaped, else a well-known shape."""
    if raw_words:
        last = raw_words[-1].strip(".,;:")
        if _primary_shape(last):
            return last, len(raw_words) - 1
    for i, w in enumerate(raw_words):
        w = w.strip(".,;:()")
        if _STRONG_CODE.match(w):
            return w, i
    return None, -1


# --------------------------------------------------------------------------- the parse
_STEM_TAIL_CHARS = "+0123456789"  # "watch6", "buds2"
_STEM_TAIL = frozenset(_STEM_TAIL_CHARS)


@lru_cache(maxsize=4096)
def _path_category(category_path: str) -> str | None:
    """The category a retailer's category path names, if any (retailers have few paths: memoized)."""
    path = fold(category_path)
    for word, cat in CATEGORY_PATH_WORDS:
        if word in path:
            return cat
    return None


def _category(toks: list[str], category_path: str | None) -> str:
    """Title words first ("Smartwatch", "Watch6"), then the retailer's category path, then family words."""
    best: str | None = None
    best_rank = 0
    rank_of = _CATEGORY_RANK
    for t in toks:  # a category word, or one with digits or "+" after it; most words are neither
        rank = rank_of.get(t)
        if rank is None:
            if t[-1] not in _STEM_TAIL:
                continue
            t = t.rstrip(_STEM_TAIL_CHARS)
            rank = rank_of.get(t)
            if rank is None:
                continue
        if best is None or rank < best_rank:
            best, best_rank = t, rank
    if best is not None:
        return _CATEGORY_WORDS[best]
    if category_path:
        cat = _path_category(category_path)
        if cat is not None:
            return cat
    for t in toks:
        cat = _FAMILY_CATEGORY.get(t)
        if cat is not None:
            return cat
    return "other"


def _brand_of(field: str | None) -> str | None:
    if not field:
        return None
    return _brand_of_field(field)


@lru_cache(maxsize=4096)
def _brand_of_field(field: str) -> str | None:
    """The brand a retailer's brand field names (few distinct values: memoized)."""
    toks = tokens_of(fold(field))
    if not toks:
        return None
    k, value = _match_phrase(toks, 0, _BRAND_INDEX)
    # a known brand and more words ("microsoft licenses", "hewlett packard consumables", "apple software"):
    # the maker's name with a division's or a company form's — unless another brand follows (a joint name)
    if k == len(toks) or (k and not _match_phrase(toks, k, _BRAND_INDEX)[0]):
        return value
    return " ".join(toks)


def _brand_spelled_at(toks: list[str], i: int, brand: str, field_toks: tuple[str, ...]) -> int:
    """How many tokens from ``toks[i]`` spell the listing's ``brand`` (its field's words, the brand's own
    words, or the brand written together: "blue lounge" = "bluelounge"); 0 if they do not."""
    for words in (field_toks, tuple(brand.split())):
        k = len(words)
        if k and tuple(toks[i : i + k]) == words:
            return k
    joined = brand.replace(" ", "")
    acc = ""
    for j in range(i, min(i + 4, len(toks))):
        acc += toks[j]
        if acc == joined:
            return j - i + 1
        if not joined.startswith(acc):
            break
    return 0


def _model_key(line: list[str], brandless: bool = False) -> str | None:
    """The word that names the model: the first one with a digit ("a54", "cu7000", "x8b"). A bare number
    takes the word before it ("iphone 15" → "iphone15", "slim 3" → "slim3"); a long number-led code
    gives way to the word before it ("loq 15irh8" → "loq"); a long bare number (five digits or more)
    gives way to a later word with a digit — it is then a publisher's or retailer's catalogue number
    before the product's name ("encore software 10282 sharks 2" → "sharks2"), and in a title with no
    brand, after two words or more (a publisher's name), gives way to the first name word too ("punch
    software 17100 punch super home suite" → "punch", not "software17100"); a line without digits
    gives its first word of three letters or more ("no frost" → "frost")."""
    prev: str | None = None
    first: str | None = None
    catalogue: str | None = None  # the first long bare number, with the word before it
    publisher = False  # the catalogue number comes after two words or more (a publisher's name)
    for j, t in enumerate(line):
        if t in SOFT_QUALIFIERS:
            continue
        if not t.isalpha():
            if t.isdigit():
                if len(t) >= 5:
                    if catalogue is None:
                        catalogue = prev + t if prev is not None else t
                        publisher = j >= 2
                    continue
                return prev + t if prev is not None else t
            if t[0].isdigit() and len(t) >= 5 and prev is not None:
                return prev
            return t
        if t not in EDITION_WORDS:
            prev = t
            if first is None and len(t) > 2 and t not in STRONG_QUALIFIERS:
                first = t
    if catalogue is not None and (not (brandless and publisher) or first is None):
        return catalogue
    return first


def _without_repeated_tail(line: list[str]) -> list[str]:
    """ "altus 1350 no frost altus 1350" → "altus 1350 no frost" (a code of two words or more said twice)."""
    n = len(line)
    for k in range(n // 2, 1, -1):
        tail = line[n - k :]
        for i in range(n - 2 * k + 1):
            if line[i : i + k] == tail:
                return line[: n - k]
    return line


def _distinctive(line: list[str]) -> tuple[str, ...]:
    """Line words that name a model; long bare numbers (a retailer's catalogue number, "17100") do not."""
    out = []
    for t in line:
        if (not t.isalpha() or len(t) == 1 or t in STRONG_QUALIFIERS or t in SOFT_QUALIFIERS) and t not in out:
            if len(t) >= 5 and t.isdigit():
                continue
            out.append(t)
    return tuple(sorted(out))


# a version's zero decimals, a number alone: "2.0" = "2", "17.00" = "17" ("2.05", "10.5", a dotted code
# "T120.407.11.051.00" and a unit "2.0mp" are kept)
_ZERO_DECIMALS = re.compile(r"(?<![\w.])(\d+)\.0+(?![\w.])")
_APOSTROPHE = re.compile(r"(?<=[a-z])'(?=[a-z])")
# a version marker before its number: "v. 5.0", "v.11", "version 2", "v5.0", "v9" (not "v50", a model)
_VERSION = re.compile(r"\b(?:version\s|ver\.\s?|v\.\s?|v(?=\d{1,2}\.\d)|v(?=\d\b))(?=\d)")
# a word written two ways (data/lexicon.toml ``spellings``): one alternation, longest first
_SPELLING = (
    re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(SPELLINGS, key=lambda w: (-len(w), w))) + r")\b")
    if SPELLINGS
    else None
)


def _spelled(m: re.Match[str]) -> str:
    return SPELLINGS[m.group(0)]


def _target_at(raw_words: list[str]) -> int:
    """Index of the word that starts what an accessory is made for ("funda *para* iphone 15", "case *for*
    galaxy s24", "*compatible* with ..."), or -1: a preposition followed within three words by a brand,
    a family or a code."""
    n = len(raw_words)
    for i, w in enumerate(raw_words):
        if w in ACCESSORY_PREPOSITIONS:
            for nxt in raw_words[i + 1 : i + 4]:
                t = nxt.strip(_EDGE_PUNCT)
                if t in FAMILIES or t in _BRAND_INDEX or (len(t) >= 3 and _looks_like_code(t)) or t in _CATEGORY_WORDS:
                    return i
            if w.startswith("compatible") and i + 1 < n and raw_words[i + 1] in ("with", "con"):
                return i
    return -1


def parse_title(title: str, brand_field: str | None = None, category_path: str | None = None) -> ProductAttributes:
    """Attributes of a listing from its title, the retailer's brand field and category path."""
    return parse_listing(title, brand_field, category_path)


@lru_cache(maxsize=1 << 16)
def parse_listing(
    title: str,
    brand_field: str | None = None,
    category_path: str | None = None,
    model_number: str | None = None,
) -> ProductAttributes:
    """Attributes of a listing from its title, the retailer's brand field, category path and model number.
    (The description is not parsed: it names accessories, compatible models and bundles too freely.)"""
    text = fold(title)
    if "'" in text:
        text = _APOSTROPHE.sub("", text)  # "trudy's" = "trudys", "cook'n" = "cookn"
    for phrase in PACKAGING_PHRASES:
        if phrase in text:
            text = text.replace(phrase, " ")  # how it is packed, not what it is
    if _SPELLING is not None:
        text = _SPELLING.sub(_spelled, text)  # "professional" = "pro"
    if "v" in text and _VERSION.search(text):
        text = _VERSION.sub("", text)  # "v. 5.0", "v.11", "v9" = "5.0", "11", "9"
    if ".0" in text:
        text = _ZERO_DECIMALS.sub(r"\1", text)  # "audition 2.0" = "audition 2"
    count, body_text = _count(text)
    raw_words = body_text.split()
    target_at = _target_at(raw_words)
    own_words = raw_words if target_at < 0 else raw_words[:target_at]
    codes = codes_in(own_words)
    field, field_codes = _field_code(model_number, brand_field) if model_number else (None, [])
    number = code_key_of(field)
    if number is not None:
        codes = [number, *(c for c in codes if c != number)]
    for c in field_codes:
        if c not in codes:
            codes.append(c)
    code, code_at = _model_code(own_words)
    if code is not None:
        rest = raw_words[:code_at] + raw_words[code_at + 1 :]
        if code in rest:  # also part of the line ("WH-1000XM5 ... WH-1000XM5"): keep it there
            code_at = -1
        else:
            raw_words = rest
            if target_at > code_at:
                target_at -= 1
    units = _Units()
    body = units.extract(" ".join(raw_words))
    toks = tokens_of(body)
    accessory = target_at >= 0 or not ACCESSORY_WORDS.isdisjoint(toks)
    category = "accessory" if accessory else _category(toks, category_path)
    # where the accessory's target starts among the tokens: brands and families after it are not its own
    target_tok = len(toks)
    if target_at >= 0:
        prep = raw_words[target_at]
        for j, t in enumerate(toks):
            if t == prep:
                target_tok = j
                break

    brand = _brand_of(brand_field)
    brand_toks: tuple[str, ...] = tuple(tokens_of(brand)) if brand else ()
    brand_first = brand_toks[0] if brand_toks else None
    # the brand as the title may spell it: the field's own words ("blue lounge" when the lexicon says
    # "bluelounge"); a colour word among them is the brand's, not the product's colour
    field_toks: tuple[str, ...] = tuple(tokens_of(fold(brand_field))) if brand_field else ()
    color: str | None = None
    line: list[str] = []
    qualifiers: list[str] = []
    platform = False
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t in _PHRASE_STARTS or t == brand_first:
            if t == brand_first and tuple(toks[i : i + len(brand_toks)]) == brand_toks:
                i += len(brand_toks)
                continue
            if i < target_tok:
                k, value = _match_phrase(toks, i, _BRAND_INDEX)
                if k and (brand is None or value == brand):
                    brand = value
                    i += k
                    continue
            k, value = _match_phrase(toks, i, _COLOR_INDEX)
            if k and brand is not None:
                b = _brand_spelled_at(toks, i, brand, field_toks)
                if b:  # "blue lounge design ..." with brand "bluelounge", "black & decker": the brand
                    i += b
                    continue
            if k:
                if color is None:
                    color = value
                i += k
                continue
        i += 1
        if t in NOISE_WORDS:
            continue
        if t in _PLATFORM:
            platform = True
        elif platform and (t in PLATFORM_VERSIONS or t.isdigit()):
            continue  # "win 98 me 2000 xp": the platform's versions, not the product's
        else:
            platform = False
        if t[-1] == "+" and len(t) > 1:  # "s24+", "a9+"
            t = t[:-1]
            if "plus" not in qualifiers:
                qualifiers.append("plus")
        elif t in _QUALIFIERS and t not in qualifiers:
            qualifiers.append(t)
        line.append(t)
    line = _without_repeated_tail(line)
    if brand is None and not accessory:
        for t in line:
            fam = FAMILIES.get(t)
            if fam is not None:
                brand = fam
                break
    if brand is not None and line and line[0] == brand:
        line = line[1:]
    if "plus" in qualifiers and "plus" not in line:
        line.append("plus")
    storage = units.storage
    screen = units.screen
    capacity = units.capacity
    if capacity is None:
        capacity = count
    if category == "other" and units.ram is not None and storage is not None and screen is None:
        category = "phone"  # "Honor Magic6 Lite 8GB 256GB": RAM and storage, no screen size
    if number is not None:
        model_code = field.upper() if field is not None else None
        key = number
        alias = _without_region(model_code) if model_code is not None else None
        if alias is not None and alias not in codes:
            codes.append(alias)
    else:
        model_code = code.upper() if code is not None else None
        key = code_key_of(code)
        if key is not None and key not in codes:
            codes.append(key)
    return ProductAttributes(
        normalized_title=" ".join(tokens_of(text)),
        category=category,
        brand=brand,
        product_line=" ".join(line) or None,
        model=_model_key(line, brand is None),
        model_code=model_code,
        code_key=key,
        storage_gb=storage,
        ram_gb=units.ram,
        screen_inches=screen,
        color=color,
        capacity=capacity,
        cpu=units.cpu,
        qualifiers=tuple(sorted(qualifiers)),
        distinctive=_distinctive(line),
        codes=tuple(codes),
        accessory=accessory,
    )
