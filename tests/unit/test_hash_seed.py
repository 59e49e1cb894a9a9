"""Every pipeline's replay is independent of Python's hash seed: the outputs (every topic, every event: key,
record type, timestamp, Avro bytes, in production order) and every key's saved state (the changelog's
JSON, key order included) are the same in processes with different ``PYTHONHASHSEED`` values.

String hashing is randomized per process, and the live worker, the replay and a restarted worker are
different processes: a decision taken in set or dict iteration order of strings (a one-to-one winner among
equal scores, the order of a key's events, an event id, a snapshot's contents) would make a replay differ
from what production said. The live = replay tests cannot see that: their two runs may share a seed, and
some compare outputs sorted. Here three child processes (seeds 0 — no randomization —, 1 and 2) each
replay every pipeline over slices of a generated day (``tests/support/replay_dump.py``), and the retail
pipeline over the Amazon-GoogleProducts catalogues when the real data is there. Two more processes restore
the state another seed's process saved halfway and replay the rest, as a worker restarted on another
machine would: the outputs of both halves and the final state must be the uninterrupted replay's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from processors import topics
from streams.config import product_matching_data
from tests.support.replay_dump import PIPELINES, REAL, write_slice

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ("0", "1", "2")
RESUMES = {"2": "1", "1": "2"}  # a child of this seed resumes from the state saved by the child of that one
REAL_DATA = product_matching_data() / "leipzig_amazon_googleproducts"
# Slices of the generated day (seed 42, 2026-11-20): the crypto crash (16:32-16:52 UTC), the USD/COP feed gap
# (16:21-16:24) and the drawdown cut (16:59) for ticks, orders and venue health; the US pre-market and the
# regular open (14:30 UTC) for the scanner; the whole retail day.
TRADING = ("2026-11-20T16:00:00", "2026-11-20T17:10:00")
WINDOWS: dict[str, tuple[str, str] | None] = {
    topics.TICKS: TRADING,
    topics.ORDERS: TRADING,
    topics.VENUE_HEALTH: TRADING,
    topics.SCAN_SNAPSHOTS: ("2026-11-20T14:00:00", "2026-11-20T14:50:00"),
    topics.LISTINGS: None,
}
# (output topic, record type) each pipeline's dump must hold: a slice that produced nothing proves nothing
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "marketdata": {(topics.BARS, "Bar"), (topics.GAPS, "Gap"), (topics.MD_ALERTS, "Alert"),
                   (topics.QUALITY, "DataQuality")},
    "retail": {(topics.MATCHES, "ProductMatch"), (topics.OPPORTUNITIES, "ArbitrageOpportunity"),
               (topics.GLITCHES, "PriceGlitch")},
    "risk": {(topics.DECISIONS, "OrderApproved"), (topics.DECISIONS, "OrderRejected"),
             (topics.BREAKERS, "BreakerTransition"), (topics.POSITIONS, "PositionUpdate")},
    "scanner": {(topics.SCAN_RESULTS, "ScanResult"), (topics.SCAN_RESULTS, "tombstone"),
                (topics.SCAN_DELTAS, "ScanDelta"), (topics.SCAN_ALERTS, "ScanAlert")},
    "recommendations": {(topics.RECOMMENDATIONS, "Recommendation"), (topics.JOB_RUNS, "JobRun")},
    "venue-paper": {(topics.ORDERS, "OrderAccepted"), (topics.ORDERS, "OrderFilled")},
    REAL: {(topics.MATCHES, "ProductMatch")},
}


def _children(commands: dict[str, list[str]]) -> None:
    """Runs ``python -m tests.support.replay_dump <args>`` per seed, side by side, with that hash seed."""
    children = {}
    for seed, args in commands.items():
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        children[seed] = subprocess.Popen([sys.executable, "-m", "tests.support.replay_dump", *args], cwd=ROOT,
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for seed, child in children.items():
        out, _ = child.communicate(timeout=600)
        assert child.returncode == 0, f"replay_dump {commands[seed][0]} with PYTHONHASHSEED={seed} failed:\n" + (
            out.decode()[-3000:])


@pytest.fixture(scope="module")
def dumps(generated_days: Callable[..., tuple[Path, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """seed -> the folder of that child's dumps; ``resumed-<seed>``: a child with that seed that resumed from
    the state :data:`RESUMES` names."""
    day_dir, _ = generated_days(42, date(2026, 11, 20))
    base = tmp_path_factory.mktemp("hash-seed")
    data = str(base / "slice")
    write_slice(day_dir, base / "slice", WINDOWS)
    real = [str(REAL_DATA.parent)] if REAL_DATA.is_dir() else []
    _children({seed: ["run", data, str(base / seed), *real] for seed in SEEDS})
    _children({seed: ["resume", data, str(base / saved), str(base / f"resumed-{seed}")]
               for seed, saved in RESUMES.items()})
    return {name: base / name for name in (*SEEDS, *(f"resumed-{seed}" for seed in RESUMES))}


def test_the_children_hashed_strings_differently(dumps: dict[str, Path]) -> None:
    hashes = {seed: (dumps[seed] / "hash.txt").read_text() for seed in SEEDS}
    assert len(set(hashes.values())) == len(SEEDS), hashes
    assert all((dumps[f"resumed-{seed}"] / "hash.txt").read_text() == hashes[seed] for seed in RESUMES)


def _first_difference(a: list[bytes], b: list[bytes]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            j = next((j for j, (u, v) in enumerate(zip(x, y, strict=False)) if u != v), min(len(x), len(y)))
            return (f"line {i + 1} of {len(a)}, byte {j}:\n  {x[:120]!r}\n  ...{x[max(0, j - 150):j + 150]!r}"
                    f"\n  ...{y[max(0, j - 150):j + 150]!r}")
    return f"one dump is a prefix of the other ({len(a)} vs {len(b)} lines)"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _same(pipeline: str, what: str, expected: list[bytes], got: list[bytes]) -> None:
    if got != expected:  # (not assert ==: pytest would print both dumps)
        pytest.fail(f"{pipeline}: {what} differs from PYTHONHASHSEED={SEEDS[0]}'s replay at "
                    + _first_difference(expected, got))


@pytest.mark.parametrize("pipeline", [*PIPELINES, REAL])
def test_replay_is_the_same_whatever_the_hash_seed(dumps: dict[str, Path], pipeline: str) -> None:
    if pipeline == REAL and not REAL_DATA.is_dir():
        pytest.skip(f"real product-matching data not found: {REAL_DATA} (set MERCADO_PRODUCT_MATCHING_DATA)")
    lines = {seed: _lines(dumps[seed] / f"{pipeline}.jsonl") for seed in SEEDS}
    first = lines[SEEDS[0]]
    kinds = {tuple(orjson.loads(line)[1:4:2]) for line in first if line.startswith(b'["out"')}
    assert EXPECTED[pipeline] <= kinds, f"{pipeline}: the slice produced none of {EXPECTED[pipeline] - kinds}"
    assert any(line.startswith(b'["state"') for line in first)
    for seed in SEEDS[1:]:
        _same(pipeline, f"PYTHONHASHSEED={seed}", first, lines[seed])


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_worker_restarted_with_another_hash_seed_goes_on_as_the_replay(dumps: dict[str, Path], pipeline: str,
                                                                         ) -> None:
    """The state saved halfway by one process, restored by a process of another seed that replays the rest:
    the outputs of both halves and the final state are the uninterrupted replay's."""
    straight = _lines(dumps[SEEDS[0]] / f"{pipeline}.jsonl")
    for seed, saved in RESUMES.items():
        before = _lines(dumps[saved] / f"{pipeline}.half.jsonl")
        after = _lines(dumps[f"resumed-{seed}"] / f"{pipeline}.resumed.jsonl")
        assert before and any(line.startswith(b'["out"') for line in after)
        _same(pipeline, f"saved by PYTHONHASHSEED={saved}, resumed by {seed}", straight, before + after)
