"""faust-streaming and aiokafka are the optional extra ``[faust]``: the core install works without them.

Each test runs a fresh interpreter in which the extra's packages cannot be imported (``sys.modules[name]
= None`` makes ``import name`` raise ModuleNotFoundError, as on a machine without them).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "processors", "streams", "sinks", "infra")
EXTRA = ("faust", "aiokafka", "cramjam", "mode")  # mode: faust's own runtime (mode-streaming)


def _without_the_extra(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfor name in {EXTRA!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_module_imports_without_the_faust_extra() -> None:
    """The faust engine module too: it imports faust only inside the functions that run the engine."""
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts[: -1 if path.name == "__init__.py" else None])
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    )
    assert "streams.engines.faust_engine" in modules
    done = _without_the_extra(
        """
        import importlib
        failed = []
        for name in sys.argv[1:]:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{name}: {exc!r}")
        print("\\n".join(failed))
        """,
        *modules,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", "modules that need the faust extra:\n" + done.stdout


def test_worker_engine_faust_without_the_extra_says_how_to_install_it() -> None:
    for env_or_option in (["--engine", "faust"], []):
        done = _without_the_extra(
            """
            import os
            if len(sys.argv) == 1:
                os.environ["MERCADO_WORKER__ENGINE"] = "faust"
            from streams.commands.cli import app
            app(["worker", "--pipeline", "marketdata", *sys.argv[1:]])
            """,
            *env_or_option,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.splitlines() == [
            "error: the faust engine needs the faust extra (missing: faust, aiokafka): pip install -e '.[faust]'"
        ]
