"""The retail tables and views on the real broker and database, and ``mercado opportunities``.

A small scripted day goes through the real retail pipeline (in-process) and its derived events through
Kafka into the sink; every view is checked value by value against what the listings' prices imply:

* A54 phone at falabella 200,000 / paris 255,000 / ripley 260,000, ripley re-observed at 270,000 after an
  hour: three matches, two IMPORTANT opportunities (one revised to margin 70,000), a TRACKING one
  (paris -> ripley, 15,000) once ripley's price rose;
* a TV at hites 1,000,000 / abcdin 1,400,000: CRITICAL, re-validated every 30 minutes;
* a notebook at falabella 500,000 / paris 550,000, paris re-observed at 510,000: opened, then closed
  (``roi_below_min``);
* a fridge whose hites offer is 90,000 on a normal price of 600,000 (a ``deep_discount`` glitch) and
  ripley 600,000: a TRACKING opportunity flagged as a glitch;
* a console at paris 500,000 / abcdin 560,000 until abcdin's title becomes the Digital edition: the
  match is retracted (``vetoed``) and its opportunity closed (``match_retracted``);
* an Xbox only falabella sells (a listing without a match).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from processors.core import Emit
from processors.retail import RetailReplay
from queries.retail import OpportunitiesUnavailable, print_top_opportunities
from sinks.runner import default_topics
from sinks.tables import ConflictPolicy, load_mappings
from streams.config import Settings
from tests.support.retail import HOUR, MINUTE, T0, listing
from tests.support.sink import (
    ROOT,
    EventProducer,
    checksums,
    create_database,
    create_topics,
    drain,
    drop_database,
    isolated,
    migrated,
    query,
    settings_env,
)

RETAIL_TOPICS = ["retail.listings.normalized.v1", "retail.glitches.v1", "retail.matches.v1", "retail.opportunities.v1"]
RETAIL_TABLES = {
    "mercado.retail.NormalizedListing": "retail_listings",
    "mercado.retail.ProductMatch": "retail_matches",
    "mercado.retail.MatchRepriced": "retail_match_reprices",
    "mercado.retail.ProductMatchRetracted": "retail_match_retractions",
    "mercado.retail.PriceGlitch": "retail_glitches",
    "mercado.retail.ArbitrageOpportunity": "retail_opportunities",
    "mercado.retail.ArbitrageOpportunityRevalidated": "retail_opportunity_validations",
    "mercado.retail.ArbitrageOpportunityClosed": "retail_opportunity_closures",
}
VIEWS = [
    "retail_live_matches",
    "retail_opportunity_status",
    "retail_open_opportunities",
    "retail_best_opportunity_per_product",
    "retail_retailer_coverage",
]

A54 = "Celular Samsung Galaxy A54 5G 8GB RAM 128GB Negro"
TV = 'Smart TV Samsung Crystal UHD CU7000 55" 4K UHD UN55CU7000GXZS'
HP = 'Notebook HP 15 Core i5 8GB RAM 512GB SSD 15.6"'
FRIDGE = "Refrigerador LG No Frost 312L"
PS5 = "Consola Sony PlayStation 5 Slim 1TB"
LISTINGS = [
    listing("falabella", "f1", A54, 200_000, t=T0),
    listing("ripley", "r1", A54, 260_000, t=T0 + 1),
    listing("paris", "p1", A54, 255_000, t=T0 + 2),
    listing("hites", "h2", TV, 1_000_000, t=T0 + 3),
    listing("abcdin", "a2", TV, 1_400_000, t=T0 + 4),
    listing("falabella", "f3", HP, 500_000, t=T0 + 5),
    listing("paris", "p3", HP, 550_000, t=T0 + 6),
    listing("hites", "h4", FRIDGE, 600_000, offer=90_000, t=T0 + 7),
    listing("ripley", "r4", FRIDGE, 600_000, t=T0 + 8),
    listing("paris", "p5", PS5, 500_000, t=T0 + 9),
    listing("abcdin", "a5", PS5, 560_000, t=T0 + 10),
    listing("falabella", "f6", "Consola Microsoft Xbox Series S 1TB", 300_000, t=T0 + 11),
    listing("ripley", "r1", A54, 270_000, t=T0 + HOUR),
    listing("paris", "p3", HP, 510_000, t=T0 + 2 * HOUR),
    listing("abcdin", "a5", "Consola Sony PlayStation 5 Slim Digital 1TB", 560_000, t=T0 + 3 * HOUR),
]
UNTIL = T0 + 6 * HOUR + 30 * MINUTE  # the pipeline's clock at the end: re-validations due until then fire

TV_OPP = "opp:dec175a3b90c15edb5ef"
A54_FALABELLA_RIPLEY = "opp:068ed0abded827141217"
A54_FALABELLA_PARIS = "opp:1d680041bc2697e0e5a5"
A54_PARIS_RIPLEY = "opp:cc6fb08424c5d618157d"
FRIDGE_OPP = "opp:5e3e1d0744a94795fc3c"
HP_OPP = "opp:56d5a51cd5a871d61cdc"
PS5_OPP = "opp:dc822e17d74789dd86ea"


def ts(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def scenario() -> list[Emit]:
    """The pipeline's outputs the sink reads (the topics of RETAIL_TOPICS), in production order."""
    return [e for e in RetailReplay().run(LISTINGS, until_us=UNTIL) if e.topic in RETAIL_TOPICS]


