"""Helpers shared by the observability tests (this module holds no tests): the Prometheus config and
rules of ``infra/prometheus``, the Grafana dashboards of ``infra/grafana``, and how their queries are
made runnable outside Grafana (Grafana variables and macros replaced by literal values)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from streams.config import Settings
from tests.support.sink import create_database, drop_database  # noqa: F401 - re-exported

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "infra" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
GRAFANA_DIR = ROOT / "infra" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DATASOURCES_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "mercado.yml"
DASHBOARD_PROVIDER_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "mercado.yml"

# Grafana's interval variables, as Grafana would set them for a 1 h range and a 5 s scrape interval.
PROMQL_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
_TIME_FILTER = re.compile(r"\$__timeFilter\(([^()]+)\)")


def promtool(*args: str | Path, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: install Debian's prometheus package (./dev does)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout_s, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.rules.yml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.test.yml"))


def rules() -> list[dict[str, Any]]:
    """Every rule (recording and alerting) of every rule file, in file order."""
    return [rule for path in rule_files() for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alert_rules() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def recording_rules() -> dict[str, dict[str, Any]]:
    return {rule["record"]: rule for rule in rules() if "record" in rule}


# --------------------------------------------------------------------------- Grafana dashboards
def dashboards() -> dict[str, dict[str, Any]]:
    """Dashboard JSON by file stem (``pipeline``, ``market``)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, also the ones inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(dashboard) if p["type"] != "row"]


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref_id: str
    text: str  # PromQL or SQL, as written in the dashboard

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def prometheus_queries(name: str = "pipeline") -> list[Query]:
    board = dashboards()[name]
    return [
        Query(name, panel["title"], target["refId"], target["expr"])
        for panel in data_panels(board)
        for target in panel["targets"]
        if target["datasource"]["type"] == "prometheus"
    ]


def sql_queries(name: str = "market") -> list[Query]:
    """The SQL of every PostgreSQL panel target and of every query variable."""
    board = dashboards()[name]
    out = [
        Query(name, panel["title"], target["refId"], target["rawSql"])
        for panel in data_panels(board)
        for target in panel["targets"]
        if target["datasource"]["type"] == "postgres"
    ]
    out += [
        Query(name, f"variable {var['name']}", "query", var["query"])
        for var in board.get("templating", {}).get("list", [])
        if var["type"] == "query" and var["datasource"]["type"] == "postgres"
    ]
    return out


def panel_query(name: str, title: str, ref_id: str = "A") -> str:
    return next(q.text for q in prometheus_queries(name) + sql_queries(name) if q.panel == title and q.ref_id == ref_id)


def runnable_promql(expr: str) -> str:
    """The expression with Grafana's interval variables replaced (what Grafana sends to Prometheus)."""
    for name, value in sorted(PROMQL_VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}: add it to PROMQL_VARIABLES"
    return expr


def runnable_sql(sql: str, time_from: str, time_to: str, variables: dict[str, str]) -> str:
    """The SQL with Grafana's PostgreSQL macros and the dashboard variables replaced by literals:
    ``$__timeFilter(col)`` -> ``col BETWEEN 'from' AND 'to'``, ``$__timeFrom()``, ``$__timeTo()``,
    ``$name`` / ``${name}``."""
    sql = _TIME_FILTER.sub(lambda m: f"{m.group(1).strip()} BETWEEN '{time_from}' AND '{time_to}'", sql)
    sql = sql.replace("$__timeFrom()", f"'{time_from}'").replace("$__timeTo()", f"'{time_to}'")
    for name, value in sorted(variables.items(), key=lambda item: -len(item[0])):
        sql = sql.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in sql, f"unreplaced Grafana macro or variable in {sql!r}"
    return sql


# --------------------------------------------------------------------------- databases and ports
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# create_database / drop_database: the sink tests' own (one place for per-test databases).


def fetch_all(settings: Settings, statements: list[str]) -> list[list[asyncpg.Record]]:
    """Runs each statement in its own read-only transaction; an error names the statement."""

    async def run() -> list[list[asyncpg.Record]]:
        conn = await asyncpg.connect(settings.dsn())
        results = []
        try:
            for statement in statements:
                async with conn.transaction(readonly=True):
                    try:
                        results.append(await conn.fetch(statement))
                    except asyncpg.PostgresError as exc:
                        raise AssertionError(f"{exc.__class__.__name__}: {exc}\n{statement}") from None
        finally:
            await conn.close()
        return results

    return asyncio.run(run())
