"""Block keys: listings that may be the same product share at least one block.

* ``c|<code>``: the first six characters of the manufacturer model code (letters and digits: one block
  for a code and its suffixed forms, "DCB309" / "DCB309BLACK"), when the listing has one: its primary
  code (the retailer's model number, or the title's), else, for a listing the lexicon does not
  recognize (below), the first code found in its title that the model key does not hold ("EQ50",
  "advance 136300": blocked by ``m|`` already);
* ``m|<brand>|<model>|<size>``: brand, model key and the size that tells variants apart (storage for
  phones, tablets, notebooks and consoles, screen inches for TVs, litres / kilos / millimetres for
  appliances and watches; a brand field led by a brand the lexicon knows is that brand already, see
  attributes.py: "sony media" / "sony");
* ``t|<rank>|<word>``: for a listing the lexicon does not recognize (a brand it does not know, or no
  category but "other" or "accessory"),
  its five rarest-looking product-line words (the title without its brand, primary code, units and a
  platform's versions: "win 98 me 2000 xp"): words with a digit first, then the longest. The rank (two
  digits, rarer first) makes a pair sharing several such words owned by the rarest-looking one. When
  the brand is not one the lexicon knows (or none was found), its model key too, when it mixes letters
  and digits: ``t|01|sonar6`` ("cakewalk sonar 6" / "cakewalk sonar 6 studio edition software", one
  listing with the brand field, one without: their ``m|`` keys differ by the brand alone, and the words
  the longer title ranks rarest are not the shorter's). A word block, so a crowded model word ("pro7")
  is pruned by common blocks as any word is.

Only listings of a block are compared, so the work grows with the true candidates, not with all pairs.
A pair of listings is owned by the smallest block key they share (:func:`owner_block`), so it is
scored and emitted once however many blocks it shares. A word block's size is the word's document
frequency, learned from the stream and kept in the block's state (its members), and a frequent word is
weak evidence alone: a block of a word without a digit that holds more than
``MatchConfig.word_block_crowd`` listings compares only the pairs that share another block too, and
any word block holding more than ``MatchConfig.word_block_cap`` only the pairs that share two other
blocks (pruning by common blocks, as meta-blocking does; ``BlockMatcher.needed``), so five word blocks
per listing find more true pairs than three did at fewer comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.retail.attributes import ProductAttributes
from processors.retail.lexicon import BRAND_ALIASES, BRANDS, STOP_WORDS

_STORAGE_SIZED = frozenset({"phone", "tablet", "notebook", "console"})
WORD_PREFIX = "t|"
WORD_KEYS = 5  # word blocks per listing
RARE_WORD_PREFIX = "t|00|"  # the word blocks of words with a digit (never crowded: see block_matcher.py)
MODEL_WORD_PREFIX = "t|01|"  # the model key as a word: a word block like the others (crowdable)
CODE_PREFIX = 6  # a code block holds the codes that start alike: "DCB309" and "DCB309BLACK", "F8Z414TTP"
_KNOWN_BRANDS = frozenset(BRAND_ALIASES.get(b, b) for b in BRANDS)
_OPEN_CATEGORIES = frozenset({"other", "accessory"})


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


def _rarity(word: str) -> tuple[bool, int, str]:
    return (word.isalpha(), -len(word), word)


def word_keys(a: ProductAttributes) -> list[str]:
    """The word blocks of a listing the lexicon does not recognize (see the module's docstring)."""
    brand = set(a.brand.split()) if a.brand else set()
    words = {
        w
        for w in (a.product_line or a.normalized_title).split()
        if len(w) >= 3 and w not in STOP_WORDS and w not in brand and not (w.isdigit() and len(w) < 5)
    }
    out = []
    for w in sorted(words, key=_rarity)[:WORD_KEYS]:
        rank = 0 if not w.isalpha() else max(1, 12 - len(w))
        out.append(f"{WORD_PREFIX}{rank:02d}|{w}")
    model = a.model
    if a.brand not in _KNOWN_BRANDS and model and not model.isalpha() and not model.isdigit():
        out.append(f"{MODEL_WORD_PREFIX}{model}")
    return out


def block_keys(a: ProductAttributes) -> tuple[str, ...]:
    """The sorted block keys of a listing."""
    keys = [f"m|{a.brand or '?'}|{a.model or '-'}|{size_key(a)}"]
    code = a.code_key
    unknown = a.brand not in _KNOWN_BRANDS or a.category in _OPEN_CATEGORIES
    if code:
        keys.append(f"c|{code[:CODE_PREFIX]}")
    elif unknown:  # (a code that is the model key or in it shares the model's block already)
        model = a.model.upper() if a.model else ""
        for c in a.codes:
            if c not in model:
                keys.append(f"c|{c[:CODE_PREFIX]}")
                break
    if unknown:
        keys.extend(word_keys(a))
    return tuple(sorted(set(keys)))


def owner_block(blocks_a: Sequence[str], blocks_b: Sequence[str]) -> str | None:
    """The smallest block key two listings share (the block that scores and emits the pair)."""
    best: str | None = None
    for k in blocks_a:
        if k in blocks_b and (best is None or k < best):
            best = k
    return best
