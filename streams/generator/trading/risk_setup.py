"""The risk configuration that fits the generated order flow (streams/generator/trading/orders.py): the market
maker's account and venues, its balances and lots. The demo's risk worker, the risk benchmark and the
tests run the generated day with it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from processors.risk import AccountVenueConfig, GateConfig, RiskConfig

VENUES = ("binance", "kraken", "coinbase")


def day_config(**overrides: Any) -> RiskConfig:
    """The market maker of the generated day: account mm-1 on three venues, 40,000 USDT of starting
    equity each, balances large enough that only the breakers and limits decide, the generator's lots."""
    account = AccountVenueConfig(
        balances={"USDT": Decimal(10_000_000), "BTC": Decimal(100), "ETH": Decimal(1_000)},
        starting_equity=Decimal(40_000),
    )
    fields: dict[str, Any] = {
        "accounts": {"mm-1": dict.fromkeys(VENUES, account)},
        "markets": dict.fromkeys(VENUES, ("BTC/USDT", "ETH/USDT")),
        "gate": GateConfig(quantity_steps={"BTC/USDT": Decimal("0.0001"), "ETH/USDT": Decimal("0.001")}),
    }
    fields.update(overrides)
    return RiskConfig(**fields)
