"""Whether two listings are the same product: hard vetoes, then a score in [0, 1].

Codes first. Two different primary codes (a retailer's model number, a code-shaped last word, a well-known
code shape) that neither listing states elsewhere veto (``model_code``); so do two listings that both
state codes, one of them a primary code, without one in common. A code both state — the same key, one with
a suffix or prefix of the other ("DCB309" / "DCB309BLACK"), or one's code inside the other's title once
punctuation and spaces are ignored ("WH1000XM5" in "wh 1000xm5") — is a *code agreement*: it overrules the
weak vetoes (accessory, category, brand, model key, model words), never the strong ones (condition,
storage, RAM, colour, capacity, processor, screen: a model's variants share its code). Of several agreeing
codes the longest counts. A code that is only a listing's model word ("EQ50"), with no longer code of it
on either side, only lifts the weak vetoes and counts as the model's agreement ("TDR355" / "TDR355MD" is a
code agreement). ``score(a, b) == score(b, a)``: the rules that look at one listing first take the two in
a fixed order (:func:`_in_order`).

Codes are compared only within one kind (:func:`processors.retail.attributes.code_kind`): a retailer's
catalogue number ("148210") neither conflicts nor agrees with a maker's model code ("UB-410"). A code both
titles name that is neither listing's own primary code (a chip, a standard: "HD7750") does not overrule
two brands when either listing states its own code.

A code agreement the retailers' model-number fields alone state (neither title names it), between two
brands neither title names, vetoes (``brand``: a mistyped or reused field). Two codes of one series with
different numbers ("IDR355MD" / "IDR300D"; part numbers before one option suffix, "213076B26" /
"231319B26"), with no code agreeing, veto (``model_code``) wherever the titles carry them; so does a
number of four digits or more one listing states as a code (a retailer's item number, "31004") against a
different number as long in the other title that the first does not state ("... 31096 ...",
:func:`numbers_conflict`).

Vetoes (both listings state the attribute and they differ): condition (remanufactured, refurbished...
on one side only), accessory (one is made for another product), category, brand (unless one brand, or
its first word, is a word of the other's title: a distributor, :func:`brands_differ`), model key (both
with letters and digits and neither its listing's code, see :func:`_models_conflict`), storage, RAM,
colour, capacity (litres, kilos, millimetres, pack count, users), processor, screen size (beyond a
tolerance); a model word on each side that the other title does not state ("m2" vs "m3", "series s" vs
"series x", :func:`model_words_differ`); a variant word on one side only ("pro", "plus", "fe"...) where
it names a variant, not before a plain word it describes (:func:`_names_variant`).

Score, when a code agrees, both primary codes are equal, or the model keys agree: ``text_weight`` x fuzzy
similarity of the product lines (rapidfuzz ``token_set_ratio``) + (1 - ``text_weight``) x attribute
agreement − ``soft_token_penalty`` per soft word on one side only ("5g"). Attribute agreement is the
weight of the attributes both listings state (and agree on) over that weight plus half the weight of those
only one listing states, so a listing that leaves its RAM out is a weaker match than one that agrees on
it, not a different product (a brand one listing states and the other's title names — all its words, or
its first word, :func:`_brand_named` — is stated by both). Otherwise nothing names the model on both
sides, and the score is the titles' own similarity: rapidfuzz ``token_sort_ratio`` (every word counts, so
a title that only shares the brand and the product kind stays below the threshold), or ``subset_weight`` x
``token_set_ratio`` when higher (one title's words inside the other's: "american sign language" / "instant
immersion american sign language win/mac"); the brand one listing gives only in its brand field is taken
out of the other's title first, when that listing names no brand, and two words one title writes apart are
joined where the other writes them as one (:func:`titles_compared`). Unless a code agrees,
``name_swap_penalty`` comes off when the titles put different names at one place (:func:`name_swap`: "San
Diego Padres" / "San Antonio Spurs" iPhone 4 Case).
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import NamedTuple

from rapidfuzz.distance import Indel
from rapidfuzz.fuzz import ratio, token_set_ratio, token_sort_ratio

from processors.retail.attributes import ProductAttributes, code_in_title, code_kind
from processors.retail.config import MatchConfig
from processors.retail.lexicon import (
    ACCESSORY_WORDS,
    CATEGORY_WORDS,
    COLORS,
    CONDITION_WORDS,
    LICENCE_WORDS,
    NOISE_WORDS,
    PLATFORM_WORDS,
    SOFT_QUALIFIERS,
    STOP_WORDS,
    STRONG_QUALIFIERS,
)

#: (attribute, weight when both state it, weight when only one does)
WEIGHTS: dict[str, tuple[float, float]] = {
    "model_code": (3.0, 0.5),
    "brand": (1.0, 0.5),
    "model": (2.0, 1.0),
    "storage_gb": (2.0, 1.0),
    "ram_gb": (1.0, 0.5),
    "color": (2.0, 1.0),
    "screen_inches": (1.0, 0.5),
    "capacity": (1.0, 0.5),
    "cpu": (1.0, 0.5),
}
_W = WEIGHTS
_STRONG = STRONG_QUALIFIERS
_SOFT = SOFT_QUALIFIERS
_CONDITION = CONDITION_WORDS
_LICENCE = LICENCE_WORDS
_NOISE = NOISE_WORDS
_PLATFORM = PLATFORM_WORDS
#: colour words: a colour on one side is stated by the colour attribute, never a name
_COLOR_WORDS = frozenset(w for names in COLORS.values() for name in names for w in name.split())
_STOP_WORDS = STOP_WORDS
#: words that are never a design, team or edition name (:func:`name_swap`)
_NOT_NAMES = _NOISE | _STOP_WORDS | _PLATFORM | _COLOR_WORDS
#: words a brand may start with that say nothing of the maker in another title ("Case Logic" / "... case")
_PLAIN_WORDS = ACCESSORY_WORDS | frozenset(w for w, _ in CATEGORY_WORDS) | STOP_WORDS


class Verdict(NamedTuple):  # immutable; a NamedTuple is built faster than a frozen dataclass
    score: float  # 0 when vetoed
    veto: str | None  # the attribute that vetoed, None when scored


def line_similarity(a: str | None, b: str | None) -> float:
    """Fuzzy similarity of two product lines in [0, 1]; two lines both left empty agree."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    if a == b:
        return 1.0
    return token_set_ratio(a, b) / 100.0


