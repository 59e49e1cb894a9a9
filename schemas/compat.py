"""Schema evolution: the registry file and the compatibility check behind ``mercado schemas check``.

Every released version of every contract is kept in ``schemas/registry.json`` (committed with the
code, so the check works in a shallow CI clone and the decoder can read events written by any
released version). A change is accepted only when it is FULL-compatible with the latest released
version: consumers on the new schema read old events (backward) *and* consumers still on the old
schema read new events (forward). So adding a field needs a default, and removing a field needs the
old version to have had a default for it. The rules are Avro's schema-resolution rules, checked with
Apache Avro's own ``ReaderWriterCompatibilityChecker`` rather than a hand-written copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas.loader import SCHEMA_DIR, AvroSchema, SchemaSet, build_schema

REGISTRY_FILE = SCHEMA_DIR / "registry.json"


@dataclass(frozen=True)
class Finding:
    fullname: str
    status: str  # "new" | "unchanged" | "compatible" | "incompatible"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "incompatible"


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, list[dict[str, Any]]]:
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def released_schemas(path: Path = REGISTRY_FILE) -> list[AvroSchema]:
    """Every released version of every contract (the decoder uses them as writer schemas)."""
    out = []
    for versions in load_registry(path).values():
        for v in versions:
            out.append(build_schema(v["schema"]))
    return out


def _avro(expanded: dict[str, Any]) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(expanded))


def _describe(direction: str, result: Any) -> str:
    problems = []
    for kind, message, location in zip(result.incompatibilities, result.messages, result.locations, strict=False):
        problems.append(f"{kind.value.replace('_', ' ')}: {message} at {location}")
    return f"{direction}: " + "; ".join(problems)


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Problems (empty when FULL-compatible) between an old and a new version of one schema."""
    old_s, new_s = _avro(old), _avro(new)
    checker = ReaderWriterCompatibilityChecker()
    problems = []
    backward = checker.get_compatibility(reader=new_s, writer=old_s)
    if backward.compatibility is not SchemaCompatibilityType.compatible:
        problems.append(_describe("new readers cannot read old events", backward))
    forward = checker.get_compatibility(reader=old_s, writer=new_s)
    if forward.compatibility is not SchemaCompatibilityType.compatible:
        problems.append(_describe("old readers cannot read new events", forward))
    return problems


def check(current: SchemaSet, registry: dict[str, list[dict[str, Any]]]) -> list[Finding]:
    findings = []
    for schema in current:
        versions = registry.get(schema.fullname)
        if not versions:
            findings.append(Finding(schema.fullname, "new", "not released yet"))
            continue
        latest = versions[-1]
        if latest["schema"] == schema.expanded:
            findings.append(Finding(schema.fullname, "unchanged", f"v{latest['version']}"))
            continue
        problems = compare(latest["schema"], schema.expanded)
        if problems:
            findings.append(Finding(schema.fullname, "incompatible", " | ".join(problems)))
        else:
            findings.append(Finding(schema.fullname, "compatible", f"changed since v{latest['version']}, compatible"))
    for fullname in sorted(set(registry) - {s.fullname for s in current}):
        findings.append(Finding(fullname, "incompatible", "released schema was deleted"))
    return findings


def register(current: SchemaSet, path: Path = REGISTRY_FILE) -> list[Finding]:
    """Records a new version for every new or changed schema; refuses if any change is incompatible."""
    registry = load_registry(path)
    findings = check(current, registry)
    bad = [f for f in findings if not f.ok]
    if bad:
        return findings
    for schema in current:
        versions = registry.setdefault(schema.fullname, [])
        if versions and versions[-1]["schema"] == schema.expanded:
            continue
        versions.append(
            {
                "version": len(versions) + 1,
                "fingerprint": f"{schema.fingerprint:016x}",
                "schema": schema.expanded,
            }
        )
    path.write_text(json.dumps(registry, indent=1, sort_keys=True) + "\n")
    return findings
