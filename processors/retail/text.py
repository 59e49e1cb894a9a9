"""Case and accent folding of listing text ("Audífonos" → "audifonos", "15,6″" → '15,6"').

Folding is idempotent: ``fold(fold(x)) == fold(x)`` and the result is ASCII.
"""

from __future__ import annotations

import unicodedata

# Typographic quotes and primes first: NFKD would turn "″" into two primes that ASCII drops.
_PUNCTUATION = str.maketrans(
    {
        "″": '"',
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "′": "'",
        "’": "'",
        "‘": "'",
        "´": "'",
        "`": "'",
        "×": "x",
        "–": "-",
        "—": "-",
        "‐": "-",
        "\u00a0": " ",
    }
)


def fold(text: str) -> str:
    """Lower case, no accents, ASCII only, single spaces, stripped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_PUNCTUATION))
        text = text.encode("ascii", "ignore").decode("ascii")
    return " ".join(text.lower().split())