def _same_code_spelled(x: str, y: str) -> bool:
    if x == y:
        return True
    short, long_ = (x, y) if len(x) < len(y) else (y, x)
    if len(short) >= 4 and len(long_) >= len(short) + 2 and long_.startswith(short):
        return not long_[len(short) :].isdigit()
    return len(short) >= 5 and long_.endswith(short) and long_[: len(long_) - len(short)].isalpha()


# a digit run's leading zeros: "RVD0110" = "RVD110", "108R00602" = "108R602"
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


def same_code(x: str, y: str) -> bool:
    """Two code keys of one model: equal, or one the other with a packaging, colour or region suffix
    of two characters or more, not all digits ("DCB309" / "DCB309BLACK", "8489A001" / "8489A001AA";
    "2312DRA50G" and "2312DRA50G5" stay two models) or a vendor prefix in letters ("97185" / "VER97185");
    or the same once the leading zeros of their digit runs are dropped ("OCZSSDPX1RVD0110" /
    "OCZSSDPX1RVD110"). (A code inside another, "CU7000" in "UN55CU7000GXZS", is a series code: not one
    model.)"""
    if _same_code_spelled(x, y):
        return True
    if "0" in x or "0" in y:
        # without any zero, one is still the other, or starts or ends it, if they are one code without
        # leading zeros: a cheap test before the regular expression (most pairs of codes are two models)
        p, q = x.replace("0", ""), y.replace("0", "")
        if not (p.startswith(q) or q.startswith(p) or p.endswith(q) or q.endswith(p)):
            return False
        x2, y2 = _LEADING_ZEROS.sub("", x), _LEADING_ZEROS.sub("", y)
        return (x2 != x or y2 != y) and _same_code_spelled(x2, y2)
    return False


def _in_order(a: ProductAttributes, b: ProductAttributes) -> tuple[ProductAttributes, ProductAttributes]:
    """The two listings in a fixed order (by title, then codes, then brand), for the rules that look at
    one listing first: their answers must not depend on which listing arrived first."""
    if a.normalized_title < b.normalized_title:
        return a, b
    if a.normalized_title > b.normalized_title:
        return b, a
    if (a.codes, a.brand or "") <= (b.codes, b.brand or ""):
        return a, b
    return b, a


def agreeing_code(a: ProductAttributes, b: ProductAttributes) -> str | None:
    """A code of one listing that the other states too: among its codes (:func:`same_code`), or inside its
    title once punctuation and spaces are ignored ("SM-A546E" in "... sm a546e", "WH1000XM5" in
    "wh 1000xm5"). Of several, the longest (then the last alphabetically): the most specific, whichever
    listing comes first ("HD0000A" rather than the "0000A" of "HD 0000A")."""
    ca, cb = a.codes, b.codes
    found: list[str] = []
    for c in ca:
        if c in cb:
            found.append(c)
            continue
        for d in cb:
            if same_code(c, d):
                found.append(c if len(c) >= len(d) else d)
                break
        else:
            if not b.accessory and code_in_title(c, b.normalized_title):
                found.append(c)
    if not a.accessory:  # (an accessory's title names the code of the product it is made for)
        for c in cb:
            if c not in found and code_in_title(c, a.normalized_title):
                found.append(c)
    if not found:
        return None
    return max(found, key=lambda c: (len(c), c))


