"""The Prometheus config, alert rules and Grafana provisioning/dashboards of ``infra/``, checked without
a running Prometheus or Grafana: promtool validates the config, the rules and the PromQL of every
dashboard, promtool's rule unit tests fire each alert on synthetic series, and the Market dashboard's
SQL runs against a freshly migrated PostgreSQL schema. (tests/integration/test_observability_live.py runs it all on
a real Prometheus scraping a real worker and sink.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge, Histogram

from infra.settings import LocalServices
from sinks.migrate import migrate
from streams.config import Settings
from streams.observability import metrics
from streams.observability.settings import MetricsSettings
from tests.support.observability import (
    DASHBOARD_PROVIDER_FILE,
    DATASOURCES_FILE,
    PROMETHEUS_CONFIG,
    RULE_TESTS_DIR,
    alert_rules,
    create_database,
    dashboards,
    data_panels,
    drop_database,
    fetch_all,
    load_yaml,
    panels,
    prometheus_queries,
    promtool,
    recording_rules,
    rule_files,
    rule_test_files,
    runnable_promql,
    runnable_sql,
    sql_queries,
)

ALERTS = {
    "MercadoProcessDown",
    "MercadoConsumerLagGrowing",
    "MercadoDeadLetters",
    "MercadoSinkRetrying",
    "MercadoSinkStalled",
    "MercadoNoInputDuringSession",
}
DATASOURCE_UIDS = {"prometheus": "mercado-prometheus", "postgres": "mercado-postgres"}


# --------------------------------------------------------------------------- Prometheus
def test_prometheus_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", PROMETHEUS_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_files())} rule files found" in result.stdout + result.stderr
    assert len(rule_files()) == 1


def test_prometheus_scrapes_every_process_kind_on_its_default_port() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    defaults = MetricsSettings()  # a model: the declared defaults, not this machine's environment
    assert targets == {
        f"mercado-{kind}": [f"127.0.0.1:{getattr(defaults, f'port_{kind}')}"]
        for kind in ("worker", "sink", "produce", "replay", "feed")
    }
    assert [(kind, metrics.metrics_port(kind, Settings())) for kind in ("worker", "sink", "produce", "replay")] == [
        ("worker", 9461), ("sink", 9462), ("produce", 9463), ("replay", 9464)
    ]  # fmt: skip
    assert config["rule_files"] == ["rules/*.rules.yml"]


def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS) + len(recording_rules())} rules found" in result.stdout


def test_the_alert_rules_are_the_expected_ones_with_severity_and_summary() -> None:
    rules = alert_rules()
    assert set(rules) == ALERTS
    assert set(recording_rules()) == {"mercado:usdcop_session_open"}
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_rule_unit_tests_pass() -> None:
    """promtool evaluates the rules on the synthetic series of infra/prometheus/tests/*.test.yml."""
    files = rule_test_files()
    result = promtool("test", "rules", *files, timeout_s=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("SUCCESS") == len(files) == 5, output


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    fires: Counter[str] = Counter()
    quiet: Counter[str] = Counter()
    for path in rule_test_files():
        spec = load_yaml(path)
        assert [(RULE_TESTS_DIR / f).resolve() for f in spec["rule_files"]] == rule_files(), path
        for case in spec["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check["exp_alerts"] else quiet)[check["alertname"]] += 1
    assert set(fires) == ALERTS, f"alerts never shown firing: {ALERTS - set(fires)}"
    assert set(quiet) == ALERTS, f"alerts never shown quiet: {ALERTS - set(quiet)}"


def test_the_first_dead_letter_is_caught_by_the_young_series_branch(tmp_path: Path) -> None:
    """Without its second branch the dead-letter alert misses the first dead letter of a (topic, reason)
    (a series born at 1: increase() sees nothing) and still catches the second: the unit test says so."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    for path in rule_files():
        text = path.read_text().replace("sum_over_time(up[10m])", "sum_over_time(up[10m]) * 0")
        assert text != path.read_text()
        (tmp_path / "rules" / path.name).write_text(text)
    test_file = RULE_TESTS_DIR / "dead_letters.test.yml"
    (tmp_path / "tests" / test_file.name).write_text(test_file.read_text())
    result = promtool("test", "rules", tmp_path / "tests" / test_file.name)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "alertname: MercadoDeadLetters, time: 21m" in output
    assert "time: 42m" not in output


# --------------------------------------------------------------------------- Grafana provisioning
def test_grafana_datasources_point_at_the_local_prometheus_and_postgres() -> None:
    spec = load_yaml(DATASOURCES_FILE)
    assert spec["apiVersion"] == 1
    by_uid = {ds["uid"]: ds for ds in spec["datasources"]}
    assert set(by_uid) == set(DATASOURCE_UIDS.values())
    prometheus, postgres = by_uid["mercado-prometheus"], by_uid["mercado-postgres"]
    assert (prometheus["type"], prometheus["url"]) == ("prometheus", "http://127.0.0.1:9090")
    assert prometheus["isDefault"] is True
    scrape = load_yaml(PROMETHEUS_CONFIG)["global"]["scrape_interval"]
    assert prometheus["jsonData"]["timeInterval"] == scrape == "5s"
    local = LocalServices()  # a model: the declared defaults, not this machine's environment
    assert postgres["type"] == "postgres"
    assert postgres["url"] == f"{local.pg_host}:{local.pg_port}" == "127.0.0.1:15432"
    assert postgres["user"] == local.pg_user == "mercado"
    assert postgres["jsonData"]["database"] == postgres["database"] == local.pg_database == "mercado"
    assert postgres["jsonData"]["sslmode"] == "disable"


def test_grafana_dashboard_provider_loads_the_dashboards_folder() -> None:
    spec = load_yaml(DASHBOARD_PROVIDER_FILE)
    assert spec["apiVersion"] == 1
    [provider] = spec["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Mercado"
    assert Path(provider["options"]["path"]).is_absolute()
    assert sorted(dashboards()) == ["market", "pipeline"]


# --------------------------------------------------------------------------- Grafana dashboards
def _overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    across = a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
    return across and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


@pytest.mark.parametrize("name", ["pipeline", "market"])
def test_dashboard_is_well_formed(name: str) -> None:
    board = dashboards()[name]
    assert board["uid"] == f"mercado-{name}"
    assert board["title"] == f"Mercado — {name.capitalize()}"
    assert "id" not in board or board["id"] is None  # provisioned dashboards get their id from Grafana
    all_panels = list(panels(board))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for i, panel in enumerate(all_panels):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        for other in all_panels[i + 1 :]:
            assert not _overlaps(grid, other["gridPos"]), (panel["title"], other["title"])
    data = data_panels(board)
    assert len(data) >= 10
    for panel in data:
        title = panel["title"]
        assert panel["type"] in {"timeseries", "stat", "table", "candlestick"}, title
        ds = panel["datasource"]
        assert DATASOURCE_UIDS.get(ds["type"]) == ds["uid"], f"{title}: unknown datasource {ds}"
        assert panel["targets"], f"{title}: no targets"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{title}: duplicate refIds"
        for target in panel["targets"]:
            assert target["datasource"] == ds, f"{title}: target datasource differs from the panel's"
            if ds["type"] == "prometheus":
                assert target["expr"].strip(), title
            else:
                assert target["rawQuery"] is True and target["rawSql"].strip(), title
                assert target["format"] in {"table", "time_series"}, title
                if panel["type"] in {"timeseries", "candlestick"}:
                    assert 'AS "time"' in target["rawSql"], f"{title}: a time series needs a time column"


def test_pipeline_dashboard_reads_prometheus_and_market_dashboard_reads_postgres() -> None:
    boards = dashboards()
    assert {p["datasource"]["type"] for p in data_panels(boards["pipeline"])} == {"prometheus"}
    assert {p["datasource"]["type"] for p in data_panels(boards["market"])} == {"postgres"}
    titles = {name: [p["title"] for p in data_panels(board)] for name, board in boards.items()}
    for wanted in (
        "Events in / s",
        "Events out / s",
        "Consumer lag",
        "Processing latency (now − event time)",
        "Dead letters",
        "Sink rows / s",
        "Sink state",
    ):
        assert wanted in titles["pipeline"]
    for wanted in ("Latest prices", "Bars — $venue $symbol (${interval_s}s)", "Gaps", "Alerts", "Data quality by hour"):
        assert wanted in titles["market"]


def _exported_samples() -> dict[str, tuple[str, ...]]:
    """For every metric streams/observability/metrics.py defines: the sample names a dashboard can query it by."""
    out: dict[str, tuple[str, ...]] = {}
    for value in vars(metrics).values():
        if isinstance(value, PromCounter):
            out[value._name] = (f"{value._name}_total",)
        elif isinstance(value, Histogram):
            out[value._name] = tuple(f"{value._name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        elif isinstance(value, Gauge):
            out[value._name] = (value._name,)
    return out


def test_pipeline_dashboard_shows_every_mercado_metric() -> None:
    exprs = re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", " ".join(q.text for q in prometheus_queries("pipeline")))
    families = _exported_samples()
    assert len(families) == 24
    assert sorted(name for name, samples in families.items() if not set(samples) & set(exprs)) == []


def test_every_dashboard_promql_expression_parses(tmp_path: Path) -> None:
    """promtool parses each expression (as a recording rule): a typo fails here, not in Grafana."""
    queries = prometheus_queries("pipeline")
    assert len(queries) == 36
    group = {
        "name": "dashboard-expressions",
        "rules": [{"record": f"dashboard:query_{i}", "expr": runnable_promql(q.text)} for i, q in enumerate(queries)],
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}, allow_unicode=True))
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_runnable_sql_replaces_grafana_macros_and_variables() -> None:
    sql = (
        "SELECT 1 FROM t WHERE $__timeFilter(b.start_time) AND day >= $__timeFrom()::date AND v = '$venue' AND i = ${i}"
    )
    assert runnable_sql(sql, "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", {"venue": "setfx", "i": "60"}) == (
        "SELECT 1 FROM t WHERE b.start_time BETWEEN '2026-11-20T00:00:00Z' AND '2026-11-21T00:00:00Z' "
        "AND day >= '2026-11-20T00:00:00Z'::date AND v = 'setfx' AND i = 60"
    )
    with pytest.raises(AssertionError, match="unreplaced"):
        runnable_sql("SELECT $__timeGroup(t, '1m')", "a", "b", {})


# --------------------------------------------------------------------------- Market SQL on PostgreSQL
@pytest.fixture(scope="module")
def migrated_database(services: Settings) -> Iterator[tuple[Settings, Any]]:
    settings = create_database(services, "observability")
    try:
        yield settings, asyncio.run(migrate(settings))
    finally:
        drop_database(settings)


@pytest.mark.postgres
def test_market_dashboard_sql_runs_against_the_migrated_schema(migrated_database: Any) -> None:
    """Every SQL of the Market dashboard (panels and variables), with Grafana's macros replaced by a
    literal day, runs on the sink's tables and views (schema ``mercado``, empty here)."""
    settings, report = migrated_database
    assert settings.db.schema_name == "mercado"
    queries = sql_queries("market")
    assert len(queries) == 17
    day = dt.date(2026, 11, 20)
    statements = [
        runnable_sql(q.text, f"{day}T00:00:00Z", f"{day + dt.timedelta(days=1)}T00:00:00Z",
                     {"venue": "setfx", "symbol": "USD/COP", "interval_s": "60"})
        for q in queries
    ]  # fmt: skip
    results = fetch_all(settings, statements)
    assert [len(rows) for rows in results] == [21 if "pipeline_status" in s else 0 for s in statements], report.mode
