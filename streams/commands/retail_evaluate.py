"""``mercado retail evaluate``: two catalogues and a truth file through the normalizer and the matcher.

Any two catalogues (CSV, any separator and encoding) are fed as two retailers, ``left`` and ``right``
(interleaved in proportion, as two crawls would arrive), through the retail pipeline in-process
(:class:`processors.retail.RetailReplay`, the replay path: the same processors a worker runs). The
live matches at the end are compared with the truth file (two columns: a left id and a right id per
true pair): precision, recall, F1, the pairs the matchers scored as a fraction of all cross pairs, and
listings per second. False positives (with the match's
evidence) and false negatives (with what each side parsed to, whether they shared a block, and the
verdict of the pair) are written as JSON Lines, so a user can see why.

Prices: the pipeline rejects a listing without a positive price; evaluation measures matching only, so a
listing without one is given a nominal price of 1 (its glitch flags do not touch matching).

:func:`load_catalogue`, :func:`evaluate` and :func:`score_pairs` are also what ``bench.matching_real``
runs.
"""

from __future__ import annotations

import csv
import gzip
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

retail_app = typer.Typer(help="Retail matching tools.", no_args_is_help=True)

LEFT, RIGHT = "left", "right"
T0 = 1_756_900_800_000_000
STEP_US = 1_000_000


@dataclass(frozen=True)
class Columns:
    """Column names of a catalogue (``None``: the catalogue has no such column)."""

    id: str = "id"
    title: str = "title"
    brand: str | None = None
    model_number: str | None = None
    description: str | None = None
    price: str | None = None


@dataclass
class Listing:
    id: str
    title: str
    brand: str | None = None
    model_number: str | None = None
    description: str | None = None
    price: float | None = None


@dataclass
class Evaluation:
    precision: float
    recall: float
    f1: float
    true_positives: int
    declared: int
    truth: int
    comparisons: int
    cross_pairs: int
    listings: int
    seconds: float
    cpu_seconds: float
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    false_negatives: list[dict[str, Any]] = field(default_factory=list)

    @property
    def comparisons_fraction(self) -> float:
        return self.comparisons / self.cross_pairs if self.cross_pairs else 0.0

    @property
    def listings_per_s(self) -> float:
        return self.listings / self.seconds if self.seconds else 0.0

    @property
    def listings_per_cpu_s(self) -> float:
        return self.listings / self.cpu_seconds if self.cpu_seconds else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "declared": self.declared,
            "truth": self.truth,
            "comparisons": self.comparisons,
            "comparisons_fraction": round(self.comparisons_fraction, 6),
            "listings_per_s": round(self.listings_per_s, 1),
            "listings_per_cpu_s": round(self.listings_per_cpu_s, 1),
        }


def _cell(row: dict[str, str], name: str | None) -> str | None:
    if name is None:
        return None
    value = (row.get(name) or "").strip()
    return value or None


def _price(text: str | None) -> float | None:
    if text is None:
        return None
    digits = "".join(c for c in text if c.isdigit() or c == ".")
    try:
        return float(digits) if digits else None
    except ValueError:
        return None


def load_catalogue(path: Path, columns: Columns, encoding: str = "utf-8", separator: str = ",") -> list[Listing]:
    csv.field_size_limit(1 << 30)
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.DictReader(f, delimiter=separator)
        fields = reader.fieldnames or []
        for name in (columns.id, columns.title):
            if name not in fields:
                raise ValueError(f"{path}: no column {name!r} (columns: {', '.join(fields)})")
        out = []
        for row in reader:
            lid, title = _cell(row, columns.id), _cell(row, columns.title)
            if lid is None or title is None:
                continue
            out.append(
                Listing(
                    lid,
                    title,
                    _cell(row, columns.brand if columns.brand in fields else None),
                    _cell(row, columns.model_number if columns.model_number in fields else None),
                    _cell(row, columns.description if columns.description in fields else None),
                    _price(_cell(row, columns.price if columns.price in fields else None)),
                )
            )
    return out


def load_truth(path: Path, separator: str = ",", encoding: str = "utf-8") -> set[tuple[str, str]]:
    """(left id, right id) pairs: the first two columns of the file (a header row is skipped)."""
    with path.open(encoding=encoding, newline="") as f:
        rows = list(csv.reader(f, delimiter=separator))
    return {(r[0].strip(), r[1].strip()) for r in rows[1:] if len(r) >= 2}


def listing_record(retailer: str, x: Listing, t: int) -> dict[str, Any]:
    price = max(1, round(x.price)) if x.price else 1
    return {
        "event_id": f"{retailer}:{x.id}:{t}",
        "event_time": t,
        "retailer": retailer,
        "sku": x.id,
        "name": x.title,
        "brand": x.brand,
        "category": None,
        "url": None,
        "price_normal": price,
        "price_offer": None,
        "price_card": None,
        "rating": None,
        "reviews_count": None,
        "observed_at": t,
        "model_number": x.model_number,
        "description": x.description,
    }


