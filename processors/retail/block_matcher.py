"""Stage 2, keyed by block key: the listings of one match block, and which of them are the same product.

A BlockedListing UPSERT compares the listing with the block's listings of other retailers whose colour
could be its own (the same colour, or none stated) only (the work grows with the true candidates, not
with the catalogue), for the pairs this block owns (the smallest block
key both listings share). Scored pairs at or above the threshold are candidate edges; with
``one_to_one`` a pair is a match when each listing is the other's best candidate among that
retailer's listings in the block (ties: the closer title, then the smaller listing key), or a
duplicate listing of that best candidate (the same retailer listing the product twice,
``duplicate_threshold``). A change is decided over the connected components (by candidate edges) of the
listings it touched. The diff against the matches the block had gives, per pair (sorted by match id):
ProductMatch for a new match (or a changed title), MatchRepriced when a listing of a live match was
observed again, ProductMatchRetracted when a match no longer holds. All keyed by match id for the
opportunity stage.
"""

from __future__ import annotations

from typing import Any, Self

from rapidfuzz.fuzz import ratio, token_sort_ratio

from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.retail.attributes import ProductAttributes, code_key_of
from processors.retail.blocking import RARE_WORD_PREFIX, WORD_PREFIX, owner_block
from processors.retail.config import RetailConfig
from processors.retail.records import attributes_of, quote_of
from processors.retail.similarity import Verdict, evidence, score


class Member:
    """One listing of the block: what is compared, where else it is blocked, and its current prices."""

    __slots__ = ("key", "retailer", "attrs", "blocks", "quote")

    def __init__(self, key: str, retailer: str, attrs: ProductAttributes, blocks: tuple[str, ...], quote: Record):
        self.key = key
        self.retailer = retailer
        self.attrs = attrs
        self.blocks = blocks
        self.quote = quote

    def snapshot(self) -> list[Any]:
        a = self.attrs
        attrs = [
            a.normalized_title,
            a.category,
            a.brand,
            a.product_line,
            a.model,
            a.model_code,
            a.storage_gb,
            a.ram_gb,
            a.screen_inches,
            a.color,
            a.capacity,
            a.cpu,
            list(a.qualifiers),
            list(a.distinctive),
            list(a.codes),
            a.accessory,
        ]
        return [self.retailer, attrs, list(self.blocks), self.quote]

    @classmethod
    def restore(cls, key: str, state: list[Any]) -> Member:
        retailer, attrs, blocks, quote = state
        a = list(attrs)
        a[12], a[13] = tuple(a[12]), tuple(a[13])
        codes, accessory = (tuple(a[14]), bool(a[15])) if len(a) > 14 else ((), False)  # older snapshots
        return cls(
            key,
            retailer,
            ProductAttributes(*a[:14], code_key=code_key_of(a[5]), codes=codes, accessory=accessory),
            tuple(blocks),
            quote,
        )


