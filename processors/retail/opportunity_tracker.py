"""Stage 3, keyed by match id: the arbitrage between the two listings of one match, over event time.

Inputs (all on ``retail.matches.v1``, so one partition orders them): ProductMatch (the pair is live, with
both quotes), MatchRepriced (new quotes), ProductMatchRetracted (the pair is no longer live).

After each input the deal is re-evaluated: buy at the cheaper current price, sell at the dearer.
* It qualifies and nothing is open → ArbitrageOpportunity revision 0; ``opportunity_id`` (also its
  ``event_id``) is derived from the match id and the two observations that opened it, so a replay gives
  the same ids.
* It qualifies, is open in the same direction and a price or glitch flag changed → revision n
  (``event_id`` = ``<opportunity_id>:r<n>``); the re-validation clock restarts from this event.
* It qualifies the other way round → the open one closes (``direction_reversed``) and a new one opens.
* It no longer qualifies → ArbitrageOpportunityClosed with ``margin_below_min`` / ``roi_below_min``;
  a retraction closes it with ``match_retracted``.

Re-validation: each tier asks for a timer ``revalidate_every_s`` after the last (re)validation, on the
partition's event-time clock; re-validations due before an input's event time run before that input,
so the outputs do not depend on when the partition clock happened to move. When it fires: if either
quote is older than ``max_quote_age_s`` the opportunity closes (``stale_quotes``), else
ArbitrageOpportunityRevalidated (``<id>:v<n>``) and the next timer. Timer-driven events carry the due
time as event time (independent of partitioning).

Ordering across blocks: a retraction caused by an observation older than the last assertion of the
pair, or a ``reblocked`` retraction as old as it, is ignored (the pair moved to another block, which
asserted it; see processors/retail/README.md).
"""

from __future__ import annotations

import hashlib
from typing import Any, Self

from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.retail import economics as econ
from processors.retail.config import RetailConfig
from processors.retail.economics import Deal

SIDES = ("a", "b")


def _side_volatility(hist: tuple[tuple[str, int], ...]) -> float:
    """``econ.volatility`` of one side's recent prices (0 with fewer than two, without building the list)."""
    return econ.volatility([p for _, p in hist]) if len(hist) > 1 else 0.0


def _appended(hist: tuple[tuple[str, int], ...], item: tuple[str, int], window: int) -> tuple[tuple[str, int], ...]:
    """``hist`` with ``item`` at the end, keeping the last ``window`` items."""
    out = (*hist, item)
    return out[-window:] if len(out) > window else out


def opportunity_id(mid: str, buy_quote_id: str, sell_quote_id: str) -> str:
    digest = hashlib.blake2b(f"{mid}\n{buy_quote_id}\n{sell_quote_id}".encode(), digest_size=10).hexdigest()
    return f"opp:{digest}"


