"""Session calendars: Colombian FX (holidays), US equities (DST, early closes), crypto, and symbol rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import holidays
import pytest

from processors.admission import Refused
from processors.marketdata import CalendarBook, CalendarRule, MarketDataConfig, Session
from processors.marketdata.calendars import FAR_FUTURE, FAR_PAST, AlwaysOpenCalendar
from processors.marketdata.processor import MarketDataProcessor
from tests.support.marketdata import NEW_YORK, at, bogota, new_york

BOOK = CalendarBook(MarketDataConfig())
FX = BOOK.of_kind("colombian_fx")
EQUITIES = BOOK.of_kind("us_equities")


def test_the_calendar_is_the_venues():
    assert BOOK.kind_of("setfx", "USD/COP") == "colombian_fx"
    assert BOOK.kind_of("binance", "BTC/USDT") == "crypto"
    assert BOOK.kind_of("kraken", "ETH/USD") == "crypto"
    assert BOOK.kind_of("nyse", "AAPL") == "us_equities"
    assert BOOK.kind_of("nasdaq", "MSFT") == "us_equities"
    assert BOOK.for_key("binance", "BTC/USDT") is BOOK.for_key("coinbase", "ETH/USDT")  # one object per kind


def test_a_crypto_pair_of_any_quote_currency_trades_around_the_clock():
    # the defect found on real trades: binance:XRP/ETH matched no crypto symbol pattern, fell to the
    # US-equities rule and lost three quarters of its bars as off-session
    assert BOOK.kind_of("binance", "XRP/ETH") == "crypto"
    assert BOOK.kind_of("kraken", "DOGE/EUR") == "crypto"
    calendar = BOOK.for_key("binance", "XRP/ETH")
    saturday_night = new_york("2026-11-21 23:30:00")
    assert calendar.span_at(saturday_night).session is not None


def test_an_override_matching_the_key_beats_the_venue():
    assert BOOK.kind_of("twelvedata", "USD/COP") == "colombian_fx"  # the default "*:USD/COP"
    rules = (CalendarRule(pattern="binance:*/EUR", calendar="us_equities"), *MarketDataConfig().calendar_overrides)
    book = CalendarBook(MarketDataConfig(calendar_overrides=rules))
    assert book.kind_of("binance", "BTC/EUR") == "us_equities"
    assert book.kind_of("binance", "BTC/USDT") == "crypto"
    assert book.kind_of("coinbase", "BTC/EUR") == "crypto"


def test_venue_calendars_add_to_the_defaults_and_override_them():
    config = MarketDataConfig(venue_calendars={"mybroker": "us_equities", "kraken": "us_equities"})
    book = CalendarBook(config)
    assert book.kind_of("mybroker", "AAPL") == "us_equities"
    assert book.kind_of("kraken", "BTC/USD") == "us_equities"
    assert book.kind_of("binance", "BTC/USDT") == "crypto"
    assert hash(config) == hash(MarketDataConfig(venue_calendars={"mybroker": "us_equities", "kraken": "us_equities"}))


def test_an_unknown_venue_is_refused_by_name_never_guessed():
    with pytest.raises(Refused) as refused:
        BOOK.kind_of("acme", "XRP/ETH")
    assert refused.value.reason == "unknown-venue"
    assert "'acme'" in refused.value.message and "MERCADO_MARKETDATA__VENUE_CALENDARS" in refused.value.message
    with pytest.raises(Refused):
        MarketDataProcessor("acme:XRP/ETH", MarketDataConfig())


def test_usdcop_session_is_0800_to_1255_bogota():
    span = FX.span_at(bogota("2026-03-02 10:00:00"))
    assert span.session == Session("regular", at("2026-03-02 13:00:00"), at("2026-03-02 17:55:00"))
    assert (span.lo, span.hi) == (span.session.start, span.session.end)
    # the close is exclusive, the open inclusive
    assert FX.span_at(bogota("2026-03-02 12:55:00")).session is None
    assert FX.span_at(bogota("2026-03-02 12:54:59.999999")).session is not None
    assert FX.span_at(bogota("2026-03-02 08:00:00")).session is not None
    assert FX.span_at(bogota("2026-03-02 07:59:59.999999")).session is None


def test_usdcop_closed_span_runs_from_friday_close_to_monday_open():
    span = FX.span_at(bogota("2026-03-07 11:00:00"))  # a Saturday
    assert span.session is None
    assert (span.lo, span.hi) == (bogota("2026-03-06 12:55:00"), bogota("2026-03-09 08:00:00"))


@pytest.mark.parametrize("day", ["2026-11-02", "2026-11-16"])
def test_colombian_monday_holidays_have_no_session(day):
    assert date.fromisoformat(day) in holidays.country_holidays("CO", years=2026)
    assert date.fromisoformat(day).weekday() == 0
    span = FX.span_at(bogota(f"{day} 10:00:00"))
    assert span.session is None
    friday = (date.fromisoformat(day) - timedelta(days=3)).isoformat()
    tuesday = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    assert (span.lo, span.hi) == (bogota(f"{friday} 12:55:00"), bogota(f"{tuesday} 08:00:00"))


def test_usdcop_holiday_week_has_four_sessions():
    week = FX.sessions_between(bogota("2026-11-16 00:00:00"), bogota("2026-11-21 00:00:00"))
    assert [s.start for s in week] == [bogota(f"2026-11-{d} 08:00:00") for d in (17, 18, 19, 20)]
    assert len(FX.sessions_between(bogota("2026-03-02 00:00:00"), bogota("2026-03-07 00:00:00"))) == 5


def test_us_dst_switches_of_2026_are_on_the_sundays_used_below():
    before, after = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), datetime(2026, 3, 9, 12, tzinfo=NEW_YORK)
    assert (before.utcoffset(), after.utcoffset()) == (timedelta(hours=-5), timedelta(hours=-4))
    before, after = datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), datetime(2026, 11, 2, 12, tzinfo=NEW_YORK)
    assert (before.utcoffset(), after.utcoffset()) == (timedelta(hours=-4), timedelta(hours=-5))


def _day_sessions(day: str) -> list[tuple[str, int, int]]:
    return [(s.name, s.start, s.end) for s in EQUITIES.sessions_between(new_york(f"{day} 00:00:00"),
                                                                        new_york(f"{day} 23:59:59"))]


def test_us_equity_sessions_move_in_utc_across_the_march_dst_switch():
    assert _day_sessions("2026-03-06") == [  # Friday, EST (UTC-5)
        ("pre", at("2026-03-06 09:00:00"), at("2026-03-06 14:30:00")),
        ("regular", at("2026-03-06 14:30:00"), at("2026-03-06 21:00:00")),
        ("post", at("2026-03-06 21:00:00"), at("2026-03-07 01:00:00")),
    ]
    assert _day_sessions("2026-03-08") == []  # the Sunday of the switch
    assert _day_sessions("2026-03-09") == [  # Monday, EDT (UTC-4)
        ("pre", at("2026-03-09 08:00:00"), at("2026-03-09 13:30:00")),
        ("regular", at("2026-03-09 13:30:00"), at("2026-03-09 20:00:00")),
        ("post", at("2026-03-09 20:00:00"), at("2026-03-10 00:00:00")),
    ]


def test_us_equity_sessions_move_in_utc_across_the_november_dst_switch():
    assert _day_sessions("2026-10-30")[1] == ("regular", at("2026-10-30 13:30:00"), at("2026-10-30 20:00:00"))
    assert _day_sessions("2026-11-01") == []
    assert _day_sessions("2026-11-02") == [
        ("pre", at("2026-11-02 09:00:00"), at("2026-11-02 14:30:00")),
        ("regular", at("2026-11-02 14:30:00"), at("2026-11-02 21:00:00")),
        ("post", at("2026-11-02 21:00:00"), at("2026-11-03 01:00:00")),
    ]


def test_nyse_early_close_moves_post_market_to_1300_1700_and_thanksgiving_is_closed():
    assert _day_sessions("2026-11-26") == []  # Thanksgiving
    assert _day_sessions("2026-11-27") == [
        ("pre", new_york("2026-11-27 04:00:00"), new_york("2026-11-27 09:30:00")),
        ("regular", new_york("2026-11-27 09:30:00"), new_york("2026-11-27 13:00:00")),
        ("post", new_york("2026-11-27 13:00:00"), new_york("2026-11-27 17:00:00")),
    ]


def test_equity_spans_are_contiguous_within_a_day_and_closed_overnight():
    span = EQUITIES.span_at(new_york("2026-03-09 09:29:59"))
    assert span.session is not None and span.session.name == "pre"
    assert EQUITIES.span_at(new_york("2026-03-09 09:30:00")).session.name == "regular"
    night = EQUITIES.span_at(new_york("2026-03-09 22:00:00"))
    assert night.session is None
    assert (night.lo, night.hi) == (new_york("2026-03-09 20:00:00"), new_york("2026-03-10 04:00:00"))


def test_crypto_is_always_open():
    crypto = BOOK.of_kind("crypto")
    assert isinstance(crypto, AlwaysOpenCalendar)
    span = crypto.span_at(at("2026-11-26 03:00:00"))
    assert span.session == Session("24x7", FAR_PAST, FAR_FUTURE)
    assert crypto.sessions_between(0, 1) == [span.session]


def test_sessions_across_a_year_boundary():
    # 2026-12-31 is a Thursday (not a Colombian holiday); 2027-01-01 is New Year's Day
    span = FX.span_at(bogota("2027-01-01 10:00:00"))
    assert span.session is None
    assert (span.lo, span.hi) == (bogota("2026-12-31 12:55:00"), bogota("2027-01-04 08:00:00"))


def test_a_venue_the_configuration_names_without_a_calendar_fails_at_start_up():
    from processors.marketdata.config import DEFAULT_CALENDAR_OVERRIDES, UnknownVenueError
    from processors.risk.config import AccountVenueConfig, RiskConfig, VenueOverrides
    from streams.config import Settings
    from streams.runtime.pipelines import build_stages, named_venues

    risk = RiskConfig(
        venues={"acme": VenueOverrides(), "kraken": VenueOverrides()},
        markets={"setfx": ("USD/COP",), "fxbroker": ("USD/COP",), "mystery": ("XRP/ETH",)},
        accounts={"mm1": {"binance": AccountVenueConfig(), "zeta": AccountVenueConfig()}},
    )
    settings = Settings().with_(risk=risk)
    assert named_venues(settings)["zeta"] == ("MERCADO_RISK__ACCOUNTS (mm1)", ())
    with pytest.raises(UnknownVenueError) as error:
        build_stages("marketdata", settings)
    # every uncovered venue by name and where it is named; fxbroker's only symbol is covered by *:USD/COP
    assert error.value.venues == ["acme", "mystery", "zeta"]
    message = str(error.value)
    assert "'acme' (named in MERCADO_RISK__VENUES)" in message
    assert "'mystery' (named in MERCADO_RISK__MARKETS)" in message
    assert "'zeta' (named in MERCADO_RISK__ACCOUNTS (mm1))" in message
    assert "fxbroker" not in message and "kraken" not in message
    # naming their calendars (or an override for the listed symbol) makes the same configuration start
    fixed = settings.with_(marketdata__venue_calendars={"acme": "crypto", "zeta": "us_equities"},
                           marketdata__calendar_overrides=(*DEFAULT_CALENDAR_OVERRIDES,
                                                           CalendarRule(pattern="mystery:*", calendar="crypto")))
    assert [stage.name for stage in build_stages("marketdata", fixed)] == ["marketdata"]


def test_uncovered_venues_symbols_and_wildcards():
    config = MarketDataConfig()
    assert not config.uncovered("binance") and config.uncovered("acme")
    assert not config.uncovered("acme", ("USD/COP",))  # the USD/COP override covers it
    assert config.uncovered("acme", ("USD/COP", "EUR/COP"))
    assert config.uncovered("acme", ("*",))  # any symbol: an override of one pair is not enough
    config.check_venues({"binance": ("here", ())})  # nothing raised


def test_the_worker_command_reports_an_unknown_venue_at_start_up(monkeypatch):
    from typer.testing import CliRunner

    from streams.commands.cli import app
    from streams.config import get_settings

    monkeypatch.setenv("MERCADO_RISK__VENUES", '{"acme": {}}')
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["worker", "--pipeline", "marketdata"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "'acme' (named in MERCADO_RISK__VENUES)" in " ".join(result.output.split())
