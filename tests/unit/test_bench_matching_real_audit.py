"""bench.matching_real's truth audit: the one-to-one recall cap and the false positives outside the truth."""

from __future__ import annotations

import pytest

from bench.matching_real import (
    f1_on_labelled_listings,
    fn_causes,
    recall_cap_one_to_one,
    same_code_outside_truth,
    truth_gaps,
)
from streams.commands.retail_evaluate import Listing, evaluate


def test_recall_cap_is_the_largest_one_to_one_subset():
    # l1 has three partners (one product listed three times on the right), l2 shares r1 with l1: the
    # largest one-to-one subset is {l1-r2, l2-r1} (or l1-r3): 2 of 4 pairs
    truth = {("l1", "r1"), ("l1", "r2"), ("l1", "r3"), ("l2", "r1")}
    assert recall_cap_one_to_one(truth) == 0.5
    assert recall_cap_one_to_one({("a", "x"), ("b", "y")}) == 1.0
    assert recall_cap_one_to_one(set()) == 0.0


def test_recall_cap_keeps_the_two_sides_apart():
    # the same id on both sides ("1") is two listings, not one node
    assert recall_cap_one_to_one({("1", "2"), ("2", "1")}) == 1.0


def test_truth_gaps_counts_pairs_of_listings_without_partners():
    left = {
        "1": Listing("1", "Kingston 4GB Flash Drive", model_number="DT-101/4GB"),
        "2": Listing("2", "Acme Widget", model_number=None),
        "3": Listing("3", "Acme Gadget", model_number="AB"),
        "4": Listing("4", "In The Truth", model_number="X1234"),
    }
    right = {
        "1": Listing("1", "Kingston DataTraveler 4 GB", model_number="dt101 4gb"),  # same field once folded
        "2": Listing("2", "ACME  widget", model_number="W-9"),  # same title once folded
        "3": Listing("3", "Acme Gadget Pro", model_number="AB"),  # field too short, titles differ
        "9": Listing("9", "In The Truth", model_number="X1234"),
    }
    truth = {("4", "8"), ("7", "9")}  # "4" on the left and "9" on the right have partners
    fps = [("1", "1"), ("2", "2"), ("3", "3"), ("4", "1"), ("1", "9")]
    assert truth_gaps(fps, truth, left, right) == (3, 2)


def test_same_code_outside_truth_counts_cross_pairs():
    left = [
        Listing("1", "a", model_number="AB-1234"),
        Listing("2", "b", model_number="ab1234"),
        Listing("3", "c", model_number="abc"),
        Listing("4", "d", model_number="ZZ99"),
    ]
    right = [
        Listing("1", "e", model_number="AB 1234"),
        Listing("2", "f", model_number="abc"),
        Listing("3", "g", model_number="ZZ99"),
        Listing("4", "h", model_number=None),
    ]
    # left 4 has a partner in the truth, so ZZ99 does not count; "abc" is too short
    assert same_code_outside_truth(left, right, {("4", "4")}) == 2


def test_fn_causes_names_what_a_lost_pair_lost_to():
    truth = {("a", "x"), ("a", "x2"), ("b", "y"), ("c", "z"), ("d", "w"), ("e", "v"), ("f", "u")}

    def fn(left, right, cause, won_left=(), won_right=()):
        return {
            "left_id": left,
            "right_id": right,
            "cause": cause,
            "left_matched_to": list(won_left),
            "right_matched_to": list(won_right),
        }

    fns = [
        fn("a", "x", "lost_one_to_one", won_left=["x2"]),  # a is matched to its other true partner
        fn("b", "y", "lost_one_to_one", won_right=["c"]),  # y is matched to c, a true partner of z
        fn("d", "w", "lost_one_to_one", won_left=["q"]),  # d is matched to q, nobody's partner
        fn("e", "v", "lost_one_to_one"),  # neither is matched
        fn("f", "u", "no_block"),
        fn("c", "z", "vetoed"),
    ]
    assert fn_causes(fns, truth) == {
        "lost_no_decision": 1,
        "lost_to_duplicate": 1,
        "lost_to_other_true_pair": 1,
        "lost_to_pair_outside_truth": 1,
        "no_block": 1,
        "vetoed": 1,
    }


def test_evaluate_names_each_missed_pairs_cause():
    left = [
        Listing("1", "Sony WH-1000XM5 Wireless Headphones Black"),
        Listing("2", "Samsung Galaxy A15 128GB Black"),
        Listing("3", "Logitech MX Master 3S Mouse"),
    ]
    right = [
        Listing("a", "Sony WH-1000XM5 Wireless Headphones, Black"),
        Listing("b", "Samsung Galaxy A15 128GB Blue"),
        Listing("c", "Garden hose 20m green"),
        Listing("d", "Sony WH-1000XM5 Wireless Headphones Black"),
        Listing("e", "Sony WH-1000XM4 Wireless Headphones Black"),
    ]
    truth = {("1", "a"), ("1", "d"), ("2", "b"), ("3", "c"), ("1", "e")}
    ev = evaluate(left, right, truth)
    assert (ev.true_positives, ev.declared) == (2, 2)  # "1" matches "a" and "d": one product listed twice
    got = [
        (f["left_id"], f["right_id"], f["cause"], f["left_matched_to"], f["right_matched_to"])
        for f in ev.false_negatives
    ]
    assert got == [
        ("1", "e", "vetoed", ["a", "d"], []),  # XM4 against XM5; "1" is matched to "a" and "d" instead
        ("2", "b", "vetoed", [], []),
        ("3", "c", "no_block", [], []),
    ]
    # which veto names the XM4 / XM5 conflict (model words or code) is the parser's business
    assert ev.false_negatives[0]["veto"] in ("model", "model_code")
    assert ev.false_negatives[1]["veto"] == "color"
    assert fn_causes(ev.false_negatives, truth) == {"no_block": 1, "vetoed": 2}


def test_f1_on_labelled_listings_leaves_out_only_the_pairs_outside_the_truth():
    # 8 right of 10 true pairs, 4 wrong of which 2 pair unlabelled listings: P 8/10, R 8/10
    assert f1_on_labelled_listings(8, 4, 2, 10) == pytest.approx(0.8, abs=1e-12)
    # nothing outside the truth: the plain F1 (P 8/12, R 8/10)
    assert abs(f1_on_labelled_listings(8, 4, 0, 10) - 2 * (8 / 12) * 0.8 / (8 / 12 + 0.8)) < 1e-12
    assert f1_on_labelled_listings(0, 3, 3, 10) == 0.0
