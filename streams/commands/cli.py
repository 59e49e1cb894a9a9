"""The ``mercado`` command line (typer + rich): the root app (``app.py``) with every command group
registered — one module per group — and the commands of packages above streams/ found by entry point."""

from __future__ import annotations

import typer

# Each group registers its commands on import; this order is the order of `mercado --help`.
# isort: off
from streams.commands import services, catalog, events, run, samples, recommend  # noqa: F401
# isort: on
from streams.commands.app import app
from streams.commands.feed import feed_app
from streams.commands.retail_evaluate import retail_app
from streams.commands.scanner import scanner_app
from streams.commands.venue import venue_app

app.add_typer(retail_app, name="retail")
app.add_typer(scanner_app, name="scanner")
app.add_typer(feed_app, name="feed")
app.add_typer(venue_app, name="venue")

__all__ = ["app"]


def _register_plugins() -> None:
    """Commands of packages layered above streams (e.g. ``sinks``) register through the
    ``mercado.commands`` entry-point group, so streams never imports them by name."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="mercado.commands"), key=lambda e: e.name):
        target = ep.load()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            app.command(name=ep.name)(target)


_register_plugins()

if __name__ == "__main__":
    app()
