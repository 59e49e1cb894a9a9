"""Whether two listings are the same product: hard vetoes, then a score in [0, 1].

Vetoes (both listings state the attribute and they differ): category, model code, brand, model key,
storage, RAM, colour, capacity, processor, screen size (beyond a tolerance); a model word on each side
that the other lacks ("m2" vs "m3", "series s" vs "series x"); a variant word on one side only ("pro",
"plus", "fe", "digital"...).

Score = ``text_weight`` x fuzzy similarity of the product lines (rapidfuzz ``token_set_ratio``)
+ (1 - ``text_weight``) x attribute agreement − ``soft_token_penalty`` per soft word on one side only
("5g"). Attribute agreement is the weight of the attributes both listings state (and agree on) over
that weight plus half the weight of those only one listing states, so a listing that leaves its RAM
out is a weaker match than one that agrees on it, not a different product.
"""

from __future__ import annotations

from operator import attrgetter
from typing import NamedTuple

from rapidfuzz.fuzz import token_set_ratio

from processors.retail.attributes import ProductAttributes
from processors.retail.config import MatchConfig
from processors.retail.lexicon import SOFT_QUALIFIERS, STRONG_QUALIFIERS

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


def veto(a: ProductAttributes, b: ProductAttributes, cfg: MatchConfig) -> str | None:
    """The attribute that makes two listings different products, or ``None``."""
    if a.category != b.category and a.category != "other" and b.category != "other":
        return "category"
    x, y = a.code_key, b.code_key
    if x is not None and y is not None and x != y:
        return "model_code"
    x, y = a.brand, b.brand
    if x is not None and y is not None and x != y:
        return "brand"
    x, y = a.model, b.model
    if x is not None and y is not None and x != y:
        return "model"
    n, m = a.storage_gb, b.storage_gb
    if n is not None and m is not None and n != m:
        return "storage_gb"
    n, m = a.ram_gb, b.ram_gb
    if n is not None and m is not None and n != m:
        return "ram_gb"
    x, y = a.color, b.color
    if x is not None and y is not None and x != y:
        return "color"
    x, y = a.capacity, b.capacity
    if x is not None and y is not None and x != y:
        return "capacity"
    x, y = a.cpu, b.cpu
    if x is not None and y is not None and x != y:
        return "cpu"
    f, g = a.screen_inches, b.screen_inches
    if f is not None and g is not None and abs(f - g) > cfg.screen_tolerance:
        return "screen_inches"
    if a.distinctive != b.distinctive:
        da, db = set(a.distinctive), set(b.distinctive)
        only_a, only_b = da - db, db - da
        if only_a and only_b:
            return "model"
        if not (only_a | only_b).isdisjoint(_STRONG):
            return "variant"
    return None


#: one Verdict per veto (immutable, so shared): a vetoed pair allocates nothing
_VETOED: dict[str, Verdict] = {name: Verdict(0.0, name) for name in ("category", "variant", *WEIGHTS)}
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
    """:func:`veto`, then the score. The matcher's per-pair hot path: the vetoes (the same checks in the
    same order as :func:`veto`) and the weights of the attributes stated by both / by one listing only are
    read in one pass over the attributes."""
    x: object
    y: object
    if a.category != b.category and a.category != "other" and b.category != "other":
        return _VETOED["category"]
    agree = missing = 0.0  # sums of halves and units: exact in any order
    x, y = a.code_key, b.code_key
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["model_code"]
            agree += _CODE_BOTH
        else:
            missing += _CODE_ONE
    elif y is not None:
        missing += _CODE_ONE
    x, y = a.brand, b.brand
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["brand"]
            agree += _BRAND_BOTH
        else:
            missing += _BRAND_ONE
    elif y is not None:
        missing += _BRAND_ONE
    x, y = a.model, b.model
    if x is not None:
        if y is not None:
            if x != y:
                return _VETOED["model"]
            agree += _MODEL_BOTH
        else:
            missing += _MODEL_ONE
    elif y is not None:
        missing += _MODEL_ONE
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
    if differ:
        sa, sb = set(da), set(db)
        only_a, only_b = sa - sb, sb - sa
        if only_a and only_b:
            return _VETOED["model"]
        if not (only_a | only_b).isdisjoint(_STRONG):
            return _VETOED["variant"]
    same_code = a.code_key is not None and b.code_key is not None  # different codes were vetoed
    if same_code:  # the manufacturer says it is the same model: what one title leaves out is not doubt
        missing = 0.0
    attrs = agree / (agree + missing) if agree else 0.0
    s = cfg.text_weight * line_similarity(a.product_line, b.product_line) + (1.0 - cfg.text_weight) * attrs
    if differ and not same_code:
        soft = len(set(da).symmetric_difference(db) & _SOFT)
        s -= soft * cfg.soft_token_penalty
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
    stated by either listing, both values and ``agree`` (stated by both: the vetoes let only agreement
    through) or ``one_side``, with the weight it counted for (one-sided attributes count for nothing when
    both model codes agree); then the product lines' ``similarity`` and
    the ``penalty`` of model words only one listing has."""
    out: list[dict[str, object]] = []
    same_code = a.code_key is not None and b.code_key is not None
    for (name, w_both, w_one), x, y in zip(_EVIDENCE, _evidence_values(a), _evidence_values(b), strict=True):
        if x is None:
            if y is None:
                continue
            outcome, weight = "one_side", 0.0 if same_code else w_one
        elif y is None:
            outcome, weight = "one_side", 0.0 if same_code else w_one
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
