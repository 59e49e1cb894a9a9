"""``python -m bench.faust_noop``: the ceiling of faust's per-message path on this machine.

A faust-streaming app configured as ``mercado worker --engine faust`` is (raw bytes, exactly-once, one
changelog-backed table, ``stream.take_events(2000, within=0.05)``), but whose agent does nothing with
the events, consumes the same generated day as ``bench.marketdata_live``. It runs pinned to one core
beside the same raw confluent-kafka loop (consume + fastavro decode + encode + produce). ``value`` is
the no-op agent's steady rate (measured like the worker's there: committed offsets polled every
0.1 s), ``baseline`` the raw loop's, so ``ratio`` bounds what any faust agent can reach against that
baseline however little it does per event. (``python -m bench.marketdata_live --engine faust`` measures
the real faust worker.)

The last line is the JSON result; progress goes to stderr. Needs the services of ``mercado up``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from bench.common import result
from bench.marketdata_live import Run, check_services, log, logged_baseline, produce_day, worker_throughput
from streams.config import get_settings

APP = '''
import os
import faust

prefix = os.environ["MERCADO_KAFKA__TOPIC_PREFIX"]
app = faust.App(
    f"{prefix}mercado-marketdata", broker="kafka://" + os.environ["BENCH_BOOTSTRAP"], store="memory://",
    processing_guarantee="exactly_once", topic_replication_factor=1, topic_partitions=3,
    table_standby_replicas=0, web_enabled=False, consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.1, stream_wait_empty=True, datadir=os.environ["BENCH_DATADIR"],
    key_serializer="raw", value_serializer="raw",
)
raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
source = app.topic(f"{prefix}md.ticks.v1", **raw)
state = app.Table("noop-state", partitions=3, key_type=bytes, value_type=bytes, use_partitioner=True)


@app.agent(source)
async def noop(stream):
    async for events in stream.take_events(2000, within=0.05):
        pass


if __name__ == "__main__":
    faust.Worker(app, loglevel="warn", quiet=True).execute_from_commandline()
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--day", default="2026-11-20")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    settings = get_settings()
    check_services(settings)
    run = Run(settings, keep_topics=False)
    app_file = settings.local.state_dir / "bench-faust-noop-app.py"
    app_file.parent.mkdir(parents=True, exist_ok=True)
    app_file.write_text(APP)

    def start_noop(s, env):  # noqa: ANN001, ANN202 - Run.start_worker's signature
        cmd = ["taskset", "-c", str(run.worker_core), sys.executable, str(app_file), "worker"]
        full_env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix, "BENCH_BOOTSTRAP": s.bootstrap(),
                    "BENCH_DATADIR": str(s.local.state_dir / "faust"), **env}
        with run.log_path.open("ab") as log_file:
            proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=log_file,
                                    start_new_session=True)
        run.procs.append(proc)
        return proc

    run.start_worker = start_noop  # type: ignore[method-assign]
    try:
        s = run.phase("noop")
        total = produce_day(s, args.ticks, args.seed, dt.date.fromisoformat(args.day))
        b, b_cpu = logged_baseline(run, s, total)
        log(f"no-op faust agent on core {run.worker_core}…")
        w = worker_throughput(run, s, total, args.timeout)
        log(f"  {w['value']:,.0f} ticks/s steady ({w['value_cpu']:,.0f} per CPU-s)")
    finally:
        run.cleanup()
        Path(app_file).unlink(missing_ok=True)
    result("faust_noop", w["value"], b, "ticks/s", value_cpu=round(w["value_cpu"]), baseline_cpu=round(b_cpu),
           ratio_cpu=round(w["value_cpu"] / b_cpu, 3), ticks=total)


if __name__ == "__main__":
    main()
