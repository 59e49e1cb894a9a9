"""`mercado up | down | status` on real processes, in a state folder and on ports of their own.

These tests never touch the shared broker (127.0.0.1:19092) or cluster (15432) other tests use.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from confluent_kafka.admin import AdminClient

from infra.local import MissingDependency, ServiceState, ServiceStatus, down, status, up
from infra.processes import port_answers
from streams.config import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KAFKA_PORT = 29092
KAFKA_CONTROLLER_PORT = 29093
PG_PORT = 25432
# Ports where nothing listens: the missing-dependency tests must fail before starting anything.
UNUSED_KAFKA_PORT = 29192
UNUSED_KAFKA_CONTROLLER_PORT = 29193
UNUSED_PG_PORT = 25532

EXPECTED_CONNECTION = {
    "kafka_bootstrap": f"127.0.0.1:{KAFKA_PORT}",
    "database_url": f"postgresql://mercado@127.0.0.1:{PG_PORT}/mercado",
}


def _state_folder() -> tempfile.TemporaryDirectory[str]:
    folder = tempfile.TemporaryDirectory(prefix="mercado-infra-test-")
    os.chmod(folder.name, 0o755)  # under root, PostgreSQL runs as a system user that must enter it
    return folder


def _settings(state_dir: Path, **overrides: object) -> Settings:
    """Settings of a private Kafka and PostgreSQL; ``overrides`` are the external services'
    (``kafka_bootstrap``, ``database_url``) or fields of the ``local`` section."""
    external: dict[str, object] = {
        "kafka_bootstrap": None,  # explicit, so MERCADO_* variables of the environment do not leak in
        "database_url": None,
    }
    local: dict[str, object] = {
        "state_dir": state_dir,
        "kafka_port": KAFKA_PORT,
        "kafka_controller_port": KAFKA_CONTROLLER_PORT,
        "pg_port": PG_PORT,
        "kafka_heap": "-Xms128m -Xmx384m",
        "ready_timeout_s": 120.0,
    }
    for name, value in overrides.items():
        (external if name in external else local)[name] = value
    return Settings(**external, local=local)


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    folder = _state_folder()
    settings = _settings(Path(folder.name))
    try:
        yield settings
    finally:
        down(settings)
        folder.cleanup()


@pytest.fixture
def unused_state_dir() -> Iterator[Path]:
    folder = _state_folder()
    yield Path(folder.name)
    folder.cleanup()


def _pids(rows: list[ServiceStatus]) -> dict[str, int | None]:
    return {row.service: row.pid for row in rows}


def _is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def _processes_mentioning(text: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in command_line and _is_running(int(entry.name)):
            found.add(int(entry.name))
    return found


def _children_of(parent_pid: int) -> set[int]:
    children = set()
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent_pid:
            children.add(int(entry.parent.name))
    return children


def _broker_count(bootstrap: str) -> int:
    return len(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers)


async def _current_database(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("select current_database()"))
    finally:
        await connection.close()


def test_up_twice_returns_the_same_connection_and_reuses_the_processes(settings: Settings) -> None:
    first = up(settings)
    first_rows = status(settings)
    second = up(settings)
    second_rows = status(settings)

    assert first == EXPECTED_CONNECTION
    assert second == EXPECTED_CONNECTION
    assert [(row.service, row.state, row.address) for row in second_rows] == [
        ("kafka", ServiceState.RUNNING, EXPECTED_CONNECTION["kafka_bootstrap"]),
        ("postgres", ServiceState.RUNNING, EXPECTED_CONNECTION["database_url"]),
    ]
    assert _pids(second_rows) == _pids(first_rows)
    assert all(pid is not None and _is_running(pid) for pid in _pids(second_rows).values())
    assert _broker_count(second["kafka_bootstrap"]) == 1
    assert asyncio.run(_current_database(second["database_url"])) == "mercado"


def test_the_cluster_has_timescaledb_settings_exactly_when_the_extension_is_installed(settings: Settings) -> None:
    from infra.postgres_local import TIMESCALEDB_SERVER_SETTINGS, timescaledb_installed
    from infra.toolchain import find_postgres_bin_dir

    dsn = up(settings)["database_url"]
    names = [name for name, _value in TIMESCALEDB_SERVER_SETTINGS]
    current = asyncio.run(_settings_of(dsn, names))
    if timescaledb_installed(find_postgres_bin_dir(settings.local.pg_bin_dir)):
        assert current == dict(TIMESCALEDB_SERVER_SETTINGS)
    else:  # PostgreSQL's defaults, and no timescaledb setting at all
        assert current == {"shared_preload_libraries": "", "timescaledb.max_background_workers": None,
                           "max_worker_processes": "8"}  # fmt: skip


async def _settings_of(dsn: str, names: list[str]) -> dict[str, str | None]:
    connection = await asyncpg.connect(dsn)
    try:
        return {name: await connection.fetchval("select current_setting($1, true)", name) for name in names}
    finally:
        await connection.close()


def test_concurrent_up_calls_start_one_broker(settings: Settings) -> None:
    down(settings)
    results: list[dict[str, str]] = []
    callers = [threading.Thread(target=lambda: results.append(up(settings))) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert results == [EXPECTED_CONNECTION, EXPECTED_CONNECTION]
    kafka_pid = _pids(status(settings))["kafka"]
    java_processes = {
        pid for pid in _processes_mentioning(str(settings.local.state_dir)) if "kafka.Kafka" in _command_line(pid)
    }
    assert java_processes == {kafka_pid}


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_data_survives_down_and_up(settings: Settings) -> None:
    dsn = up(settings)["database_url"]
    asyncio.run(
        _execute(dsn, "create table if not exists survivor (id int); insert into survivor values (7)")
    )
    down(settings)
    up(settings)

    assert asyncio.run(_fetch_ids(dsn)) == [7]


async def _execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetch_ids(dsn: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        return [row["id"] for row in await connection.fetch("select id from survivor")]
    finally:
        await connection.close()


def test_down_leaves_no_process_and_no_open_port(settings: Settings) -> None:
    up(settings)
    pids = _pids(status(settings))
    postgres_pid = pids["postgres"]
    assert postgres_pid is not None
    postgres_children = _children_of(postgres_pid)
    assert postgres_children  # checkpointer, background writer, ...

    down(settings)

    assert [(row.service, row.state, row.pid) for row in status(settings)] == [
        ("kafka", ServiceState.STOPPED, None),
        ("postgres", ServiceState.STOPPED, None),
    ]
    started = {pid for pid in pids.values() if pid is not None} | postgres_children
    assert {pid for pid in started if _is_running(pid)} == set()
    assert _processes_mentioning(str(settings.local.state_dir)) == set()
    assert [port_answers("127.0.0.1", port) for port in (KAFKA_PORT, KAFKA_CONTROLLER_PORT, PG_PORT)] == [
        False,
        False,
        False,
    ]


def test_down_when_nothing_runs_is_quiet(settings: Settings) -> None:
    down(settings)
    down(settings)

    assert [row.state for row in status(settings)] == [ServiceState.STOPPED, ServiceState.STOPPED]


def test_external_services_are_reported_and_never_started(unused_state_dir: Path) -> None:
    external = _settings(
        unused_state_dir,
        kafka_bootstrap="kafka.example:9092",
        database_url="postgresql://app:s3cret@db.example:5432/markets",
    )

    down(external)  # nothing of ours to stop

    assert status(external) == [
        ServiceStatus("kafka", ServiceState.EXTERNAL, "kafka.example:9092", None),
        ServiceStatus(
            "postgres", ServiceState.EXTERNAL, "postgresql://app:***@db.example:5432/markets", None
        ),
    ]
    assert not (unused_state_dir / "kafka").exists()
    assert not (unused_state_dir / "postgres").exists()


def _unused_port_settings(state_dir: Path, **overrides: object) -> Settings:
    return _settings(
        state_dir,
        kafka_port=UNUSED_KAFKA_PORT,
        kafka_controller_port=UNUSED_KAFKA_CONTROLLER_PORT,
        pg_port=UNUSED_PG_PORT,
        **overrides,
    )


def test_missing_java_is_one_clear_sentence(unused_state_dir: Path) -> None:
    with pytest.raises(MissingDependency) as raised:
        up(_unused_port_settings(unused_state_dir, java_bin=str(unused_state_dir / "no-such-java")))

    assert str(raised.value) == (
        "Java 17+ is required to run Kafka: install it with `apt-get install -y openjdk-17-jre-headless`."
    )


def test_missing_maven_is_one_clear_sentence(unused_state_dir: Path) -> None:
    with pytest.raises(MissingDependency) as raised:
        up(_unused_port_settings(unused_state_dir, mvn_bin=str(unused_state_dir / "no-such-mvn")))

    assert str(raised.value) == (
        "Maven is required once to download the Kafka jars: install it with `apt-get install -y maven`."
    )


def test_missing_postgresql_is_one_clear_sentence(unused_state_dir: Path) -> None:
    missing_bin_dir = unused_state_dir / "no-such-postgresql"
    settings = _unused_port_settings(
        unused_state_dir, kafka_bootstrap="127.0.0.1:1", pg_bin_dir=missing_bin_dir
    )

    with pytest.raises(MissingDependency) as raised:
        up(settings)

    assert str(raised.value) == (
        f"PostgreSQL server programs were not found in {missing_bin_dir}: "
        "install them with `apt-get install -y postgresql`."
    )