def interleaved_records(left: list[Listing], right: list[Listing]) -> list[dict[str, Any]]:
    """Both catalogues as RetailListings of the retailers ``left`` and ``right``, interleaved in proportion
    as two retailers' crawls would arrive, a second apart."""
    order = sorted(
        [((i + 0.5) / len(left), 0, LEFT, x) for i, x in enumerate(left)]
        + [((i + 0.5) / len(right), 1, RIGHT, x) for i, x in enumerate(right)],
        key=lambda e: (e[0], e[1]),
    )
    return [listing_record(side, x, T0 + i * STEP_US) for i, (_, _, side, x) in enumerate(order)]


def _live_matches(outputs: list[Any]) -> dict[str, dict[str, Any]]:
    live: dict[str, dict[str, Any]] = {}
    for e in outputs:
        if e.schema == "ProductMatch":
            live[e.record["match_id"]] = e.record
        elif e.schema == "ProductMatchRetracted":
            live.pop(e.record["match_id"], None)
    return live


def _pair_of(mid: str) -> tuple[str, str] | None:
    a, _, b = mid.partition("|")
    ra, _, ia = a.partition(":")
    rb, _, ib = b.partition(":")
    if {ra, rb} != {LEFT, RIGHT}:
        return None
    return (ia, ib) if ra == LEFT else (ib, ia)


def evaluate(
    left: list[Listing], right: list[Listing], truth: set[tuple[str, str]], config: Any = None, partitions: int = 1
) -> Evaluation:
    """Feeds ``left`` then ``right`` through the pipeline; scores the live matches against ``truth``."""
    from processors.retail import RetailConfig, RetailReplay
    from processors.retail.attributes import parse_listing
    from processors.retail.blocking import block_keys
    from processors.retail.similarity import evidence, score

    cfg = config or RetailConfig()
    records = interleaved_records(left, right)
    replay = RetailReplay(cfg, partitions)
    cpu, wall = time.process_time(), time.perf_counter()
    outputs = replay.run(records)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    live = _live_matches(outputs)
    declared: dict[tuple[str, str], dict[str, Any]] = {}
    for mid, rec in live.items():
        pair = _pair_of(mid)
        if pair is not None:
            declared[pair] = rec
    tp = len(declared.keys() & truth)
    p = tp / len(declared) if declared else 0.0
    r = tp / len(truth) if truth else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    by_id = {LEFT: {x.id: x for x in left}, RIGHT: {x.id: x for x in right}}

    def parsed(x: Listing) -> Any:
        return parse_listing(x.title, x.brand, None, x.model_number)

    fps = []
    for pair in sorted(declared.keys() - truth):
        rec = declared[pair]
        fps.append(
            {
                "left_id": pair[0],
                "right_id": pair[1],
                "left_title": by_id[LEFT][pair[0]].title,
                "right_title": by_id[RIGHT][pair[1]].title,
                "score": rec["score"],
                "block": rec["block_key"],
                "evidence": rec["evidence"],
            }
        )
    from processors.retail.block_matcher import BlockMatcher
    from processors.retail.blocking import owner_block

    blocks = {p.key: p for rt in replay.runtimes[1] for p in rt.processors.values() if isinstance(p, BlockMatcher)}
    instead: dict[str, list[str]] = {}  # listing key -> the listings it is matched to
    for a_id, b_id in declared:
        instead.setdefault(f"{LEFT}:{a_id}", []).append(b_id)
        instead.setdefault(f"{RIGHT}:{b_id}", []).append(a_id)
    fns = []
    for pair in sorted(truth - declared.keys()):
        x, y = by_id[LEFT].get(pair[0]), by_id[RIGHT].get(pair[1])
        if x is None or y is None:
            continue
        a, b = parsed(x), parsed(y)
        v = score(a, b, cfg.match)
        ka, kb = block_keys(a), block_keys(b)
        shared = sorted(set(ka) & set(kb))
        owner = owner_block(ka, kb)
        lk, rk = f"{LEFT}:{pair[0]}", f"{RIGHT}:{pair[1]}"
        if owner is None:
            cause = "no_block"
        elif v.veto is not None:
            cause = "vetoed"
        elif v.score < cfg.match.threshold:
            cause = "below_threshold"
        elif owner not in blocks or rk not in blocks[owner].edges.get(lk, {}):
            cause = "not_compared"  # a crowded word block compares only pairs sharing other blocks too
        else:
            cause = "lost_one_to_one"
        fns.append(
            {
                "left_id": pair[0],
                "right_id": pair[1],
                "left_title": x.title,
                "right_title": y.title,
                "shared_blocks": shared,
                "cause": cause,
                "left_matched_to": sorted(instead.get(lk, ())),
                "right_matched_to": sorted(instead.get(rk, ())),
                "veto": v.veto,
                "score": v.score,
                "evidence": evidence(a, b, cfg.match) if v.veto is None else None,
                "left": {k: v for k, v in a._asdict().items() if v not in (None, (), "")},
                "right": {k: v for k, v in b._asdict().items() if v not in (None, (), "")},
            }
        )
    return Evaluation(
        precision=p,
        recall=r,
        f1=f1,
        true_positives=tp,
        declared=len(declared),
        truth=len(truth),
        comparisons=replay.comparisons(),
        cross_pairs=len(left) * len(right),
        listings=len(records),
        seconds=wall,
        cpu_seconds=cpu,
        false_positives=fps,
        false_negatives=fns,
    )


