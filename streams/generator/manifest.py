"""The manifest: what a generated day contains, with per-file line counts and SHA-256 digests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streams.generator.writer import FileEntry

MANIFEST_NAME = "manifest.json"


@dataclass
class Manifest:
    """``files`` maps a file name to its entry; ``scenario`` names the day's planted episodes."""

    seed: int
    day: str
    domains: list[str] = field(default_factory=list)
    files: dict[str, FileEntry] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, out_dir: Path) -> Path:
        path = out_dir / MANIFEST_NAME
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
        return path

    @classmethod
    def read(cls, out_dir: Path) -> Manifest:
        doc = orjson.loads((out_dir / MANIFEST_NAME).read_bytes())
        files = {name: FileEntry(**entry) for name, entry in doc["files"].items()}
        return cls(
            seed=doc["seed"],
            day=doc["day"],
            domains=doc["domains"],
            files=files,
            scenario=doc["scenario"],
            version=doc["version"],
        )
