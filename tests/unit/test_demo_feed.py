"""The demo's live-feed step as a reader sees it (streams/commands/demo.py): the loopback server's faults are
announced as deliberate, and the feed's warnings about them come as counts in its report."""

from __future__ import annotations

import io

from rich.console import Console

from streams.commands.demo import _print_feed
from streams.feeds.loopback import LoopbackFeedReport


def _report(**overrides: object) -> LoopbackFeedReport:
    tick = {"event_id": "binance:BTC/USDT:1", "event_time": 1_796_000_000_000_000, "last": 64_000.0, "volume": 0.5}
    fields: dict[str, object] = dict(
        url="http://127.0.0.1:1", seconds=6.0, served=240, ticks=240, distinct=240, missing=0, duplicates_dropped=7,
        heartbeats=3, pings_ok=2, failures=["DDoSProtection: binance 429 Too Many Requests", "ExchangeError: cut"],
        reconnects={"error": 2}, refused=0, first=tick, last=tick, injected=["dup", "429", "cut"],
        logged={"feed stream failed": 2, "feed reconnecting": 2})
    fields.update(overrides)
    return LoopbackFeedReport(**fields)  # type: ignore[arg-type]


class _Feed:
    def __init__(self, report: LoopbackFeedReport) -> None:
        self.report = report

    def join(self) -> LoopbackFeedReport:
        return self.report


def _printed(report: LoopbackFeedReport) -> tuple[int, str]:
    out = io.StringIO()
    code = _print_feed(_Feed(report), Console(file=out, width=200))  # type: ignore[arg-type]
    return code, out.getvalue()


def test_the_feed_report_names_the_injected_faults_and_counts_the_warnings() -> None:
    code, text = _printed(_report())
    assert code == 0
    assert "injected on purpose: a repeated page, a 429 rate limit, a body cut half-way" in text
    assert "the feed's log lines, counted: feed reconnecting ×2, feed stream failed ×2" in text
    assert "every served trade written once" in text


def test_a_lost_trade_still_fails_the_step_whatever_the_faults() -> None:
    code, text = _printed(_report(ticks=239, distinct=239, missing=1))
    assert code == 1
    assert "the live feed lost or repeated trades" in text


def test_a_feed_not_run_quiet_prints_no_counts() -> None:
    _, text = _printed(_report(logged={}, injected=[]))
    assert "counted" not in text and "injected on purpose" not in text