def produce(settings: Settings, outputs: list[Emit]) -> None:
    producer = EventProducer(settings)
    for e in outputs:
        producer.send(e.topic, e.schema, e.record, key=e.key)
    producer.flush()


def rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in query(settings, sql)]


def view_contents(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    return {
        "retail_live_matches": rows(settings, "SELECT * FROM retail_live_matches ORDER BY match_id"),
        "retail_opportunity_status": rows(settings, "SELECT * FROM retail_opportunity_status ORDER BY opportunity_id"),
        "retail_open_opportunities": rows(settings, "SELECT * FROM retail_open_opportunities"),
        "retail_best_opportunity_per_product": rows(settings, "SELECT * FROM retail_best_opportunity_per_product"),
        "retail_retailer_coverage": rows(settings, "SELECT * FROM retail_retailer_coverage"),
    }


# --------------------------------------------------------------------------- the mapping (no services)
def test_every_retail_record_type_the_sink_reads_has_a_table() -> None:
    mappings = {m.record: m for m in load_mappings() if m.record.startswith("mercado.retail.")}
    assert {record: m.table for record, m in mappings.items()} == RETAIL_TABLES
    listings = mappings.pop("mercado.retail.NormalizedListing")
    assert (listings.key, listings.on_conflict, listings.revision) == (
        ("listing_key",), ConflictPolicy.HIGHEST_REVISION, "event_time")  # fmt: skip
    assert {(m.key, m.on_conflict) for m in mappings.values()} == {(("event_id", "event_time"), ConflictPolicy.IGNORE)}
    topics = default_topics(load_mappings())
    assert [t for t in topics if t.startswith("retail.")] == RETAIL_TOPICS
    from streams.kafka.catalog import topic

    carried = {f"mercado.retail.{name}" for t in RETAIL_TOPICS for name in topic(t).schemas}
    assert carried == set(RETAIL_TABLES)  # nothing on these topics is dead-lettered as unmapped


def test_quotes_are_kept_whole_as_json() -> None:
    opportunities = next(m for m in load_mappings() if m.table == "retail_opportunities")
    [opened] = [e.record for e in scenario() if e.record["event_id"] == TV_OPP]
    row = dict(zip(opportunities.column_names, opportunities.extract(opened), strict=True))
    assert row["buy_quote"] == (
        '{"current_price":1000000,"event_id":"norm:hites:h2:1756900800000003","event_time":1756900800000003,'
        '"glitch_kinds":[],"listing_key":"hites:h2","price_card":null,"price_normal":1000000,"price_offer":null,'
        '"price_source":"NORMAL","retailer":"hites","sku":"h2","title":"Smart TV Samsung Crystal UHD CU7000 55\\" '
        '4K UHD UN55CU7000GXZS"}'
    )
    assert (row["event_time"], row["next_revalidation"], row["tier"]) == (T0 + 4, T0 + 4 + 30 * MINUTE, "CRITICAL")


# --------------------------------------------------------------------------- through Kafka into PostgreSQL
@pytest.fixture(scope="module")
def retail_database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "sink_retail")
    yield settings
    drop_database(settings)


@pytest.fixture(scope="module")
def retail_day(retail_database: Settings) -> Settings:
    """The scenario's events through Kafka, written by the sink (in this process) into a migrated schema."""
    settings = migrated(isolated(retail_database))
    create_topics(settings, *RETAIL_TOPICS)
    produce(settings, scenario())
    runner = drain(settings, RETAIL_TOPICS)
    assert runner.stats.dead_letters == 0
    return settings


