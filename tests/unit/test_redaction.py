"""Secrets never printed: infra/redaction.py, used by `mercado status`, `mercado risk status` and notify."""

from __future__ import annotations

from infra.redaction import redact, without_password


def test_a_urls_password_is_masked_and_the_rest_kept_as_written() -> None:
    assert without_password("postgresql://app:s3cret@db.example:5432/markets") == \
        "postgresql://app:***@db.example:5432/markets"
    assert without_password("postgresql://app:pw@[::1]:5432/Markets?sslmode=require") == \
        "postgresql://app:***@[::1]:5432/Markets?sslmode=require"
    assert without_password("postgresql://app@db:5432/markets") == "postgresql://app@db:5432/markets"
    assert without_password("postgresql://db/markets") == "postgresql://db/markets"


def test_every_configured_secret_is_redacted_from_text() -> None:
    assert redact("https://api.telegram.org/bot123:ABC/sendMessage failed", ["123:ABC", ""]) == \
        "https://api.telegram.org/bot***/sendMessage failed"
    assert redact("nothing here", []) == "nothing here"
