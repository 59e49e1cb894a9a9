"""The repository's shape: no import cycles, the packages' layering, folders of a readable size.

Every module under the five packages is parsed with ``ast`` (nothing is imported), so an import inside a
function counts like one at the top. Imports under ``if TYPE_CHECKING:`` never run: they are left out
of the cycle check but count for the layering (a type-only import still ties one package to another).

The layering, lowest first: ``schemas`` ← ``processors`` ← ``streams`` ← ``sinks`` ← ``queries`` ←
``gateway``; ``infra`` (the
local Kafka and PostgreSQL) is a leaf that any of them may use. ``streams`` reaches ``sinks`` only
through entry points (``mercado.commands``, ``mercado.demo`` in pyproject.toml), never by import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "processors", "streams", "sinks", "queries", "gateway", "infra")

# package -> the packages of ours it must not import
FORBIDDEN = {
    "schemas": {"processors", "streams", "sinks", "queries", "gateway", "infra"},
    "processors": {"streams", "sinks", "queries", "gateway", "infra"},
    "streams": {"sinks", "queries", "gateway"},
    "sinks": {"queries", "gateway"},
    "queries": {"gateway"},
    "gateway": set(),
    "infra": {"schemas", "processors", "streams", "sinks", "queries", "gateway"},
}

MAX_MODULES_PER_FOLDER = 15
# Folders over the limit today, each capped at its current count so it cannot grow. Remove an entry
# once its folder is split.
OVERSIZED_FOLDERS = {
}
# Cycles allowed for now, as frozensets of module names, each with a one-line reason. None today.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module of ours
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def _ours(name: str) -> str | None:
    """The module of ours that importing ``name`` loads (the longest known prefix), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.AST, package: str) -> Iterator[str]:
    """Dotted names an import statement may load: for ``from a.b import c``, ``a.b.c`` (a module, if it is
    one) else ``a.b``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        for alias in node.names:
            yield f"{module}.{alias.name}"


def _imports(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, type_only: bool) -> Iterator[Import]:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, type_only)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in _imported_names(node, package):
                target = _ours(name)
                if target is not None and target != module:
                    yield Import(module, target, node.lineno, type_only)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child, type_only)

    yield from visit(ast.parse(path.read_text(), filename=str(path)), False)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative): the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle inside a strongly connected component, as a list of modules (first == last)."""
    start = min(component)
    parent: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node] & component):
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if succ not in parent:
                parent[succ] = node
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")


def _runtime_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for imp in IMPORTS:
        if not imp.type_only:
            graph[imp.source].add(imp.target)
    return graph


def test_the_scan_sees_the_packages() -> None:
    assert {"processors.risk.equity", "streams.runtime.driver", "sinks.writer", "infra.local"} <= set(MODULES)
    edges = {(imp.source, imp.target) for imp in IMPORTS}
    assert ("streams.runtime.driver", "processors.runtime") in edges  # a top-level `from x import y`
    assert ("streams.commands.services", "infra.local") in edges  # an import inside a function


def test_no_import_cycles() -> None:
    graph = _runtime_graph()
    cycles = [_cycle_through(graph, c) for c in _strongly_connected(graph) if frozenset(c) not in ALLOWED_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    [component] = _strongly_connected(graph)
    assert component == {"a", "b", "c"}
    assert _cycle_through(graph, component) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("package", PACKAGES)
def test_layering(package: str) -> None:
    wrong = [
        f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line} imports {imp.target}"
        + (" (under TYPE_CHECKING)" if imp.type_only else "")
        for imp in IMPORTS
        if imp.source.split(".")[0] == package and imp.target.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, f"{package} must not import {', '.join(sorted(FORBIDDEN[package]))}:\n" + "\n".join(wrong)


def test_folders_hold_at_most_15_modules() -> None:
    counts: dict[str, int] = {}
    for path in MODULES.values():
        if path.name != "__init__.py":
            folder = path.parent.relative_to(ROOT).as_posix()
            counts[folder] = counts.get(folder, 0) + 1
    over = []
    for folder, count in sorted(counts.items()):
        limit = OVERSIZED_FOLDERS.get(folder, (MAX_MODULES_PER_FOLDER, ""))[0]
        if count > limit:
            over.append(f"{folder}: {count} modules (at most {limit})")
    assert not over, "folders with too many modules (split them into subpackages):\n" + "\n".join(over)
    stale = [f for f, (limit, _) in OVERSIZED_FOLDERS.items() if counts.get(f, 0) <= MAX_MODULES_PER_FOLDER]
    assert not stale, f"no longer oversized, drop them from OVERSIZED_FOLDERS: {stale}"


def test_infra_settings_are_a_subset_of_the_settings() -> None:
    """infra/ reads the settings through its own protocol (it may not import streams.config)."""
    from infra.settings import ServiceSettings
    from streams.config import Settings

    wanted = {name for name in vars(ServiceSettings) if not name.startswith("_")}
    missing = {name for name in wanted if name not in Settings.model_fields and not hasattr(Settings, name)}
    assert "local" in wanted and "dsn" in wanted
    assert not missing, f"streams.config.Settings lacks what infra/ reads: {sorted(missing)}"