def codes_comparable(a: ProductAttributes, b: ProductAttributes) -> bool:
    """Both listings state a primary code and the two are the same kind of identifier
    (:func:`code_kind`): a retailer's catalogue number ("136902") and a maker's model code ("DCB-304")
    neither agree nor conflict."""
    x, y = a.code_key, b.code_key
    if x is None or y is None:
        return False
    if x == y:
        return True
    kx, ky = code_kind(x), code_kind(y)
    return kx == ky or kx == "either" or ky == "either"


def codes_conflict(a: ProductAttributes, b: ProductAttributes) -> bool:
    """Two different primary codes of one kind, neither stated by the other listing (a series code both
    share, "CU7000", does not make "UN55CU7000GXZS" and "UN55CU7010GXZS" one product)."""
    x, y = a.code_key, b.code_key
    if x is None or y is None or x == y:
        return False
    if not codes_comparable(a, b):
        return False
    if same_code(x, y) or any(same_code(x, c) for c in b.codes) or any(same_code(y, c) for c in a.codes):
        return False
    return not (code_in_title(x, b.normalized_title) or code_in_title(y, a.normalized_title))


def _model_shaped(key: str) -> bool:
    """A model key with letters and digits ("a54", "iphone15", "cu7000"): a bare number or a word alone
    is too often a product number, a version or a product word to veto on."""
    return not key.isalpha() and not key.isdigit()


def _models_conflict(x: str, y: str, a: ProductAttributes, b: ProductAttributes) -> bool:
    """Two model keys name different models: both have letters and digits, and either they share their
    letters ("iphone15" / "iphone14", "a54" / "a34") or each is a word of its own title ("m2" / "m3");
    a key made of a word and the number after it ("suite3", "series18") says nothing against another
    word's ("software17100")."""
    if not (_model_shaped(x) and _model_shaped(y)):
        return False
    if x.rstrip("0123456789") == y.rstrip("0123456789"):
        return True
    if x.upper() in a.codes or y.upper() in b.codes:
        return False  # a key that is its listing's code is judged by the code rules ("a0454jch" / "3rd")
    return f" {x} " in f" {a.normalized_title} " and f" {y} " in f" {b.normalized_title} "


def _inside(w: str, o: str) -> bool:
    """Whether word ``w`` is ``o`` with letters before or after it ("17" in "v17", "17r"; not "6" in "68")."""
    if len(o) <= len(w):
        return False
    if o.startswith(w):
        return o[len(w) :].isalpha()
    return o.endswith(w) and o[: len(o) - len(w)].isalpha()


def _spelled_in(words: set[str], others: set[str], normalized_title: str) -> bool:
    """Every word is in the other title once its spaces are ignored, or inside one of the other's words
    ("v17" in "v 17"; "17" in "v17")."""
    return all(code_in_title(w, normalized_title) or any(w in o for o in others) for w in words)


def _unstated(words: set[str], others: set[str], normalized_title: str) -> bool:
    """Whether one of the words is neither a word of the other title (a number alone does not count: "25"
    in "9-pin ... set of 25") nor inside one of the other's model words (:func:`_inside`)."""
    return any(
        not any(_inside(w, o) for o in others) and (w.isdigit() or not code_in_title(w, normalized_title))
        for w in words
    )


def model_words_differ(only_a: set[str], only_b: set[str], a: ProductAttributes, b: ProductAttributes) -> bool:
    """Whether the model words each listing has and the other lacks (both non-empty) name different
    models: each listing has one the other's title does not state (:func:`_unstated`: "m2" / "m3"), and
    they are not the same words spaced differently ("v 17" / "v17"). A word the other title has outside
    its model words does not count ("h&r block taxcut 2006" / "h&r block taxcut premium", where one side
    reads "h r" as the brand)."""
    ta, tb = a.normalized_title, b.normalized_title
    if _spelled_in(only_a, only_b, tb) and _spelled_in(only_b, only_a, ta):
        return False
    return _unstated(only_a, only_b, tb) and _unstated(only_b, only_a, ta)


