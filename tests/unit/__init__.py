"""Tests without services: processors, codecs, runtime, generator (pytest tests/unit)."""
