"""``mercado worker`` as a child process of a test: the one way the integration tests start one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streams.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: Settings, pipeline: str, engine: str = "native", extra_env: dict[str, str] | None = None,
                 log: Path | None = None) -> subprocess.Popen:
    """``mercado worker --pipeline <pipeline>`` on the settings' topic prefix, in a process group of its own
    (so a test can ``kill -9`` it whole), with the pipelines' sections of ``settings`` (a test's risk or
    recommendations configuration) and its stderr appended to ``log`` (default ``.mercado/worker-test.log``)."""
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MERCADO_METRICS__PORT_WORKER": "0", "MERCADO_WORKER__ENGINE": engine,
           "MERCADO_RISK": settings.risk.model_dump_json(),
           "MERCADO_RECOMMENDATIONS": settings.recommendations.model_dump_json(),
           "MERCADO_PAPER": settings.paper.model_dump_json(), **(extra_env or {})}
    log = log or ROOT / ".mercado" / "worker-test.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as err:
        return subprocess.Popen([sys.executable, "-m", "streams.commands.cli", "worker", "--pipeline", pipeline],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
