"""The generator's submissions-only order flow (``generate_day(..., order_flow="submissions")``, ``mercado
generate --order-flow submissions``): only OrderSubmitted events, exactly the lifecycle day's, byte for byte,
the same bytes for the same seed in another interpreter; every other file unchanged."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from processors import topics
from streams.generator import ORDER_FLOWS, Manifest, generate_day

ROOT = Path(__file__).resolve().parents[2]
SEED = 42
DAY = dt.date(2026, 11, 20)
ORDERS_FILE = f"{topics.ORDERS}.jsonl"
DOMAINS = ("crypto", "orders")


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory, generated_days) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("order-flow")
    code = (
        "import sys, datetime, pathlib\n"
        "from streams.generator import generate_day\n"
        "generate_day(pathlib.Path(sys.argv[1]), 42, datetime.date(2026, 11, 20), domains=('crypto', 'orders'),"
        " order_flow='submissions')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "1234"}
    spawned = subprocess.Popen([sys.executable, "-c", code, str(root / "again")], env=env, cwd=ROOT)
    generate_day(root / "submissions", SEED, DAY, domains=DOMAINS, order_flow="submissions")
    lifecycle = generated_days(SEED, DAY, DOMAINS)[0]  # tests/conftest.py: made once per session, shared
    assert spawned.wait(120) == 0
    return {"submissions": root / "submissions", "again": root / "again", "lifecycle": lifecycle}


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_only_submissions_exactly_the_lifecycle_days(days: dict[str, Path]) -> None:
    submitted = lines(days["submissions"] / ORDERS_FILE)
    lifecycle = lines(days["lifecycle"] / ORDERS_FILE)
    types = {orjson.loads(line)["type"] for line in lifecycle}
    assert types == {"OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled"}
    assert submitted == [line for line in lifecycle if orjson.loads(line)["type"] == "OrderSubmitted"]
    assert len(submitted) > 2_000
    records = [orjson.loads(line) for line in submitted]
    assert {r["type"] for r in records} == {"OrderSubmitted"}
    assert {r["order_type"] for r in records} == {"LIMIT", "MARKET"}  # the quotes and the drawdown cut
    assert len({r["client_order_id"] for r in records}) == len(records)


def test_same_seed_same_bytes_in_another_interpreter(days: dict[str, Path]) -> None:
    for name in (ORDERS_FILE, f"{topics.TICKS}.jsonl", f"{topics.VENUE_HEALTH}.jsonl", "manifest.json"):
        assert (days["submissions"] / name).read_bytes() == (days["again"] / name).read_bytes(), name


def test_the_other_files_do_not_change_and_the_manifest_says_which_flow(days: dict[str, Path]) -> None:
    for name in (f"{topics.TICKS}.jsonl", f"{topics.VENUE_HEALTH}.jsonl"):
        assert (days["submissions"] / name).read_bytes() == (days["lifecycle"] / name).read_bytes(), name
    submissions, lifecycle = Manifest.read(days["submissions"]), Manifest.read(days["lifecycle"])
    assert submissions.scenario["orders"] == {**lifecycle.scenario["orders"], "order_flow": "submissions"}
    assert "order_flow" not in lifecycle.scenario["orders"]  # a lifecycle day's manifest is as it was
    assert submissions.files[ORDERS_FILE].lines == len(lines(days["submissions"] / ORDERS_FILE))


def test_an_unknown_order_flow_is_refused(tmp_path: Path) -> None:
    assert ORDER_FLOWS == ("lifecycle", "submissions")
    with pytest.raises(ValueError, match="unknown order flow 'fills'; choose from lifecycle, submissions"):
        generate_day(tmp_path, SEED, DAY, domains=DOMAINS, order_flow="fills")
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_the_cli_option(tmp_path: Path) -> None:
    from streams.commands.cli import app

    result = CliRunner().invoke(app, ["generate", str(tmp_path), "--order-flow", "fills"])
    assert result.exit_code != 0
    assert "--order-flow 'fills': choose from lifecycle, submissions" in result.output