class BlockMatcher(KeyedProcessor):
    def __init__(self, key: str, config: RetailConfig | None = None):
        super().__init__(key)
        self.config = config or RetailConfig()
        self.members: dict[str, Member] = {}
        # the members by colour (None: the title states none), so a listing is only compared with the
        # listings whose colour could be its own (derived from members)
        self.by_color: dict[str | None, dict[str, Member]] = {}
        self.edges: dict[str, dict[str, float]] = {}  # listing -> candidate -> score (owned pairs over threshold)
        self.matched: dict[str, tuple[str, str, float]] = {}  # match id -> (a, b, score)
        # listing -> its match ids (derived from matched); tuples of strings, which the garbage collector
        # does not track (sets would be scanned at every collection: one per matched listing)
        self.matched_of: dict[str, tuple[str, ...]] = {}
        self.comparisons = 0  # pairs scored since this instance was built (a metric, not state)
        self.word_block = key.startswith(WORD_PREFIX)
        self.crowdable = self.word_block and not key.startswith(RARE_WORD_PREFIX)
        # a word block's members by their other block keys (derived from members): the listings that
        # share other blocks with a newcomer, when the block is too crowded to compare them all
        self.others: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ events
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema != "BlockedListing":
            return []
        key = record["listing_key"]
        old = self.members.get(key)
        if old is not None:
            self._unindex(old)
        verdicts: dict[str, Verdict] = {}
        if record["action"] == "UPSERT":
            normalized = record["listing"]
            member = Member(
                key, normalized["retailer"], attributes_of(normalized), tuple(record["blocks"]), quote_of(normalized)
            )
            self.members[key] = member
            self._index(member)
            if old is not None and old.blocks == member.blocks and old.attrs == member.attrs:
                # Re-observed with the same attributes and blocks (a price update): every score of this
                # listing is what it was, and its edges are current (each other member's rescore keeps
                # its edge with this one), so it is not scored again; the diff still runs (re-pricings).
                theirs = self.edges.get(key)
                touched = set(theirs) if theirs else set()
            else:
                touched = self._rescore(member, verdicts)
            gone = None
        else:
            self.members.pop(key, None)
            touched = self._drop_edges(key)
            gone = record.get("reason") or "listing_withdrawn"
        touched.add(key)
        title_changed = old is not None and key in self.members and old.attrs != self.members[key].attrs
        return self._diff(record, key, touched, verdicts, gone, title_changed)

    @property
    def needed(self) -> int:
        """How many blocks besides this one a pair must share to be compared here. Only word blocks ask
        for any, by the word's document frequency — learned from the stream: the block's size, derived
        from its members, which are state — as meta-blocking weighs a pair by its common blocks: none up
        to ``word_block_crowd`` listings (``word_block_cap`` for a word with a digit), one more up to
        ``word_block_cap``, two beyond it (a word that frequent is no evidence alone)."""
        if not self.word_block:
            return 0
        n, cfg = len(self.members), self.config.match
        if n > cfg.word_block_cap:
            return 2
        return 1 if self.crowdable and n > cfg.word_block_crowd else 0

    def _index(self, member: Member) -> None:
        self.by_color.setdefault(member.attrs.color, {})[member.key] = member
        if self.word_block:
            for k in member.blocks:
                if k != self.key:
                    self.others.setdefault(k, set()).add(member.key)

    def _unindex(self, member: Member) -> None:
        pool = self.by_color[member.attrs.color]
        del pool[member.key]
        if not pool:
            del self.by_color[member.attrs.color]
        if self.word_block:
            for k in member.blocks:
                keys = self.others.get(k)
                if keys is not None:
                    keys.discard(member.key)
                    if not keys:
                        del self.others[k]

    def _sharing(self, x: Member, need: int, partners: set[str]) -> dict[str, Member]:
        """The members sharing at least ``need`` blocks besides this one with ``x`` (whose colour could
        be its own), and ``x``'s matched partners, in key order."""
        counts: dict[str, int] = {}
        for k in x.blocks:
            if k != self.key:
                for y in self.others.get(k, ()):
                    counts[y] = counts.get(y, 0) + 1
        members, color = self.members, x.attrs.color
        chosen = {
            y for y, n in counts.items() if n >= need and (color is None or members[y].attrs.color in (color, None))
        }
        chosen.update(k for k in partners if k in members)
        return {k: members[k] for k in sorted(chosen)}

    def _drop_edges(self, key: str) -> set[str]:
        old = self.edges.pop(key, {})
        for other in old:
            self.edges[other].pop(key, None)
        return set(old)

    def _rescore(self, x: Member, verdicts: dict[str, Verdict]) -> set[str]:
        xkey = x.key
        touched = self._drop_edges(xkey)
        cfg = self.config.match
        threshold = cfg.threshold
        mine = self.key
        single = len(x.blocks) == 1
        mids = self.matched_of.get(xkey)
        partners = {self._other(mid, xkey) for mid in mids} if mids else set()
        edges: dict[str, float] = {}
        all_edges = self.edges
        xattrs, xretailer, xblocks = x.attrs, x.retailer, x.blocks
        color = xattrs.color
        need = self.needed
        if need:  # a frequent word: the pairs sharing other blocks too, and the pairs already matched
            pools: list[dict[str, Member]] = [self._sharing(x, need, partners)]
        elif color is None:
            pools = [self.members]
        else:
            pools = [p for p in (self.by_color.get(color), self.by_color.get(None)) if p]
        compared = 0
        for pool in pools:
            for y in pool.values():
                if y.retailer == xretailer:  # (x itself included)
                    continue
                ykey = y.key
                if not single and len(y.blocks) > 1 and owner_block(xblocks, y.blocks) != mine:
                    continue
                compared += 1
                v = score(xattrs, y.attrs, cfg)
                if v.veto is None and v.score >= threshold:
                    edges[ykey] = v.score
                    theirs = all_edges.get(ykey)
                    if theirs is None:
                        all_edges[ykey] = {xkey: v.score}
                    else:
                        theirs[xkey] = v.score
                if partners and ykey in partners:
                    verdicts[ykey] = v
        self.comparisons += compared
        if partners:
            for key in partners - verdicts.keys():  # a matched partner outside the colour pools now
                y = self.members.get(key)
                if y is not None and owner_block(xblocks, y.blocks) == mine:
                    verdicts[key] = score(xattrs, y.attrs, cfg)
        if edges:
            all_edges[xkey] = edges
        touched.update(edges)
        return touched

    # ------------------------------------------------------------------ matches
    @staticmethod
    def _other(mid: str, key: str) -> str:
        a, _, b = mid.partition("|")
        return b if a == key else a

    def _component(self, seeds: set[str]) -> set[str]:
        """The listings connected to ``seeds`` by candidate edges (a change can move the assignment only
        inside the components it touches)."""
        edges = self.edges
        seen = set(seeds)
        todo = [k for k in seeds if k in edges]
        while todo:
            for other in edges[todo.pop()]:
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    def _assign(self, nodes: set[str]) -> dict[str, tuple[str, str]]:
        """The matches among ``nodes`` (a union of components), match id -> (a, b): every candidate edge
        without ``one_to_one``; with it, an edge whose two listings are each the other's best candidate
        of that retailer (highest score, then closer title, then smaller key), or a *duplicate* of it — a
        listing of the same retailer that is that best candidate listed twice (:meth:`_duplicates`)."""
        edges, members = self.edges, self.members
        if not self.config.match.one_to_one:
            return {f"{a}|{b}": (a, b) for a in nodes if a in edges for b in edges[a] if a < b}
        top: dict[tuple[str, str], tuple[float, str]] = {}  # (listing, retailer) -> its best candidate there
        for a in nodes:
            theirs = edges.get(a)
            if theirs:
                for b, s in theirs.items():
                    k = (a, members[b].retailer)
                    cur = top.get(k)
                    if cur is None or s > cur[0] or (s == cur[0] and self._closer(a, b, cur[1])):
                        top[k] = (s, b)
        cfg = self.config.match
        dups: dict[str, tuple[bool, bool]] | None = (
            {} if cfg.duplicate_threshold is not None or cfg.tied_duplicates else None
        )
        out: dict[str, tuple[str, str]] = {}
        for a in nodes:
            theirs = edges.get(a)
            if not theirs:
                continue
            ra = members[a].retailer
            for b, s in theirs.items():
                if a < b:
                    sa, pa = top[(a, members[b].retailer)]
                    sb, pb = top[(b, ra)]
                    if (pa == b and pb == a) or (
                        dups is not None
                        and (pa == b or self._duplicates(pa, b, s == sa, dups))
                        and (pb == a or self._duplicates(pb, a, s == sb, dups))
                    ):
                        out[f"{a}|{b}"] = (a, b)
        return out

    def _closer(self, a: str, b: str, c: str) -> bool:
        """Whether ``b`` beats ``c``, tied on score, as ``a``'s candidate: the title closer to ``a``'s
        character by character (rapidfuzz ``ratio``: the score's word measures saturate, this does not
        — "sims 2" is closer to "the sims 2" than "sims 2 pets" is), then the smaller key. A total
        order, so the best candidate does not depend on the order the edges were added in."""
        t = self.members[a].attrs.normalized_title
        rb = ratio(t, self.members[b].attrs.normalized_title)
        rc = ratio(t, self.members[c].attrs.normalized_title)
        return rb > rc or (rb == rc and b < c)

    def _duplicates(self, x: str, y: str, tied: bool, dups: dict[str, tuple[bool, bool]]) -> bool:
        """Two listings of one retailer that are one product listed twice: the same model and variant
        words ("A15" and "A15 5G" are two products), qualifiers, and nothing vetoes the pair; and either
        titles with the same words (rapidfuzz ``token_sort_ratio`` at least ``duplicate_threshold``) or,
        with ``tied_duplicates``, the same score against the listing that has them both as candidates
        (``tied``: nothing tells them apart). Memoized in ``dups`` per pair: (compatible, same words)."""
        pair = f"{x}|{y}" if x <= y else f"{y}|{x}"
        known = dups.get(pair)
        if known is None:
            cfg = self.config.match
            a, b = self.members[x].attrs, self.members[y].attrs
            compatible = (
                a.distinctive == b.distinctive and a.qualifiers == b.qualifiers and score(a, b, cfg).veto is None
            )
            similar = (
                compatible
                and cfg.duplicate_threshold is not None
                and token_sort_ratio(a.normalized_title, b.normalized_title) >= 100 * cfg.duplicate_threshold
            )
            known = dups[pair] = (compatible, similar)
        return known[1] or (tied and known[0] and self.config.match.tied_duplicates)

    def _diff(
        self,
        record: Record,
        key: str,
        touched: set[str],
        verdicts: dict[str, Verdict],
        gone: str | None,
        title_changed: bool,
    ) -> list[Emit]:
        edges, matched, matched_of = self.edges, self.matched, self.matched_of
        nodes = self._component(touched)
        now_matched = self._assign(nodes)
        candidates = set(now_matched)
        for u in nodes:
            mids = matched_of.get(u)
            if mids:
                candidates.update(mids)
        out: list[Emit] = []
        for mid in sorted(candidates):
            pair = now_matched.get(mid)
            now = pair is not None
            a, b = pair if pair is not None else mid.partition("|")[::2]
            before = matched.get(mid)
            if now:
                s = edges[a][b]
                matched[mid] = (a, b, s)
                if before is None:  # (so mid is in neither listing's match ids yet)
                    matched_of[a] = (*matched_of.get(a, ()), mid)
                    matched_of[b] = (*matched_of.get(b, ()), mid)
                if before is None or (title_changed and key in (a, b)):
                    out.append(self._match(mid, a, b, s, record))
                elif key in (a, b):
                    out.append(self._repriced(mid, a, b, s, record, key))
            elif before is not None:
                del self.matched[mid]
                for u in (a, b):
                    rest = tuple(m for m in matched_of[u] if m != mid)
                    if rest:
                        matched_of[u] = rest
                    else:
                        del matched_of[u]
                out.append(self._retracted(mid, a, b, record, key, verdicts, gone))
        return out

    def _match(self, mid: str, a: str, b: str, s: float, record: Record) -> Emit:
        ma, mb = self.members[a], self.members[b]
        rec = {
            "event_id": f"pm:{mid}:{record['event_id']}",
            "event_time": record["event_time"],
            "match_id": mid,
            "cause_event_id": record["event_id"],
            "block_key": self.key,
            "listing_a": ma.quote,
            "listing_b": mb.quote,
            "score": s,
            "threshold": self.config.match.threshold,
            "evidence": evidence(ma.attrs, mb.attrs, self.config.match),
        }
        return Emit(topics.MATCHES, mid, "ProductMatch", rec)

    def _repriced(self, mid: str, a: str, b: str, s: float, record: Record, changed: str) -> Emit:
        rec = {
            "event_id": f"mr:{mid}:{record['event_id']}",
            "event_time": record["event_time"],
            "match_id": mid,
            "cause_event_id": record["event_id"],
            "block_key": self.key,
            "changed_listing_key": changed,
            "listing_a": self.members[a].quote,
            "listing_b": self.members[b].quote,
            "score": s,
        }
        return Emit(topics.MATCHES, mid, "MatchRepriced", rec)

    def _retracted(
        self, mid: str, a: str, b: str, record: Record, key: str, verdicts: dict[str, Verdict], gone: str | None
    ) -> Emit:
        vetoed_by: str | None = None
        s: float | None = None
        if key in (a, b):
            other = b if key == a else a
            v = verdicts.get(other)
            if gone is not None:
                reason = "listing_withdrawn" if gone == "rejected" else gone
            elif v is None:
                reason = "reblocked"  # the pair is now owned by another block (or not shared at all)
            elif v.veto is not None:
                reason, vetoed_by = "vetoed", v.veto
            elif v.score < self.config.match.threshold:
                reason, s = "below_threshold", v.score
            else:
                reason, s = "outcompeted", v.score
        else:
            reason = "outcompeted"
            s = self.edges.get(a, {}).get(b)
        rec = {
            "event_id": f"px:{mid}:{record['event_id']}",
            "event_time": record["event_time"],
            "match_id": mid,
            "cause_event_id": record["event_id"],
            "block_key": self.key,
            "listing_a_key": a,
            "listing_b_key": b,
            "reason": reason,
            "vetoed_by": vetoed_by,
            "score": s,
        }
        return Emit(topics.MATCHES, mid, "ProductMatchRetracted", rec)

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "members": {k: m.snapshot() for k, m in sorted(self.members.items())},
            "edges": {k: dict(sorted(v.items())) for k, v in sorted(self.edges.items())},
            "matched": {k: list(v) for k, v in sorted(self.matched.items())},
        }

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        proc = cls(key, config.get("config"))
        proc.members = {k: Member.restore(k, v) for k, v in state["members"].items()}
        for m in proc.members.values():
            proc._index(m)
        proc.edges = {k: dict(v) for k, v in state["edges"].items()}
        proc.matched = {k: (v[0], v[1], v[2]) for k, v in state["matched"].items()}
        for mid, (a, b, _) in proc.matched.items():
            proc.matched_of[a] = (*proc.matched_of.get(a, ()), mid)
            proc.matched_of[b] = (*proc.matched_of.get(b, ()), mid)
        return proc
