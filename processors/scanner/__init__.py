"""The stock scanner: per-session boards of scored categories, deltas, alerts and the top N to persist,
on event time (pure and deterministic). See :mod:`processors.scanner.processor` and
:mod:`processors.scanner.records`."""

from processors.scanner.config import DEFAULT_CATEGORIES, FEATURES, CategoryRule, ScannerConfig
from processors.scanner.pipeline import run_scanner, scanner_key, scanner_pipeline
from processors.scanner.processor import ScannerProcessor

__all__ = [
    "DEFAULT_CATEGORIES",
    "FEATURES",
    "CategoryRule",
    "ScannerConfig",
    "ScannerProcessor",
    "run_scanner",
    "scanner_key",
    "scanner_pipeline",
]
