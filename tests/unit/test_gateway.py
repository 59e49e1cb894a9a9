"""The gateway without services: API keys and roles, parameter validation, the OpenAPI document, the
``mercado api`` command. The database behind it is unreachable here (a closed port), so every answer
below comes before any SQL (the endpoints over real data: tests/integration/test_gateway_api.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.app import PREFIX, create_app
from gateway.auth import KeysFileError, KeyStore, Role
from gateway.settings import GatewaySection, GatewaySettings
from streams.runtime.pipelines import PIPELINES

ROOT = Path(__file__).resolve().parents[2]
READ, COMMAND, BOTH = "read-key-1", "command-key-1", "both-key-1"
NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def section(**changes: object) -> GatewaySection:
    values: dict[str, object] = {"read_keys": [READ, BOTH], "command_keys": [COMMAND, BOTH]}
    values.update(changes)
    return GatewaySection.model_validate(values)


def settings(**changes: object) -> GatewaySettings:
    return GatewaySettings().with_(database_url="postgresql://nobody@127.0.0.1:9/none", gateway=section(**changes))


@pytest.fixture()
def client() -> TestClient:
    with TestClient(create_app(settings(), push=False)) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- keys and roles
def test_environment_keys_get_their_roles_and_a_key_in_both_lists_gets_both() -> None:
    store = KeyStore(section())
    assert store.authenticate(READ).roles == {Role.read}
    assert store.authenticate(COMMAND).roles == {Role.command}
    assert store.authenticate(BOTH).roles == {Role.read, Role.command}
    assert len(store) == 3


@pytest.mark.parametrize("token", [None, "", "nope", READ + " "])
def test_missing_or_unknown_keys_are_401(token: str | None) -> None:
    with pytest.raises(Exception) as info:
        KeyStore(section()).authenticate(token)
    assert info.value.status_code == 401  # type: ignore[attr-defined]
    assert info.value.headers == {"WWW-Authenticate": "Bearer"}  # type: ignore[attr-defined]


def write_keys(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(body)
    return path


def test_file_keys_are_hashed_and_expire(tmp_path: Path) -> None:
    good, old = hashlib.sha256(b"grafana-key").hexdigest(), hashlib.sha256(b"old-key").hexdigest()
    path = write_keys(
        tmp_path,
        f"""
[[key]]
name = "grafana"
sha256 = "{good}"
roles = ["read"]
expires = 2027-01-01T00:00:00Z

