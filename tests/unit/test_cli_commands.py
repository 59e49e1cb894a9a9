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
        "scanner",  # scanner board, persist
        "recommend", "jobs",  # recommendations
        "feed",  # live feeds
        "venue",  # execution venues (mercado venue ccxt, paper)
        "db", "sink", "notify", "risk", "opportunities",  # entry points of sinks/ and queries/
        "api",  # entry point of gateway/
    } <= names


def test_the_recommend_group_has_its_commands() -> None:
    group = typer.main.get_command(app).commands["recommend"]  # type: ignore[attr-defined]
    assert {"generate", "run", "backtest", "evaluate", "history", "schedule"} <= set(group.commands)