@pytest.mark.kafka
@pytest.mark.postgres
def test_every_event_lands_once(retail_day: Settings) -> None:
    outputs = scenario()
    want = Counter(RETAIL_TABLES[f"mercado.retail.{e.schema}"] for e in outputs)
    want["retail_listings"] = 12  # one row per listing: its latest observation
    got = {t: query(retail_day, f"SELECT count(*) FROM {t}")[0][0] for t in RETAIL_TABLES.values()}
    assert got == dict(want)
    assert got == {
        "retail_listings": 12, "retail_matches": 7, "retail_match_reprices": 3, "retail_match_retractions": 1,
        "retail_glitches": 1, "retail_opportunities": 8, "retail_opportunity_validations": 13,
        "retail_opportunity_closures": 2,
    }  # fmt: skip
    ids = {r[0] for r in query(retail_day, "SELECT event_id FROM retail_opportunities")}
    assert ids == {e.record["event_id"] for e in outputs if e.schema == "ArbitrageOpportunity"}
    assert query(retail_day, "SELECT count(*) FROM mercado_dead_letters")[0][0] == 0
    latest = rows(retail_day, "SELECT listing_key, current_price, event_time FROM retail_listings "
                              "WHERE listing_key IN ('ripley:r1', 'paris:p3') ORDER BY listing_key")  # fmt: skip
    assert latest == [
        {"listing_key": "paris:p3", "current_price": 510_000, "event_time": ts(T0 + 2 * HOUR)},
        {"listing_key": "ripley:r1", "current_price": 270_000, "event_time": ts(T0 + HOUR)},
    ]


@pytest.mark.kafka
@pytest.mark.postgres
def test_live_matches_are_asserted_pairs_without_a_later_retraction(retail_day: Settings) -> None:
    got = [
        (r["match_id"], r["a_retailer"], r["a_price"], r["b_retailer"], r["b_price"], r["score"], r["asserted_at"],
         r["priced_at"])
        for r in rows(retail_day, "SELECT * FROM retail_live_matches ORDER BY match_id")
    ]  # fmt: skip
    assert got == [
        ("abcdin:a2|hites:h2", "abcdin", 1_400_000, "hites", 1_000_000, 1.0, ts(T0 + 4), ts(T0 + 4)),
        ("falabella:f1|paris:p1", "falabella", 200_000, "paris", 255_000, 1.0, ts(T0 + 2), ts(T0 + 2)),
        ("falabella:f1|ripley:r1", "falabella", 200_000, "ripley", 270_000, 1.0, ts(T0 + 1), ts(T0 + HOUR)),
        ("falabella:f3|paris:p3", "falabella", 500_000, "paris", 510_000, 1.0, ts(T0 + 6), ts(T0 + 2 * HOUR)),
        ("hites:h4|ripley:r4", "hites", 90_000, "ripley", 600_000, 1.0, ts(T0 + 8), ts(T0 + 8)),
        ("paris:p1|ripley:r1", "paris", 255_000, "ripley", 270_000, 1.0, ts(T0 + 2), ts(T0 + HOUR)),
    ]  # abcdin:a5|paris:p5 was retracted at T0 + 3 h (the Digital edition is another product)
    [retraction] = rows(retail_day, "SELECT match_id, reason, vetoed_by, event_time FROM retail_match_retractions")
    assert retraction == {
        "match_id": "abcdin:a5|paris:p5", "reason": "vetoed", "vetoed_by": "variant", "event_time": ts(T0 + 3 * HOUR),
    }  # fmt: skip


