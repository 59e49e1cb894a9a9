"""Every third-party package Mercado imports is declared in pyproject.toml.

The modules are parsed with ``ast`` (nothing is imported; imports inside functions and under
``TYPE_CHECKING`` count too). An import's top-level name is mapped to the distribution that provides it
with ``importlib.metadata.packages_distributions()`` and must be declared where that code runs:

- schemas/, processors/, streams/, sinks/, infra/: the core dependencies; the faust engine module
  (streams/engines/faust_engine.py) also the extra ``faust``;
- tests/ and bench/: the core dependencies and the extras ``test`` and ``faust`` (``./dev`` installs both;
  the faust tests skip without the extra).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"schemas", "processors", "streams", "sinks", "queries", "gateway", "infra", "bench", "tests"}
PACKAGES = ("schemas", "processors", "streams", "sinks", "queries", "gateway", "infra")
FAUST_ENGINE = "streams/engines/faust_engine.py"
# Import names of declared distributions that may be missing here (the faust extra on a core install).
NOT_INSTALLED = {"faust": "faust-streaming", "aiokafka": "aiokafka", "cramjam": "cramjam"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"not a requirement: {requirement!r}"
    return _normalized(match.group(1))


@cache
def _declared() -> dict[str, set[str]]:
    """``core`` and each extra -> the distributions it declares (normalized names)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {"core": {_requirement_name(r) for r in project["dependencies"]}}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        declared[extra] = {_requirement_name(r) for r in requirements}
    return declared


def _allowed(path: str) -> tuple[str, ...]:
    if path.split("/")[0] in ("tests", "bench"):
        return ("core", "test", "faust")
    if path == FAUST_ENGINE:
        return ("core", "faust")
    return ("core",)


def _third_party_imports(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level name, line) of each absolute import of something neither stdlib nor ours."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            if top not in sys.stdlib_module_names and top not in OURS:
                yield top, node.lineno


def _scanned_files() -> list[Path]:
    return [p for folder in (*PACKAGES, "bench", "tests") for p in sorted((ROOT / folder).rglob("*.py"))]


@cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions_of(import_name: str) -> set[str]:
    found = _distributions().get(import_name)
    if found:
        return {_normalized(d) for d in found}
    if import_name in NOT_INSTALLED:
        return {NOT_INSTALLED[import_name]}
    return set()


def test_the_scan_finds_imports_and_their_distributions() -> None:
    bars = list(_third_party_imports(ROOT / "processors/marketdata/bars.py"))
    assert "numpy" in {name for name, _ in bars}
    assert _distributions_of("yaml") == {"pyyaml"}  # import name and distribution differ
    assert _distributions_of("talib") == {"ta-lib"}
    assert _allowed("streams/runtime/driver.py") == ("core",)
    assert "faust-streaming" in _declared()["faust"]


@pytest.mark.parametrize("folder", [*PACKAGES, "bench", "tests"])
def test_every_third_party_import_is_declared(folder: str) -> None:
    declared = _declared()
    unknown, undeclared = [], []
    for path in (p for p in _scanned_files() if p.relative_to(ROOT).parts[0] == folder):
        relative = path.relative_to(ROOT).as_posix()
        allowed = _allowed(relative)
        may_use = set().union(*(declared.get(group, set()) for group in allowed))
        for name, line in _third_party_imports(path):
            distributions = _distributions_of(name)
            if not distributions:
                unknown.append(f"{relative}:{line} imports {name!r}, which no installed distribution provides")
            elif not distributions & may_use:
                undeclared.append(
                    f"{relative}:{line} imports {name!r} ({', '.join(sorted(distributions))}), "
                    f"declared in none of: {', '.join(allowed)}"
                )
    assert not unknown, "\n".join(unknown)
    assert not undeclared, "declare these in pyproject.toml:\n" + "\n".join(undeclared)
