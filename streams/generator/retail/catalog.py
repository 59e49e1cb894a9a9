"""The product catalog behind the retail listings: real brands and model lines with their variants.

A product is one sellable item: a model line in one configuration (RAM, storage, size) and one
colour, with its manufacturer code. Retailers name the same product differently; the catalog is
what they all refer to, and ``product_id`` is the ground truth of which listings are the same.
The catalog does not depend on the seed (a market has the products it has); prices vary by day.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

Color = tuple[str, str]  # (English marketing name, Spanish name)
Spec = tuple[str, object]  # (kind, value): ram, storage, ssd, cpu, screen, tv, liters, kg, mm, text


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    brand: str
    line: str
    short_line: str | None
    specs: tuple[Spec, ...]
    color: Color | None
    model_code: str | None
    price: int  # reference price in CLP
    twin: bool = False  # another product shares its name; only the model code tells them apart


def slugify(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


# --------------------------------------------------------------------------- colours
SAMSUNG_A = [
    ("Awesome Black", "Negro"),
    ("Awesome White", "Blanco"),
    ("Awesome Lime", "Verde Lima"),
    ("Awesome Violet", "Violeta"),
    ("Awesome Graphite", "Grafito"),
    ("Awesome Navy", "Azul Marino"),
    ("Awesome Lilac", "Lila"),
    ("Awesome Iceblue", "Celeste"),
]
SAMSUNG_LOW = [("Black", "Negro"), ("Light Blue", "Celeste"), ("Yellow", "Amarillo"), ("Silver", "Plateado")]
SAMSUNG_S23 = [("Phantom Black", "Negro"), ("Cream", "Crema"), ("Green", "Verde"), ("Lavender", "Lavanda")]
SAMSUNG_S24 = [
    ("Onyx Black", "Negro"),
    ("Marble Grey", "Gris"),
    ("Cobalt Violet", "Violeta"),
    ("Amber Yellow", "Amarillo"),
]
SAMSUNG_ULTRA = [
    ("Titanium Black", "Titanio Negro"),
    ("Titanium Gray", "Titanio Gris"),
    ("Titanium Violet", "Titanio Violeta"),
    ("Titanium Yellow", "Titanio Amarillo"),
]
SAMSUNG_FLIP = [("Graphite", "Grafito"), ("Mint", "Menta"), ("Lavender", "Lavanda"), ("Cream", "Crema")]
IPHONE_13 = [
    ("Midnight", "Medianoche"),
    ("Starlight", "Blanco Estelar"),
    ("Blue", "Azul"),
    ("Pink", "Rosado"),
    ("Green", "Verde"),
]
IPHONE_14 = [
    ("Midnight", "Medianoche"),
    ("Starlight", "Blanco Estelar"),
    ("Blue", "Azul"),
    ("Purple", "Morado"),
    ("Yellow", "Amarillo"),
]
IPHONE_15 = [("Black", "Negro"), ("Blue", "Azul"), ("Green", "Verde"), ("Yellow", "Amarillo"), ("Pink", "Rosado")]
IPHONE_PRO = [
    ("Natural Titanium", "Titanio Natural"),
    ("Black Titanium", "Titanio Negro"),
    ("White Titanium", "Titanio Blanco"),
    ("Blue Titanium", "Titanio Azul"),
]
XIAOMI = [
    ("Midnight Black", "Negro"),
    ("Ice Blue", "Azul Hielo"),
    ("Mint Green", "Verde Menta"),
    ("Ocean Sunset", "Atardecer"),
]
XIAOMI_PRO = [("Midnight Black", "Negro"), ("Forest Green", "Verde Bosque"), ("Lavender Purple", "Morado")]
XIAOMI_LOW = [("Midnight Black", "Negro"), ("Navy Blue", "Azul Marino"), ("Clover Green", "Verde Trébol")]
POCO = [("Black", "Negro"), ("Yellow", "Amarillo"), ("Grey", "Gris")]
MOTO_G = [("Midnight Blue", "Azul Medianoche"), ("Mint Green", "Verde Menta"), ("Pearl Blue", "Azul Perla")]
MOTO_G84 = [("Midnight Blue", "Azul Medianoche"), ("Marshmallow Blue", "Azul Marshmallow"), ("Viva Magenta", "Magenta")]
MOTO_EDGE = [("Black Beauty", "Negro"), ("Caneel Bay", "Azul"), ("Soothing Sea", "Verde Agua")]
MOTO_E = [("Cosmic Black", "Negro"), ("Aurora Green", "Verde"), ("Creamy White", "Blanco")]
HONOR = [("Midnight Black", "Negro"), ("Titanium Silver", "Plateado"), ("Glamorous Green", "Verde")]
OPPO = [("Gray", "Gris"), ("Green", "Verde"), ("Purple", "Morado")]
MAC = [
    ("Midnight", "Medianoche"),
    ("Starlight", "Blanco Estelar"),
    ("Space Gray", "Gris Espacial"),
    ("Silver", "Plata"),
]
IPAD = [("Blue", "Azul"), ("Pink", "Rosado"), ("Silver", "Plata"), ("Yellow", "Amarillo")]
TAB = [("Graphite", "Grafito"), ("Silver", "Plata"), ("Navy", "Azul Marino")]
BLACK_WHITE = [("Black", "Negro"), ("White", "Blanco")]
HEADPHONE4 = [("Black", "Negro"), ("Blue", "Azul"), ("White", "Blanco"), ("Purple", "Morado")]
WATCH = [("Midnight", "Medianoche"), ("Starlight", "Blanco Estelar"), ("Silver", "Plata")]
GALAXY_WATCH = [("Graphite", "Grafito"), ("Silver", "Plata"), ("Gold", "Dorado")]
INOX = [("Stainless Steel", "Inox"), ("White", "Blanco")]

# --------------------------------------------------------------------------- phones
# (brand, line, short line, code, [(ram, storage, price)], colours, colours per variant)
PHONES: list[tuple[str, str, str | None, str, list[tuple[int | None, int, int]], list[Color], int]] = [
    ("Samsung", "Galaxy A05s", "A05s", "SM-A057M", [(4, 64, 119990), (4, 128, 139990)], SAMSUNG_LOW, 3),
    ("Samsung", "Galaxy A15", "A15", "SM-A155M", [(4, 128, 159990), (6, 128, 179990)], SAMSUNG_LOW, 3),
    ("Samsung", "Galaxy A15 5G", "A15 5G", "SM-A156M", [(4, 128, 189990), (8, 256, 229990)], SAMSUNG_LOW, 3),
    ("Samsung", "Galaxy A24", "A24", "SM-A245M", [(6, 128, 199990)], SAMSUNG_A, 3),
    ("Samsung", "Galaxy A25 5G", "A25 5G", "SM-A256E", [(6, 128, 239990), (8, 256, 289990)], SAMSUNG_A, 3),
    ("Samsung", "Galaxy A34 5G", "A34 5G", "SM-A346E", [(6, 128, 279990), (8, 256, 329990)], SAMSUNG_A, 4),
    ("Samsung", "Galaxy A35 5G", "A35 5G", "SM-A356E", [(8, 128, 329990), (8, 256, 379990)], SAMSUNG_A, 4),
    ("Samsung", "Galaxy A54 5G", "A54 5G", "SM-A546E", [(8, 128, 349990), (8, 256, 399990)], SAMSUNG_A, 4),
    ("Samsung", "Galaxy A55 5G", "A55 5G", "SM-A556E", [(8, 128, 419990), (8, 256, 469990)], SAMSUNG_A, 4),
    ("Samsung", "Galaxy S23", "S23", "SM-S911B", [(8, 128, 699990), (8, 256, 769990)], SAMSUNG_S23, 4),
    ("Samsung", "Galaxy S23 FE", "S23 FE", "SM-S711B", [(8, 128, 499990), (8, 256, 549990)], SAMSUNG_S23, 4),
    ("Samsung", "Galaxy S23 Ultra", "S23 Ultra", "SM-S918B", [(12, 256, 1099990), (12, 512, 1249990)], SAMSUNG_S23, 3),
    ("Samsung", "Galaxy S24", "S24", "SM-S921B", [(8, 256, 899990), (8, 512, 999990)], SAMSUNG_S24, 4),
    ("Samsung", "Galaxy S24+", "S24+", "SM-S926B", [(12, 256, 1099990), (12, 512, 1199990)], SAMSUNG_S24, 3),
    (
        "Samsung",
        "Galaxy S24 Ultra",
        "S24 Ultra",
        "SM-S928B",
        [(12, 256, 1299990), (12, 512, 1449990), (12, 1024, 1699990)],
        SAMSUNG_ULTRA,
        4,
    ),
    ("Samsung", "Galaxy Z Flip5", "Z Flip5", "SM-F731B", [(8, 256, 999990), (8, 512, 1099990)], SAMSUNG_FLIP, 4),
    ("Samsung", "Galaxy Z Fold5", "Z Fold5", "SM-F946B", [(12, 256, 1799990), (12, 512, 1949990)], SAMSUNG_FLIP[:3], 3),
    ("Apple", "iPhone 13", None, "", [(None, 128, 649990), (None, 256, 749990)], IPHONE_13, 5),
    ("Apple", "iPhone 14", None, "", [(None, 128, 749990), (None, 256, 849990)], IPHONE_14, 5),
    ("Apple", "iPhone 14 Plus", None, "", [(None, 128, 849990)], IPHONE_14, 4),
    ("Apple", "iPhone 15", None, "", [(None, 128, 899990), (None, 256, 999990), (None, 512, 1199990)], IPHONE_15, 5),
    ("Apple", "iPhone 15 Plus", None, "", [(None, 128, 999990), (None, 256, 1099990)], IPHONE_15, 4),
    (
        "Apple",
        "iPhone 15 Pro",
        None,
        "",
        [(None, 128, 1199990), (None, 256, 1329990), (None, 512, 1549990)],
        IPHONE_PRO,
        4,
    ),
    (
        "Apple",
        "iPhone 15 Pro Max",
        None,
        "",
        [(None, 256, 1399990), (None, 512, 1599990), (None, 1024, 1849990)],
        IPHONE_PRO,
        4,
    ),
    ("Xiaomi", "Redmi Note 13", "Note 13", "23129RAA4G", [(6, 128, 199990), (8, 256, 249990)], XIAOMI, 4),
    ("Xiaomi", "Redmi Note 13 Pro", "Note 13 Pro", "2312DRA50G", [(8, 256, 329990), (12, 512, 399990)], XIAOMI_PRO, 3),
    (
        "Xiaomi",
        "Redmi Note 13 Pro 5G",
        "Note 13 Pro 5G",
        "2312DRA50G5",
        [(8, 256, 369990), (12, 512, 449990)],
        XIAOMI_PRO,
        3,
    ),
    ("Xiaomi", "Redmi 13C", "13C", "23108RN04Y", [(4, 128, 119990), (8, 256, 149990)], XIAOMI_LOW, 3),
    ("Xiaomi", "Redmi A3", "A3", "23129RN51X", [(3, 64, 89990), (4, 128, 99990)], XIAOMI_LOW, 3),
    ("Xiaomi", "Poco X6 Pro 5G", "X6 Pro", "2311DRK48G", [(8, 256, 349990), (12, 512, 419990)], POCO, 3),
    ("Xiaomi", "Xiaomi 13T", "13T", "2306EPN60G", [(12, 256, 599990)], POCO, 2),
    ("Motorola", "Moto G54 5G", "G54", "XT2343-2", [(8, 256, 199990)], MOTO_G, 3),
    ("Motorola", "Moto G84 5G", "G84", "XT2347-1", [(8, 256, 269990), (12, 256, 299990)], MOTO_G84, 3),
    ("Motorola", "Moto G24", "G24", "XT2423-1", [(4, 128, 129990), (8, 128, 149990)], MOTO_E, 3),
    ("Motorola", "Moto G34 5G", "G34", "XT2363-3", [(4, 128, 159990), (8, 128, 179990)], MOTO_G, 3),
    ("Motorola", "Moto E13", "E13", "XT2345-3", [(2, 64, 79990), (4, 128, 99990)], MOTO_E, 3),
    ("Motorola", "Edge 40 Neo", "Edge 40 Neo", "XT2307-1", [(12, 256, 349990)], MOTO_EDGE, 3),
    ("Motorola", "Edge 50 Fusion", "Edge 50 Fusion", "XT2429-2", [(8, 256, 399990), (12, 512, 459990)], MOTO_EDGE, 3),
    ("Honor", "X8b", "X8b", "LLY-LX3", [(8, 256, 229990), (8, 512, 259990)], HONOR, 3),
    ("Honor", "X7b", "X7b", "CLK-LX3", [(6, 128, 169990), (8, 256, 199990)], HONOR, 3),
    ("Honor", "Magic6 Lite 5G", "Magic6 Lite", "ALI-NX1", [(8, 256, 349990)], HONOR, 3),
    ("Honor", "90 Lite 5G", "90 Lite", "CRT-NX1", [(8, 256, 249990)], HONOR, 2),
    ("Oppo", "Reno11 F 5G", "Reno11 F", "CPH2603", [(8, 256, 359990)], OPPO, 3),
    ("Oppo", "A79 5G", "A79", "CPH2553", [(8, 256, 229990)], OPPO, 2),
    ("Oppo", "A18", "A18", "CPH2591", [(4, 128, 129990)], OPPO, 2),
]

# --------------------------------------------------------------------------- notebooks
# (brand, line, short line, code, cpu (full, short), ram, ssd, screen, price, colours)
NOTEBOOKS: list[tuple[str, str, str | None, str, tuple[str, str], int, int, float, int, list[Color] | None]] = [
    (
        "Lenovo",
        "IdeaPad Slim 3 15IRU8",
        "IdeaPad Slim 3",
        "82X7003LLM",
        ("Intel Core i5-1335U", "Core i5"),
        8,
        512,
        15.6,
        549990,
        None,
    ),
    (
        "Lenovo",
        "IdeaPad Slim 3 15IRU8",
        "IdeaPad Slim 3",
        "82X7004YLM",
        ("Intel Core i7-1355U", "Core i7"),
        16,
        512,
        15.6,
        749990,
        None,
    ),
    (
        "Lenovo",
        "IdeaPad Slim 3 15AMN8",
        "IdeaPad Slim 3",
        "82XQ00BLCL",
        ("AMD Ryzen 5 7520U", "Ryzen 5"),
        8,
        512,
        15.6,
        479990,
        None,
    ),
    (
        "Lenovo",
        "IdeaPad 1 14AMN7",
        "IdeaPad 1",
        "82VF006FCL",
        ("AMD Ryzen 5 7520U", "Ryzen 5"),
        8,
        256,
        14.0,
        369990,
        None,
    ),
    (
        "Lenovo",
        "IdeaPad Slim 5 14IAH8",
        "IdeaPad Slim 5",
        "83BF002ECL",
        ("Intel Core i5-12450H", "Core i5"),
        16,
        512,
        14.0,
        699990,
        None,
    ),
    ("Lenovo", "LOQ 15IRH8", "LOQ", "82XV00E4CL", ("Intel Core i5-12450H", "Core i5"), 16, 512, 15.6, 899990, None),
    ("HP", "15-fd0010la", "HP 15", "7Z0M6LA", ("Intel Core i3-1315U", "Core i3"), 8, 256, 15.6, 399990, None),
    ("HP", "15-fd0027la", "HP 15", "7Z0N3LA", ("Intel Core i5-1335U", "Core i5"), 8, 512, 15.6, 529990, None),
    ("HP", "15-fd0030la", "HP 15", "7Z0N6LA", ("Intel Core i7-1355U", "Core i7"), 16, 512, 15.6, 699990, None),
    (
        "HP",
        "Pavilion 15-eg3001la",
        "Pavilion 15",
        "7Z0P1LA",
        ("Intel Core i7-1355U", "Core i7"),
        16,
        512,
        15.6,
        799990,
        None,
    ),
    (
        "HP",
        "Victus 15-fa1026la",
        "Victus 15",
        "8G0X4LA",
        ("Intel Core i5-13420H", "Core i5"),
        16,
        512,
        15.6,
        849990,
        None,
    ),
    ("HP", "14-ep0006la", "HP 14", "7P4B1LA", ("Intel Core i3-N305", "Core i3"), 8, 256, 14.0, 349990, None),
    (
        "Asus",
        "Vivobook 15 X1504ZA",
        "Vivobook 15",
        "X1504ZA-NJ517W",
        ("Intel Core i3-1215U", "Core i3"),
        8,
        256,
        15.6,
        389990,
        None,
    ),
    (
        "Asus",
        "Vivobook 15 X1504ZA",
        "Vivobook 15",
        "X1504ZA-NJ1069W",
        ("Intel Core i5-1235U", "Core i5"),
        8,
        512,
        15.6,
        499990,
        None,
    ),
    (
        "Asus",
        "Vivobook 15 X1504VA",
        "Vivobook 15",
        "X1504VA-NJ1000W",
        ("Intel Core i7-1355U", "Core i7"),
        16,
        512,
        15.6,
        699990,
        None,
    ),
    (
        "Asus",
        "Vivobook Go 15 E1504FA",
        "Vivobook Go 15",
        "E1504FA-NJ934W",
        ("AMD Ryzen 5 7520U", "Ryzen 5"),
        8,
        512,
        15.6,
        429990,
        None,
    ),
    (
        "Asus",
        "Vivobook 16 X1605VA",
        "Vivobook 16",
        "X1605VA-MB096W",
        ("Intel Core i5-1335U", "Core i5"),
        16,
        512,
        16.0,
        629990,
        None,
    ),
    (
        "Asus",
        "TUF Gaming F15 FX507ZC4",
        "TUF Gaming F15",
        "FX507ZC4-HN081W",
        ("Intel Core i5-12500H", "Core i5"),
        16,
        512,
        15.6,
        999990,
        None,
    ),
    (
        "Acer",
        "Aspire 5 A515-57",
        "Aspire 5",
        "NX.KN4AL.003",
        ("Intel Core i5-12450H", "Core i5"),
        8,
        512,
        15.6,
        599990,
        None,
    ),
    (
        "Acer",
        "Aspire 3 A315-24P",
        "Aspire 3",
        "NX.KDEAL.00E",
        ("AMD Ryzen 5 7520U", "Ryzen 5"),
        8,
        512,
        15.6,
        449990,
        None,
    ),
    (
        "Acer",
        "Nitro V 15 ANV15-51",
        "Nitro V 15",
        "NH.QN8AL.004",
        ("Intel Core i5-13420H", "Core i5"),
        16,
        512,
        15.6,
        879990,
        None,
    ),
    (
        "Dell",
        "Inspiron 15 3520",
        "Inspiron 15",
        "I3520-5112BLK",
        ("Intel Core i5-1235U", "Core i5"),
        8,
        512,
        15.6,
        579990,
        None,
    ),
    (
        "Dell",
        "Inspiron 14 5430",
        "Inspiron 14",
        "I5430-7315SLV",
        ("Intel Core i7-1360P", "Core i7"),
        16,
        512,
        14.0,
        899990,
        None,
    ),
    ("Apple", "MacBook Air", None, "", ("Chip M1", "M1"), 8, 256, 13.3, 799990, MAC[1:]),
    ("Apple", "MacBook Air", None, "", ("Chip M2", "M2"), 8, 256, 13.6, 1049990, MAC),
    ("Apple", "MacBook Air", None, "", ("Chip M2", "M2"), 8, 512, 13.6, 1299990, MAC),
    ("Apple", "MacBook Air", None, "", ("Chip M3", "M3"), 8, 256, 13.6, 1249990, MAC),
    ("Apple", "MacBook Air", None, "", ("Chip M3", "M3"), 16, 512, 13.6, 1599990, MAC),
    ("Apple", "MacBook Air", None, "", ("Chip M3", "M3"), 8, 256, 15.3, 1499990, MAC),
    (
        "Apple",
        "MacBook Pro",
        None,
        "",
        ("Chip M3", "M3"),
        8,
        512,
        14.2,
        1899990,
        [("Space Gray", "Gris Espacial"), ("Silver", "Plata")],
    ),
]

# --------------------------------------------------------------------------- TVs
# (brand, panel, series, code pattern with {s}, sizes, CLP per inch)
TVS: list[tuple[str, str, str, str, list[int], int]] = [
    ("Samsung", "LED", "Crystal UHD CU7000", "UN{s}CU7000GXZS", [43, 50, 55, 65, 75], 6_900),
    ("Samsung", "LED", "Crystal UHD CU8000", "UN{s}CU8000GXZS", [50, 55, 65], 7_900),
    ("Samsung", "QLED", "QLED Q60C", "QN{s}Q60CAGXZS", [50, 55, 65], 9_900),
    ("Samsung", "Neo QLED", "Neo QLED QN90C", "QN{s}QN90CAGXZS", [55, 65], 21_900),
    ("LG", "LED", "UHD UR8750", "{s}UR8750PSA", [43, 50, 55, 65], 6_700),
    ("LG", "NanoCell", "NanoCell NANO77", "{s}NANO77SRA", [50, 55, 65], 8_500),
    ("LG", "OLED", "OLED evo C3", "OLED{s}C3PSA", [55, 65], 24_900),
    ("TCL", "LED", "P635 Google TV", "{s}P635", [43, 50, 55, 65], 5_200),
    ("TCL", "QLED", "C645 QLED Google TV", "{s}C645", [55, 65], 7_200),
    ("Hisense", "LED", "A6K Vidaa", "{s}A6K", [43, 50, 55, 65], 5_000),
    ("Xiaomi", "LED", "TV A Pro Google TV", "L{s}M8-A2LA", [43, 55, 65], 5_600),
]
# Same display name, different model code (a variant sold by other channels): hard negatives.
TV_TWINS: dict[str, str] = {"UN{s}CU7000GXZS": "UN{s}CU7010GXZS", "{s}UR8750PSA": "{s}UR7800PSA"}

# --------------------------------------------------------------------------- appliances and others
# (category, brand, line, code, specs, price, colours)
OTHERS: list[tuple[str, str, str, str, tuple[Spec, ...], int, list[Color] | None]] = [
    ("fridge", "LG", "Refrigerador {brand} No Frost", "GT32BPP", (("liters", 312),), 499990, None),
    ("fridge", "LG", "Refrigerador {brand} No Frost", "GT29BPPK", (("liters", 254),), 429990, None),
    ("fridge", "LG", "Refrigerador {brand} Side by Side", "GS65SPP", (("liters", 617),), 1199990, None),
    ("fridge", "LG", "Refrigerador {brand} Bottom Freezer", "GB37SPP", (("liters", 341),), 749990, None),
    ("fridge", "Samsung", "Refrigerador {brand} No Frost", "RT38K5930SL", (("liters", 384),), 649990, None),
    ("fridge", "Samsung", "Refrigerador {brand} No Frost", "RT29K5030S8", (("liters", 299),), 469990, None),
    ("fridge", "Samsung", "Refrigerador {brand} Side by Side", "RS60T5200S9", (("liters", 602),), 1099990, None),
    (
        "fridge",
        "Samsung",
        "Refrigerador {brand} Bespoke Bottom Freezer",
        "RB33T307029",
        (("liters", 328),),
        799990,
        None,
    ),
    ("fridge", "Mademsa", "Refrigerador {brand} Altus 1350 No Frost", "Altus 1350", (("liters", 324),), 349990, INOX),
    (
        "fridge",
        "Mademsa",
        "Refrigerador {brand} Nordik 415 Frío Directo",
        "Nordik 415",
        (("liters", 186),),
        199990,
        None,
    ),
    ("fridge", "Fensa", "Refrigerador {brand} Advance 6300 No Frost", "Advance 6300", (("liters", 273),), 329990, INOX),
    (
        "fridge",
        "Whirlpool",
        "Refrigerador {brand} Xpert Energy Saver No Frost",
        "WRM45AKTWW",
        (("liters", 400),),
        549990,
        None,
    ),
    ("fridge", "Midea", "Refrigerador {brand} No Frost", "MDRT346FGE50", (("liters", 241),), 289990, None),
    ("fridge", "Electrolux", "Refrigerador {brand} Inverter Bottom Freezer", "IB54S", (("liters", 454),), 729990, None),
    ("washer", "LG", "Lavadora {brand} Carga Superior", "WT17WPB", (("kg", 17),), 449990, None),
    ("washer", "LG", "Lavadora {brand} Carga Superior", "WT19BPB", (("kg", 19),), 529990, None),
    ("washer", "LG", "Lavadora Secadora {brand} Carga Frontal", "WD22VV2S6R", (("kg", 22),), 1099990, None),
    ("washer", "LG", "Lavadora {brand} Carga Frontal", "WM9BPV2S6", (("kg", 9),), 419990, None),
    ("washer", "Samsung", "Lavadora {brand} Carga Superior", "WA17CG6441BV", (("kg", 17),), 429990, None),
    ("washer", "Samsung", "Lavadora {brand} Carga Superior", "WA13CG5745BV", (("kg", 13),), 349990, None),
    ("washer", "Samsung", "Lavadora {brand} Carga Frontal", "WW90T4040CE", (("kg", 9),), 399990, None),
    (
        "washer",
        "Mademsa",
        "Lavadora {brand} Marathon 1055 Carga Superior",
        "Marathon 1055",
        (("kg", 10),),
        219990,
        None,
    ),
    ("washer", "Fensa", "Lavadora {brand} Advance 9000", "Advance 9000", (("kg", 9),), 199990, None),
    ("washer", "Midea", "Lavadora {brand} Carga Superior", "MA200W100", (("kg", 10),), 189990, None),
    ("washer", "Electrolux", "Lavadora {brand} Carga Superior Inverter", "EWIE16F3MS", (("kg", 16),), 379990, None),
    ("washer", "Whirlpool", "Lavadora {brand} Xpert System", "WWI16BSHLA", (("kg", 16),), 399990, None),
    ("tablet", "Samsung", "Galaxy Tab A9", "SM-X110", (("ram", 4), ("storage", 64), ("screen", 8.7)), 139990, TAB),
    ("tablet", "Samsung", "Galaxy Tab A9", "SM-X110", (("ram", 8), ("storage", 128), ("screen", 8.7)), 169990, TAB),
    ("tablet", "Samsung", "Galaxy Tab A9+", "SM-X210", (("ram", 4), ("storage", 64), ("screen", 11.0)), 199990, TAB),
    ("tablet", "Samsung", "Galaxy Tab A9+", "SM-X210", (("ram", 8), ("storage", 128), ("screen", 11.0)), 239990, TAB),
    ("tablet", "Samsung", "Galaxy Tab S9 FE", "SM-X510", (("ram", 6), ("storage", 128), ("screen", 10.9)), 429990, TAB),
    ("tablet", "Apple", "iPad 10ma Gen Wi-Fi", "", (("storage", 64), ("screen", 10.9)), 479990, IPAD),
    ("tablet", "Apple", "iPad 10ma Gen Wi-Fi", "", (("storage", 256), ("screen", 10.9)), 649990, IPAD),
    ("tablet", "Apple", "iPad Air M2 Wi-Fi", "", (("storage", 128), ("screen", 11.0)), 749990, IPAD[:3]),
    (
        "tablet",
        "Lenovo",
        "Tab M10 3rd Gen",
        "TB328FU",
        (("ram", 4), ("storage", 64), ("screen", 10.1)),
        149990,
        [("Storm Grey", "Gris")],
    ),
    (
        "tablet",
        "Xiaomi",
        "Redmi Pad SE",
        "23073RPBFG",
        (("ram", 4), ("storage", 128), ("screen", 11.0)),
        169990,
        [("Graphite Gray", "Gris Grafito"), ("Mint Green", "Verde Menta"), ("Lavender Purple", "Morado")],
    ),
    ("headphones", "Apple", "Audífonos {brand} AirPods Pro 2da Gen USB-C", "MTJV3AM/A", (), 279990, None),
    ("headphones", "Apple", "Audífonos {brand} AirPods 3ra Gen", "MME73AM/A", (), 199990, None),
    (
        "headphones",
        "Sony",
        "Audífonos Bluetooth {brand} WH-1000XM5 Noise Cancelling",
        "WH-1000XM5",
        (),
        349990,
        [("Black", "Negro"), ("Silver", "Plata")],
    ),
    ("headphones", "Sony", "Audífonos Bluetooth {brand} WH-CH520", "WH-CH520", (), 49990, HEADPHONE4),
    ("headphones", "Sony", "Audífonos Bluetooth {brand} WH-CH720N", "WH-CH720N", (), 119990, HEADPHONE4[:3]),
    ("headphones", "JBL", "Audífonos Bluetooth {brand} Tune 520BT", "JBLT520BT", (), 49990, HEADPHONE4),
    ("headphones", "JBL", "Audífonos Bluetooth {brand} Tune 720BT", "JBLT720BT", (), 69990, HEADPHONE4[:3]),
    ("headphones", "JBL", "Audífonos In Ear {brand} Wave Buds", "JBLWBUDS", (), 44990, HEADPHONE4[:3]),
    (
        "headphones",
        "Samsung",
        "Audífonos {brand} Galaxy Buds FE",
        "SM-R400N",
        (),
        89990,
        [("Graphite", "Grafito"), ("White", "Blanco")],
    ),
    (
        "headphones",
        "Samsung",
        "Audífonos {brand} Galaxy Buds2 Pro",
        "SM-R510N",
        (),
        159990,
        [("Graphite", "Grafito"), ("White", "Blanco"), ("Bora Purple", "Morado")],
    ),
    (
        "headphones",
        "Xiaomi",
        "Audífonos {brand} Redmi Buds 5",
        "M2316E1",
        (),
        34990,
        [("Midnight Black", "Negro"), ("Fantasy White", "Blanco")],
    ),
    ("watch", "Apple", "Apple Watch SE GPS", "", (("mm", 40),), 279990, WATCH),
    ("watch", "Apple", "Apple Watch SE GPS", "", (("mm", 44),), 309990, WATCH),
    ("watch", "Apple", "Apple Watch Series 9 GPS", "", (("mm", 41),), 449990, WATCH),
    ("watch", "Apple", "Apple Watch Series 9 GPS", "", (("mm", 45),), 479990, WATCH),
    ("watch", "Samsung", "Galaxy Watch6", "SM-R930", (("mm", 40),), 269990, GALAXY_WATCH),
    ("watch", "Samsung", "Galaxy Watch6", "SM-R940", (("mm", 44),), 299990, GALAXY_WATCH[:2]),
    ("watch", "Samsung", "Galaxy Watch6 Classic", "SM-R960", (("mm", 47),), 399990, BLACK_WHITE),
    ("watch", "Xiaomi", "Redmi Watch 4", "M2315W1", (), 89990, [("Obsidian Black", "Negro"), ("Silver Gray", "Gris")]),
    (
        "watch",
        "Huawei",
        "Watch Fit 3",
        "SLO-B09",
        (),
        119990,
        [("Black", "Negro"), ("White", "Blanco"), ("Pink", "Rosado")],
    ),
    ("console", "Sony", "Consola {brand} PlayStation 5 Slim", "CFI-2015", (("storage", 1024),), 599990, None),
    ("console", "Sony", "Consola {brand} PlayStation 5 Slim Digital", "CFI-2015B", (("storage", 1024),), 499990, None),
    (
        "console",
        "Nintendo",
        "Consola {brand} Switch OLED",
        "HEG-001",
        (("storage", 64),),
        379990,
        [("White", "Blanco"), ("Neon Red/Blue", "Neón")],
    ),
    ("console", "Nintendo", "Consola {brand} Switch", "HAC-001(-01)", (("storage", 32),), 299990, None),
    ("console", "Microsoft", "Consola {brand} Xbox Series S", "RRS-00001", (("storage", 512),), 329990, None),
    (
        "console",
        "Microsoft",
        "Consola {brand} Xbox Series S",
        "XXU-00001",
        (("storage", 1024),),
        379990,
        [("Carbon Black", "Negro")],
    ),
    ("console", "Microsoft", "Consola {brand} Xbox Series X", "RRT-00001", (("storage", 1024),), 599990, None),
    ("airfryer", "Oster", "Freidora de Aire {brand} DiamondForce", "CKSTAF50D", (("liters", 5),), 69990, None),
    ("airfryer", "Philips", "Freidora de Aire {brand} Essential XL", "HD9270/91", (("liters", 6),), 129990, None),
    ("airfryer", "Ursus Trotter", "Freidora de Aire {brand} Digital", "UT-FRYER45", (("liters", 4),), 49990, None),
    ("airfryer", "Thomas", "Freidora de Aire {brand}", "TH-AF45D", (("liters", 4),), 44990, BLACK_WHITE),
    ("airfryer", "Ninja", "Freidora de Aire {brand} Dual Zone", "AF300", (("liters", 8),), 179990, None),
    ("microwave", "Samsung", "Microondas {brand} con Grill", "MG23K3515AK", (("liters", 23),), 119990, None),
    ("microwave", "LG", "Microondas {brand} NeoChef", "MS2336GIB", (("liters", 23),), 109990, None),
    ("microwave", "Thomas", "Microondas {brand} Digital", "TH-20D", (("liters", 20),), 59990, BLACK_WHITE),
    ("microwave", "Mademsa", "Microondas {brand} Digital", "MM-20D", (("liters", 20),), 54990, None),
]


# --------------------------------------------------------------------------- building
def _apple_code(rng: random.Random, seen: set[str], suffix: str = "LZ/A") -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    while True:
        code = "M" + "".join(rng.choice(letters + "0123456789") for _ in range(3)) + "3" + suffix
        if code not in seen:
            seen.add(code)
            return code


def build_catalog() -> list[Product]:
    """Every product of the market, in a fixed order, with unique ``product_id``s."""
    rng = random.Random(20_240_901)  # fixed: the catalog is the same for every seed
    seen_codes: set[str] = set()
    out: list[Product] = []

    def add(**kw: object) -> None:
        out.append(Product(product_id=f"P{len(out) + 1:04d}", **kw))  # type: ignore[arg-type]

    for brand, line, short, code, variants, colors, per_variant in PHONES:
        for ram, storage, price in variants:
            picks = colors[:per_variant]
            for color in picks:
                specs: list[Spec] = []
                if ram is not None:
                    specs.append(("ram", ram))
                specs.append(("storage", storage))
                add(
                    category="phone",
                    brand=brand,
                    line=line,
                    short_line=short,
                    specs=tuple(specs),
                    color=color,
                    model_code=code or _apple_code(rng, seen_codes),
                    price=price,
                )

    for brand, line, short, code, cpu, ram, ssd, screen, price, colors in NOTEBOOKS:
        for color in colors or [None]:
            add(
                category="notebook",
                brand=brand,
                line=line,
                short_line=short,
                specs=(("cpu", cpu), ("ram", ram), ("ssd", ssd), ("screen", screen)),
                color=color,
                model_code=code or _apple_code(rng, seen_codes, "CI/A"),
                price=price,
            )

    for brand, _panel, series, pattern, sizes, per_inch in TVS:
        for size in sizes:
            price = int(per_inch * size * (1.0 + max(0, size - 50) / 40.0)) // 10_000 * 10_000 + 9_990
            twin_pattern = TV_TWINS.get(pattern)
            for p, is_twin in ((pattern, twin_pattern is not None), (twin_pattern, True)):
                if p is None:
                    continue
                add(
                    category="tv",
                    brand=brand,
                    line=series,
                    short_line=None,
                    specs=(("tv", size), ("text", "4K UHD")),
                    color=None,
                    model_code=p.format(s=size),
                    price=price if p == pattern else price - 20_000,
                    twin=is_twin,
                )

    for category, brand, line, code, specs, price, colors in OTHERS:
        for color in colors or [None]:
            add(
                category=category,
                brand=brand,
                line=line,
                short_line=None,
                specs=specs,
                color=color,
                model_code=code or _apple_code(rng, seen_codes, "AM/A"),
                price=price,
            )
    return out
