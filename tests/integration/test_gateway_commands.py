"""Commands end to end on the real broker and database: ``mercado api`` (uvicorn on loopback) writes each
command to risk.commands.v1, a live ``mercado worker --pipeline risk`` decides, the real sink materializes
the results, and the API shows the state change — request -> command event -> owner's decision -> state.
Also: idempotency (a repeat writes nothing, another body is 409), auth, and Schemathesis over the command
operations with the command key."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import positive_data_acceptance

from gateway.app import PREFIX, create_app
from gateway.commands import FAULT_ENV
from gateway.settings import GatewaySection, GatewaySettings
from processors import topics
from processors.risk import AccountVenueConfig, GateConfig, RiskConfig
from processors.venue import PaperVenueConfig
from sinks.runner import SinkRunner
from streams.config import Settings
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.consumer import default_serde
from tests.integration.test_marketdata_live import _stop
from tests.support.api_server import serving
from tests.support.sink import create_database, drop_database, isolated, migrated, query, read_topic, wait_until
from tests.support.workers import start_worker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
READ, COMMAND, EXPIRED = "cmd-it-read", "cmd-it-command", "cmd-it-expired"
D = Decimal
SINK_TOPICS = [topics.TRADING_STATE, topics.DECISIONS, topics.BREAKERS, topics.RISK_COMMANDS, topics.RECO_COMMANDS,
               topics.COMMAND_RESULTS, topics.SCAN_TOP, topics.JOB_RUNS, topics.POSITIONS]
FRIDAY = dt.datetime(2026, 12, 4, 20, 0, tzinfo=dt.UTC)  # 15:00 New York: the regular session
RUN_DATE = "2026-12-04"  # a BYMA trading day whose cutoff has passed


@dataclass
class Api:
    settings: Settings
    client: httpx.Client
    base: str
    gateway: GatewaySettings | None = None  # the settings the API under test serves with

    def post(self, path: str, body: dict[str, Any], idem: str, key: str | None = COMMAND) -> httpx.Response:
        headers = {"Idempotency-Key": idem}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.post(PREFIX + "/commands" + path, json=body, headers=headers)

    def get(self, path: str, key: str = READ, **params: Any) -> httpx.Response:
        return self.client.get(PREFIX + path, params=params, headers={"Authorization": f"Bearer {key}"})

    def decided(self, idem: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The command once its owner's result reached the database."""
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.get(f"/commands/{idem}").json()
            if body["status"] != "PENDING":
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{idem} still PENDING after {timeout_s:.0f} s")
            time.sleep(0.1)

    def items_once(self, path: str, done: Callable[[list[dict[str, Any]]], bool], what: str,
                   timeout_s: float = 30.0, **params: Any) -> list[dict[str, Any]]:
        """The items of ``GET path`` once ``done(items)``. A command's result and the events it caused are
        on different topics, which the sink writes in batches of their own: the result (what
        :meth:`decided` waits for) can reach the database before the state it changed."""
        items: list[dict[str, Any]] = []

        def ready() -> bool:
            nonlocal items
            items = self.get(path, **params).json()["items"]
            return done(items)

        wait_until(ready, timeout_s, what)
        return items


class BackgroundSink:
    """``mercado sink``'s runner in a thread of its own until stopped."""

    def __init__(self, settings: Settings, sink_topics: list[str] = SINK_TOPICS):
        self.runner = SinkRunner(settings, sink_topics)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.runner.run(),), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.runner.stop)
        self.thread.join(30)


