"""The paper venue: executes the risk gate's approved orders against the tick stream, on event time
(``mercado venue paper``; see :mod:`processors.venue.paper` for the fill rules)."""

from processors.venue.config import FeeSchedule, PaperVenueConfig
from processors.venue.paper import EXPIRED, UNKNOWN_SYMBOL, PaperVenueProcessor
from processors.venue.pipeline import InProcessPaper, paper_pipelines, run_paper

__all__ = [
    "EXPIRED",
    "UNKNOWN_SYMBOL",
    "FeeSchedule",
    "InProcessPaper",
    "PaperVenueConfig",
    "PaperVenueProcessor",
    "paper_pipelines",
    "run_paper",
]