class OpportunityTracker(KeyedProcessor):
    def __init__(self, key: str, config: RetailConfig | None = None):
        super().__init__(key)
        self.config = config or RetailConfig()
        self.live = False
        self.asserted_at: int | None = None
        self.last_opened: str | None = None  # the id the last opportunity would have had from its quotes
        self.match_score = 0.0
        # the latest quote of each side (attributes, not a dict: one container less per matched pair)
        self.quote_a: Record | None = None
        self.quote_b: Record | None = None
        # per side, (quote event id, price), oldest first: tuples of atomic values, which the garbage
        # collector stops tracking (a tracker per matched pair: mutable lists would be scanned at every
        # collection); the snapshot writes them as lists
        self.history_a: tuple[tuple[str, int], ...] = ()
        self.history_b: tuple[tuple[str, int], ...] = ()
        self._volatility: float | None = None  # cache of the history's volatility (not state)
        self._quoted_at: int | None = None  # the older quote's event time (derived from quotes, not state)
        self.open: dict[str, Any] | None = None

    # ------------------------------------------------------------------ inputs
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        t = record["event_time"]
        due = self._revalidations_before(t)
        return due + self._handle(schema, record, t) if due else self._handle(schema, record, t)

    def _revalidations_before(self, t: int) -> list[Emit]:
        """Re-validations due before an event's time happen before it, whether or not the partition clock
        passed them yet (the runtime fires timers after the event that moves the clock)."""
        out: list[Emit] = []
        while self.open is not None and self.open["due"] < t:
            out.extend(self.on_timer(self.open["due"]))
        return out

    def _handle(self, schema: str, record: Record, t: int) -> list[Emit]:
        if schema == "ProductMatch":
            self.live = True
            self.asserted_at = t if self.asserted_at is None else max(self.asserted_at, t)
            self.match_score = record["score"]
            self._take_quotes(record)
            return self._evaluate(record["event_id"], t)
        if schema == "MatchRepriced":
            if not self.live:
                return []
            self.match_score = record["score"]
            self._take_quotes(record)
            return self._evaluate(record["event_id"], t)
        if schema == "ProductMatchRetracted":
            if self.asserted_at is not None and (
                t < self.asserted_at or (t == self.asserted_at and record["reason"] == "reblocked")
            ):
                return []  # an older block's word on a pair another block has asserted since
            self.live = False
            if self.open is None:
                return []
            return [self._close("match_retracted", record["event_id"], t, None)]
        return []

    def _take_quotes(self, record: Record) -> None:
        window = self.config.opportunity.volatility_window
        qa = self.quote_a = record["listing_a"]
        qb = self.quote_b = record["listing_b"]
        hist = self.history_a
        eid = qa["event_id"]
        if not hist or hist[-1][0] != eid:
            self.history_a = _appended(hist, (eid, qa["current_price"]), window)
            self._volatility = None
        hist = self.history_b
        eid = qb["event_id"]
        if not hist or hist[-1][0] != eid:
            self.history_b = _appended(hist, (eid, qb["current_price"]), window)
            self._volatility = None
        ta, tb = qa["event_time"], qb["event_time"]
        self._quoted_at = ta if ta < tb else tb

    # ------------------------------------------------------------------ decisions
    def _deal(self) -> tuple[str, Deal]:
        assert self.quote_a is not None and self.quote_b is not None
        pa, pb = self.quote_a["current_price"], self.quote_b["current_price"]
        return ("a", Deal(pa, pb)) if pa <= pb else ("b", Deal(pb, pa))

    def _evaluate(self, cause: str, t: int) -> list[Emit]:
        cfg = self.config.opportunity
        buy, deal = self._deal()
        why_not = econ.shortfall(deal, cfg)
        out: list[Emit] = []
        if why_not is not None:
            if self.open is not None:
                out.append(self._close(why_not, cause, t, deal))
            return out
        if self.open is not None and self.open["buy"] != buy:
            out.append(self._close("direction_reversed", cause, t, deal))
        sell = "b" if buy == "a" else "a"
        q_buy, q_sell = (self.quote_a, self.quote_b) if buy == "a" else (self.quote_b, self.quote_a)
        assert q_buy is not None and q_sell is not None
        gk_buy, gk_sell = q_buy["glitch_kinds"], q_sell["glitch_kinds"]
        glitch_kinds = sorted(set(gk_buy) | set(gk_sell)) if gk_buy or gk_sell else []
        if self.open is None:
            oid = from_quotes = opportunity_id(self.key, q_buy["event_id"], q_sell["event_id"])
            if from_quotes == self.last_opened:
                # reopened on the very quotes it last opened on (the match was retracted and asserted again
                # with no newer quote): the event time makes the id new. Quote ids only move forward, so only
                # the last opening can collide.
                oid = opportunity_id(self.key, q_buy["event_id"], f"{q_sell['event_id']}\n{t}")
            self.last_opened = from_quotes
            self.open = {"id": oid, "revision": 0, "buy": buy, "opened_at": t, "validations": 0}
        else:
            o = self.open
            if (o["buy_price"], o["sell_price"], o["glitch_kinds"], o["match_score"]) == (
                deal.buy_price,
                deal.sell_price,
                glitch_kinds,
                self.match_score,
            ):
                return out  # observed again, nothing changed
            o["revision"] += 1
        out.append(self._opportunity(cause, t, buy, sell, deal, glitch_kinds))
        return out

    def _opportunity(self, cause: str, t: int, buy: str, sell: str, deal: Deal, glitch_kinds: list[str]) -> Emit:
        cfg = self.config.opportunity
        vol = self._volatility
        if vol is None:
            vol = self._volatility = max(_side_volatility(self.history_a), _side_volatility(self.history_b))
        glitch = bool(glitch_kinds)
        score = self.match_score
        conf = econ.confidence(score, glitch, vol, cfg)
        tier = econ.tier(deal, conf, cfg)
        every = econ.revalidation_every_s(tier, cfg)
        buy_price, sell_price = deal.buy_price, deal.sell_price
        margin, roi = sell_price - buy_price, deal.roi_pct
        due = t + every * 1_000_000
        o = self.open
        assert o is not None
        o["buy_price"] = buy_price
        o["sell_price"] = sell_price
        o["margin_clp"] = margin
        o["roi_pct"] = roi
        o["glitch_kinds"] = glitch_kinds
        o["tier"] = tier
        o["every_s"] = every
        o["due"] = due
        o["match_score"] = score
        oid, rev = o["id"], o["revision"]
        q_buy, q_sell = (self.quote_a, self.quote_b) if buy == "a" else (self.quote_b, self.quote_a)
        rec = {
            "event_id": oid if rev == 0 else f"{oid}:r{rev}",
            "event_time": t,
            "opportunity_id": oid,
            "revision": rev,
            "match_id": self.key,
            "cause_event_id": cause,
            "buy": q_buy,
            "sell": q_sell,
            "buy_price": buy_price,
            "sell_price": sell_price,
            "margin_clp": margin,
            "roi_pct": roi,
            "opportunity_score": econ.opportunity_score(deal, conf, cfg, roi),
            "confidence": conf,
            "match_score": score,
            "volatility": vol,
            "risk_level": econ.risk(glitch, conf, vol),
            "tier": tier,
            "glitch_suspected": glitch,
            "glitch_kinds": glitch_kinds,
            "revalidate_every_s": every,
            "next_revalidation": due,
        }
        return Emit(topics.OPPORTUNITIES, self.key, "ArbitrageOpportunity", rec)

    def _close(self, reason: str, cause: str, t: int, deal: Deal | None) -> Emit:
        o = self.open
        assert o is not None
        self.open = None
        rec = {
            "event_id": f"{o['id']}:closed",
            "event_time": t,
            "opportunity_id": o["id"],
            "match_id": self.key,
            "cause_event_id": cause,
            "reason": reason,
            "buy_price": deal.buy_price if deal else None,
            "sell_price": deal.sell_price if deal else None,
            "margin_clp": deal.margin if deal else None,
            "roi_pct": deal.roi_pct if deal else None,
            "opened_at": o["opened_at"],
            "open_for_s": max(0, t - o["opened_at"]) // 1_000_000,
        }
        return Emit(topics.OPPORTUNITIES, self.key, "ArbitrageOpportunityClosed", rec)

    # ------------------------------------------------------------------ timers
    def next_timer(self) -> int | None:
        return self.open["due"] if self.open is not None else None

    def on_timer(self, now_us: int) -> list[Emit]:
        o = self.open
        if o is None or now_us < o["due"]:
            return []
        due = o["due"]
        quoted_at = self._quoted_at
        if quoted_at is None:  # restored: derive it from the quotes
            assert self.quote_a is not None and self.quote_b is not None
            qa, qb = self.quote_a["event_time"], self.quote_b["event_time"]
            quoted_at = self._quoted_at = qa if qa < qb else qb
        age_s = max(0, due - quoted_at) // 1_000_000
        if age_s > self.config.opportunity.max_quote_age_s:
            return [self._close("stale_quotes", o["id"], due, self._deal()[1])]
        o["validations"] += 1
        o["due"] = due + o["every_s"] * 1_000_000
        rec = {
            "event_id": f"{o['id']}:v{o['validations']}",
            "event_time": due,
            "opportunity_id": o["id"],
            "match_id": self.key,
            "validation": o["validations"],
            "tier": o["tier"],
            "buy_price": o["buy_price"],
            "sell_price": o["sell_price"],
            "margin_clp": o["margin_clp"],
            "roi_pct": o["roi_pct"],
            "oldest_quote_age_s": age_s,
            "next_revalidation": o["due"],
        }
        return [Emit(topics.OPPORTUNITIES, self.key, "ArbitrageOpportunityRevalidated", rec)]

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "asserted_at": self.asserted_at,
            "match_score": self.match_score,
            "quotes": {side: q for side, q in (("a", self.quote_a), ("b", self.quote_b)) if q is not None},
            "history": {"a": [list(x) for x in self.history_a], "b": [list(x) for x in self.history_b]},
            "open": None if self.open is None else dict(self.open),
            "last_opened": self.last_opened,
        }

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        proc = cls(key, config.get("config"))
        proc.live = state["live"]
        proc.asserted_at = state["asserted_at"]
        proc.match_score = state["match_score"]
        proc.quote_a = state["quotes"].get("a")
        proc.quote_b = state["quotes"].get("b")
        proc.history_a = tuple((x[0], x[1]) for x in state["history"]["a"])
        proc.history_b = tuple((x[0], x[1]) for x in state["history"]["b"])
        proc.open = None if state["open"] is None else dict(state["open"])
        proc.last_opened = state.get("last_opened")  # absent from snapshots written before it existed
        return proc
