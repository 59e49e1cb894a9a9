"""The ``mercado`` command line assembles every command group (one module per group)."""

from __future__ import annotations

import typer.main

from streams.commands.cli import app


def test_every_command_and_group_is_registered() -> None:
    names = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {
        "up", "down", "status",  # services
        "topics", "schemas",  # catalog
        "produce", "consume", "dead-letters", "backfill",  # events
        "worker", "replay",  # run
        "generate", "demo",  # samples
        "retail",  # retail evaluate
        "feed",  # live feeds
        "db", "sink", "notify", "risk", "opportunities",  # entry points of sinks/ and queries/
    } <= names