@pytest.mark.kafka
@pytest.mark.postgres
def test_opportunity_status_is_open_unless_a_closure_follows_the_latest_revision(retail_day: Settings) -> None:
    columns = ("opportunity_id, status, tier, priority, margin_clp, roi_pct, buy_retailer, buy_price, sell_retailer, "
               "sell_price, revision, opened_at, updated_at, validations, last_validated_at, next_revalidation, "
               "closed_at, close_reason")  # fmt: skip
    got = [tuple(r.values()) for r in rows(retail_day, f"SELECT {columns} FROM retail_opportunity_status "
                                                       "ORDER BY opened_at, opportunity_id")]  # fmt: skip
    half_hour = 30 * MINUTE
    assert got == [
        (A54_FALABELLA_RIPLEY, "OPEN", "IMPORTANT", 2, 70_000, 35.0, "falabella", 200_000, "ripley", 270_000, 1,
         ts(T0 + 1), ts(T0 + HOUR), 0, None, ts(T0 + 7 * HOUR), None, None),
        (A54_FALABELLA_PARIS, "OPEN", "IMPORTANT", 2, 55_000, 27.5, "falabella", 200_000, "paris", 255_000, 0,
         ts(T0 + 2), ts(T0 + 2), 1, ts(T0 + 6 * HOUR + 2), ts(T0 + 12 * HOUR + 2), None, None),
        (TV_OPP, "OPEN", "CRITICAL", 1, 400_000, 40.0, "hites", 1_000_000, "abcdin", 1_400_000, 0,
         ts(T0 + 4), ts(T0 + 4), 12, ts(T0 + 4 + 12 * half_hour), ts(T0 + 4 + 13 * half_hour), None, None),
        (HP_OPP, "CLOSED", "IMPORTANT", 2, 50_000, 10.0, "falabella", 500_000, "paris", 550_000, 0,
         ts(T0 + 6), ts(T0 + 6), 0, None, None, ts(T0 + 2 * HOUR), "roi_below_min"),
        (FRIDGE_OPP, "OPEN", "TRACKING", 3, 510_000, 566.666667, "hites", 90_000, "ripley", 600_000, 0,
         ts(T0 + 8), ts(T0 + 8), 0, None, ts(T0 + 8 + 24 * HOUR), None, None),
        (PS5_OPP, "CLOSED", "IMPORTANT", 2, 60_000, 12.0, "paris", 500_000, "abcdin", 560_000, 0,
         ts(T0 + 10), ts(T0 + 10), 0, None, None, ts(T0 + 3 * HOUR), "match_retracted"),
        (A54_PARIS_RIPLEY, "OPEN", "TRACKING", 3, 15_000, 5.882353, "paris", 255_000, "ripley", 270_000, 0,
         ts(T0 + HOUR), ts(T0 + HOUR), 0, None, ts(T0 + 25 * HOUR), None, None),
    ]  # fmt: skip


@pytest.mark.kafka
@pytest.mark.postgres
def test_open_opportunities_come_by_tier_then_score(retail_day: Settings) -> None:
    got = [
        (
            r["opportunity_id"],
            r["tier"],
            r["opportunity_score"],
            r["confidence"],
            r["risk_level"],
            r["glitch_suspected"],
        )
        for r in rows(retail_day, "SELECT * FROM retail_open_opportunities")
    ]  # the view's own order
    assert got == [
        (TV_OPP, "CRITICAL", 100.0, 1.0, "LOW", False),
        (A54_FALABELLA_RIPLEY, "IMPORTANT", 84.6792, 0.962264, "LOW", False),  # ripley's two prices: volatility
        (A54_FALABELLA_PARIS, "IMPORTANT", 82.0, 1.0, "LOW", False),
        (FRIDGE_OPP, "TRACKING", 50.0, 0.5, "HIGH", True),  # the glitch halves the confidence
        (A54_PARIS_RIPLEY, "TRACKING", 19.3585, 0.962264, "LOW", False),
    ]


@pytest.mark.kafka
@pytest.mark.postgres
def test_the_best_opportunity_of_each_product(retail_day: Settings) -> None:
    got = [
        (r["product_key"], r["listings"], r["open_opportunities"], r["opportunity_id"], r["buy_retailer"],
         r["sell_retailer"], r["margin_clp"], r["buy_title"])
        for r in rows(retail_day, "SELECT * FROM retail_best_opportunity_per_product")
    ]  # fmt: skip
    assert got == [
        ("abcdin:a2", 2, 1, TV_OPP, "hites", "abcdin", 400_000, TV),
        ("falabella:f1", 3, 3, A54_FALABELLA_RIPLEY, "falabella", "ripley", 70_000, A54),  # 84.68 > 82.0 > 19.36
        ("hites:h4", 2, 1, FRIDGE_OPP, "hites", "ripley", 510_000, FRIDGE),
    ]  # the notebook's pair is live but its opportunity is closed; the consoles are no longer matched


@pytest.mark.kafka
@pytest.mark.postgres
def test_retailer_coverage(retail_day: Settings) -> None:
    got = [tuple(r.values()) for r in rows(retail_day, "SELECT * FROM retail_retailer_coverage")]
    # retailer, listings, matched_listings, matched_pct, live_matches, open_buy, open_sell, glitches,
    # glitched_now, last_observed_at
    assert [(*r[:3], float(r[3]), *r[4:]) for r in got] == [
        ("abcdin", 2, 1, 50.0, 1, 0, 1, 0, 0, ts(T0 + 3 * HOUR)),
        ("falabella", 3, 2, 66.7, 3, 2, 0, 0, 0, ts(T0 + 11)),
        ("hites", 2, 2, 100.0, 2, 2, 0, 1, 1, ts(T0 + 7)),
        ("paris", 3, 2, 66.7, 3, 1, 1, 0, 0, ts(T0 + 2 * HOUR)),
        ("ripley", 2, 2, 100.0, 3, 0, 3, 0, 0, ts(T0 + HOUR)),
    ]
    [glitch] = rows(retail_day, "SELECT listing_key, kind, severity, price, reference_price, change_ratio "
                                "FROM retail_glitches")  # fmt: skip
    assert glitch == {
        "listing_key": "hites:h4", "kind": "deep_discount", "severity": "CRITICAL", "price": 90_000,
        "reference_price": 600_000, "change_ratio": -0.85,
    }  # fmt: skip


