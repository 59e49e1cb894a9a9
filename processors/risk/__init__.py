"""Risk: positions and PnL, five circuit breakers, trading states, the pre-trade order gate and alerts of
a multi-venue market maker, on event time (pure and deterministic). See :mod:`processors.risk.pipeline`
for the stages and topics."""

from processors.risk.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, Timing
from processors.risk.config import (
    AccountVenueConfig,
    AlertConfig,
    BreakerConfig,
    GateConfig,
    RiskConfig,
    VenueOverrides,
)
from processors.risk.equity import AccountBook, DrawdownBreaker
from processors.risk.gate import ACTIVE, HALTED, REASONS, REDUCING, check_order
from processors.risk.market_breakers import SpreadBreaker, VolatilityBreaker
from processors.risk.pipeline import (
    INPUTS_PARTITIONS,
    REKEY_STAGE,
    RISK_STAGE,
    InProcessRisk,
    rekey_pipeline,
    risk_pipelines,
    risk_stage_pipeline,
    run_risk,
)
from processors.risk.positions import Position
from processors.risk.processor import VenueRiskProcessor
from processors.risk.records import (
    INPUT_RECORDS,
    INPUT_TOPICS,
    OUTPUT_TOPICS,
)
from processors.risk.rekey import InputRouter, RiskRekeyProcessor, input_key, venue_key
from processors.risk.venue_breakers import ErrorRateBreaker, LatencyBreaker

__all__ = [
    "ACTIVE",
    "CLOSED",
    "HALF_OPEN",
    "HALTED",
    "INPUTS_PARTITIONS",
    "INPUT_RECORDS",
    "INPUT_TOPICS",
    "OPEN",
    "OUTPUT_TOPICS",
    "REASONS",
    "REDUCING",
    "REKEY_STAGE",
    "RISK_STAGE",
    "AccountBook",
    "AccountVenueConfig",
    "AlertConfig",
    "BreakerConfig",
    "CircuitBreaker",
    "DrawdownBreaker",
    "ErrorRateBreaker",
    "GateConfig",
    "InProcessRisk",
    "InputRouter",
    "LatencyBreaker",
    "Position",
    "RiskConfig",
    "RiskRekeyProcessor",
    "SpreadBreaker",
    "Timing",
    "VenueOverrides",
    "VenueRiskProcessor",
    "VolatilityBreaker",
    "check_order",
    "input_key",
    "rekey_pipeline",
    "risk_pipelines",
    "risk_stage_pipeline",
    "run_risk",
    "venue_key",
]
