"""`mercado topics …` and `mercado schemas …`: the topic catalog and the Avro contracts."""

from __future__ import annotations

import typer
from rich.table import Table

from streams.commands.app import (
    app,
    console,
    fail,
)
from streams.config import get_settings

topics_app = typer.Typer(help="The topic catalog.", no_args_is_help=True)
schemas_app = typer.Typer(help="Avro contracts: compatibility and release.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")


@topics_app.command("create")
def topics_create() -> None:
    """Create the catalog's missing topics; report differences in existing ones."""
    from streams.kafka.admin import ensure_topics

    states = ensure_topics(get_settings())
    table = Table("topic", "state", "differences")
    for st in states:
        color = {"created": "green", "exists": "dim", "differs": "yellow"}[st.action]
        table.add_row(st.name, f"[{color}]{st.action}[/]", st.detail)
    console.print(table)


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic catalog."""
    from streams.kafka.catalog import all_topics

    table = Table("topic", "key", "schemas", "partitions", "cleanup", "retention (days)", "what")
    for t in all_topics():
        table.add_row(
            t.name,
            ":".join(t.key_fields) or "-",
            ", ".join(t.schemas) or "raw bytes",
            str(t.partitions),
            t.cleanup_policy,
            f"{t.retention_ms / 86_400_000:g}",
            t.description,
        )
    console.print(table)


@schemas_app.command("check")
def schemas_check() -> None:
    """Fail (exit 1) when a contract changed incompatibly with its last released version."""
    from schemas import SchemaLoadError, load_directory
    from schemas.compat import check, load_registry
    from schemas.loader import SCHEMA_DIR

    try:
        current = load_directory(SCHEMA_DIR)
    except SchemaLoadError as exc:
        raise fail(str(exc)) from None
    findings = check(current, load_registry())
    table = Table("schema", "status", "detail")
    for f in findings:
        color = {"unchanged": "dim", "new": "cyan", "compatible": "green", "incompatible": "bold red"}[f.status]
        table.add_row(f.fullname, f"[{color}]{f.status}[/]", f.detail)
    console.print(table)
    bad = [f for f in findings if not f.ok]
    if bad:
        raise fail(f"{len(bad)} incompatible schema change(s): " + " / ".join(f"{b.fullname}: {b.detail}" for b in bad))
    pending = [f for f in findings if f.status in ("new", "compatible")]
    if pending:
        console.print(f"{len(pending)} schema(s) not released yet: run `mercado schemas release` to record them.")


@schemas_app.command("release")
def schemas_release() -> None:
    """Record new and compatibly changed contracts as new versions in schemas/registry.json."""
    from schemas import load_schemas
    from schemas.compat import register

    findings = register(load_schemas())
    bad = [f for f in findings if not f.ok]
    if bad:
        raise fail("nothing released; incompatible: " + " / ".join(f"{b.fullname}: {b.detail}" for b in bad))
    released = [f.fullname for f in findings if f.status in ("new", "compatible")]
    console.print(f"released {len(released)} schema version(s)" + (": " + ", ".join(released) if released else ""))
