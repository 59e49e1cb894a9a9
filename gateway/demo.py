"""The demo's last step: ``mercado api`` over the run's database and topics, left running for the user.

Registered as the ``web-api`` entry point of ``mercado.demo`` (steps run in name order: after ``sink``).
The demo makes its own read key: the key goes to ``<state dir>/demo-api-key`` (mode 0600) and its
SHA-256 to a keys file the API reads, so the key itself is never printed or logged; the curl examples
read it from the file. A re-run stops the API an earlier demo started (its pid is in ``demo-api.pid``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rich.console import Console

from gateway.settings import GatewaySettings
from streams.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _stop_earlier(pid_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pid = int(pid_file.read_text())
        os.killpg(pid, signal.SIGTERM)  # our own earlier demo API (its own session: start_new_session)
        for _ in range(50):
            os.killpg(pid, 0)
            time.sleep(0.1)


def run_api_step(settings: Settings, console: Console) -> int:
    state = settings.local.state_dir
    state.mkdir(parents=True, exist_ok=True)
    key_file, keys_file, pid_file = state / "demo-api-key", state / "demo-api-keys.toml", state / "demo-api.pid"
    _stop_earlier(pid_file)
    key = secrets.token_urlsafe(24)
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    keys_file.write_text(f'[[key]]\nname = "demo"\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
                         'roles = ["read"]\n')  # fmt: skip
    gateway = GatewaySettings.extend(settings).gateway
    base = f"http://{gateway.host}:{gateway.port}"
    log = state / "logs" / "demo-api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MERCADO_GATEWAY__KEYS_FILE": str(keys_file)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/v1/system/ping", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                console.print(f"[bold red]the API did not start[/] (log: {log})")
                return 1
            time.sleep(0.2)
    console.print(f"[bold]Mercado API[/] on {base}/api/v1 — OpenAPI docs at {base}/docs, WebSocket push at "
                  f"{base.replace('http', 'ws')}/api/v1/ws (pid {proc.pid}, log {log}; stop it with "
                  f"`kill {proc.pid}`)", highlight=False)  # fmt: skip
    console.print(f"Try: curl -H \"Authorization: Bearer $(cat {key_file})\" {base}/api/v1/marketdata/prices",
                  highlight=False, soft_wrap=True)  # fmt: skip
    return 0