@pytest.mark.kafka
@pytest.mark.postgres
def test_twice_and_in_reverse_order_gives_the_same_tables_and_views(retail_day: Settings) -> None:
    """Every event written twice, the first time newest first: immutable rows are not duplicated, an older
    observation never replaces a listing's newer one, and the views follow event times, not write order."""
    settings = migrated(isolated(retail_day))
    create_topics(settings, *RETAIL_TOPICS)
    outputs = scenario()
    produce(settings, outputs[::-1] + outputs)
    drain(settings, RETAIL_TOPICS)
    tables = [*RETAIL_TABLES.values(), "mercado_dead_letters"]
    assert {t: v for t, v in checksums(settings).items() if t in tables} == {
        t: v for t, v in checksums(retail_day).items() if t in tables
    }
    assert view_contents(settings) == view_contents(retail_day)


# --------------------------------------------------------------------------- mercado opportunities
def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.commands.cli", "opportunities", *args],
        cwd=ROOT, env=settings_env(settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _table_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("│")]


@pytest.mark.kafka
@pytest.mark.postgres
def test_the_cli_prints_the_open_opportunities_by_tier_then_score(retail_day: Settings) -> None:
    done = _cli(retail_day)
    assert done.returncode == 0, done.stderr
    lines = _table_lines(done.stdout)
    assert [line.split("│")[1].strip() for line in lines] == [
        "CRITICAL", "IMPORTANT", "IMPORTANT", "TRACKING", "TRACKING"
    ]  # fmt: skip
    cells = [c.strip() for c in lines[0].split("│")[1:-1]]
    assert cells == [
        "CRITICAL", "100.0", "$400,000", "40.0", "hites $1,000,000", "abcdin $1,400,000",
        "Smart TV Samsung Crystal UHD …", "1.00", "LOW", "2025-09-03 12:00",
    ]  # fmt: skip
    assert [c.strip() for c in lines[3].split("│")[5:10]] == [
        "hites $90,000", "ripley $600,000", "Refrigerador LG No Frost 312L", "0.50", "HIGH glitch?"
    ]  # fmt: skip
    assert done.stdout.splitlines()[-1] == "5 open arbitrage opportunities (1 critical, 2 important, 2 tracking)"

    critical = _cli(retail_day, "--tier", "CRITICAL")
    assert critical.returncode == 0, critical.stderr
    assert [line.split("│")[1].strip() for line in _table_lines(critical.stdout)] == ["CRITICAL"]

    top = _cli(retail_day, "--tier", "important", "--limit", "1")
    assert [c.strip() for c in _table_lines(top.stdout)[0].split("│")[1:4]] == ["IMPORTANT", "84.7", "$70,000"]


@pytest.mark.postgres
def test_the_cli_says_when_the_database_is_not_migrated_or_unreachable(retail_database: Settings) -> None:
    bare = isolated(retail_database)  # a schema nobody migrated
    done = _cli(bare)
    assert done.returncode == 1
    assert done.stdout == ""
    assert " ".join(done.stderr.split()) == (
        f"error: the schema '{bare.db.schema_name}' has no retail_open_opportunities view yet — run `mercado db "
        "migrate` first"
    )
    nowhere = bare.with_({"database_url": "postgresql://mercado@127.0.0.1:1/mercado"})
    done = _cli(nowhere)
    assert done.returncode == 1
    assert " ".join(done.stderr.split()).startswith(
        "error: cannot read PostgreSQL at postgresql://mercado@127.0.0.1:1/mercado: ConnectionRefusedError"
    )
    with pytest.raises(OpportunitiesUnavailable, match="run `mercado db migrate` first"):
        print_top_opportunities(bare, Console(file=None))


@pytest.mark.kafka
@pytest.mark.postgres
def test_print_top_opportunities_for_the_demo(retail_day: Settings) -> None:
    console = Console(record=True, width=200)
    print_top_opportunities(retail_day, console, limit=2)
    text = console.export_text()
    lines = _table_lines(text)
    assert [line.split("│")[1].strip() for line in lines] == ["CRITICAL", "IMPORTANT"]
    assert "retail_open_opportunities (top 2)" in text
    assert text.splitlines()[-1] == "5 open arbitrage opportunities (1 critical, 2 important, 2 tracking)"