def brands_differ(a: ProductAttributes, b: ProductAttributes) -> bool:
    """Both state a brand, they differ, and neither is a word of the other's title nor shares its first
    word (a distributor's or a parent company's name in a brand field: "Sharp" / "Sharp Electronics")."""
    x, y = a.brand, b.brand
    if x is None or y is None or x == y:
        return False
    if x.split(" ", 1)[0] == y.split(" ", 1)[0]:
        return False
    return not (_brand_named(x, b.normalized_title) or _brand_named(y, a.normalized_title))


def _brand_named(brand: str, title: str) -> bool:
    """Whether a title names a brand: all its words, or its first word (three letters or more, not a plain
    word: "aspyr the sims 2" names "aspyr media")."""
    return f" {brand} " in f" {title} " or _first_word_named(brand, title)


def _first_word_named(brand: str, title: str, plain_too: bool = False) -> bool:
    """Whether a title has the brand's first word (three letters or more; a plain word only if
    ``plain_too``)."""
    first = brand.split(" ", 1)[0]
    return len(first) >= 3 and (plain_too or first not in _PLAIN_WORDS) and f" {first} " in f" {title} "


def field_code_only(code: str, a: ProductAttributes, b: ProductAttributes) -> bool:
    """Whether an agreeing code is stated by the retailers' model-number fields only: neither title names
    it (a field can be mistyped or hold a number the retailer reuses: "14021" for a power supply and a
    dash mount)."""
    return not code_in_title(code, a.normalized_title) and not code_in_title(code, b.normalized_title)


def brand_word_shared(a: ProductAttributes, b: ProductAttributes, plain_too: bool = True) -> bool:
    """Whether the first word of one listing's brand is a word of the other's title ("Griffin Technology"
    and a title "Griffin iPod Touch 4G FormFit Case" under a distributor's brand field)."""
    return any(brand is not None and _first_word_named(brand, title, plain_too)
               for brand, title in ((a.brand, b.normalized_title), (b.brand, a.normalized_title)))


def _series_split(x: str, y: str) -> bool:
    """Two codes of one series with different numbers: a common start of three characters or more with a
    letter in it, and a digit on both sides where they part ("IDR355MD" / "IDR300D", "01SSC5310" /
    "01SSC2574"; not "DSCH70" / "DSCH70B", a suffix)."""
    n = min(len(x), len(y))
    k = 0
    while k < n and x[k] == y[k]:
        k += 1
    if k < 3 or k == n or not x[k].isdigit() or not y[k].isdigit():
        return _number_split(x, y)
    return not x[:k].isdigit() or _number_split(x, y)


def _number_split(x: str, y: str) -> bool:
    """Two part numbers with one option suffix: different numbers of three digits or more before a common
    end of three characters or more with a letter in it ("213076B26" / "231319B26")."""
    n = min(len(x), len(y))
    k = 0
    while k < n and x[-1 - k] == y[-1 - k]:
        k += 1
    if k < 3 or k == n:
        return False
    end = x[len(x) - k :]
    px, py = x[: len(x) - k], y[: len(y) - k]
    return not end.isdigit() and len(px) >= 3 and len(py) >= 3 and px.isdigit() and py.isdigit()


def series_conflict(a: ProductAttributes, b: ProductAttributes) -> bool:
    """Both listings state codes (in a title or a model-number field), none agrees (:func:`agreeing_code`),
    and one of each names another number of the same series (:func:`_series_split`): two models of one
    line even when one code is not where the primary code is read ("Scosche IDR300d ... Earphones" /
    "... Earphones IDR355MD")."""
    return any(_series_split(c, d) for c in a.codes for d in b.codes)


def _number_unstated(c: str, a: ProductAttributes, b: ProductAttributes) -> bool:
    """Whether ``b``'s title has a bare number as long as ``a``'s number code ``c`` and different from it,
    that ``a``'s title does not state either, while ``b`` does not state ``c``."""
    if c in b.codes or code_in_title(c, b.normalized_title):
        return False
    own = a.normalized_title.split()
    n = len(c)
    return any(w.isdigit() and len(w) == n and w != c and w not in own for w in b.normalized_title.split())


def numbers_conflict(a: ProductAttributes, b: ProductAttributes) -> bool:
    """One listing states a number of four digits or more as a code (a retailer's item number: "7532",
    "31004"), the other's title a different number as long that the first does not state ("TOPS 7533 ...",
    "Pilot 31096 ..."): two items of one maker's numbered range (office supplies, cables, screens), where
    the words alone rarely tell the items apart."""
    for x, y in ((a, b), (b, a)):
        for c in x.codes:
            if len(c) >= 4 and c.isdigit() and _number_unstated(c, x, y):
                return True
    return False


