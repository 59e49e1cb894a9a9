"""The gateway's command endpoints without services: roles, the Idempotency-Key header and hostile
bodies are answered before any Kafka or SQL (the database is a closed port here); the request
fingerprint. End to end on the real broker: tests/integration/test_gateway_commands.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.app import PREFIX, create_app
from gateway.commands import body_sha256
from tests.unit.test_gateway import BOTH, COMMAND, READ, bearer, settings

MODE = {"venue": "binance", "mode": "HALTED"}
HOSTILE = ["' OR '1'='1", "x'; DROP TABLE commands; --", "\x00", "a\nb", "../../etc/passwd", "x" * 500, "😀", ""]


@pytest.fixture()
def client() -> TestClient:
    with TestClient(create_app(settings(), push=False)) as c:
        yield c


def post(client: TestClient, path: str, body: object, key: str | None = COMMAND, idem: str | None = "k-1"):
    headers = bearer(key) if key else {}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post(PREFIX + "/commands" + path, json=body, headers=headers)


def test_commands_need_the_command_role(client: TestClient) -> None:
    assert post(client, "/risk/mode", MODE, key=None).status_code == 401
    assert post(client, "/risk/mode", MODE, key="unknown").status_code == 401
    response = post(client, "/risk/mode", MODE, key=READ)
    assert response.status_code == 403 and "lacks the 'command' role" in response.json()["detail"]
    # the command log is read with the read role
    assert client.get(PREFIX + "/commands", headers=bearer(COMMAND)).status_code == 403
    assert client.get(PREFIX + "/commands/k-1").status_code == 401


@pytest.mark.parametrize("idem", [None, "", "has space", "x" * 129, "'; --", "a/b"])
def test_an_idempotency_key_is_required_and_plain(client: TestClient, idem: str | None) -> None:
    response = post(client, "/risk/mode", MODE, key=BOTH, idem=idem)
    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.text


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field,path,body", [
    ("venue", "/risk/mode", MODE),
    ("account", "/risk/mode", MODE),
    ("breaker", "/risk/breaker-reset", {"venue": "binance", "breaker": "LATENCY:binance"}),
    ("symbol", "/risk/close-position", {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT"}),
    ("client_order_id", "/risk/cancel-order", {"venue": "binance", "account": "mm-1", "client_order_id": "c-1"}),
    ("quantity", "/risk/orders", {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT", "side": "BUY",
                                  "quantity": "1", "price": "100"}),
])
def test_hostile_values_are_refused_before_anything_is_written(client: TestClient, field: str, path: str,
                                                                body: dict, value: str) -> None:
    response = post(client, path, {**body, field: value})
    assert response.status_code == 422, response.text
    assert field in response.text


@pytest.mark.parametrize("body", [
    {"venue": "binance", "mode": "PANIC"},
    {"venue": "binance", "mode": "HALTED", "extra": 1},
    {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT", "side": "BUY", "quantity": "1"},  # LIMIT, no price
    {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT", "side": "BUY", "quantity": "0", "price": "1"},
    {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT", "side": "BUY", "quantity": "1", "price": "1",
     "order_type": "MARKET"},
    {"venue": "binance", "account": "mm-1", "symbol": "BTC/USDT", "side": "BUY", "quantity": "1e3", "price": "1"},
])
def test_bad_bodies_are_4xx(client: TestClient, body: dict) -> None:
    path = "/risk/mode" if "mode" in body else "/risk/orders"
    # 422: the body's schema; 400: a rule across fields (a LIMIT order's price, a positive quantity)
    assert post(client, path, body).status_code in (400, 422)


def test_the_fingerprint_is_of_kind_target_and_parameters_in_any_order() -> None:
    a = body_sha256("SET_RISK_MODE", "binance", {"mode": "HALTED", "account": "mm-1"})
    assert a == body_sha256("SET_RISK_MODE", "binance", {"account": "mm-1", "mode": "HALTED"})
    assert len(a) == 64
    assert a != body_sha256("SET_RISK_MODE", "binance", {"mode": "REDUCING", "account": "mm-1"})
    assert a != body_sha256("SET_RISK_MODE", "kraken", {"mode": "HALTED", "account": "mm-1"})
    assert a != body_sha256("RESET_BREAKER", "binance", {"mode": "HALTED", "account": "mm-1"})


def test_the_kind_filter_lists_exactly_the_contracts_kinds() -> None:
    import typing

    from gateway.routes.commands import Kind
    from processors.commands import KINDS
    from schemas.loader import load_schemas

    assert typing.get_args(Kind) == KINDS == tuple(load_schemas()["CommandKind"].wire["symbols"])


@pytest.mark.parametrize("path,body", [
    ("/recommendations/run", {"run_date": "2026-13-01"}),
    ("/recommendations/run", {"run_date": "' OR 1=1"}),
    ("/recommendations/run", {}),
    ("/scanner/persist", {"scanner": "'; DROP TABLE scanner_top; --"}),
    ("/scanner/persist", {"scanner": "s1", "top_n": 5}),
])
def test_bad_recommendation_and_scanner_commands_are_422(client: TestClient, path: str, body: dict) -> None:
    assert post(client, path, body).status_code == 422


def test_without_postgresql_a_command_is_503(client: TestClient) -> None:
    response = post(client, "/risk/mode", MODE)
    assert response.status_code == 503
    assert response.json()["detail"] == "PostgreSQL is unavailable; retry later with the same key"
