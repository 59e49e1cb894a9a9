"""File helpers shared by the live tests (not a test module)."""

from __future__ import annotations

from pathlib import Path


def split_lines(path: Path, out_dir: Path, n: int, stem: str = "part") -> list[Path]:
    """Splits a JSON Lines file into ``n`` consecutive parts (``<stem>00.jsonl``, …), as a feed would send it."""
    lines = path.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // n)
    parts = []
    for i in range(n):
        part = out_dir / f"{stem}{i:02d}.jsonl"
        part.write_bytes(b"".join(lines[i * size : (i + 1) * size]))
        parts.append(part)
    return parts
