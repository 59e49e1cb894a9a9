"""Block keys: listings that may be the same product share at least one block.

* ``c|<code>``: the manufacturer model code (letters and digits), when the title has one;
* ``m|<brand>|<model>|<size>``: brand, model key and the size that tells variants apart (storage for
  phones, tablets, notebooks and consoles, screen inches for TVs, litres / kilos / millimetres for
  appliances and watches).

Only listings of a block are compared, so the work grows with the true candidates, not with all pairs.
A pair of listings is owned by the smallest block key they share (:func:`owner_block`), so it is
scored and emitted once however many blocks it shares.
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.retail.attributes import ProductAttributes

_STORAGE_SIZED = frozenset({"phone", "tablet", "notebook", "console"})


def size_key(a: ProductAttributes) -> str:
    if a.category in _STORAGE_SIZED:
        return str(a.storage_gb) if a.storage_gb is not None else "-"
    if a.category == "tv":
        return f"{a.screen_inches:g}in" if a.screen_inches is not None else "-"
    if a.capacity is not None:
        return a.capacity
    if a.storage_gb is not None:
        return str(a.storage_gb)
    return "-"


def block_keys(a: ProductAttributes) -> tuple[str, ...]:
    """The sorted block keys of a listing (one or two)."""
    keys = [f"m|{a.brand or '?'}|{a.model or '-'}|{size_key(a)}"]
    code = a.code_key
    if code:
        keys.append(f"c|{code}")
    return tuple(sorted(keys))


def owner_block(blocks_a: Sequence[str], blocks_b: Sequence[str]) -> str | None:
    """The smallest block key two listings share (the block that scores and emits the pair)."""
    best: str | None = None
    for k in blocks_a:
        if k in blocks_b and (best is None or k < best):
            best = k
    return best
