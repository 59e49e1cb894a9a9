"""Keeping secrets out of what Mercado prints and logs: the one place that masks them (as ``***``).

``without_password`` for connection URLs shown to people (``mercado status``, ``mercado risk status``);
``redact`` for any text that may carry configured secrets (notification errors: a Telegram bot token is
part of the API URL an exception message repeats). A leaf module, usable from every package.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def without_password(url: str) -> str:
    """``url`` with its password, if it has one, replaced by ``***``; everything else as written."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