def tick(settings: Settings, sequence: int) -> None:
    """A binance BTC/USDT tick now (99.99 / 100.01): the gate's reference price, and the paper venue's book."""
    now_us = time.time_ns() // 1000
    door = FileProducer(settings, topics.TICKS)
    door.producer.produce(door.topic_name, door.encode_row({
        "event_id": f"t{sequence}", "event_time": now_us, "venue": "binance", "symbol": "BTC/USDT", "bid": 99.99,
        "ask": 100.01, "last": None, "sequence": sequence, "backfill_id": None})[3], "binance:BTC/USDT",
        timestamp=now_us // 1000)
    door.flush()


def risk_config() -> RiskConfig:
    funds = AccountVenueConfig(balances={"USDT": D(10_000), "BTC": D(1)}, starting_equity=D(10_000))
    gate = GateConfig(min_notional=D(10), max_notional=D(5_000), quantity_steps={"BTC/USDT": D("0.001")},
                      price_band_pct=D(5), max_reference_age_s=3600)
    return RiskConfig(gate=gate, accounts={"mm-1": {"binance": funds}})


@pytest.fixture(scope="module")
def api(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database = create_database(services, "gateway_commands")
    workers: list = []
    sink = None
    try:
        # the paper venue executes the approvals (at once, good till canceled): a cancel has an order to cancel
        settings = migrated(isolated(database, db__timescaledb="off")).with_(
            risk=risk_config(), paper=PaperVenueConfig(latency_ms=0, time_in_force_s=None))
        ensure_topics(settings)
        tick(settings, 1)  # the market the gate prices against
        # the scanner's board: one snapshot in Friday's regular session
        t = int(FRIDAY.timestamp() * 1_000_000)
        rows = [{"ticker": tk, "price": price, "prev_close": 10.0, "change_pct": 0.0, "gap_pct": 0.0,
                 "volume": 500_000, "avg_volume": 100_000, "relative_volume": None, "market_cap": None,
                 "float_shares": None, "high": None, "low": None} for tk, price in (("AAA", 12.0), ("BBB", 11.0))]
        snaps = FileProducer(settings, topics.SCAN_SNAPSHOTS)
        snaps.producer.produce(snaps.topic_name, snaps.encode_row({
            "type": "ScanSnapshot", "event_id": "snap-1", "event_time": t, "scanner": "s1", "session": "REGULAR",
            "taken_at": t, "rows": rows})[3], "s1", timestamp=t // 1000)
        snaps.flush()
        workers = [start_worker(settings, name) for name in ("risk", "scanner", "recommendations", "venue-paper")]
        sink = BackgroundSink(settings)
        keys = tmp_path_factory.mktemp("keys") / "keys.toml"
        keys.write_text(f'[[key]]\nname = "old"\nsha256 = "{hashlib.sha256(EXPIRED.encode()).hexdigest()}"\n'
                        'roles = ["command"]\nexpires = 2020-01-01T00:00:00Z\n')
        section = GatewaySection(read_keys=[READ], command_keys=[COMMAND], keys_file=keys)
        gateway = GatewaySettings.extend(settings).with_(gateway=section)
        with serving(create_app(gateway, push=False)) as base, httpx.Client(base_url=base, timeout=30) as client:
            yield Api(settings, client, base, gateway)
    finally:
        if sink is not None:
            sink.stop()
        for worker in workers:
            _stop(worker)
        drop_database(database)


ORDER = {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT", "side": "BUY", "quantity": "0.5",
         "price": "99.5"}


def test_halt_then_an_order_is_rejected_and_the_state_shows_halted(api: Api) -> None:
    response = api.post("/risk/mode", {"venue": "binance", "mode": "HALTED"}, "e2e-halt")
    assert response.status_code == 202, response.text
    pending = response.json()
    assert (pending["status"], pending["kind"], pending["actor"], pending["target"], pending["params"]) == (
        "PENDING", "SET_RISK_MODE", "env-command-1", "binance", {"mode": "HALTED"})
    done = api.decided("e2e-halt", timeout_s=60)  # the worker's first start
    assert (done["status"], done["reason"], done["message"]) == (
        "ACCEPTED", None, "risk mode HALTED set for every account on binance")
    assert done["caused"] == ["trading-state:mm-1@binance:ACTIVE>HALTED:cmd:e2e-halt"]
    [state] = api.items_once("/risk/trading-states", lambda items: any(s["changes"] >= 1 for s in items),
                             "the first trading-state change in the database", venue="binance")
    assert (state["account"], state["state"]) == ("mm-1", "HALTED")

    assert api.post("/risk/orders", ORDER, "e2e-order-1").status_code == 202
    rejected = api.decided("e2e-order-1")
    assert (rejected["status"], rejected["reason"], rejected["caused"]) == (
        "REJECTED", "TRADING_HALTED", ["risk:cmd:e2e-order-1"])
    decisions = api.items_once("/risk/orders", lambda items: any(d["client_order_id"] == "cmd-e2e-order-1"
                                                                 for d in items),
                               "the decision on cmd-e2e-order-1 in the database", account="mm-1")
    assert [(d["client_order_id"], d["decision"], d["reason"]) for d in decisions] == [
        ("cmd-e2e-order-1", "REJECTED", "TRADING_HALTED")]

    assert api.post("/risk/mode", {"venue": "binance", "mode": "ACTIVE"}, "e2e-resume").status_code == 202
    assert api.decided("e2e-resume")["status"] == "ACCEPTED"
    assert api.post("/risk/orders", ORDER, "e2e-order-2").status_code == 202
    approved = api.decided("e2e-order-2")
    assert (approved["status"], approved["message"]) == ("ACCEPTED", "order cmd-e2e-order-2 approved by the risk gate")
    [state] = api.items_once("/risk/trading-states", lambda items: any(s["changes"] >= 2 for s in items),
                             "the second trading-state change in the database", venue="binance")
    assert state["state"] == "ACTIVE"
    # a rejection by the owner says why
    assert api.post("/risk/breaker-reset", {"venue": "binance", "breaker": "LATENCY:binance"}, "e2e-reset")\
        .status_code == 202
    refused = api.decided("e2e-reset")
    assert (refused["status"], refused["reason"], refused["message"]) == (
        "REJECTED", "breaker-not-tripped", "LATENCY:binance is CLOSED")


def test_cancel_an_open_order_gateway_risk_paper_venue(api: Api) -> None:
    resting = {**ORDER, "price": "99", "client_order_id": "e2e-resting"}  # below the ask: it rests
    assert api.post("/risk/orders", resting, "e2e-cancel-order").status_code == 202
    assert api.decided("e2e-cancel-order", timeout_s=60)["status"] == "ACCEPTED"
    cancel = {"venue": "binance", "account": "mm-1", "client_order_id": "e2e-resting"}
    response = api.post("/risk/cancel-order", cancel, "e2e-cancel")
    assert response.status_code == 202, response.text
    assert (response.json()["kind"], response.json()["params"]) == (
        "CANCEL_ORDER", {"account": "mm-1", "client_order_id": "e2e-resting"})
    done = api.decided("e2e-cancel")
    assert (done["status"], done["message"], done["caused"]) == (
        "ACCEPTED", "cancel of order e2e-resting (BTC/USDT) requested from binance", ["risk:cancel:cmd:e2e-cancel"])
    serde = default_serde(api.settings)
    deadline = time.monotonic() + 60
    mine: list[tuple[str, str | None]] = []
    while ("OrderCanceled", "USER") not in mine and time.monotonic() < deadline:
        decoded = (serde.decode(m.value()) for m in read_topic(api.settings, api.settings.topic(topics.ORDERS)))
        mine = [(s.fullname.rpartition(".")[2], r.get("reason")) for s, r in decoded
                if r["client_order_id"] == "e2e-resting"]
        time.sleep(0.2)
    assert mine == [("OrderAccepted", None), ("OrderCanceled", "USER")]  # the paper venue canceled it
    assert api.post("/risk/cancel-order", {**cancel, "client_order_id": "no-such"}, "e2e-cancel-2").status_code == 202
    refused = api.decided("e2e-cancel-2")
    assert (refused["status"], refused["reason"]) == ("REJECTED", "order-not-open")


def test_persist_the_scanner_board_now_and_run_the_daily_job(api: Api) -> None:
    assert api.post("/scanner/persist", {"scanner": "s1"}, "e2e-persist").status_code == 202
    persisted = api.decided("e2e-persist", timeout_s=60)
    assert (persisted["status"], persisted["owner"], persisted["target"]) == ("ACCEPTED", "scanner", "s1")
    manual = []
    deadline = time.monotonic() + 30
    while len(manual) < len(persisted["caused"]) and time.monotonic() < deadline:
        manual = api.get("/scanner/history", trigger="manual", limit=1000).json()["items"]
        time.sleep(0.1)
    assert sorted(f"s1:2026-12-04:REGULAR:{m['category']}:" for m in manual) == sorted(
        c.rsplit(":", 2)[0] + ":" for c in persisted["caused"])
    assert {m["ticker"] for m in manual} <= {"AAA", "BBB"} and manual
    assert api.post("/scanner/persist", {"scanner": "nobody"}, "e2e-persist-2").status_code == 202
    empty = api.decided("e2e-persist-2")
    assert (empty["status"], empty["reason"]) == ("REJECTED", "board-empty")

    assert api.post("/recommendations/run", {"run_date": RUN_DATE}, "e2e-run").status_code == 202
    ran = api.decided("e2e-run", timeout_s=60)
    assert (ran["status"], ran["caused"]) == ("ACCEPTED", [f"job:daily-recommendations:{RUN_DATE}"])
    wait_for = time.monotonic() + 30
    runs: list = []
    while not runs and time.monotonic() < wait_for:
        runs = query(api.settings, "SELECT run_date, trigger FROM job_run_shards")
        time.sleep(0.2)
    assert runs and {(str(r["run_date"]), r["trigger"]) for r in runs} == {(RUN_DATE, "manual")}
    assert api.post("/recommendations/run", {"run_date": "2026-12-05"}, "e2e-run-2").status_code == 202
    saturday = api.decided("e2e-run-2")
    assert (saturday["status"], saturday["reason"]) == ("REJECTED", "not-a-trading-day")


def test_a_repeated_key_writes_nothing_and_another_body_is_409(api: Api) -> None:
    body = {"venue": "binance", "account": "mm-1", "mode": "REDUCING"}
    first = api.post("/risk/mode", body, "idem-1")
    assert first.status_code == 202
    again = api.post("/risk/mode", body, "idem-1")
    assert again.status_code == 200, again.text
    assert again.json()["issued_at"] == first.json()["issued_at"]
    conflict = api.post("/risk/mode", {**body, "mode": "HALTED"}, "idem-1")
    assert conflict.status_code == 409 and "already used" in conflict.json()["detail"]
    assert api.decided("idem-1")["status"] == "ACCEPTED"
    after = api.post("/risk/mode", body, "idem-1")  # decided: the repeat answers with the result
    assert (after.status_code, after.json()["status"]) == (200, "ACCEPTED")
    serde = default_serde(api.settings)
    written = [serde.decode(m.value())[1] for m in read_topic(api.settings, api.settings.topic(topics.RISK_COMMANDS))]
    mine = [r for r in written if r["idempotency_key"] == "idem-1"]
    assert len(mine) == 1 and mine[0]["actor"] == "env-command-1" and mine[0]["params"] == {
        "account": "mm-1", "mode": "REDUCING"}
    results = query(api.settings, "SELECT status FROM command_results WHERE idempotency_key = 'idem-1'")
    assert [r["status"] for r in results] == ["ACCEPTED"]
    # the command log lists it, newest first, filtered by actor and kind
    listed = api.get("/commands", kind="SET_RISK_MODE", actor="env-command-1").json()["items"]
    times = [item["issued_at"] for item in listed]
    assert "idem-1" in [item["idempotency_key"] for item in listed] and times == sorted(times, reverse=True)
    assert api.get("/commands/no-such-key").status_code == 404


def test_auth_no_key_read_role_and_expired_key_write_nothing(api: Api) -> None:
    body = {"venue": "binance", "mode": "HALTED"}
    assert api.post("/risk/mode", body, "auth-1", key=None).status_code == 401
    assert api.post("/risk/mode", body, "auth-2", key=READ).status_code == 403
    expired = api.post("/risk/mode", body, "auth-3", key=EXPIRED)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    rows = query(api.settings, "SELECT idempotency_key FROM commands WHERE idempotency_key LIKE 'auth-%'")
    assert rows == []


def test_schemathesis_over_the_command_operations(api: Api) -> None:
    schema = schemathesis.openapi.from_url(api.base + "/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations() if "/commands" in r.ok().path]
    assert len(operations) == 10
    calls = 0
    for operation in operations:

        @hypothesis_settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            # both roles: the POSTs are tried for real (and GETs read what they wrote)
            key = COMMAND if case.method == "POST" else READ
            case.call_and_validate(base_url=api.base, headers={"Authorization": f"Bearer {key}"},
                                   excluded_checks=[positive_data_acceptance])

        run()
    assert calls >= len(operations) * 3


def test_a_retry_behind_a_slow_broker_writes_the_command_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker acknowledges after the request's timeout (503): a fast retry with the same key must neither
    find the log without the event and write it again, nor be answered before Kafka decided."""
    assert api.gateway is not None
    monkeypatch.setattr(api.gateway.gateway, "command_timeout_s", 1.0)
    monkeypatch.setenv(FAULT_ENV, "delay-produce:3")  # the event reaches the producer 3 s late
    body = {"venue": "binance", "account": "mm-1", "mode": "ACTIVE"}
    started = time.monotonic()
    slow = api.post("/risk/mode", body, "slow-1")
    assert slow.status_code == 503 and "may yet be written" in slow.json()["detail"], slow.text
    monkeypatch.delenv(FAULT_ENV)
    retry = api.post("/risk/mode", body, "slow-1")  # at once: Kafka has not decided on the first yet
    assert retry.status_code == 503 and "still being written" in retry.json()["detail"], retry.text
    while retry.status_code == 503 and time.monotonic() < started + 30:
        time.sleep(0.3)
        retry = api.post("/risk/mode", body, "slow-1")
    assert retry.status_code == 200, retry.text  # the first request's command is the answer: nothing written
    time.sleep(max(0.0, started + 3.5 - time.monotonic()))  # (the delayed event is in the log by now in any case)
    serde = default_serde(api.settings)
    written = [serde.decode(m.value())[1] for m in read_topic(api.settings, api.settings.topic(topics.RISK_COMMANDS))]
    assert [r["params"] for r in written if r["idempotency_key"] == "slow-1"] == [{"account": "mm-1", "mode": "ACTIVE"}]
    rows = query(api.settings, "SELECT status FROM commands WHERE idempotency_key = 'slow-1'")
    assert [r["status"] for r in rows] == ["WRITTEN"]


def test_close_a_position_through_the_risk_gate(api: Api) -> None:
    """A long position (a BUY above the ask: the paper venue fills it), then CLOSE_POSITION: a reduce-only
    MARKET SELL of the whole quantity through the risk gate; the position is flat through the API."""

    def position(side: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            items = api.get("/risk/positions", account="mm-1", venue="binance", symbol="BTC/USDT").json()["items"]
            if items and items[0]["side"] == side:
                return items[0]
            assert time.monotonic() < deadline, f"no {side} position: {items}"
            time.sleep(0.2)

    assert api.post("/risk/mode", {"venue": "binance", "mode": "ACTIVE"}, "e2e-close-active").status_code == 202
    assert api.post("/risk/orders", {**ORDER, "quantity": "0.2", "price": "100.5"}, "e2e-long").status_code == 202
    assert api.decided("e2e-long")["status"] == "ACCEPTED"
    tick(api.settings, 2)  # the next tick crosses the BUY: filled at the ask
    assert D(position("LONG")["quantity"]) == D("0.2")
    response = api.post("/risk/close-position", {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT"},
                        "e2e-close")
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "CLOSE_POSITION"
    closed = api.decided("e2e-close")
    assert (closed["status"], closed["reason"]) == ("ACCEPTED", None), closed
    decisions = api.items_once("/risk/orders", lambda items: any(d["client_order_id"] == "close-e2e-close"
                                                                 for d in items),
                               "the decision on close-e2e-close in the database", account="mm-1")
    [decision] = [d for d in decisions if d["client_order_id"] == "close-e2e-close"]
    assert (decision["decision"], decision["side"], D(decision["quantity"])) == ("APPROVED", "SELL", D("0.2"))
    tick(api.settings, 3)  # the MARKET SELL fills at the bid
    assert D(position("FLAT")["quantity"]) == 0


def test_concurrent_requests_with_one_key_write_one_command(api: Api) -> None:
    """Four requests with one key at once: the key's lock lets one write (202); the others wait for it and
    answer with its command (200); one event in the log."""
    body = {"venue": "binance", "account": "mm-1", "mode": "ACTIVE"}
    clients = [httpx.Client(base_url=api.base, timeout=30) for _ in range(4)]  # a connection each
    results: list[int] = []
    threads = [threading.Thread(target=lambda c=c: results.append(
        c.post(PREFIX + "/commands/risk/mode", json=body, headers={
            "Idempotency-Key": "race-1", "Authorization": f"Bearer {COMMAND}"}).status_code)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()
    assert sorted(results) == [200, 200, 200, 202]
    serde = default_serde(api.settings)
    written = [serde.decode(m.value())[1] for m in read_topic(api.settings, api.settings.topic(topics.RISK_COMMANDS))]
    assert [r["idempotency_key"] for r in written].count("race-1") == 1


def test_health_reports_each_running_workers_last_commit(api: Api) -> None:
    before = dt.datetime.now(dt.UTC)
    tick(api.settings, 100)  # input the risk worker commits
    deadline = time.monotonic() + 30
    while True:
        response = api.client.get(f"{PREFIX}/system/health", headers={"Authorization": f"Bearer {READ}"})
        assert response.status_code == 200, response.text
        workers = {w["group"]: w for w in response.json()["workers"]}
        risk = workers[f"{api.settings.kafka.topic_prefix}mercado-risk"]
        if risk["last_commit"] is not None and dt.datetime.fromisoformat(risk["last_commit"]) >= before:
            break
        assert time.monotonic() < deadline, risk
        time.sleep(0.5)
    assert risk["lag"] is not None and risk["partitions"] > 0
    # a pipeline that has no worker here has committed nothing
    assert workers[f"{api.settings.kafka.topic_prefix}mercado-marketdata"]["last_commit"] is None
