"""`mercado up | down | status`: the local Kafka broker and PostgreSQL."""

from __future__ import annotations

from rich.table import Table

from streams.commands.app import (
    app,
    console,
    fail,
)
from streams.config import get_settings


@app.command()
def up() -> None:
    """Start the local Kafka broker and PostgreSQL (or check the configured ones); print settings."""
    from infra.local import InfraError
    from infra.local import up as infra_up

    try:
        with console.status("starting Kafka (KRaft) and PostgreSQL…"):
            conn = infra_up(get_settings())
    except InfraError as exc:
        raise fail(str(exc)) from None
    table = Table(title="Mercado services", show_header=False)
    for k, v in conn.items():
        table.add_row(k, str(v))
    console.print(table)
    console.print(
        "export MERCADO_KAFKA_BOOTSTRAP={kafka_bootstrap} MERCADO_DATABASE_URL={database_url}".format(**conn),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def down() -> None:
    """Stop the local Kafka broker and PostgreSQL started by `mercado up`."""
    from infra.local import InfraError
    from infra.local import down as infra_down

    try:
        infra_down(get_settings())
    except InfraError as exc:
        raise fail(str(exc)) from None
    console.print("stopped")


@app.command()
def status() -> None:
    """Show which services run."""
    from infra.local import status as infra_status

    table = Table("service", "state", "address", "pid")
    for row in infra_status(get_settings()):
        table.add_row(row.service, str(row.state), row.address, str(row.pid or "-"))
    console.print(table)
