"""Detached server processes: spawning, pid files, liveness, graceful termination, TCP reachability."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from infra.errors import ServiceFailed

_POLL_INTERVAL_S = 0.1


def spawn_detached(argv: Sequence[str], output_file: Path) -> int:
    """Start ``argv`` (``argv[0]`` an absolute path) in a new session and return its pid.

    stdout and stderr are appended to ``output_file``. ``posix_spawn`` keeps no handle on the child,
    so nothing in this process ever waits for it; ``is_alive`` reaps it once it has exited.
    """
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return os.posix_spawn(
            argv[0],
            list(argv),
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, output, 1),
                (os.POSIX_SPAWN_DUP2, output, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(output)


def read_pid(pid_file: Path) -> int | None:
    """The pid on the first line of ``pid_file`` (a PostgreSQL ``postmaster.pid`` works too)."""
    try:
        first_line = pid_file.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first_line) if first_line.strip().isdigit() else None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid}\n")


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (an exited child of ours is reaped, not counted as alive)."""
    try:
        reaped_pid, _ = os.waitpid(pid, os.WNOHANG)
        if reaped_pid == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel below
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state_letter(pid) not in {"Z", "X", None}


def _state_letter(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


def command_line(pid: int) -> list[str]:
    """The argv of a running process, or ``[]`` when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def wait_until_exited(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL_S)
    return True


def terminate(pid: int, grace_s: float, first_signal: signal.Signals = signal.SIGTERM) -> None:
    """Send ``first_signal``, wait up to ``grace_s`` for the exit, then SIGKILL; fail if it still lives."""
    for sig, timeout_s in ((first_signal, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_until_exited(pid, timeout_s):
            return
    raise ServiceFailed(f"Process {pid} did not exit even after SIGKILL.")


def stop_group(proc: subprocess.Popen, grace_s: float = 30.0) -> int | None:
    """Stops a child started with ``start_new_session=True`` and everything it started: SIGTERM to its
    process group, SIGKILL after ``grace_s``. Returns its exit code."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass
    return proc.poll()


def port_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def last_lines(path: Path, count: int = 15) -> str:
    """The end of a log file, for error messages (empty when the file does not exist)."""
    try:
        return last_lines_of(path.read_text(errors="replace"), count)
    except OSError:
        return ""


def last_lines_of(text: str, count: int = 15) -> str:
    return "\n".join(text.splitlines()[-count:])


def run_tool(command: Sequence[str], failure: str, cwd: Path, timeout_s: float) -> str:
    """Run a command to completion and return its stdout; on failure raise ``failure`` plus its output."""
    try:
        finished = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise ServiceFailed(f"{failure}: `{shlex.join(command)}` ran over {timeout_s:.0f} s.") from error
    if finished.returncode != 0:
        output = last_lines_of((finished.stdout + finished.stderr).strip())
        raise ServiceFailed(f"{failure} (exit {finished.returncode}): `{shlex.join(command)}`\n{output}")
    return finished.stdout