[[key]]
name = "old"
sha256 = "{old.upper()}"
roles = ["read", "command"]
expires = 2026-12-01T00:00:00
""",
    )
    store = KeyStore(GatewaySection(keys_file=path), clock=lambda: NOW)
    assert store.authenticate("grafana-key").name == "grafana"
    with pytest.raises(Exception) as info:
        store.authenticate("old-key")
    assert info.value.status_code == 401 and "expired" in info.value.detail  # type: ignore[attr-defined]
    assert "old-key" not in info.value.detail  # type: ignore[attr-defined]
    later = KeyStore(GatewaySection(keys_file=path), clock=lambda: dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(Exception, match="expired"):
        later.authenticate("grafana-key")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('sha256 = "abc"\nroles = ["read"]', "needs sha256"),
        (f'sha256 = "{"0" * 64}"\nroles = ["admin"]', "unknown role"),
        (f'sha256 = "{"0" * 64}"\nroles = []', "no roles"),
        (f'sha256 = "{"0" * 64}"\nroles = ["read"]\nexpires = "tomorrow"', "TOML date-time"),
    ],
)
def test_bad_key_file_entries_are_named(tmp_path: Path, entry: str, message: str) -> None:
    path = write_keys(tmp_path, f'[[key]]\nname = "k"\n{entry}\n')
    with pytest.raises(KeysFileError, match=message) as info:
        KeyStore(GatewaySection(keys_file=path))
    assert "'k'" in str(info.value)


def test_an_unreadable_key_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="cannot read"):
        KeyStore(GatewaySection(keys_file=tmp_path / "missing.toml"))
    with pytest.raises(KeysFileError, match="cannot read"):
        KeyStore(GatewaySection(keys_file=write_keys(tmp_path, "[[key]\n")))


def test_keys_never_show_in_the_settings_repr() -> None:
    s = settings()
    assert READ not in repr(s) and COMMAND not in repr(s) and READ not in str(s.gateway.model_dump())


# --------------------------------------------------------------------------- the app without a database
def read_paths(client: TestClient) -> list[str]:
    spec = client.get("/openapi.json").json()
    return [p for p, ops in spec["paths"].items() if "get" in ops and not p.endswith("/ping")]


def test_every_read_needs_a_key_with_the_read_role(client: TestClient) -> None:
    paths = read_paths(client)
    assert len(paths) >= 20
    for path in paths:
        url = path.replace("{opportunity_id}", "opp:" + "0" * 20).replace("{retailer}", "paris").replace("{sku}", "1")
        url = url.replace("{ticker}", "AAPL")
        assert client.get(url).status_code == 401, url
        assert client.get(url, headers=bearer("unknown")).status_code == 401, url
        assert client.get(url, headers={"Authorization": f"Basic {READ}"}).status_code == 401, url
        response = client.get(url, headers=bearer(COMMAND))
        assert response.status_code == 403, url
        assert "lacks the 'read' role" in response.json()["detail"]


def test_ping_needs_no_key_and_version_names_the_package(client: TestClient) -> None:
    assert client.get(f"{PREFIX}/system/ping").json()["pong"] is True
    body = client.get(f"{PREFIX}/system/version", headers=bearer(READ)).json()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert body["name"] == "mercado" and body["api"] == "v1" and body["pipelines"] == sorted(PIPELINES)
    assert body["schemas"] > 10 and body["version"] in (version, "0+unknown")


def test_an_unreachable_database_is_503_not_500(client: TestClient) -> None:
    response = client.get(f"{PREFIX}/marketdata/prices", headers=bearer(READ))
    assert response.status_code == 503
    assert response.json() == {"detail": "PostgreSQL is unavailable; retry later"}
    assert "nobody" not in response.text  # no DSN, no user name


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ("/marketdata/bars?venue=binance", 422, "symbol"),
        ("/marketdata/bars?venue=bin%27ance&symbol=BTC/USDT", 422, "venue"),
        ("/marketdata/bars?venue=binance&symbol=BTC/USDT;DROP", 422, "symbol"),
        ("/marketdata/bars?venue=binance&symbol=BTC/USDT&interval_s=0", 422, "interval_s"),
        ("/marketdata/bars?venue=binance&symbol=BTC/USDT&limit=1001", 422, "limit"),
        ("/marketdata/bars?venue=binance&symbol=BTC/USDT&offset=-1", 422, "offset"),
        ("/marketdata/bars?venue=binance&symbol=BTC/USDT&start=yesterday", 422, "start"),
        ("/marketdata/bars?venue=binance&symbol=BTC/USDT&start=2026-11-20&end=2026-11-19", 400, "end must be after"),
        ("/marketdata/gaps?start=2026-01-01T00:00:00Z&end=2026-03-01T00:00:00Z", 400, "at most 31 days"),
        ("/retail/opportunities?tier=urgent", 422, "tier"),
        ("/retail/opportunities/1%20OR%201=1", 422, "opportunity_id"),
        ("/retail/listings/paris/1%27%3B--", 422, "sku"),
        ("/retail/glitches?sku=%00", 422, "sku"),
        ("/risk/orders?decision=MAYBE", 422, "decision"),
        ("/alerts?level=LOUD", 422, "level"),
        ("/risk/positions?open_only=perhaps", 422, "open_only"),
        ("/scanner/board?session=regular", 422, "session"),
        ("/scanner/board?category=top%20gainers", 422, "category"),
        ("/scanner/board?top=0", 422, "top"),
        ("/scanner/board?top=501", 422, "top"),
        ("/scanner/board", 503, "not available on this process"),  # no push consumer here: no board
        ("/scanner/history?trigger=hourly", 422, "trigger"),
        ("/scanner/history?scanner=g%27--", 422, "scanner"),
        ("/scanner/history?start=2026-11-20T17:00:00Z&end=2026-11-20T16:00:00Z", 400, "end must be after"),
        ("/scanner/tickers/AAPL%27%20OR%201=1", 422, "ticker"),
        ("/scanner/tickers/" + "A" * 17, 422, "ticker"),
        ("/scanner/tickers/AAPL?limit=5000", 422, "limit"),
    ],
)
def test_bad_parameters_are_4xx_naming_the_parameter(client: TestClient, query: str, status: int,
                                                      fragment: str) -> None:  # fmt: skip
    response = client.get(PREFIX + query, headers=bearer(READ))
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_cors_allows_only_the_listed_origins() -> None:
    app = create_app(settings(cors_origins=["https://desk.example"]), push=False)
    with TestClient(app) as c:
        ok = c.options(f"{PREFIX}/system/ping", headers={"Origin": "https://desk.example",
                                                        "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert ok.headers.get("access-control-allow-origin") == "https://desk.example"
        bad = c.options(f"{PREFIX}/system/ping", headers={"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert "access-control-allow-origin" not in bad.headers


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert all(p.startswith(PREFIX) for p in spec["paths"])


# --------------------------------------------------------------------------- the command
def test_the_api_command_is_declared_and_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["mercado.commands"]
    assert entry_points["api"] == "gateway.cli:api"
    from gateway import cli
    from gateway.settings import get_gateway_settings

    monkeypatch.setenv("MERCADO_GATEWAY__READ_KEYS", '["secret-read-key"]')
    get_gateway_settings.cache_clear()
    app = typer.Typer()
    app.command()(cli.api)
    try:
        result = CliRunner().invoke(app, ["--check"])
    finally:
        get_gateway_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8470/api/v1" in result.output and "1 API key(s)" in result.output
    assert "secret-read-key" not in result.output


def test_the_api_command_refuses_a_bad_keys_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gateway import cli
    from gateway.settings import get_gateway_settings

    monkeypatch.setenv("MERCADO_GATEWAY__KEYS_FILE", str(write_keys(tmp_path, "[[key]]\nsha256 = 'x'\n")))
    get_gateway_settings.cache_clear()
    app = typer.Typer()
    app.command()(cli.api)
    try:
        result = CliRunner().invoke(app, ["--check"])
    finally:
        get_gateway_settings.cache_clear()
    assert result.exit_code == 2 and "needs sha256" in result.output


def test_the_demo_starts_the_api_after_the_sink() -> None:
    demo = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["mercado.demo"]
    assert demo["web-api"] == "gateway.demo:run_api_step"
    assert sorted(demo).index("sink") < sorted(demo).index("web-api")  # the demo runs its steps in name order


def test_the_demo_step_prints_the_api_address_and_never_the_key(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """``./dev demo``'s web-api step: the API's address, docs and WebSocket URL on the console; the key only in
    its 0600 file (the process and its readiness probe stubbed: no services here)."""
    import io
    import stat

    from rich.console import Console

    import gateway.demo as demo
    from streams.config import Settings

    started: list[dict[str, str]] = []

    class Process:
        pid = 4242

        def __init__(self, args: list[str], env: dict[str, str], **_: object) -> None:
            started.append(env)

        def poll(self) -> None:
            return None

    monkeypatch.setenv("MERCADO_GATEWAY__PORT", "18471")
    monkeypatch.setattr(demo.subprocess, "Popen", Process)
    monkeypatch.setattr(demo.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"pong"))
    out = io.StringIO()
    s = Settings().with_(local__state_dir=tmp_path)
    assert demo.run_api_step(s, Console(file=out, width=400)) == 0
    printed = out.getvalue()
    assert "Mercado API on http://127.0.0.1:18471/api/v1" in printed
    assert "ws://127.0.0.1:18471/api/v1/ws" in printed and "http://127.0.0.1:18471/docs" in printed
    key = (tmp_path / "demo-api-key").read_text()
    assert key and key not in printed and key not in str(started)
    assert stat.S_IMODE((tmp_path / "demo-api-key").stat().st_mode) == 0o600
    assert started[0]["MERCADO_GATEWAY__KEYS_FILE"] == str(tmp_path / "demo-api-keys.toml")


def test_no_key_reaches_a_log_line(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """Secrets never logged: every logger at DEBUG while keys are used, refused, expired and a read fails."""
    import logging

    caplog.set_level(logging.DEBUG)
    client.get(PREFIX + "/marketdata/prices", headers=bearer(READ))  # the database is unreachable: 503
    client.get(PREFIX + "/marketdata/prices", headers=bearer(COMMAND))  # wrong role
    client.get(PREFIX + "/marketdata/prices", headers=bearer("made-up-secret-key"))
    client.post(PREFIX + "/commands/risk/mode", json={"venue": "binance", "mode": "HALTED"},
                headers={**bearer(COMMAND), "Idempotency-Key": "k1"})
    text = "\n".join(f"{r.getMessage()} {r.args} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the 503s and the HTTP client's requests are logged
    for secret in (READ, COMMAND, BOTH, "made-up-secret-key"):
        assert secret not in text