def _names(words: set[str], other: set[str]) -> set[str]:
    """The words that could be a name in a title against the other title's words: three letters or more,
    only letters, not in the other title, no platform, colour or function word."""
    return {w for w in words - other - _NOT_NAMES if len(w) >= 3 and w.isalpha()}


def _alike(x: str, y: str) -> bool:
    """One word spelled two ways or cut short: "maintenance" / "maintanence", "speaker" / "speakerphone"."""
    return x.startswith(y) or y.startswith(x) or ratio(x, y) >= 75.0


def name_swap(a: ProductAttributes, b: ProductAttributes) -> bool:
    """Whether the titles, aligned word by word on their longest common word sequence (rapidfuzz's
    ``Indel.opcodes``), have a place where each puts its own words — words of three letters or more the
    other title lacks, not spelled alike, no platform, colour or function word: a design, team or edition
    name in titles otherwise the same ("San Diego Padres iPhone 4 Case" / "San Antonio Spurs iPhone 4
    Case", "Hoyle Card Games 2011" / "Hoyle Puzzle Board Games 2011"). Only in titles that share, in
    order, at least half the words of the longer one: two shops' wordings of one product differ in many
    places (chosen so that the F1 on labelled offer pairs does not fall, BENCHMARKS.md). Words one title adds
    alone (a publisher, a size) are detail, not a swap."""
    if a.normalized_title == b.normalized_title:
        return False
    a, b = _in_order(a, b)  # (the word alignment depends on the order)
    ta, tb = a.normalized_title.split(), b.normalized_title.split()
    sa, sb = set(ta), set(tb)
    na = _names(sa, sb)
    nb = _names(sb, sa) if na else na
    if not nb:
        return False  # (a place needs a name on each side: no alignment is needed to know there is none)
    ops = Indel.opcodes(ta, tb)
    shared = sum(op.src_end - op.src_start for op in ops if op.tag == "equal")
    if 2 * shared < max(len(ta), len(tb)):
        return False  # titles that share less than half their words in order: two wordings, not a swap
    wa: list[str] = []
    wb: list[str] = []
    for op in (*ops, None):  # (None: the end, closing the last place)
        if op is not None and op.tag != "equal":
            wa.extend(ta[op.src_start : op.src_end])
            wb.extend(tb[op.dest_start : op.dest_end])
            continue
        xa = [w for w in wa if w in na]
        xb = [w for w in wb if w in nb]
        if xa and xb and not any(_alike(x, y) for x in xa for y in xb):
            return True
        wa, wb = [], []
    return False


def _without_words(title: str, words: str) -> str:
    """``title`` without the first run of ``words`` (both normalized, words apart)."""
    padded = f" {title} ".replace(f" {words} ", " ", 1)
    return padded.strip()


def titles_compared(a: ProductAttributes, b: ProductAttributes) -> tuple[str, str]:
    """The two titles as their words are compared when nothing names the model on both sides. The brand
    one listing states (its brand field) and its title does not spell is taken out of the other title when
    that title spells it and the other listing names no brand of its own (no brand field, none the lexicon
    knows): one retailer writes the maker into its titles, the other into its brand field, and that is no
    difference between the two titles ("garden planner deluxe", brand "fernhill software" / "fernhill
    software garden planner"). Where both listings state the brand, both retailers keep it in a field and
    the titles are compared as written (taking it out there too paired other products of one maker). Two
    neighbouring words one title writes apart are written together where the other title writes them as
    one word (:func:`_joined`: "web page designer" / "webpage designer")."""
    ta, tb = a.normalized_title, b.normalized_title
    for x, y in ((a, b), (b, a)):
        brand = x.brand
        if brand is None or y.brand is not None:
            continue
        if f" {brand} " in f" {y.normalized_title} " and f" {brand} " not in f" {x.normalized_title} ":
            if y is b:
                tb = _without_words(tb, brand) or tb
            else:
                ta = _without_words(ta, brand) or ta
    return _joined(ta, tb), _joined(tb, ta)


def _joined(title: str, other: str) -> str:
    """``title`` with two neighbouring words written together where ``other`` writes them as one word
    ("web page designer" / "webpage designer", "zone alarm" / "zonealarm")."""
    words = title.split()
    if len(words) < 2:
        return title
    theirs = set(other.split())
    out: list[str] = []
    i, n = 0, len(words)
    changed = False
    while i < n:
        if i + 1 < n:
            w = words[i] + words[i + 1]
            if w in theirs and words[i] not in theirs:
                out.append(w)
                i += 2
                changed = True
                continue
        out.append(words[i])
        i += 1
    return " ".join(out) if changed else title


