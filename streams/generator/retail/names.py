"""How each retailer writes a product's name, category, sku and url.

The same product reads differently on every site: Spanish or English colour names, "128GB",
"128 GB" or "128gb", RAM written as "8GB RAM" or folded into "8+128GB", upper case, a category
word in front, the manufacturer's code sometimes at the end. Matching has to see through that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from streams.generator.retail.catalog import Product, slugify


@dataclass(frozen=True)
class NameStyle:
    units: str  # "tight" 128GB | "spaced" 128 GB | "lower" 128gb
    upper: bool  # the whole name in capitals
    english_colors: float  # probability of the English marketing colour name
    code_probability: float  # probability of appending the manufacturer's code
    drop_brand: float  # probability of leaving the brand out
    short_line: float  # probability of the short line name ("A54 5G" for "Galaxy A54 5G")
    fold_ram: bool  # "8+128GB"
    color_dash: bool  # "... 128 GB - Negro"
    color_first: bool  # colour before the specs


STYLES: dict[str, NameStyle] = {
    "falabella": NameStyle("tight", False, 0.0, 0.25, 0.0, 0.0, False, False, False),
    "ripley": NameStyle("tight", True, 0.1, 0.2, 0.0, 0.0, True, False, False),
    "paris": NameStyle("spaced", False, 0.9, 0.1, 0.5, 0.0, False, False, True),
    "hites": NameStyle("lower", False, 0.0, 0.6, 0.1, 0.0, False, False, False),
    "abcdin": NameStyle("spaced", False, 0.2, 0.3, 0.0, 0.6, False, True, False),
}

PREFIXES: dict[str, dict[str, tuple[str, ...]]] = {
    "phone": {
        "falabella": ("Celular", "Smartphone"),
        "ripley": ("CELULAR", ""),
        "paris": ("Smartphone",),
        "hites": ("", "Celular"),
        "abcdin": ("Smartphone", "Celular"),
    },
    "notebook": {
        "falabella": ("Notebook",),
        "ripley": ("NOTEBOOK",),
        "paris": ("Notebook", ""),
        "hites": ("Notebook",),
        "abcdin": ("Notebook", "Laptop"),
    },
    "tv": {
        "falabella": ("Smart TV", "LED Smart TV"),
        "ripley": ("SMART TV", "TELEVISOR"),
        "paris": ("Smart TV",),
        "hites": ("Televisor", "Smart TV"),
        "abcdin": ("LED Smart TV", "Televisor"),
    },
    "tablet": {
        "falabella": ("Tablet",),
        "ripley": ("TABLET",),
        "paris": ("Tablet", ""),
        "hites": ("Tablet",),
        "abcdin": ("Tablet",),
    },
    "watch": {
        "falabella": ("Smartwatch", "Reloj"),
        "ripley": ("SMARTWATCH",),
        "paris": ("Smartwatch", ""),
        "hites": ("Reloj Inteligente",),
        "abcdin": ("Smartwatch",),
    },
}

CATEGORY_PATHS: dict[str, dict[str, str]] = {
    "phone": {
        "falabella": "Tecnología > Telefonía > Celulares y Teléfonos > Smartphones",
        "ripley": "Tecno > Celulares > Smartphones",
        "paris": "Tecnología/Celulares/Smartphones",
        "hites": "Celulares",
        "abcdin": "Telefonía > Smartphones",
    },
    "notebook": {
        "falabella": "Tecnología > Computadores > Notebooks",
        "ripley": "Tecno > Computación > Notebooks",
        "paris": "Tecnología/Computadores/Notebooks",
        "hites": "Computación",
        "abcdin": "Computación > Notebooks",
    },
    "tv": {
        "falabella": "Tecnología > TV > Televisores LED",
        "ripley": "Tecno > Televisión > Smart TV",
        "paris": "Tecnología/Televisores/Smart TV",
        "hites": "Televisores",
        "abcdin": "TV y Video > Televisores",
    },
    "fridge": {
        "falabella": "Electrohogar > Refrigeración > Refrigeradores",
        "ripley": "Electro > Refrigeradores",
        "paris": "Línea Blanca/Refrigeración/Refrigeradores",
        "hites": "Línea Blanca",
        "abcdin": "Línea Blanca > Refrigeradores",
    },
    "washer": {
        "falabella": "Electrohogar > Lavado > Lavadoras",
        "ripley": "Electro > Lavado > Lavadoras",
        "paris": "Línea Blanca/Lavado/Lavadoras",
        "hites": "Línea Blanca",
        "abcdin": "Línea Blanca > Lavadoras",
    },
    "tablet": {
        "falabella": "Tecnología > Computadores > Tablets",
        "ripley": "Tecno > Computación > Tablets",
        "paris": "Tecnología/Tablets",
        "hites": "Computación",
        "abcdin": "Computación > Tablets",
    },
    "headphones": {
        "falabella": "Tecnología > Audio > Audífonos",
        "ripley": "Tecno > Audio > Audífonos",
        "paris": "Tecnología/Audio/Audífonos",
        "hites": "Audio",
        "abcdin": "Audio > Audífonos",
    },
    "watch": {
        "falabella": "Tecnología > Wearables > Smartwatch",
        "ripley": "Tecno > Smartwatch",
        "paris": "Tecnología/Smartwatches",
        "hites": "Celulares",
        "abcdin": "Telefonía > Smartwatch",
    },
    "console": {
        "falabella": "Tecnología > Videojuegos > Consolas",
        "ripley": "Tecno > Gamer > Consolas",
        "paris": "Tecnología/Videojuegos/Consolas",
        "hites": "Videojuegos",
        "abcdin": "Gamer > Consolas",
    },
    "airfryer": {
        "falabella": "Electrohogar > Electrodomésticos de cocina > Freidoras de aire",
        "ripley": "Electro > Cocina > Freidoras",
        "paris": "Electro/Cocina/Freidoras de Aire",
        "hites": "Electrodomésticos",
        "abcdin": "Electrodomésticos > Cocina",
    },
    "microwave": {
        "falabella": "Electrohogar > Electrodomésticos de cocina > Microondas",
        "ripley": "Electro > Cocina > Microondas",
        "paris": "Electro/Cocina/Microondas",
        "hites": "Electrodomésticos",
        "abcdin": "Electrodomésticos > Microondas",
    },
}


_DISTINCTIVE_LINES = ("phone", "tablet", "watch")  # "Galaxy A54" needs no brand; "Carga Superior" does
_CODED_CATEGORIES = ("tv", "fridge", "washer", "microwave", "airfryer")  # appliance listings show the model


def _size(gb: int, style: NameStyle, suffix: str = "") -> str:
    number, unit = (gb // 1024, "TB") if gb >= 1024 and gb % 1024 == 0 else (gb, "GB")
    if style.units == "lower":
        text = f"{number}{unit.lower()}"
    elif style.units == "spaced":
        text = f"{number} {unit}"
    else:
        text = f"{number}{unit}"
    return f"{text}{suffix}"


def _spec(kind: str, value: object, style: NameStyle, rng: random.Random) -> str:
    if kind == "storage":
        return _size(int(value), style)  # type: ignore[call-overload]
    if kind == "ssd":
        return _size(int(value), style, " ssd" if style.units == "lower" else " SSD")  # type: ignore[call-overload]
    if kind == "ram":
        return _size(int(value), style, " ram" if style.units == "lower" else " RAM")  # type: ignore[call-overload]
    if kind == "cpu":
        full, short = value  # type: ignore[misc]
        return full if style.units == "tight" and not style.upper else short
    if kind == "screen":
        inches = f"{value:g}"
        if style.units == "lower":
            return f"{inches.replace('.', ',')} pulgadas"
        return f'{inches}"' if style.units == "tight" else f"{inches}''"
    if kind == "tv":
        if style.upper or style.units == "lower":
            return f"{value} pulgadas"
        return f'{value}"' if style.units == "tight" else f"{value}''"
    if kind == "liters":
        return {"tight": f"{value}L", "spaced": f"{value} Litros", "lower": f"{value} lts"}[style.units]
    if kind == "kg":
        return {"tight": f"{value}KG", "spaced": f"{value} kg", "lower": f"{value} kilos"}[style.units]
    if kind == "mm":
        return f"{value}mm" if style.units != "spaced" else f"{value} mm"
    return str(value)


def listing_name(product: Product, retailer: str, rng: random.Random) -> str:
    style = STYLES[retailer]
    prefix = rng.choice(PREFIXES.get(product.category, {}).get(retailer, ("",)))
    brand = product.brand
    if product.category in _DISTINCTIVE_LINES and rng.random() < style.drop_brand:
        brand = ""
    if product.line.startswith(product.brand) or (product.brand == "Apple" and rng.random() < 0.5):
        brand = ""  # "iPhone 15 128GB" is already unambiguous
    line = product.short_line if product.short_line and rng.random() < style.short_line else product.line
    if "{brand}" in line:  # "Lavadora {brand} Carga Superior": the brand sits inside the line
        line = " ".join(line.replace("{brand}", brand).split())
        brand = ""
    specs = [(kind, value) for kind, value in product.specs]
    words: list[str] = []
    if style.fold_ram and product.category == "phone" and len(specs) == 2 and specs[0][0] == "ram":
        words.append(f"{specs[0][1]}+{_size(int(specs[1][1]), style)}")  # type: ignore[call-overload]
    else:
        if product.category == "phone" and style.units == "spaced" and rng.random() < 0.5:
            specs = [s for s in specs if s[0] != "ram"]  # many listings omit the RAM
        words.extend(_spec(kind, value, style, rng) for kind, value in specs)
    color = ""
    if product.color is not None:
        color = product.color[0] if rng.random() < style.english_colors else product.color[1]
    code = ""
    code_probability = style.code_probability + (0.35 if product.category in _CODED_CATEGORIES else 0.0)
    if product.model_code and (product.twin or rng.random() < code_probability):
        code = product.model_code
    head = [prefix, brand, line]
    if style.color_first:
        parts = [*head, color, *words]
    elif style.color_dash and color:
        parts = [*head, *words, "-", color]
    else:
        parts = [*head, *words, color]
    parts.append(code)
    text = " ".join(p for p in parts if p)
    return text.upper() if style.upper else text


def listing_brand(product: Product, retailer: str, rng: random.Random) -> str | None:
    if retailer == "falabella":
        return product.brand.upper()
    if retailer == "hites" and rng.random() < 0.3:
        return None
    return product.brand


def listing_category(product: Product, retailer: str) -> str:
    return CATEGORY_PATHS[product.category][retailer]


class SkuBook:
    """Retailer-style skus (unique per retailer) and the product page urls built from them."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.next = {
            "falabella": rng.randint(14_000_000, 16_000_000),
            "ripley": rng.randint(2_000_370_000_000, 2_000_390_000_000),
            "paris": rng.randint(420_000, 480_000),
            "hites": rng.randint(500_100_000, 500_900_000),
            "abcdin": rng.randint(210_000, 260_000),
        }

    def sku(self, retailer: str) -> str:
        self.next[retailer] += self.rng.randint(1, 2_500 if retailer != "ripley" else 90_000)
        n = self.next[retailer]
        if retailer == "paris":
            return f"{n}999"
        if retailer == "ripley" and self.rng.random() < 0.15:
            return f"MPM{n % 10**11:011d}"  # marketplace seller item
        return str(n)

    @staticmethod
    def url(retailer: str, sku: str, name: str) -> str:
        slug = slugify(name)
        if retailer == "falabella":
            return f"https://www.falabella.com/falabella-cl/product/{sku}/{slug}/{int(sku) + 1}"
        if retailer == "ripley":
            return f"https://simple.ripley.cl/{slug}-{sku.lower()}p"
        if retailer == "paris":
            return f"https://www.paris.cl/{slug}-{sku}.html"
        if retailer == "hites":
            return f"https://www.hites.com/{slug}-{sku}.html"
        return f"https://www.abc.cl/{slug}/{sku}.html"
