"""``mercado api``: serves the gateway with uvicorn (registered as the ``api`` entry point of
``mercado.commands``; heavy imports happen inside the function, the CLI imports this on every start)."""

from __future__ import annotations

import typer


def api(
    host: str | None = typer.Option(None, "--host", help="Bind address (default MERCADO_GATEWAY__HOST: 127.0.0.1)."),
    port: int | None = typer.Option(
        None, "--port", "-p", min=0, max=65535, help="Port (default MERCADO_GATEWAY__PORT: 8470)."
    ),  # fmt: skip
    workers: int = typer.Option(1, "--workers", min=1, help="Processes (each has its own Kafka consumer)."),
    check: bool = typer.Option(False, "--check", help="Build the app and print where it would listen, then exit."),
) -> None:
    """Serve the HTTP API (/api/v1, OpenAPI at /docs) and the WebSocket push (/api/v1/ws)."""
    from rich.console import Console

    from gateway.auth import KeysFileError, KeyStore
    from gateway.settings import get_gateway_settings

    settings = get_gateway_settings()
    updates = {k: v for k, v in {"gateway__host": host, "gateway__port": port}.items() if v is not None}
    settings = settings.with_(updates) if updates else settings
    err = Console(stderr=True)
    try:
        keys = KeyStore(settings.gateway)
    except KeysFileError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not len(keys):
        err.print("[yellow]warning:[/] no API key configured (MERCADO_GATEWAY__READ_KEYS, "
                  "MERCADO_GATEWAY__COMMAND_KEYS or MERCADO_GATEWAY__KEYS_FILE): every call but "
                  "/api/v1/system/ping answers 401", highlight=False)  # fmt: skip
    g = settings.gateway
    err.print(f"Mercado API on http://{g.host}:{g.port}/api/v1 (docs: http://{g.host}:{g.port}/docs), "
              f"{len(keys)} API key(s)", highlight=False)  # fmt: skip
    if check:
        from gateway.app import create_app

        create_app(settings)
        return
    import uvicorn

    if workers > 1:
        uvicorn.run("gateway.serve:app", host=g.host, port=g.port, workers=workers, log_level="info",
                    ws_per_message_deflate=g.ws_compression)  # fmt: skip
    else:
        from gateway.app import create_app

        uvicorn.run(create_app(settings), host=g.host, port=g.port, log_level="info",
                    ws_per_message_deflate=g.ws_compression)  # fmt: skip
