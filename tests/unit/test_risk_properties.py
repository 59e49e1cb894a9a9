"""Properties of the risk arithmetic over generated inputs (hypothesis)."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.alerts import AlertThrottle
from processors.risk import AccountBook, DrawdownBreaker, Position, SpreadBreaker, Timing, VolatilityBreaker
from processors.risk.exact import mid_decimal, price_decimal
from processors.risk.market import Market

TIMING = Timing(3, 60_000_000, 900_000_000)


def decimals(low: int, high: int, places: int = 12) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with up to ``places`` decimal places (the contracts' scale is 12)."""
    return st.builds(lambda n, k: Decimal(n).scaleb(-k), st.integers(low * 10**places, high * 10**places),
                     st.just(places)) | st.builds(lambda n: Decimal(n), st.integers(low, high))


fills = st.lists(st.tuples(st.booleans(), decimals(1, 100_000, 8), decimals(0, 50, 8).filter(lambda q: q > 0),
                           decimals(-5, 5, 8)), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(fills, decimals(1, 100_000, 8))
def test_realized_plus_unrealized_is_the_cash_flow_marked_to_market(seq: list, mark: Decimal) -> None:
    pos = Position("X/Y")
    cash = Fraction(0)
    signed_sum = Fraction(0)
    fees = Decimal(0)
    for buy, price, qty, fee in seq:
        pos.apply(buy, price, qty, fee)
        signed = Fraction(qty) if buy else -Fraction(qty)
        cash -= signed * Fraction(price)
        signed_sum += signed
        fees += fee
    assert Fraction(pos.quantity) == signed_sum
    assert Fraction(pos.realized) + Fraction(pos.unrealized(mark)) == cash + signed_sum * Fraction(mark)
    assert pos.fees == fees
    if pos.quantity:
        assert (pos.cost > 0) == (pos.quantity > 0)  # the cost basis has the position's sign
    else:
        assert pos.cost == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(decimals(1, 100_000, 8), decimals(0, 50, 8).filter(lambda q: q > 0)), min_size=1,
                max_size=20))
def test_without_reductions_the_average_price_is_the_quantity_weighted_mean(seq: list) -> None:
    pos = Position("X/Y")
    for price, qty in seq:
        pos.apply(True, price, qty, Decimal(0))
    assert Fraction(pos.cost) == sum(Fraction(p) * Fraction(q) for p, q in seq)
    assert pos.realized == 0


finite_prices = st.floats(min_value=1e-9, max_value=9.99e14, allow_nan=False, allow_infinity=False)
two_decimal_prices = st.integers(1, 10**12).map(lambda n: n / 100)


@settings(max_examples=2000, deadline=None)
@given(finite_prices | two_decimal_prices | st.floats(allow_nan=False, allow_infinity=False))
def test_price_decimal_is_the_value_of_the_shortest_repr(x: float) -> None:
    assert price_decimal(x) == Decimal(repr(x))


@settings(max_examples=1000, deadline=None)
@given(finite_prices | two_decimal_prices, finite_prices | two_decimal_prices)
def test_mid_decimal_is_exact(a: float, b: float) -> None:
    assert Fraction(mid_decimal(a, b)) == (Fraction(repr(a)) + Fraction(repr(b))) / 2


def exact_spread_violates(bid: float, ask: float, threshold: Decimal) -> bool:
    a, b = Fraction(repr(ask)), Fraction(repr(bid))
    return (a - b) / ((a + b) / 2) * 10_000 > Fraction(threshold)


@st.composite
def quotes(draw: st.DrawFn) -> tuple[float, float, Decimal]:
    threshold = draw(st.sampled_from([Decimal(20), Decimal("0.5"), Decimal(1), Decimal("33.3")]))
    bid = draw(two_decimal_prices | finite_prices)
    # around the boundary: ask = bid (1 + t) / (1 - t) with t = threshold / 20,000, nudged by a few ulps
    t = float(threshold) / 20_000
    ask = bid * (1 + t) / (1 - t) * (1 + draw(st.integers(-20, 20)) * 2.0**-52)
    if draw(st.booleans()):
        ask = float(repr(round(ask, draw(st.integers(2, 10)))))
    return bid, max(ask, bid), threshold


