"""``python -m bench.learned_scorer``: issue #20's learned-scorer experiment (rejected, BENCHMARKS.md).

Can a small model, trained on ONE labelled set, score pairs better than the hand-weighted
:func:`processors.retail.similarity.score` on every real set? Trained on the WDC Products small training
pairs (80 % corner cases, ``wdcproducts80cc20rnd000un_train_small``: 2,500 offer pairs of thousands of
shops), the regularisation and the decision threshold chosen by F1 on the small validation pairs
(``..._valid_small``). The catalogue pairs (Amazon–GoogleProducts, Walmart–Amazon) and the WDC test pairs
(``_gs``) are never read for training or choice: they are reported with the result, unchanged, as
``bench.matching_real`` reports the hand score (both are measured in the same run).

Model: scikit-learn's ``LogisticRegression`` (lbfgs: same data, same weights) on the standardised features
of :func:`features` — the hand score (0 when a weak veto fired), which weak veto fired, the titles' fuzzy
similarities (rapidfuzz ``token_set_ratio``, ``token_sort_ratio``), the product lines' similarity, code
agreement, brand and model-key agreement, how many attributes both / one side state, model words on one
side, word Jaccard. Its score is the model's probability with the bias shifted so that the chosen threshold
falls on the matcher's own ``MatchConfig.threshold``; the processors are not changed: the experiment
swaps the score function in (``unittest.mock.patch``) for the pipeline (blocking, one-to-one choice,
duplicates) to run as it does with the hand score. Two variants:

* ``weak_weighed`` (the design tried first): the strong vetoes stay hard (:data:`HARD_VETOES`: condition, a
  code conflict, storage, RAM, colour, capacity, processor, screen); the weak ones (accessory, category,
  brand, model key, variant word) are features the model weighs;
* ``all_hard``: every hand veto stays hard; the model only replaces the score of the pairs that pass.

The catalogue pairs carry descriptions and prices that ``ProductAttributes`` (what the matcher keeps per
listing) does not: the features are those the matcher already computes. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from rapidfuzz.fuzz import token_set_ratio, token_sort_ratio
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from processors.retail import RetailConfig
from processors.retail.attributes import ProductAttributes, parse_listing
from processors.retail.config import MatchConfig
from processors.retail.similarity import Verdict, agreeing_code, line_similarity
from processors.retail.similarity import score as hand_score
from streams.commands.retail_evaluate import evaluate, read_pairs, score_pairs
from streams.config import product_matching_data

WDC = "wdc_products_80cc20"
TRAIN = "wdcproducts80cc20rnd000un_train_small.json.gz"
VALID = "wdcproducts80cc20rnd000un_valid_small.json.gz"
#: the regularisation strengths tried (chosen with the threshold on the validation pairs)
CS = (0.01, 0.1, 1.0, 10.0)

#: vetoes the model never overrules: two variants of one model share their titles' words
HARD_VETOES = frozenset(
    {"condition", "model_code", "storage_gb", "ram_gb", "color", "capacity", "cpu", "screen_inches"}
)
#: the hand scorer's weak vetoes: features of the model in ``weak_weighed``, hard in ``all_hard``
WEAK_VETOES = ("accessory", "category", "brand", "model", "variant")
VARIANTS = {"weak_weighed": HARD_VETOES, "all_hard": HARD_VETOES | frozenset(WEAK_VETOES)}

FEATURES = (
    "hand_score",
    *(f"veto_{v}" for v in WEAK_VETOES),
    "title_token_set",
    "title_token_sort",
    "line_similarity",
    "code_agrees",
    "code_one_side",
    "brand_same",
    "brand_differs",
    "brand_one_side",
    "model_same",
    "model_differs",
    "attributes_both",
    "attributes_one_side",
    "model_words_one_side",
    "accessory_one_side",
    "word_jaccard",
)
_ATTRS = ("storage_gb", "ram_gb", "color", "screen_inches", "capacity", "cpu")


def features(
    a: ProductAttributes, b: ProductAttributes, cfg: MatchConfig, hard: frozenset[str] = HARD_VETOES
) -> tuple[str | None, list[float]]:
    """(a hard veto, ``[]``) or (``None``, the pair's features in :data:`FEATURES` order)."""
    v = hand_score(a, b, cfg)
    if v.veto in hard:
        return v.veto, []
    ta, tb = a.normalized_title, b.normalized_title
    wa, wb = set(ta.split()), set(tb.split())
    code = agreeing_code(a, b) if (a.codes or b.codes) else None
    ba, bb, ma, mb = a.brand, b.brand, a.model, b.model
    both = one = 0
    for n in _ATTRS:
        x, y = getattr(a, n), getattr(b, n)
        if x is not None and y is not None:
            both += 1
        elif x is not None or y is not None:
            one += 1
    return None, [
        v.score,
        *(1.0 if v.veto == w else 0.0 for w in WEAK_VETOES),
        token_set_ratio(ta, tb) / 100.0,
        token_sort_ratio(ta, tb) / 100.0,
        line_similarity(a.product_line, b.product_line),
        1.0 if code is not None else 0.0,
        1.0 if code is None and (a.code_key is None) != (b.code_key is None) else 0.0,
        1.0 if ba is not None and ba == bb else 0.0,
        1.0 if ba is not None and bb is not None and ba != bb else 0.0,
        1.0 if (ba is None) != (bb is None) else 0.0,
        1.0 if ma is not None and ma == mb else 0.0,
        1.0 if ma is not None and mb is not None and ma != mb else 0.0,
        float(both),
        float(one),
        float(len(set(a.distinctive) ^ set(b.distinctive))),
        1.0 if a.accessory is not b.accessory else 0.0,
        len(wa & wb) / len(wa | wb) if wa or wb else 0.0,
    ]


def probability(x: list[float], model: dict[str, Any]) -> float:
    z = model["bias"]
    for w, f in zip(model["weights"], x, strict=True):
        z += w * f
    return 1.0 / (1.0 + math.exp(-z))


def scorer(
    model: dict[str, Any], hard: frozenset[str]
) -> Callable[[ProductAttributes, ProductAttributes, MatchConfig], Verdict]:
    """A drop-in for the hand ``score``: a hard veto, or the model's score rounded to six decimals."""

    def learned_score(a: ProductAttributes, b: ProductAttributes, cfg: MatchConfig) -> Verdict:
        veto, x = features(a, b, cfg, hard)
        if veto is not None:
            return Verdict(0.0, veto)
        return Verdict(round(probability(x, model), 6), None)

    return learned_score


def pair_features(path: Path, cfg: MatchConfig, hard: frozenset[str]) -> tuple[list[list[float] | None], list[int]]:
    """Per labelled pair: its features (``None`` when a hard veto rejects it) and its label."""
    xs: list[list[float] | None] = []
    ys: list[int] = []
    for pr in read_pairs(path):
        a = parse_listing(pr.get("title_left") or "", pr.get("brand_left"))
        b = parse_listing(pr.get("title_right") or "", pr.get("brand_right"))
        veto, x = features(a, b, cfg, hard)
        xs.append(None if veto is not None else x)
        ys.append(int(bool(pr.get("label"))))
    return xs, ys


def f1_at(probs: list[float | None], ys: list[int], t: float) -> float:
    tp = fp = fn = 0
    for p, y in zip(probs, ys, strict=True):
        said = p is not None and p >= t
        tp += said and y == 1
        fp += said and y == 0
        fn += (not said) and y == 1
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def fit(root: Path, cfg: MatchConfig, hard: frozenset[str]) -> dict[str, Any]:
    """The model trained on the WDC training pairs, C and threshold chosen on the validation pairs."""
    xs, ys = pair_features(root / WDC / TRAIN, cfg, hard)
    vx, vy = pair_features(root / WDC / VALID, cfg, hard)
    train = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None]
    X = np.array([x for x, _ in train], dtype=float)
    y = np.array([label for _, label in train])
    scaler = StandardScaler().fit(X)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    best: tuple[float, float, float, list[float], float] | None = None
    for c in CS:
        lr = LogisticRegression(C=c, max_iter=10_000).fit((X - scaler.mean_) / scale, y)
        weights = [float(w) for w in lr.coef_[0] / scale]  # the scaling folded into the weights
        bias = float(lr.intercept_[0] - np.dot(lr.coef_[0], scaler.mean_ / scale))
        model = {"weights": weights, "bias": bias}
        probs = [None if x is None else probability(x, model) for x in vx]
        for k in range(5, 96):
            f = f1_at(probs, vy, k / 100)
            if best is None or f > best[0] + 1e-12:
                best = (f, c, k / 100, weights, bias)
    assert best is not None
    f, c, t, weights, bias = best
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return {
        "features": list(FEATURES),
        "weights": [round(w, 9) for w in weights],
        # shifted: probability >= t is score >= the matcher's threshold
        "bias": round(bias - logit(t) + logit(cfg.threshold), 9),
        "C": c,
        "probability_threshold": t,
        "valid_f1": round(f, 4),
    }


