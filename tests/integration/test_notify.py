"""The alert notifier against a local HTTP server (webhook + Telegram Bot API stand-in) and the real broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog

from infra.redaction import redact
from sinks.notify.channels import alert_markdown, classify, markdown_escape
from sinks.notify.consumer import Notifier, OffsetTracker
from sinks.notify.log import DeliveryLog
from sinks.notify.settings import NotifySettings
from streams.config import Settings

TOKEN = "123456:SECRET-bot-TOKEN"
T0 = 1_795_132_800_000_000


def alert(n: int, level: str = "ERROR", **over: Any) -> dict[str, Any]:
    record = {
        "event_id": f"alert:test:{n}",
        "event_time": T0 + n * 1_000_000,
        "alert_key": f"breaker_opened:LATENCY:venue_{n}",
        "source": "risk",
        "kind": "breaker_opened",
        "level": level,
        "message": f"LATENCY breaker of venue_{n} opened: 612.5 ms > 500 ms",
        "value": 612.5,
        "threshold": 500.0,
        "suppressed_count": 0,
        "caused_by": f"probe-{n}",
        "details": {"venue": f"venue_{n}"},
    }
    record.update(over)
    return record


# --------------------------------------------------------------------------- no broker needed
def test_telegram_markdown_escapes_what_the_message_carries() -> None:
    text = alert_markdown(alert(1, "CRITICAL", message="drawdown of mm_1 > 100 bps *now* [x] `y`", suppressed_count=2))
    assert text.splitlines() == [
        "🚨 *CRITICAL* · risk · breaker\\_opened",
        "drawdown of mm\\_1 > 100 bps \\*now\\* \\[x] \\`y\\`",
        "`breaker_opened:LATENCY:venue_1` · 2026-11-20 00:00:01 UTC",
        "_2 similar alert(s) suppressed before this one_",
    ]
    assert markdown_escape("a\\b") == "a\\\\b"


def test_http_outcomes() -> None:
    assert classify(200).delivered and classify(204).delivered
    assert classify(500).retry and classify(503).retry and classify(429, "7").retry_after_s == 7.0
    assert not classify(400).retry and not classify(404).delivered and not classify(403).retry
    assert redact(f"https://api.telegram.org/bot{TOKEN}/sendMessage", [TOKEN]) == "https://api.telegram.org/bot***/sendMessage"


def test_commit_points_stop_at_the_first_alert_a_channel_still_owes() -> None:
    tracker = OffsetTracker()
    tracker.add("t", 0, 5, {"webhook", "telegram"})
    tracker.add("t", 0, 6, set())  # skipped: owes nothing
    tracker.add("t", 0, 8, {"webhook"})  # 7 was undecodable: a gap
    assert tracker.commit_points() == {("t", 0): 5}
    tracker.done("t", 0, 5, "webhook")
    assert tracker.commit_points() == {("t", 0): 5}
    tracker.done("t", 0, 5, "telegram")
    assert tracker.commit_points() == {("t", 0): 8}
    tracker.done("t", 0, 8, "webhook")
    assert tracker.commit_points() == {("t", 0): 9}


def test_without_a_channel_the_notifier_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no channel configured"):
        Notifier(Settings(), NotifySettings(delivery_log=tmp_path / "log.sqlite"))


def test_the_command_line(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from sinks.notify.command import notify

    app = typer.Typer()
    app.command()(notify)
    app.command("other")(lambda: None)  # (two commands, so typer keeps "notify" as a sub-command name)
    runner = CliRunner()
    result = runner.invoke(app, ["notify", "--help"])
    assert result.exit_code == 0 and "--telegram-chat-id" in result.output and "--webhook-url" in result.output
    result = runner.invoke(app, ["notify", "--delivery-log", str(tmp_path / "x.sqlite"), "--telegram-token", TOKEN])
    assert result.exit_code == 1 and "no channel configured" in result.output and TOKEN not in result.output


# --------------------------------------------------------------------------- the local HTTP server
@dataclass
class Request:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class Recorder:
    """Answers POSTs: the planned statuses per path prefix first (in order), then 200."""

    requests: list[Request] = field(default_factory=list)
    plans: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status_for(self, path: str) -> int:
        with self.lock:
            for prefix, plan in self.plans.items():
                if path.startswith(prefix) and plan:
                    return plan.pop(0)
        return 200

    def to(self, prefix: str, ok_only: bool = False) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix) and (not ok_only or r.status == 200)]


@pytest.fixture()
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = recorder.status_for(self.path)
            with recorder.lock:
                recorder.requests.append(Request(self.path, body, dict(self.headers), time.monotonic(), status))
            payload = json.dumps({"ok": status == 200, "result": {}} if status != 429 else
                                 {"ok": False, "error_code": 429, "parameters": {"retry_after": 0}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    httpd.shutdown()
    httpd.server_close()


# --------------------------------------------------------------------------- with the broker
def alert_topic(settings: Settings) -> str:
    from streams.kafka.admin import ensure_topics
    from streams.kafka.catalog import TopicSpec

    name = f"test.notify-alerts.{time.time_ns()}"
    ensure_topics(settings, (TopicSpec(name, ("Alert",), ("alert_key",), "notifier test", partitions=2),))
    return name


def produce(settings: Settings, topic: str, alerts: list[dict[str, Any]]) -> None:
    from confluent_kafka import Producer

    from streams.codec.serde import AvroSerde
    from streams.kafka.clients import producer_config

    serde = AvroSerde()
    producer = Producer(producer_config(settings))
    for a in alerts:
        producer.produce(settings.topic(topic), serde.encode("Alert", a), a["alert_key"].encode())
    assert producer.flush(30) == 0


def notify_config(base: str, topic: str, log_path: Path, group: str, **over: Any) -> NotifySettings:
    fields: dict[str, Any] = {
        "topics": (topic,), "group": group, "webhook_urls": (f"{base}/hook/abc-secret",),
        "telegram_token": TOKEN, "telegram_chat_id": "-100200", "telegram_base_url": base,
        "delivery_log": log_path, "retry_initial_s": 0.05, "retry_max_s": 0.2, "commit_interval_s": 0.2,
    }
    fields.update(over)
    return NotifySettings(**fields)


def run_until(settings: Settings, config: NotifySettings, done: Any, timeout_s: float = 60.0) -> Notifier:
    notifier = Notifier(settings, config)
    notifier.run(until=done, timeout_s=timeout_s)
    return notifier


@pytest.mark.kafka
def test_each_alert_is_delivered_once_to_each_channel(services: Settings, server: tuple[str, Recorder],
                                                      tmp_path: Path) -> None:
    base, recorder = server
    topic = alert_topic(services)
    alerts = [alert(1, "INFO"), alert(2, "WARNING"), alert(3, "CRITICAL")]
    produce(services, topic, alerts)
    config = notify_config(base, topic, tmp_path / "log.sqlite", f"test-notify-{time.time_ns()}")
    with structlog.testing.capture_logs() as logs:
        notifier = run_until(services, config, lambda s: s.delivered >= 6)
    assert (notifier.stats.delivered, notifier.stats.failed, notifier.stats.retries) == (6, 0, 0)
    hooks, telegrams = recorder.to("/hook/"), recorder.to(f"/bot{TOKEN}/sendMessage")
    assert sorted(r.body["event_id"] for r in hooks) == [a["event_id"] for a in alerts]
    by_id = {a["event_id"]: a for a in alerts}
    for r in hooks:
        assert r.body["alert"] == by_id[r.body["event_id"]]
        assert r.headers["Idempotency-Key"] == r.body["event_id"]
        assert r.body["text"] == by_id[r.body["event_id"]]["message"]
    assert sorted(r.body["text"] for r in telegrams) == sorted(alert_markdown(a) for a in alerts)
    assert all(r.body["chat_id"] == "-100200" and r.body["parse_mode"] == "Markdown" for r in telegrams)
    entries = DeliveryLog(tmp_path / "log.sqlite").entries()
    assert [(e.event_id, e.channel, e.status, e.attempts) for e in entries] == [
        (a["event_id"], ch, "delivered", 1) for a in alerts for ch in ("telegram", "webhook")]
    text = repr(logs)
    assert TOKEN not in text and "abc-secret" not in text and len(logs) >= 6


@pytest.mark.kafka
def test_failures_are_retried_with_backoff_without_holding_up_the_other_channel(
        services: Settings, server: tuple[str, Recorder], tmp_path: Path) -> None:
    base, recorder = server
    recorder.plans = {"/hook/": [500, 502, 503, 500], f"/bot{TOKEN}/": [429]}
    topic = alert_topic(services)
    produce(services, topic, [alert(1)])
    config = notify_config(base, topic, tmp_path / "log.sqlite", f"test-notify-{time.time_ns()}")
    with structlog.testing.capture_logs() as logs:
        notifier = run_until(services, config, lambda s: s.delivered >= 2)
    hooks = recorder.to("/hook/")
    assert [r.status for r in hooks] == [500, 502, 503, 500, 200]
    assert len({r.headers["Idempotency-Key"] for r in hooks}) == 1
    telegrams = recorder.to("/bot")
    assert [r.status for r in telegrams] == [429, 200]  # retried at once: the server said retry_after 0
    assert telegrams[-1].at < hooks[-1].at  # Telegram got it while the webhook was still failing
    gaps = [b.at - a.at for a, b in zip(hooks, hooks[1:], strict=False)]
    assert gaps[0] >= 0.04 and gaps[2] >= 0.15  # 0.05 s, 0.1 s, 0.2 s, 0.2 s (capped)
    assert notifier.stats.retries == 5 and notifier.stats.delivered == 2
    entries = {e.channel: (e.status, e.attempts) for e in DeliveryLog(tmp_path / "log.sqlite").entries()}
    assert entries == {"webhook": ("delivered", 5), "telegram": ("delivered", 2)}
    retried = [e for e in logs if e["event"] == "alert delivery failed, retrying"]
    assert sorted(e["detail"] for e in retried) == ["HTTP 429", "HTTP 500", "HTTP 500", "HTTP 502", "HTTP 503"]
    assert TOKEN not in repr(logs)


@pytest.mark.kafka
def test_a_restart_does_not_resend(services: Settings, server: tuple[str, Recorder], tmp_path: Path) -> None:
    base, recorder = server
    topic = alert_topic(services)
    produce(services, topic, [alert(1), alert(2)])
    group = f"test-notify-{time.time_ns()}"
    log_path = tmp_path / "log.sqlite"
    run_until(services, notify_config(base, topic, log_path, group), lambda s: s.delivered >= 4)
    assert len(recorder.requests) == 4
    produce(services, topic, [alert(3)])
    # same group, same log: only the new alert
    run_until(services, notify_config(base, topic, log_path, group), lambda s: s.delivered >= 2)
    assert sorted(r.body.get("event_id", "") for r in recorder.to("/hook/")) == [
        "alert:test:1", "alert:test:2", "alert:test:3"]
    assert len(recorder.requests) == 6
    # a new group re-reads the topic from the start: the delivery log stops every resend
    again = run_until(services, notify_config(base, topic, log_path, f"{group}-new"), lambda s: s.skipped >= 3)
    assert again.stats.delivered == 0 and len(recorder.requests) == 6
    # (without the log it would have resent everything)
    fresh = run_until(services, notify_config(base, topic, tmp_path / "other.sqlite", f"{group}-fresh"),
                      lambda s: s.delivered >= 6)
    assert fresh.stats.delivered == 6 and len(recorder.requests) == 12


@pytest.mark.kafka
def test_an_alert_still_failing_at_shutdown_is_delivered_after_the_restart(
        services: Settings, server: tuple[str, Recorder], tmp_path: Path) -> None:
    base, recorder = server
    recorder.plans = {"/hook/": [500] * 1000}
    topic = alert_topic(services)
    produce(services, topic, [alert(1)])
    group, log_path = f"test-notify-{time.time_ns()}", tmp_path / "log.sqlite"
    first = run_until(services, notify_config(base, topic, log_path, group), lambda s: s.retries >= 3)
    assert first.stats.by_channel == {"telegram": 1}  # the webhook still owes it: its offset is not committed
    recorder.plans = {}
    second = run_until(services, notify_config(base, topic, log_path, group), lambda s: s.delivered >= 1)
    assert second.stats.by_channel == {"webhook": 1}  # Telegram had it already: not resent
    assert [r.status for r in recorder.to("/bot")] == [200]
    assert recorder.to("/hook/")[-1].status == 200


@pytest.mark.kafka
def test_a_permanent_failure_is_recorded_and_not_retried(services: Settings, server: tuple[str, Recorder],
                                                         tmp_path: Path) -> None:
    base, recorder = server
    recorder.plans = {f"/bot{TOKEN}/": [400]}
    topic = alert_topic(services)
    produce(services, topic, [alert(1), alert(2, "INFO")])
    config = notify_config(base, topic, tmp_path / "log.sqlite", f"test-notify-{time.time_ns()}",
                           min_level="WARNING", webhook_urls=())
    # both outcomes: the two alerts are on two partitions, which can come in two fetches (the first alert's
    # failure could end the run before the second is read)
    notifier = run_until(services, config, lambda s: s.failed >= 1 and s.skipped >= 1)
    assert (notifier.stats.failed, notifier.stats.retries, notifier.stats.skipped) == (1, 0, 1)  # INFO skipped
    entries = DeliveryLog(tmp_path / "log.sqlite").entries()
    assert [(e.event_id, e.status, e.detail) for e in entries] == [("alert:test:1", "failed", "HTTP 400")]
