"""``python -m bench.matching_real``: the retail matcher on real public catalogues with ground truth.

Data: the folder of the setting ``product_matching_data`` (default ``../shared/data/product-matching``
from the project root; ``MERCADO_PRODUCT_MATCHING_DATA`` overrides it). See its README.

* Amazon–GoogleProducts (Leipzig) and Walmart–Amazon (Magellan, JedAI's full tables): both catalogues
  fed as two retailers through the pipeline in-process with the default configuration
  (``streams.commands.retail_evaluate.evaluate``, what ``mercado retail evaluate`` runs): precision,
  recall and F1 of the live cross-retailer matches against the truth, the pairs the matchers scored as a
  fraction of all cross pairs, and listings per CPU second.
* WDC Products (80 % corner cases): the matcher's decision (no veto, score ≥ threshold) on each labelled
  pair of the three test sets (0 / 50 / 100 % of products unseen in training; Mercado is not trained, so
  "unseen" means nothing to it), F1 per split.
* Baseline, measured in the same run on the two catalogue pairs: a hand-written script with the same
  library — fold the titles, block by their first word, one ``rapidfuzz.process.extractOne``
  (``token_set_ratio`` ≥ 80) per left listing against the right listings of its block — so ``ratio``
  (Mercado / baseline, listings per CPU second) is Mercado's cost, and ``baseline_*_f1`` what plain
  fuzzy matching gets.
* Truth audit (figures, not adjustments: F1 stays against the truth as given): the largest one-to-one
  subset of each truth (``*_recall_cap_one_to_one``: the recall a strictly one-to-one decision can reach
  when a retailer lists one product several times), and the declared false positives that look like
  gaps in the truth (``*_fp_outside_truth``: neither listing has any partner in the truth;
  ``*_fp_outside_truth_same``: of those, the two model-number fields are equal — when the retailer gives
  that field — or the folded titles are), and the F1 without those (``*_f1_labelled_listings``: precision
  over the pairs that touch a listing the truth labels; a figure beside the target's, never instead).

Nothing here is tuned per data set: one ``RetailConfig()`` for all. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import networkx as nx
from rapidfuzz import fuzz, process

from bench.common import result
from processors.retail.text import fold
from streams.commands.retail_evaluate import (
    Columns,
    Listing,
    evaluate,
    load_catalogue,
    load_truth,
    read_pairs,
    score_pairs,
)
from streams.config import product_matching_data

AG = "leipzig_amazon_googleproducts"
WA = "magellan_walmart_amazon_jedai"
WDC = "wdc_products_80cc20"
WDC_SPLITS = {
    "seen": "wdcproducts80cc20rnd000un_gs.json.gz",
    "half_unseen": "wdcproducts80cc20rnd050un_gs.json.gz",
    "unseen": "wdcproducts80cc20rnd100un_gs.json.gz",
}


def catalogues(root: Path) -> dict[str, tuple[list[Listing], list[Listing], set[tuple[str, str]]]]:
    ag, wa = root / AG, root / WA
    return {
        "amazon_google": (
            load_catalogue(
                ag / "Amazon.csv", Columns("id", "title", "manufacturer", None, "description", "price"), "latin-1"
            ),
            load_catalogue(
                ag / "GoogleProducts.csv",
                Columns("id", "name", "manufacturer", None, "description", "price"),
                "latin-1",
            ),
            load_truth(ag / "Amzon_GoogleProducts_perfectMapping.csv"),
        ),
        "walmart_amazon": (
            load_catalogue(wa / "walmart.csv", Columns("id", "title", "brand", "modelno", None, "price"), "utf-8", "|"),
            load_catalogue(wa / "amazon.csv", Columns("id", "title", "brand", "modelno", None, "price"), "utf-8", "|"),
            load_truth(wa / "gt.csv", "|"),
        ),
    }


def baseline(left: list[Listing], right: list[Listing], truth: set[tuple[str, str]]) -> dict[str, float]:
    """The hand-written script: first-word blocks, one extractOne per left listing."""
    cpu = time.process_time()
    blocks: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for y in right:
        t = fold(y.title)
        if t:
            blocks[t.split()[0]].append((y.id, t))
    declared: set[tuple[str, str]] = set()
    for x in left:
        t = fold(x.title)
        if not t:
            continue
        pool = blocks.get(t.split()[0])
        if not pool:
            continue
        best = process.extractOne(t, [p[1] for p in pool], scorer=fuzz.token_set_ratio, score_cutoff=80)
        if best is not None:
            declared.add((x.id, pool[best[2]][0]))
    cpu = time.process_time() - cpu
    tp = len(declared & truth)
    p = tp / len(declared) if declared else 0.0
    r = tp / len(truth) if truth else 0.0
    return {"f1": 2 * p * r / (p + r) if p + r else 0.0, "cpu_rate": (len(left) + len(right)) / cpu if cpu else 0.0}


def recall_cap_one_to_one(truth: set[tuple[str, str]]) -> float:
    """The recall of the largest one-to-one subset of ``truth`` (a maximum bipartite matching: networkx's
    Hopcroft-Karp), the most a decision that gives each listing at most one partner can reach."""
    if not truth:
        return 0.0
    g = nx.Graph()
    lefts = {("l", a) for a, _ in truth}
    g.add_edges_from((("l", a), ("r", b)) for a, b in truth)
    pairs = nx.bipartite.hopcroft_karp_matching(g, top_nodes=lefts)
    return sum(1 for n in pairs if n in lefts) / len(truth)


def _code(text: str | None) -> str:
    """A model-number field compared as written, ignoring case, spaces and punctuation."""
    return "".join(c for c in fold(text or "") if c.isalnum())


def truth_gaps(
    false_positives: list[tuple[str, str]],
    truth: set[tuple[str, str]],
    left: dict[str, Listing],
    right: dict[str, Listing],
) -> tuple[int, int]:
    """(declared false positives whose two listings both have no partner in the truth, those of them whose
    model-number fields are equal — both given, at least four characters once folded — or whose folded
    titles are equal): pairs the truth may be missing, counted, never credited."""
    in_left, in_right = {a for a, _ in truth}, {b for _, b in truth}  # (the two sides' ids may overlap)
    outside = same = 0
    for a, b in false_positives:
        if a in in_left or b in in_right:
            continue
        outside += 1
        x, y = left[a], right[b]
        cx, cy = _code(x.model_number), _code(y.model_number)
        if (len(cx) >= 4 and cx == cy) or fold(x.title) == fold(y.title):
            same += 1
    return outside, same


def f1_on_labelled_listings(true_positives: int, false_positives: int, outside: int, truth: int) -> float:
    """F1 when the declared false positives that pair two listings without any partner in the truth
    (``outside``, see :func:`truth_gaps`) are left out: precision over the pairs the truth says something
    about, recall unchanged. A figure beside the F1 against the truth as given (the target's), for a truth
    that labels only part of its catalogues; never the headline."""
    declared = true_positives + false_positives - outside
    p = true_positives / declared if declared else 0.0
    r = true_positives / truth if truth else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def same_code_outside_truth(left: list[Listing], right: list[Listing], truth: set[tuple[str, str]]) -> int:
    """Cross pairs whose model-number fields are equal (at least four characters once folded) and neither
    of whose listings has a partner in the truth: the candidates the truth says nothing about."""
    in_left, in_right = {a for a, _ in truth}, {b for _, b in truth}
    by_code: dict[str, int] = defaultdict(int)
    for y in right:
        c = _code(y.model_number)
        if len(c) >= 4 and y.id not in in_right:
            by_code[c] += 1
    return sum(by_code.get(c, 0) for x in left if x.id not in in_left and len(c := _code(x.model_number)) >= 4)


def fn_causes(false_negatives: list[dict[str, object]], truth: set[tuple[str, str]]) -> dict[str, int]:
    """The missed true pairs by cause (``evaluate``'s ``cause``), a pair lost in the one-to-one choice by what
    it lost to: ``lost_to_duplicate`` (a listing is matched to another of its own true partners: the truth
    lists one product several times), ``lost_to_other_true_pair`` (to a true partner of another listing: a
    scoring error), ``lost_to_pair_outside_truth`` (to a listing with no partner in the truth), or
    ``lost_no_decision`` (neither listing is matched: no mutual choice)."""
    left_of: dict[str, set[str]] = defaultdict(set)
    right_of: dict[str, set[str]] = defaultdict(set)
    for a, b in truth:
        left_of[a].add(b)
        right_of[b].add(a)
    out: dict[str, int] = defaultdict(int)
    for f in false_negatives:
        cause = str(f["cause"])
        if cause == "lost_one_to_one":
            a, b = str(f["left_id"]), str(f["right_id"])
            won_a, won_b = list(f["left_matched_to"]), list(f["right_matched_to"])  # type: ignore[call-overload]
            if any(w in left_of[a] for w in won_a) or any(w in right_of[b] for w in won_b):
                cause = "lost_to_duplicate"
            elif any(w in right_of for w in won_a) or any(w in left_of for w in won_b):
                cause = "lost_to_other_true_pair"
            elif won_a or won_b:
                cause = "lost_to_pair_outside_truth"
            else:
                cause = "lost_no_decision"
        out[cause] += 1
    return dict(sorted(out.items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None, help="Default: the product_matching_data setting.")
    args = parser.parse_args()
    root = args.data or product_matching_data()
    missing = [str(root / d) for d in (AG, WA, WDC) if not (root / d).is_dir()]
    if missing:
        print(f"missing data folder(s): {', '.join(missing)} (set MERCADO_PRODUCT_MATCHING_DATA)", file=sys.stderr)
        raise SystemExit(2)
    figures: dict[str, object] = {}
    listings = cpu = 0.0
    base_listings = base_cpu = 0.0
    fractions = []
    for name, (left, right, truth) in catalogues(root).items():
        b = baseline(left, right, truth)
        ev = evaluate(left, right, truth)
        print(
            f"{name}: {len(left):,} x {len(right):,}, {ev.truth:,} true pairs: P={ev.precision:.3f} "
            f"R={ev.recall:.3f} F1={ev.f1:.3f} ({ev.declared:,} declared); comparisons {ev.comparisons:,} = "
            f"{100 * ev.comparisons_fraction:.3f} % of cross pairs; {ev.listings_per_cpu_s:,.0f} listings per CPU "
            f"second; baseline F1={b['f1']:.3f} at {b['cpu_rate']:,.0f} listings per CPU second"
        )
        figures.update(
            {
                f"{name}_f1": round(ev.f1, 4),
                f"{name}_precision": round(ev.precision, 4),
                f"{name}_recall": round(ev.recall, 4),
                f"{name}_comparisons_fraction": round(ev.comparisons_fraction, 6),
                f"baseline_{name}_f1": round(b["f1"], 4),
            }
        )
        cap = recall_cap_one_to_one(truth)
        fps = [(f["left_id"], f["right_id"]) for f in ev.false_positives]
        outside, same = truth_gaps(fps, truth, {x.id: x for x in left}, {x.id: x for x in right})
        codes = same_code_outside_truth(left, right, truth)
        causes = fn_causes(ev.false_negatives, truth)
        labelled = f1_on_labelled_listings(ev.true_positives, len(fps), outside, ev.truth)
        print(
            f"{name} truth audit: largest one-to-one subset of the truth = recall cap {cap:.3f}; of "
            f"{len(fps):,} false positives, {outside:,} pair two listings with no partner in the truth, "
            f"{same:,} of them with equal model-number fields or equal titles; {codes:,} cross pairs outside "
            "the truth have equal model-number fields"
        )
        print(f"{name} F1 leaving out the false positives between two listings the truth never labels: {labelled:.3f}")
        print(f"{name} false negatives ({len(ev.false_negatives):,}) by cause: {causes}")
        figures.update(
            {
                f"{name}_recall_cap_one_to_one": round(cap, 4),
                f"{name}_false_positives": len(fps),
                f"{name}_fp_outside_truth": outside,
                f"{name}_fp_outside_truth_same": same,
                f"{name}_f1_labelled_listings": round(labelled, 4),
                f"{name}_same_model_number_outside_truth": codes,
                f"{name}_false_negatives_by_cause": causes,
            }
        )
        fractions.append(ev.comparisons_fraction)
        listings += ev.listings
        cpu += ev.cpu_seconds
        base_listings += len(left) + len(right)
        base_cpu += (len(left) + len(right)) / b["cpu_rate"] if b["cpu_rate"] else 0.0
    wdc = {}
    for split, file in WDC_SPLITS.items():
        s = score_pairs(read_pairs(root / WDC / file))
        wdc[split] = round(s.f1, 4)
        print(f"wdc {split} ({file}): {s.pairs:,} pairs: P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}")
    value = listings / cpu if cpu else 0.0
    base_value = base_listings / base_cpu if base_cpu else 0.0
    result(
        "retail_matching_real",
        value,
        base_value,
        "listings/cpu-s",
        amazon_google_f1=figures["amazon_google_f1"],
        walmart_amazon_f1=figures["walmart_amazon_f1"],
        wdc_f1=round(sum(wdc.values()) / len(wdc), 4),
        wdc_f1_per_split=wdc,
        comparisons_fraction=round(max(fractions), 6),
        **{k: v for k, v in figures.items() if k not in ("amazon_google_f1", "walmart_amazon_f1")},
        targets={"amazon_google_f1": 0.70, "walmart_amazon_f1": 0.85, "comparisons_fraction": 0.01},
    )


if __name__ == "__main__":
    main()
