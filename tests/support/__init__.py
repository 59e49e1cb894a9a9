"""Shared builders, strategies and helpers of the tests (no tests here)."""