def _names_variant(word: str, a: ProductAttributes) -> bool:
    """Whether a variant word names a variant where the title puts it: last, or before a number, a
    function word, a colour, a platform or another variant word ("PlayStation 5 Slim Digital", "iPhone 15
    Pro Max", "iPad Mini 6", "Timbuktu Pro for Mac"); not before a plain word, where it describes the
    product ("Digital SLR Camera", "professional editing software", "Mini USB Car Charger")."""
    words = a.normalized_title.split()
    for i, w in enumerate(words):
        if w != word:
            continue
        if i + 1 == len(words):
            return True
        n = words[i + 1]
        if not n.isalpha() or len(n) < 3 or n in _STOP_WORDS or n in _COLOR_WORDS or n in _PLATFORM or n in _STRONG:
            return True
    return word not in words  # (a word read from a spelling the title does not show: keep)


def _only_model_word(code: str, a: ProductAttributes, b: ProductAttributes) -> bool:
    """Whether an agreeing code is only a model word ("EQ50", "G84"): a listing's model word, and neither
    listing states a longer code of it ("TDR355" / "TDR355MD" is a code agreement, whichever listing comes
    first)."""
    ma, mb = a.model, b.model
    if not ((ma is not None and code == ma.upper()) or (mb is not None and code == mb.upper())):
        return False
    return not any(c != code and same_code(c, code) for c in (*a.codes, *b.codes))


def veto(a: ProductAttributes, b: ProductAttributes, cfg: MatchConfig) -> str | None:
    """The attribute that makes two listings different products, or ``None`` (:func:`score`'s veto)."""
    return score(a, b, cfg).veto


#: one Verdict per veto (immutable, so shared): a vetoed pair allocates nothing
_VETOED: dict[str, Verdict] = {
    name: Verdict(0.0, name) for name in ("category", "variant", "accessory", "condition", *WEIGHTS)
}
_CODE_BOTH, _CODE_ONE = WEIGHTS["model_code"]
_BRAND_BOTH, _BRAND_ONE = WEIGHTS["brand"]
_MODEL_BOTH, _MODEL_ONE = WEIGHTS["model"]
_STORAGE_BOTH, _STORAGE_ONE = WEIGHTS["storage_gb"]
_RAM_BOTH, _RAM_ONE = WEIGHTS["ram_gb"]
_COLOR_BOTH, _COLOR_ONE = WEIGHTS["color"]
_SCREEN_BOTH, _SCREEN_ONE = WEIGHTS["screen_inches"]
_CAPACITY_BOTH, _CAPACITY_ONE = WEIGHTS["capacity"]
_CPU_BOTH, _CPU_ONE = WEIGHTS["cpu"]