@settings(max_examples=2000, deadline=None)
@given(quotes())
def test_spread_fast_path_agrees_with_exact_arithmetic(q: tuple[float, float, Decimal]) -> None:
    bid, ask, threshold = q
    breaker = SpreadBreaker("v", "X/Y", threshold, TIMING)
    assert breaker.violates(bid, ask) == exact_spread_violates(bid, ask, threshold)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(9_000, 11_000), st.integers(0, 3)), min_size=1,
                max_size=60), st.sampled_from([Decimal(5), Decimal("0.1"), Decimal(2)]))
def test_volatility_fast_path_agrees_with_a_brute_force_window(steps: list, threshold: Decimal) -> None:
    window = 30_000_000
    breaker = VolatilityBreaker("v", "X/Y", threshold, window, TIMING)
    t = 0
    seen: list[tuple[int, Fraction]] = []
    for dt, cents, half_spread in steps:
        t += dt * 1_000_000
        bid, ask = (cents - half_spread) / 100, (cents + half_spread) / 100
        mid = (bid + ask) / 2
        got = breaker.add(t, mid, bid, ask, True)
        exact_mid = (Fraction(repr(bid)) + Fraction(repr(ask))) / 2
        seen.append((t, exact_mid))
        inside = [m for s, m in seen if s >= t - window]
        assert got == ((max(inside) - min(inside)) * 100 > Fraction(threshold) * exact_mid)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("fill"), st.sampled_from(["A/U", "B/U"]), st.booleans(), st.integers(50, 150),
              st.integers(1, 30)),
    st.tuples(st.just("tick"), st.sampled_from(["A/U", "B/U"]), st.integers(5_000, 15_000), st.integers(0, 5)),
), min_size=1, max_size=60), st.sampled_from([Decimal(100), Decimal(1), Decimal("0.01")]))
def test_drawdown_evaluation_agrees_with_exact_arithmetic(events: list, threshold: Decimal) -> None:
    book = AccountBook("a", "v", Decimal(1_000), DrawdownBreaker("v", "a", threshold, TIMING))
    markets: dict[str, Market] = {}
    positions: dict[str, tuple[Fraction, Fraction]] = {}  # quantity, cost
    marks: dict[str, Fraction] = {}
    realized = Fraction(0)
    peak = Fraction(1_000)
    for e in events:
        if e[0] == "fill":
            _, symbol, buy, price, qty = e
            pos, r = book.fill(symbol, buy, Decimal(price), Decimal(qty) / 10, Decimal(0))
            realized += Fraction(r)
            positions[symbol] = (Fraction(pos.quantity), Fraction(pos.cost))
            marks.setdefault(symbol, Fraction(price))
            if symbol not in markets:
                marks[symbol] = Fraction(price)
        else:
            _, symbol, cents, half = e
            market = markets.get(symbol) or markets.setdefault(symbol, Market(symbol, None, None))  # type: ignore[arg-type]
            bid, ask = (cents - half) / 100, (cents + half) / 100
            market.update(0, bid, ask, "t")
            marks[symbol] = (Fraction(repr(bid)) + Fraction(repr(ask))) / 2
        got = book.evaluate(markets)
        equity = 1_000 + realized + sum(q * marks[s] - c for s, (q, c) in positions.items() if q)
        peak = max(peak, equity)
        assert Fraction(book.peak) == peak
        assert got == ((peak - equity) * 10_000 > Fraction(threshold) * peak)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 10**9)), max_size=80), st.integers(0, 10**8))
def test_throttling_loses_no_alert(offers: list, window: int) -> None:
    throttle = AlertThrottle(window, prune_every=3)
    passed = carried = 0
    for key, t in sorted(offers, key=lambda o: o[1]):
        count = throttle.admit(key, t)
        if count is not None:
            passed += 1
            carried += count
    assert passed + carried + sum(throttle.suppressed.values()) == len(offers)


def test_decimal_context_of_the_caller_does_not_matter() -> None:
    with localcontext() as ctx:
        ctx.prec = 5
        pos = Position("X/Y")
        pos.apply(True, Decimal("67691.41"), Decimal("0.123456789"), Decimal(0))
        assert pos.cost == Decimal("8356.96412148249")  # all 11 places, though the context holds 5 digits
