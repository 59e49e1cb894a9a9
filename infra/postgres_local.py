"""The local PostgreSQL cluster that `mercado up` runs from Debian's server binaries."""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import signal
import subprocess
from pathlib import Path

import asyncpg

from infra.errors import ServiceFailed
from infra.processes import command_line, is_alive, port_answers, read_pid, run_tool, terminate
from infra.settings import ServiceSettings
from infra.toolchain import find_postgres_bin_dir

STOP_GRACE_S = 30.0
TOOL_TIMEOUT_S = 300.0
MAINTENANCE_DATABASE = "postgres"
# When TimescaleDB is installed for the server binaries: it works only when preloaded, and each of its jobs
# (per database with the mercado schema: 12 compression and up to 12 retention policies, 2 aggregate
# refreshes, its own telemetry job) runs in a background worker, plus one scheduler per database.
# PostgreSQL's default max_worker_processes = 8 left 2 of 12 compression jobs without a worker
# ("failed to start a background worker"); 32 workers ran them all. max_worker_processes holds the
# TimescaleDB workers, max_parallel_workers (8) and the launcher.
TIMESCALEDB_SERVER_SETTINGS = (
    ("shared_preload_libraries", "timescaledb"),
    ("timescaledb.max_background_workers", "32"),
    ("max_worker_processes", "48"),
)


def postgres_install_dirs(bin_dir: Path) -> tuple[Path, Path]:
    """The server's share folder (extension control files) and library folder, from its pg_config when
    it has one, else from the layout (Debian: /usr/share/postgresql/<major>, /usr/lib/postgresql/<major>/lib;
    a source build: <prefix>/share, <prefix>/lib)."""
    pg_config = bin_dir / "pg_config"
    if pg_config.is_file():
        try:
            done = subprocess.run(
                [str(pg_config), "--sharedir", "--pkglibdir"], capture_output=True, text=True, timeout=30, check=True
            )
            share, lib = done.stdout.split()[:2]
            return Path(share), Path(lib)
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    prefix = bin_dir.parent
    debian_share = Path("/usr/share/postgresql") / prefix.name
    share = debian_share if (debian_share / "extension").is_dir() else prefix / "share"
    return share, prefix / "lib"


def timescaledb_installed(bin_dir: Path) -> bool:
    """The timescaledb extension is installed for these server binaries (control file and library)."""
    share, lib = postgres_install_dirs(bin_dir)
    return (share / "extension" / "timescaledb.control").is_file() and (lib / "timescaledb.so").is_file()


def server_options(settings: ServiceSettings, socket_dir: Path, bin_dir: Path) -> list[str]:
    """``postgres -c`` options of the local cluster: its address, and TimescaleDB's when it is installed."""
    values = [
        ("listen_addresses", settings.local.pg_host),
        ("port", str(settings.local.pg_port)),
        ("unix_socket_directories", str(socket_dir)),
    ]
    if timescaledb_installed(bin_dir):
        values.extend(TIMESCALEDB_SERVER_SETTINGS)
    return [part for name, value in values for part in ("-c", f"{name}={value}")]