def score(a: ProductAttributes, b: ProductAttributes, cfg: MatchConfig) -> Verdict:
    """The vetoes, then the score: the matcher's per-pair hot path (the vetoes and the weights of the
    attributes stated by both / by one listing only are read in one pass over the attributes).

    A code both listings state (:func:`agreeing_code`) overrules the weak vetoes — accessory, category,
    brand, model key, model words — since titles name one product in many ways and a manufacturer code in one; it never
    overrules storage, RAM, colour, capacity, processor or screen (the variants of one model
    share its code). Two different primary codes (a retailer's model number, a code-shaped last word, a
    well-known code shape) with no code in common veto."""
    x: object
    y: object
    qa, qb = a.qualifiers, b.qualifiers
    if qa != qb and not (_CONDITION.isdisjoint(qa) and _CONDITION.isdisjoint(qb)):
        if _CONDITION.intersection(qa) != _CONDITION.intersection(qb):
            return _VETOED["condition"]
    x, y = a.code_key, b.code_key
    if x is not None and y is not None and x != y:
        if codes_conflict(a, b):
            return _VETOED["model_code"]
        if not codes_comparable(a, b):
            x = y = None  # two kinds of identifier: neither counts for or against (an agreeing code may)
    keyed = x is not None and y is not None  # both primary codes, of one kind, the same model
    code = x if x is not None and x == y else agreeing_code(a, b) if (a.codes or b.codes) else None
    ka, kb = a.code_key, b.code_key
    if code is not None and (ka is not None or kb is not None) and code != ka and code != kb and brands_differ(a, b):
        # a listing states its own code, and the one both titles name is not it (a chip, a standard):
        # two makers' products (with no own code on either side, a brand field may be a distributor's)
        return _VETOED["brand"]
    if code is not None and brands_differ(a, b) and field_code_only(code, a, b) and not brand_word_shared(a, b):
        # only the model-number fields agree, and the makers differ: a mistyped or reused field
        return _VETOED["brand"]
    if code is None and (a.codes and b.codes) and series_conflict(a, b):
        return _VETOED["model_code"]
    if code is None and (a.codes or b.codes) and numbers_conflict(a, b):
        return _VETOED["model_code"]
    # A code that is the model word itself ("EQ50", "G84") only lifts the weak vetoes: it is scored as the
    # model's agreement (whatever model keys the titles read: "archer q2u ac600" / "ac600 ... archer q2u"),
    # a variant word on one side still vetoes ("S23" / "S23 FE"), and what one title omits stays in doubt
    # (the RAM variants of one model).
    lifted = False
    if code is not None and _only_model_word(code, a, b):
        code, lifted = None, True
    agree = missing = 0.0  # sums of halves and units: exact in any order
    if code is None:
        if not lifted:
            if a.accessory is not b.accessory:
                return _VETOED["accessory"]
            if a.category != b.category and a.category != "other" and b.category != "other":
                return _VETOED["category"]
        if x is not None:
            if y is not None:  # (the same: different primary codes with no code in common were vetoed)
                agree += _CODE_BOTH
            else:
                missing += _CODE_ONE
        elif y is not None:
            missing += _CODE_ONE
        x, y = a.brand, b.brand
        if x is not None:
            if y is not None:
                if x == y:
                    agree += _BRAND_BOTH
                elif not lifted and brands_differ(a, b):
                    return _VETOED["brand"]
            elif _brand_named(x, b.normalized_title):  # the other title names it: "punch software 17100 ..."
                agree += _BRAND_BOTH
            else:
                missing += _BRAND_ONE
        elif y is not None:
            if _brand_named(y, a.normalized_title):
                agree += _BRAND_BOTH
            else:
                missing += _BRAND_ONE
        x, y = a.model, b.model
        if lifted:  # the code both state is a model word: the model agrees, whatever the keys read
            agree += _MODEL_BOTH
        elif x is not None:
            if y is not None:
                if x == y:
                    agree += _MODEL_BOTH
                elif _models_conflict(x, y, a, b):
                    return _VETOED["model"]
            else:
                missing += _MODEL_ONE
        elif y is not None:
            missing += _MODEL_ONE
    else:
        agree += _CODE_BOTH
        if a.brand is not None and a.brand == b.brand:
            agree += _BRAND_BOTH
        if a.model is not None and a.model == b.model:
            agree += _MODEL_BOTH
    x, y = a.storage_gb, b.storage_gb
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["storage_gb"]
            agree += _STORAGE_BOTH
        else:
            missing += _STORAGE_ONE
    elif y is not None:
        missing += _STORAGE_ONE
    x, y = a.ram_gb, b.ram_gb
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["ram_gb"]
            agree += _RAM_BOTH
        else:
            missing += _RAM_ONE
    elif y is not None:
        missing += _RAM_ONE
    x, y = a.color, b.color
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["color"]
            agree += _COLOR_BOTH
        else:
            missing += _COLOR_ONE
    elif y is not None:
        missing += _COLOR_ONE
    x, y = a.capacity, b.capacity
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["capacity"]
            agree += _CAPACITY_BOTH
        else:
            missing += _CAPACITY_ONE
    elif y is not None:
        missing += _CAPACITY_ONE
    x, y = a.cpu, b.cpu
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["cpu"]
            agree += _CPU_BOTH
        else:
            missing += _CPU_ONE
    elif y is not None:
        missing += _CPU_ONE
    f, g = a.screen_inches, b.screen_inches
    if f is not None:
        if g is not None:
            if abs(f - g) > cfg.screen_tolerance:
                return _VETOED["screen_inches"]
            agree += _SCREEN_BOTH
        else:
            missing += _SCREEN_ONE
    elif g is not None:
        missing += _SCREEN_ONE
    da, db = a.distinctive, b.distinctive
    differ = da != db
    if differ and code is None:
        sa, sb = set(da), set(db)
        only_a, only_b = sa - sb, sb - sa
        if only_a and only_b and not lifted and model_words_differ(only_a, only_b, a, b):
            return _VETOED["model"]
        strong = (only_a | only_b) & _STRONG
        if strong and any(_names_variant(w, a if w in only_a else b) for w in strong):
            return _VETOED["variant"]
    same_code = code is not None or keyed
    if same_code:  # the manufacturer says it is the same model: what one title leaves out is not doubt
        missing = 0.0
    model = a.model
    if (
        same_code
        or lifted
        or (
            model is not None
            and model == b.model
            and (not model.isalpha() or (a.brand is not None and a.brand == b.brand))
        )
    ):
        attrs = agree / (agree + missing) if agree else 0.0
        s = cfg.text_weight * line_similarity(a.product_line, b.product_line) + (1.0 - cfg.text_weight) * attrs
    else:  # nothing names the model on both sides: the titles themselves must agree
        ta, tb = titles_compared(a, b)
        s = max(token_sort_ratio(ta, tb), cfg.subset_weight * token_set_ratio(ta, tb)) / 100.0
    if differ and not same_code:
        soft = len(set(da).symmetric_difference(db) & _SOFT)
        s -= soft * cfg.soft_token_penalty
    if qa != qb and not same_code:  # a licence or edition on one side only ("upgrade", "academic")
        s -= len(_LICENCE.intersection(qa).symmetric_difference(_LICENCE.intersection(qb))) * cfg.licence_penalty
    if not same_code and s >= cfg.threshold and cfg.name_swap_penalty and name_swap(a, b):
        s -= cfg.name_swap_penalty  # a design, team or edition name where the other title has its own
    return Verdict(round(min(1.0, max(0.0, s)), 6), None)


