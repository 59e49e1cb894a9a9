"""Domain vocabulary of retail listings (Chilean first, English and Spanish), folded (lower case, no accents).

Brands, the product families that name their brand ("galaxy" is Samsung), colours in Spanish and in
the manufacturers' English marketing names (one canonical Spanish name each), category words, and the
words that carry no identity (prefixes such as "celular", "smart tv").
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

#: the lexicon's data files: ``lexicon.toml``, ``categories.toml`` and any other ``*.toml`` a user adds
DATA_DIR = Path(__file__).resolve().parent / "data"
_FIRST = ("lexicon.toml", "categories.toml")


def load_data(folder: Path = DATA_DIR) -> dict[str, Any]:
    """Every ``*.toml`` of ``folder`` merged: the two shipped files first, then the others in name order;
    lists are concatenated (duplicates dropped), tables merged (a later file's entry wins). Read once, at
    import: processors never read files while they process events."""
    files = [folder / name for name in _FIRST if (folder / name).is_file()]
    files += sorted(p for p in folder.glob("*.toml") if p.name not in _FIRST)
    merged: dict[str, Any] = {}
    for path in files:
        with path.open("rb") as f:
            data = tomllib.load(f)
        for key, value in data.items():
            old = merged.get(key)
            if isinstance(value, list):
                out = list(old or [])
                for item in value:
                    item = tuple(item) if isinstance(item, list) else item
                    if item not in out:
                        out.append(item)
                merged[key] = out
            elif isinstance(value, dict):
                merged[key] = {**(old or {}), **value}
            else:
                merged[key] = value
    return merged


_DATA = load_data()

# --------------------------------------------------------------------------- brands (data/lexicon.toml)
BRANDS: tuple[str, ...] = tuple(_DATA["brands"])
#: sub-brands that retailers file under their maker
BRAND_ALIASES: dict[str, str] = dict(_DATA["brand_aliases"])
#: family names that tell the brand when the listing does not
FAMILIES: dict[str, str] = dict(_DATA["families"])
#: words that make a listing an accessory (made for another product), Spanish and English
ACCESSORY_WORDS: frozenset[str] = frozenset(_DATA["accessory_words"])
#: words after which a title names the product an accessory is for ("para", "for", "compatible with")
ACCESSORY_PREPOSITIONS: frozenset[str] = frozenset(_DATA["accessory_prepositions"])
#: words that make a listing a different offer of the product whatever its code (remanufactured...)
CONDITION_WORDS: frozenset[str] = frozenset(_DATA["condition_words"])
#: how a product is packed ("jewel case", "retail packaging"): taken out of a title before it is read
PACKAGING_PHRASES: tuple[str, ...] = tuple(_DATA["packaging_phrases"])
#: operating systems ("win", "mac os"), and the words of their versions ("98", "xp", "x"): after one of the
#: first, those and bare numbers name the platform, not the product
PLATFORM_WORDS: frozenset[str] = frozenset(_DATA["platform_words"])
PLATFORM_VERSIONS: frozenset[str] = frozenset(_DATA["platform_versions"])
#: words that name a licence or edition of a product ("upgrade", "academic", "oem"): one side only costs
#: ``licence_penalty`` (a title may leave the full licence's "standard" out, so not a veto)
LICENCE_WORDS: frozenset[str] = frozenset(_DATA["licence_words"])
#: words that never name a product (function words, English and Spanish): never a word block
STOP_WORDS: frozenset[str] = frozenset(_DATA["stop_words"])
#: one word written two ways: a title word (key) is read as its value ("professional" -> "pro")
SPELLINGS: dict[str, str] = dict(_DATA.get("spellings", {}))

# --------------------------------------------------------------------------- categories (data/categories.toml)
CATEGORIES: tuple[str, ...] = tuple(_DATA["categories"])
#: title words that decide the category, most specific first (a "Galaxy Watch" is a watch, not a phone)
CATEGORY_WORDS: tuple[tuple[str, str], ...] = tuple(_DATA["category_words"])
#: family words that usually name a phone, weaker than the retailer's category path ("Galaxy Watch6")
FAMILY_CATEGORY_WORDS: tuple[tuple[str, str], ...] = tuple(_DATA["family_category_words"])
#: words of a retailer's category path (breadcrumb), most specific first
CATEGORY_PATH_WORDS: tuple[tuple[str, str], ...] = tuple(_DATA["category_path_words"])

# --------------------------------------------------------------------------- colours
#: canonical colour -> the ways retailers and manufacturers write it (Spanish and English)
COLORS: dict[str, tuple[str, ...]] = {
    "negro": (
        "negro",
        "black",
        "awesome black",
        "phantom black",
        "onyx black",
        "midnight black",
        "cosmic black",
        "black beauty",
        "obsidian black",
        "carbon black",
        "jet black",
        "space black",
        "negra",
        "graphite black",
        "negro espacial",
    ),
    "blanco": (
        "blanco",
        "white",
        "awesome white",
        "creamy white",
        "fantasy white",
        "blanca",
        "glacier white",
        "pearl white",
        "phantom white",
    ),
    "gris": (
        "gris",
        "gray",
        "grey",
        "marble grey",
        "marble gray",
        "storm grey",
        "storm gray",
        "silver gray",
        "silver grey",
    ),
    "plata": ("plata", "plateado", "plateada", "silver", "titanium silver", "phantom silver"),
    "dorado": ("dorado", "dorada", "gold", "oro"),
    "azul": ("azul", "blue", "caneel bay"),
    "celeste": (
        "celeste",
        "light blue",
        "sky blue",
        "iceblue",
        "awesome iceblue",
        "ice blue",
        "azul hielo",
        "azul claro",
    ),
    "azul marino": ("azul marino", "navy", "navy blue", "awesome navy"),
    "azul medianoche": ("azul medianoche", "midnight blue"),
    "azul perla": ("azul perla", "pearl blue"),
    "azul marshmallow": ("azul marshmallow", "marshmallow blue"),
    "rojo": ("rojo", "roja", "red"),
    "verde": ("verde", "green", "aurora green", "glamorous green"),
    "verde lima": ("verde lima", "lima", "lime", "awesome lime"),
    "menta": ("menta", "mint", "verde menta", "mint green"),
    "verde bosque": ("verde bosque", "forest green"),
    "verde trebol": ("verde trebol", "clover green"),
    "verde agua": ("verde agua", "soothing sea", "aqua"),
    "amarillo": ("amarillo", "amarilla", "yellow", "amber yellow"),
    "rosado": ("rosado", "rosada", "rosa", "pink"),
    "morado": ("morado", "morada", "purple", "lavender purple", "bora purple", "purpura"),
    "violeta": ("violeta", "violet", "awesome violet", "cobalt violet"),
    "lila": ("lila", "lilac", "awesome lilac"),
    "lavanda": ("lavanda", "lavender"),
    "grafito": ("grafito", "graphite", "awesome graphite", "graphite gray", "graphite grey", "gris grafito"),
    "crema": ("crema", "cream"),
    "naranja": ("naranja", "orange"),
    "cafe": ("cafe", "marron", "brown"),
    "beige": ("beige",),
    "champagne": ("champagne", "champan"),
    "bronce": ("bronce", "bronze"),
    "cobre": ("cobre", "copper"),
    "magenta": ("magenta", "viva magenta"),
    "cian": ("cian", "cyan"),
    "turquesa": ("turquesa", "turquoise"),
    "coral": ("coral",),
    "atardecer": ("atardecer", "ocean sunset", "sunset"),
    "medianoche": ("medianoche", "midnight"),
    "blanco estelar": ("blanco estelar", "starlight"),
    "gris espacial": ("gris espacial", "space gray", "space grey"),
    "titanio natural": ("titanio natural", "natural titanium", "titanium natural"),
    "titanio negro": ("titanio negro", "black titanium", "titanium black"),
    "titanio blanco": ("titanio blanco", "white titanium", "titanium white"),
    "titanio azul": ("titanio azul", "blue titanium", "titanium blue"),
    "titanio gris": ("titanio gris", "titanium gray", "titanium grey", "gray titanium"),
    "titanio violeta": ("titanio violeta", "titanium violet"),
    "titanio amarillo": ("titanio amarillo", "titanium yellow"),
    "inox": ("inox", "acero inoxidable", "stainless steel", "acero inox", "inoxidable"),
    "neon": ("neon", "neon red/blue", "neon rojo/azul"),
}

# --------------------------------------------------------------------------- words without identity
#: category prefixes and marketing words dropped from the product line
NOISE_WORDS: frozenset[str] = frozenset(
    {
        "celular",
        "smartphone",
        "telefono",
        "movil",
        "notebook",
        "laptop",
        "computador",
        "portatil",
        "smart",
        "tv",
        "led",
        "televisor",
        "television",
        "tablet",
        "smartwatch",
        "reloj",
        "inteligente",
        "audifonos",
        "audifono",
        "auriculares",
        "bluetooth",
        "inalambricos",
        "inalambrico",
        "in",
        "ear",
        "consola",
        "refrigerador",
        "refrigeradora",
        "lavadora",
        "microondas",
        "freidora",
        "de",
        "del",
        "aire",
        "con",
        "y",
        "the",
        "4k",
        "uhd",
        "hd",
        "full",
        "fhd",
        "ultra hd",
        "nuevo",
        "nueva",
        "original",
        "liberado",
        "desbloqueado",
        "sim",
        "gamer",
        "horno",
        "ds",
        "color",
        "-",
        "chip",
        "intel",
        "amd",
        "core",
        "procesador",
        "pantalla",
        "memoria",
        "almacenamiento",
        "tamano",
        "para",
        "el",
        "la",
        "version",
        "wifi",
        "wi",
        "fi",
        "gps",
        "4g",
        "lte",
        "nfc",
        "2024",
        "2023",
        "2025",
        "ram",
        "ssd",
        "hdd",
        "emmc",
        "nvme",
    }
)
#: words that make a different product when one listing has them and the other does not
STRONG_QUALIFIERS: frozenset[str] = frozenset(
    {
        "pro",
        "max",
        "plus",
        "ultra",
        "lite",
        "fe",
        "mini",
        "classic",
        "digital",
        "se",
        "air",
        "oled",
        "neo",
        "fusion",
        "secadora",
        "edge",
        "flip",
        "fold",
    }
)
#: words a retailer may leave out of the same product's name ("5G": "Moto G54 5G" is sold as "G54")
SOFT_QUALIFIERS: frozenset[str] = frozenset({"5g"})
#: words that number a generation or edition ("2da Gen"), never a model key on their own
EDITION_WORDS: frozenset[str] = frozenset({"gen", "generacion", "generation", "edicion", "edition"})
