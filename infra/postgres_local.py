"""The local PostgreSQL cluster that `mercado up` runs from Debian's server binaries."""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import signal
import subprocess

import asyncpg

from infra.errors import ServiceFailed
from infra.processes import command_line, is_alive, port_answers, read_pid, run_tool, terminate
from infra.toolchain import find_postgres_bin_dir
from streams.config import Settings

STOP_GRACE_S = 30.0
TOOL_TIMEOUT_S = 300.0
MAINTENANCE_DATABASE = "postgres"


class LocalPostgres:
    """A cluster whose data, socket and log live in ``<state_dir>/postgres``.

    PostgreSQL refuses to run as root; under root it runs as the system user ``settings.pg_os_user``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir.resolve() / "postgres"
        self.data = self.home / "data"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "logs" / "postgres.log"

    @property
    def address(self) -> str:
        return f"{self.settings.pg_host}:{self.settings.pg_port}"

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
        bin_dir = find_postgres_bin_dir(self.settings.pg_bin_dir)
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
        if port_answers(self.settings.pg_host, self.settings.pg_port):
            raise ServiceFailed(
                f"Port {self.address} is used by another program, not by the PostgreSQL of "
                f"{self.settings.state_dir}: stop that program or choose another MERCADO_PG_PORT."
            )
        bin_dir = find_postgres_bin_dir(self.settings.pg_bin_dir)
        for folder in (self.home, self.socket_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self._hand_over_to_server_user()
        if not (self.data / "PG_VERSION").is_file():
            self._run_as_server_user(
                [
                    str(bin_dir / "initdb"), "-D", str(self.data), "-U", self.settings.pg_user,
                    "--encoding=UTF8", "--locale=C.UTF-8", "--auth=trust",
                ],
                "initdb failed",
            )  # fmt: skip
        server_options = shlex.join(
            [
                "-c", f"listen_addresses={self.settings.pg_host}",
                "-c", f"port={self.settings.pg_port}",
                "-c", f"unix_socket_directories={self.socket_dir}",
            ]
        )  # fmt: skip
        timeout_s = int(self.settings.ready_timeout_s)
        self._run_as_server_user(
            [
                str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file),
                "-o", server_options, "-w", "-t", str(timeout_s), "start",
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
            host=settings.pg_host, port=settings.pg_port, user=settings.pg_user, database=MAINTENANCE_DATABASE
        )
        try:
            exists = await connection.fetchval(
                "select exists (select from pg_database where datname = $1)", settings.pg_database
            )
            if not exists:
                quoted_name = await connection.fetchval("select quote_ident($1)", settings.pg_database)
                await connection.execute(f"create database {quoted_name}")
        finally:
            await connection.close()

    def _server_user(self) -> str | None:
        """The system user to run PostgreSQL as: ``None`` (ourselves) unless we are root."""
        return self.settings.pg_os_user if os.geteuid() == 0 else None

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
                "folders above it traversable (chmod o+x) or set MERCADO_STATE_DIR to another folder."
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