# --------------------------------------------------------------------------- labelled pairs
@dataclass
class PairScores:
    precision: float
    recall: float
    f1: float
    pairs: int


def read_pairs(path: Path) -> list[dict[str, Any]]:
    """Labelled offer pairs, JSON Lines (gzip when the name ends in .gz): ``title_left``, ``brand_left``,
    ``description_left``, the same ``_right``, and ``label`` (1 = same product)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_pairs(pairs: list[dict[str, Any]], config: Any = None) -> PairScores:
    """The matcher's decision (no veto and a score at or above the threshold) on each labelled pair."""
    from processors.retail import RetailConfig
    from processors.retail.attributes import parse_listing
    from processors.retail.similarity import score

    cfg = config or RetailConfig()
    tp = fp = fn = 0
    for pr in pairs:
        a = parse_listing(pr.get("title_left") or "", pr.get("brand_left"))
        b = parse_listing(pr.get("title_right") or "", pr.get("brand_right"))
        v = score(a, b, cfg.match)
        said = v.veto is None and v.score >= cfg.match.threshold
        truth = bool(pr.get("label"))
        tp += said and truth
        fp += said and not truth
        fn += truth and not said
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return PairScores(p, r, 2 * p * r / (p + r) if p + r else 0.0, len(pairs))


# --------------------------------------------------------------------------- command
def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=list) + "\n")


@retail_app.command("evaluate")
def evaluate_command(
    left: Path = typer.Option(..., "--left", exists=True, dir_okay=False, help="Left catalogue (CSV)."),
    right: Path = typer.Option(..., "--right", exists=True, dir_okay=False, help="Right catalogue (CSV)."),
    truth: Path = typer.Option(..., "--truth", exists=True, dir_okay=False, help="True pairs: left id, right id."),
    id_col: str = typer.Option("id", "--id", help="Id column (both catalogues)."),
    title_col: str = typer.Option("title", "--title", help="Title column of the left catalogue."),
    right_title_col: str | None = typer.Option(None, "--right-title", help="Title column of the right one."),
    brand_col: str | None = typer.Option(None, "--brand", help="Brand or manufacturer column."),
    model_col: str | None = typer.Option(None, "--model-number", help="Model-number column."),
    description_col: str | None = typer.Option(None, "--description", help="Description column."),
    price_col: str | None = typer.Option(None, "--price", help="Price column."),
    encoding: str = typer.Option("utf-8", "--encoding"),
    separator: str = typer.Option(",", "--separator"),
    truth_separator: str | None = typer.Option(None, "--truth-separator", help="Default: --separator."),
    out_dir: Path = typer.Option(Path("."), "--out", help="Where false_positives/negatives.jsonl go."),
) -> None:
    """Precision, recall and F1 of the matcher on two catalogues and their true pairs."""
    cols = Columns(id_col, title_col, brand_col, model_col, description_col, price_col)
    try:
        a = load_catalogue(left, cols, encoding, separator)
        b = load_catalogue(right, Columns(**{**vars(cols), "title": right_title_col or title_col}), encoding, separator)
        t = load_truth(truth, truth_separator or separator, encoding)
    except (ValueError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    ev = evaluate(a, b, t)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out_dir / "false_positives.jsonl", ev.false_positives)
    _write_jsonl(out_dir / "false_negatives.jsonl", ev.false_negatives)
    typer.echo(
        f"{len(a):,} x {len(b):,} listings, {ev.truth:,} true pairs: "
        f"precision {ev.precision:.3f}  recall {ev.recall:.3f}  F1 {ev.f1:.3f}  "
        f"({ev.declared:,} declared, {ev.true_positives:,} right)\n"
        f"comparisons {ev.comparisons:,} = {100 * ev.comparisons_fraction:.3f} % of {ev.cross_pairs:,} cross pairs; "
        f"{ev.listings_per_s:,.0f} listings/s ({ev.listings_per_cpu_s:,.0f} per CPU second)\n"
        f"false positives / negatives: {out_dir / 'false_positives.jsonl'}, {out_dir / 'false_negatives.jsonl'}"
    )
    typer.echo(json.dumps(ev.summary()))