class LocalPostgres:
    """A cluster whose data, socket and log live in ``<state_dir>/postgres``.

    PostgreSQL refuses to run as root; under root it runs as the system user ``settings.local.pg_os_user``.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.home = settings.local.state_dir.resolve() / "postgres"
        self.data = self.home / "data"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "logs" / "postgres.log"

    @property
    def address(self) -> str:
        return f"{self.settings.local.pg_host}:{self.settings.local.pg_port}"

    def pid(self) -> int | None:
        """The postmaster pid of this state folder's cluster, when it runs."""
        pid = read_pid(self.data / "postmaster.pid")
        if pid is None or not is_alive(pid):
            return None
        return pid if str(self.data) in command_line(pid) else None

    def ensure_started(self) -> int:
        """Start the cluster unless it runs, wait until it accepts connections, create the database."""
        pid = self.pid()
        if pid is None:
            pid = self._start()
        self._create_database_if_missing()
        return pid

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; if the postmaster survives that, signal it directly."""
        pid = self.pid()
        if pid is None:
            return
        bin_dir = find_postgres_bin_dir(self.settings.local.pg_bin_dir)
        stop_command = [str(bin_dir / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"]
        try:
            run_tool(
                self._as_server_user([*stop_command, "-t", str(int(STOP_GRACE_S))]),
                "pg_ctl stop failed", cwd=self.home, timeout_s=STOP_GRACE_S + 10,
            )  # fmt: skip
        except ServiceFailed:
            pass  # checked below: the postmaster is then signalled directly
        if is_alive(pid):
            terminate(pid, STOP_GRACE_S, first_signal=signal.SIGQUIT)

    def _start(self) -> int:
        if port_answers(self.settings.local.pg_host, self.settings.local.pg_port):
            raise ServiceFailed(
                f"Port {self.address} is used by another program, not by the PostgreSQL of "
                f"{self.settings.local.state_dir}: stop that program or choose another MERCADO_LOCAL__PG_PORT."
            )
        bin_dir = find_postgres_bin_dir(self.settings.local.pg_bin_dir)
        for folder in (self.home, self.socket_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self._hand_over_to_server_user()
        if not (self.data / "PG_VERSION").is_file():
            self._run_as_server_user(
                [
                    str(bin_dir / "initdb"), "-D", str(self.data), "-U", self.settings.local.pg_user,
                    "--encoding=UTF8", "--locale=C.UTF-8", "--auth=trust",
                ],
                "initdb failed",
            )  # fmt: skip
        options = shlex.join(server_options(self.settings, self.socket_dir, bin_dir))
        timeout_s = int(self.settings.local.ready_timeout_s)
        self._run_as_server_user(
            [
                str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file),
                "-o", options, "-w", "-t", str(timeout_s), "start",
            ],
            f"PostgreSQL did not start; see {self.log_file}",
        )  # fmt: skip
        pid = self.pid()
        if pid is None:
            raise ServiceFailed(f"PostgreSQL exited right after starting; see {self.log_file}.")
        return pid

    def _create_database_if_missing(self) -> None:
        asyncio.run(self._create_database_async())

    async def _create_database_async(self) -> None:
        settings = self.settings
        connection = await asyncpg.connect(
            host=settings.local.pg_host,
            port=settings.local.pg_port,
            user=settings.local.pg_user,
            database=MAINTENANCE_DATABASE,
        )
        try:
            exists = await connection.fetchval(
                "select exists (select from pg_database where datname = $1)", settings.local.pg_database
            )
            if not exists:
                quoted_name = await connection.fetchval("select quote_ident($1)", settings.local.pg_database)
                await connection.execute(f"create database {quoted_name}")
        finally:
            await connection.close()

    def _server_user(self) -> str | None:
        """The system user to run PostgreSQL as: ``None`` (ourselves) unless we are root."""
        return self.settings.local.pg_os_user if os.geteuid() == 0 else None

    def _as_server_user(self, command: list[str]) -> list[str]:
        user = self._server_user()
        return ["runuser", "-u", user, "--", *command] if user else command

    def _hand_over_to_server_user(self) -> None:
        """Under root: create the server's system user if needed and give it ``<state_dir>/postgres``."""
        user = self._server_user()
        if user is None:
            return
        account = _system_account(user)
        if self.home.stat().st_uid != account.pw_uid or not all(
            path.stat().st_uid == account.pw_uid for path in self.home.iterdir()
        ):
            subprocess.run(
                ["chown", "-R", f"{account.pw_uid}:{account.pw_gid}", str(self.home)],
                check=True, capture_output=True,
            )  # fmt: skip
        if subprocess.run(self._as_server_user(["test", "-x", str(self.home)])).returncode != 0:
            raise ServiceFailed(
                f"PostgreSQL runs as the system user {user!r}, which cannot enter {self.home}: make the "
                "folders above it traversable (chmod o+x) or set MERCADO_LOCAL__STATE_DIR to another folder."
            )

    def _run_as_server_user(self, command: list[str], failure: str) -> None:
        run_tool(self._as_server_user(command), failure, cwd=self.home, timeout_s=TOOL_TIMEOUT_S)


def _system_account(user: str) -> pwd.struct_passwd:
    """The passwd entry of ``user``, created as a system user with its own group when missing."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd", "--system", "--user-group", "--no-create-home",
            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user,
        ],
        capture_output=True,
    )  # fmt: skip
    try:
        return pwd.getpwnam(user)  # also covers a concurrent useradd of the same user
    except KeyError as error:
        raise ServiceFailed(f"Could not create the system user {user!r} that runs PostgreSQL.") from error