_EVIDENCE = (
    ("category", 0.0, 0.0),
    ("model_code", *WEIGHTS["model_code"]),
    ("brand", *WEIGHTS["brand"]),
    ("model", *WEIGHTS["model"]),
    ("storage_gb", *WEIGHTS["storage_gb"]),
    ("ram_gb", *WEIGHTS["ram_gb"]),
    ("color", *WEIGHTS["color"]),
    ("screen_inches", *WEIGHTS["screen_inches"]),
    ("capacity", *WEIGHTS["capacity"]),
    ("cpu", *WEIGHTS["cpu"]),
)
_evidence_values = attrgetter(*(name for name, _, _ in _EVIDENCE))


def _show(v: object) -> str | None:
    if v is None or type(v) is str:
        return v  # type: ignore[return-value]
    if type(v) is float:
        return f"{v:g}"
    return str(v)


def evidence(a: ProductAttributes, b: ProductAttributes, cfg: MatchConfig) -> list[dict[str, object]]:
    """The evidence of a match (a pair that passed the vetoes) as ``MatchEvidence`` records: per attribute
    stated by either listing, both values and ``agree`` (stated by both, the same or, for codes, one
    model's: the other vetoes let only agreement through), ``differ`` (two brands or model keys that did
    not veto: a distributor's brand field, overruled by a code, or model keys naming no model: weight 0),
    ``one_side``, or ``not_compared`` (two primary codes of different kinds), with the weight
    it counted for (one-sided attributes count for nothing when
    both model codes agree); then the product lines' ``similarity`` and
    the ``penalty`` of model words only one listing has."""
    out: list[dict[str, object]] = []
    same_code = codes_comparable(a, b)
    for (name, w_both, w_one), x, y in zip(_EVIDENCE, _evidence_values(a), _evidence_values(b), strict=True):
        if x is None:
            if y is None:
                continue
            outcome, weight = "one_side", 0.0 if same_code else w_one
        elif y is None:
            outcome, weight = "one_side", 0.0 if same_code else w_one
        elif name == "model_code" and not same_code:
            outcome, weight = "not_compared", 0.0  # two kinds of identifier (:func:`codes_comparable`)
        elif x != y and (name == "brand" or name == "model"):
            # two brands or model keys that did not veto (a distributor's brand field, a code agreement
            # overruling them, model keys that name no model): they count for nothing
            outcome, weight = "differ", 0.0
        else:
            outcome, weight = "agree", w_both
        out.append(
            {
                "attribute": name,
                "value_a": x if x is None or type(x) is str else _show(x),
                "value_b": y if y is None or type(y) is str else _show(y),
                "outcome": outcome,
                "weight": weight,
            }
        )
    code = agreeing_code(a, b) if (a.codes or b.codes) else None
    if code is not None and not (a.code_key == b.code_key == code):
        # a code both state that is not (only) their primary code: named, or found inside a title
        out.append(
            {
                "attribute": "code_in_both",
                "value_a": code if code in a.codes else None,
                "value_b": code if code in b.codes else None,
                "outcome": "agree",
                "weight": _CODE_BOTH,
            }
        )
    text = line_similarity(a.product_line, b.product_line)
    out.append(
        {
            "attribute": "product_line",
            "value_a": a.product_line,
            "value_b": b.product_line,
            "outcome": "similarity",
            "weight": round(text, 6),
        }
    )
    if a.distinctive != b.distinctive:
        da, db = set(a.distinctive), set(b.distinctive)
        soft = len((da ^ db) & _SOFT)
        out.append(
            {
                "attribute": "model_words",
                "value_a": " ".join(sorted(da - db)) or None,
                "value_b": " ".join(sorted(db - da)) or None,
                "outcome": "penalty",
                "weight": 0.0 if same_code else soft * cfg.soft_token_penalty,
            }
        )
    return out
