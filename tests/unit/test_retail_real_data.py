"""The matcher on a sample of real public catalogues (skipped, naming the folder, when the data is absent),
``mercado retail evaluate`` on a tiny hand-made pair of catalogues, and a guard against rules keyed to one
data set: ``processors/`` must not name any of them.

The floors sit below the figures measured on these samples (recorded in BENCHMARKS.md), so a change
that breaks real-catalogue matching fails here, not only in the benchmark.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.commands.cli import app
from streams.commands.retail_evaluate import Columns, evaluate, load_catalogue, load_truth, read_pairs, score_pairs
from streams.config import product_matching_data

ROOT = Path(__file__).resolve().parents[2]
DATA = product_matching_data()
WA = DATA / "magellan_walmart_amazon_jedai"
AG = DATA / "leipzig_amazon_googleproducts"
WDC = DATA / "wdc_products_80cc20"


def _need(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"real product-matching data not found: {folder} (set MERCADO_PRODUCT_MATCHING_DATA)")


def _sample(left_all, right_all, truth, pairs: int, extra_left: int, extra_right: int):  # type: ignore[no-untyped-def]
    """The listings of the first ``pairs`` true pairs (in file order) plus the first listings of each
    catalogue that are in no true pair: a small catalogue pair with real distractors."""
    chosen = sorted(truth)[:pairs]
    left_ids = {a for a, _ in chosen}
    right_ids = {b for _, b in chosen}
    in_truth_left = {a for a, _ in truth}
    in_truth_right = {b for _, b in truth}
    left = [x for x in left_all if x.id in left_ids]
    left += [x for x in left_all if x.id not in in_truth_left][:extra_left]
    right = [y for y in right_all if y.id in right_ids]
    right += [y for y in right_all if y.id not in in_truth_right][:extra_right]
    return left, right, set(chosen)


def _evaluate_sample(
    folder: Path,
    left: str,
    right: str,
    truth: str,
    cols: tuple[Columns, Columns],
    encoding: str,
    sep: str,
    sizes: tuple[int, int, int],
):  # type: ignore[no-untyped-def]
    _need(folder)
    left_all = load_catalogue(folder / left, cols[0], encoding, sep)
    right_all = load_catalogue(folder / right, cols[1], encoding, sep)
    return evaluate(*_sample(left_all, right_all, load_truth(folder / truth, sep), *sizes))


def test_walmart_amazon_sample_floor() -> None:
    cols = Columns("id", "title", "brand", "modelno", None, "price")
    ev = _evaluate_sample(WA, "walmart.csv", "amazon.csv", "gt.csv", (cols, cols), "utf-8", "|", (200, 100, 1500))
    # measured: P 0.988, R 0.830, 0.92 % of cross pairs compared
    assert ev.recall >= 0.70
    assert ev.precision >= 0.90
    # (a small sample has few cross pairs: the fraction is larger than on the whole catalogues, 0.17 %)
    assert ev.comparisons_fraction <= 0.02


def test_amazon_google_sample_floor() -> None:
    cols = (
        Columns("id", "title", "manufacturer", None, "description", "price"),
        Columns("id", "name", "manufacturer", None, None, "price"),
    )
    ev = _evaluate_sample(
        AG,
        "Amazon.csv",
        "GoogleProducts.csv",
        "Amzon_GoogleProducts_perfectMapping.csv",
        cols,
        "latin-1",
        ",",
        (200, 100, 600),
    )
    # measured: P 0.689, R 0.310, 1.41 % of cross pairs compared
    assert ev.recall >= 0.25
    assert ev.precision >= 0.60
    # (a small sample has few cross pairs: the fraction is larger than on the whole catalogues, 0.65 %)
    assert ev.comparisons_fraction <= 0.02


def test_wdc_unseen_pairs_floor() -> None:
    _need(WDC)
    s = score_pairs(read_pairs(WDC / "wdcproducts80cc20rnd100un_gs.json.gz")[:1500])  # measured: F1 0.49
    assert s.f1 >= 0.40


# --------------------------------------------------------------------------- the command
def _evaluate(left: Path, right: Path, truth: Path, *options: str):  # type: ignore[no-untyped-def]
    args = ["retail", "evaluate", "--left", str(left), "--right", str(right), "--truth", str(truth), *options]
    return CliRunner().invoke(app, args)


def test_evaluate_command_on_two_small_catalogues(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "sku;name;maker;mpn\n"
        "a1;Sony WH-1000XM5 Wireless Headphones Black;Sony;WH-1000XM5\n"
        "a2;Koss EQ50 3-Band Stereo Equalizer;Koss;\n"
        "a3;Funda para iPhone 15 Negra;;\n",
        encoding="latin-1",
    )
    (tmp_path / "b.csv").write_text(
        "sku;name;maker;mpn\n"
        "b1;Audífonos Bluetooth Sony WH 1000XM5 Negro;Sony;\n"
        "b2;Stereo Equalizer EQ50 by Koss;;\n"
        "b3;Apple iPhone 15 128GB Negro;Apple;\n",
        encoding="latin-1",
    )
    (tmp_path / "t.csv").write_text("left;right\na1;b1\na2;b2\n", encoding="utf-8")
    out = tmp_path / "out"
    result = _evaluate(
        tmp_path / "a.csv",
        tmp_path / "b.csv",
        tmp_path / "t.csv",
        *("--id", "sku", "--title", "name", "--brand", "maker", "--model-number", "mpn"),
        *("--encoding", "latin-1", "--separator", ";", "--out", str(out)),
    )
    assert result.exit_code == 0, result.output
    assert "precision 1.000  recall 1.000  F1 1.000" in result.output
    assert (out / "false_positives.jsonl").read_text() == ""
    assert (out / "false_negatives.jsonl").read_text() == ""


def test_evaluate_command_names_a_missing_column(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,title\n1,x\n")
    (tmp_path / "t.csv").write_text("l,r\n")
    result = _evaluate(tmp_path / "a.csv", tmp_path / "a.csv", tmp_path / "t.csv", "--title", "name")
    assert result.exit_code == 1
    assert "no column 'name'" in result.output


# --------------------------------------------------------------------------- one configuration for all
DATA_SET_NAMES = re.compile(
    r"leipzig|magellan|walmart|googleproducts|amazon.?google|wdc|webdatacommons|jedai|abt.?buy|dblp|"
    r"wdcproducts|corleone|deepmatcher",
    re.IGNORECASE,
)


def test_processors_name_no_data_set() -> None:
    hits = []
    for path in sorted((ROOT / "processors").rglob("*")):
        # code and data files (the README names the data sets when it reports their failure modes)
        if path.is_file() and path.suffix in {".py", ".toml", ".json", ".txt", ".csv"}:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if DATA_SET_NAMES.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == [], "rules or words keyed to a benchmark data set:\n" + "\n".join(hits)
