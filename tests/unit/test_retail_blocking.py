"""Word blocks (five per unrecognized listing) and crowded word blocks (``MatchConfig.word_block_crowd``):
exact keys and comparison counts, and replay identity of the block state (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.retail import RetailConfig, RetailReplay, block_keys, parse_title
from processors.retail.config import MatchConfig
from tests.support.retail import HOUR, T0, listing, live_matches

CROWD_1 = RetailConfig(match=MatchConfig(word_block_crowd=1))


def test_an_unrecognized_listing_gets_its_five_rarest_looking_words() -> None:
    assert block_keys(parse_title("Frobnic Quantum Gadget Supreme")) == (
        "m|?|frobnic|-",
        "t|05|frobnic",
        "t|05|quantum",
        "t|05|supreme",
        "t|06|gadget",
    )
    # words with a digit first, then the longest (ties: alphabetical); the sixth word has no block
    assert block_keys(parse_title("punch software 17100 - punch! super home suite - architectural - pc")) == (
        "m|?|punch|-",  # no brand: the catalogue number after the publisher's words is no model key
        "t|00|17100",
        "t|01|architectural",
        "t|04|software",
        "t|07|punch",
        "t|07|suite",
    )


def test_an_unknown_brand_blocks_its_model_key_as_a_word() -> None:
    # one retailer fills the brand field, the other writes the brand into a long title: the m| keys
    # differ by the brand alone and the rarest-looking words differ, but the model key is one block
    short = parse_title("frobnic 6 deluxe", "zorblax software")
    long = parse_title("zorblax software 24100 - frobnic v.6.0 - complete product - architectural - standard english")
    assert block_keys(short) == ("m|zorblax software|frobnic6|-", "t|01|frobnic6", "t|05|frobnic", "t|06|deluxe")
    assert block_keys(long) == (
        "m|?|frobnic6|-",
        "t|00|24100",
        "t|01|architectural",
        "t|01|frobnic6",
        "t|04|complete",
        "t|04|software",
        "t|04|standard",
    )
    replay = RetailReplay(partitions=1)
    outputs = replay.run(
        [
            listing("r1", "a", "frobnic 6 deluxe", 10_000, brand="zorblax software"),
            listing(
                "r2",
                "b",
                "zorblax software 24100 - frobnic v.6.0 - complete product - architectural - standard english",
                10_000,
                t=T0 + HOUR,
            ),
        ]
    )
    assert replay.comparisons() == 1
    assert live_matches(outputs) == {"r1:a|r2:b"}


def test_a_known_brand_or_a_model_without_letters_and_digits_gets_no_model_word() -> None:
    # a brand the lexicon knows: its m| key holds it already (and an accessory's words are its blocks)
    assert block_keys(parse_title("Samsung Cable Adapter Kit 7")) == ("m|samsung|kit7|-", "t|05|adapter", "t|07|cable")
    # a model key without a digit is the first line word, a word block already
    assert block_keys(parse_title("Frobnic Quantum Gadget Supreme")) == (
        "m|?|frobnic|-",
        "t|05|frobnic",
        "t|05|quantum",
        "t|05|supreme",
        "t|06|gadget",
    )


def test_a_brand_led_by_a_known_brand_blocks_as_that_brand() -> None:
    # "sony media" (a division in the brand field) and "sony" (the title's) share the m| block: the
    # field led by a known brand names that brand
    division = parse_title("acid music studio 7", "sony media")
    title = parse_title("sony media software acid music studio 7 software music production software")
    assert (division.brand, title.brand) == ("sony", "sony")
    # (a brand the lexicon knows: the model key is no word block of its own)
    assert block_keys(division) == ("m|sony|studio7|-", "t|06|studio", "t|07|music", "t|08|acid")
    assert block_keys(title)[0] == "m|sony|studio7|-"
    # a brand the lexicon does not know, led by none it knows, is kept whole
    assert block_keys(parse_title("frobnic 6 deluxe", "zorblax software"))[0] == "m|zorblax software|frobnic6|-"


def _three() -> list[dict]:
    # a and b share one word ("quantum") only; b and c share two ("quantum", "widget"), both owned by
    # the smallest, t|05|quantum
    return [
        listing("r1", "a", "Frobnic Quantum Gadget Supreme", 10_000),
        listing("r2", "b", "Zorblax Quantum Widget Deluxe", 10_000, t=T0 + HOUR),
        listing("r1", "c", "Glimmer Quantum Widget Classic", 10_000, t=T0 + 2 * HOUR),
    ]


def test_a_crowded_word_block_compares_only_pairs_sharing_another_block() -> None:
    assert block_keys(parse_title("Glimmer Quantum Widget Classic")) == (
        "m|?|glimmer|-",
        "t|05|classic",
        "t|05|glimmer",
        "t|05|quantum",
        "t|06|widget",
    )
    default = RetailReplay(partitions=1)
    default.run(_three())
    assert default.comparisons() == 2  # b-a and c-b, both in t|05|quantum
    crowded = RetailReplay(CROWD_1, partitions=1)
    crowded.run(_three())
    assert crowded.comparisons() == 1  # c-b only: b-a share nothing but the crowded word


def test_a_word_with_a_digit_is_never_crowded() -> None:
    records = [
        listing("r1", "a", "Frobnic 77Q1X Gadget", 10_000),
        listing("r2", "b", "Zorblax 77Q1X Widget", 10_000, t=T0 + HOUR),
    ]
    # (they share t|00|77q1x and the code block c|77Q1X; the code block owns the pair)
    replay = RetailReplay(CROWD_1, partitions=1)
    replay.run(records)
    assert replay.comparisons() == 1


_VOCAB = ["Frobnic", "Zorblax", "Glimmer", "Quantum", "Widget", "Gadget", "Deluxe", "Supreme", "Classic", "Nova"]
_TITLE = st.lists(st.sampled_from(_VOCAB), min_size=2, max_size=5, unique=True).map(" ".join)
_LISTINGS = st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.integers(0, 4), _TITLE), max_size=24)


def _records(spec: list[tuple[str, int, str]]) -> list[dict]:
    return [listing(r, str(s), title, 10_000, t=T0 + i * HOUR) for i, (r, s, title) in enumerate(spec)]


@settings(max_examples=60, deadline=None)
@given(_LISTINGS, st.integers(0, 24), st.integers(1, 4))
def test_crowded_blocks_are_replay_identical_across_snapshot_and_restore(
    spec: list[tuple[str, int, str]], cut: int, crowd: int
) -> None:
    # listings re-observed with other titles leave blocks and join others while blocks fill past the crowd
    cfg = RetailConfig(match=MatchConfig(word_block_crowd=crowd))
    records = _records(spec)
    head, tail = records[:cut], records[cut:]
    whole = RetailReplay(cfg, partitions=2)
    expected = whole.run(head) + whole.run(tail)
    first = RetailReplay(cfg, partitions=2)
    got = first.run(head)
    resumed = RetailReplay.restore(json.loads(json.dumps(first.snapshot())), cfg)
    got += resumed.run(tail)
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(_LISTINGS, st.integers(1, 4))
def test_crowded_blocks_do_not_depend_on_the_partition_count(spec: list[tuple[str, int, str]], crowd: int) -> None:
    cfg = RetailConfig(match=MatchConfig(word_block_crowd=crowd))
    records = _records(spec)
    assert live_matches(RetailReplay(cfg, partitions=1).run(records)) == live_matches(
        RetailReplay(cfg, partitions=3).run(records)
    )


def test_beyond_the_cap_a_word_block_compares_pairs_sharing_two_other_blocks() -> None:
    # word_block_cap 2: t|05|quantum holds three listings when c arrives; c and b share "quantum",
    # "widget" and "nova" (two other blocks), c and a share "quantum" and "supreme" (one other block)
    cfg = RetailConfig(match=MatchConfig(word_block_cap=2, word_block_crowd=1))
    records = [
        listing("r1", "a", "Frobnic Quantum Supreme Gadget", 10_000),
        listing("r1", "d", "Frobnic Quantum Widget Nova", 10_000, t=T0 + HOUR),
        listing("r2", "b", "Zorblax Quantum Widget Nova", 10_000, t=T0 + 2 * HOUR),
        listing("r3", "c", "Glimmer Quantum Widget Nova Supreme", 10_000, t=T0 + 3 * HOUR),
    ]
    replay = RetailReplay(cfg, partitions=1)
    replay.run(records)
    # b (3 members: needs 1 other): b-d share widget, nova -> compared, b-a share none -> not;
    # c (4 members: needs 2 others): c-b (widget, nova) and c-d (widget, nova) compared, c-a (supreme) not
    assert replay.comparisons() == 3


def test_a_tie_between_variants_goes_to_the_closer_title_then_the_smaller_key() -> None:
    a = listing("r1", "a", "Frobnic Widget Nova 128GB", 10_000)
    far = listing("r2", "1", "Frobnic Widget Nova 128GB Titanio Natural", 10_000, t=T0 + HOUR)
    near = listing("r2", "2", "Frobnic Widget Nova 128GB Azul Marino", 10_000, t=T0 + 2 * HOUR)
    # both score 0.85 against a and veto each other (colours): not duplicates, so one wins the tie —
    # the title closer to a's (shorter here), though its key is the larger
    assert live_matches(RetailReplay(partitions=1).run([a, far, near])) == {"r1:a|r2:2"}
    assert live_matches(RetailReplay(partitions=1).run([near, far, a])) == {"r1:a|r2:2"}
    # equally close titles: the smaller key
    same = listing("r2", "3", "Frobnic Widget Nova 128GB Azul Marinx", 10_000, t=T0 + 3 * HOUR)
    assert live_matches(RetailReplay(partitions=1).run([a, same, near])) == {"r1:a|r2:2"}