def real_figures(root: Path, cfg: RetailConfig) -> dict[str, float]:
    """F1 on the two catalogue pairs (the pipeline, as ``bench.matching_real``) and the three WDC test
    splits, with whatever ``score`` the similarity and block-matcher modules hold."""
    from bench.matching_real import WDC_SPLITS, catalogues

    out: dict[str, float] = {}
    for name, (left, right, truth) in catalogues(root).items():
        ev = evaluate(left, right, truth, cfg)
        out.update({f"{name}_precision": round(ev.precision, 4), f"{name}_recall": round(ev.recall, 4)})
        out[f"{name}_f1"] = round(ev.f1, 4)
    for split, file in WDC_SPLITS.items():
        out[f"wdc_{split}_f1"] = round(score_pairs(read_pairs(root / WDC / file), cfg).f1, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None, help="Default: the product_matching_data setting.")
    args = parser.parse_args()
    root = args.data or product_matching_data()
    if not (root / WDC).is_dir():
        print(f"missing data folder: {root / WDC} (set MERCADO_PRODUCT_MATCHING_DATA)", file=sys.stderr)
        raise SystemExit(2)
    cfg = RetailConfig()
    report: dict[str, Any] = {"hand": real_figures(root, cfg)}
    print("hand", json.dumps(report["hand"]), flush=True)
    for variant, hard in VARIANTS.items():
        model = fit(root, cfg.match, hard)
        learned = scorer(model, hard)
        # the pipeline and score_pairs read ``score`` from these two modules at call time
        with (
            mock.patch("processors.retail.block_matcher.score", learned),
            mock.patch("processors.retail.similarity.score", learned),
        ):
            figures = real_figures(root, cfg)
        report[variant] = {**figures, **{k: model[k] for k in ("C", "probability_threshold", "valid_f1")}}
        print(variant, json.dumps(report[variant]), flush=True)
        for name, w in zip(FEATURES, model["weights"], strict=True):
            print(f"  {name:24s} {w:+.4f}")
        print(f"  {'bias':24s} {model['bias']:+.4f}")
    print(json.dumps({"bench": "retail_learned_scorer", **report}))


if __name__ == "__main__":
    main()
