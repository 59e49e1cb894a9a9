"""``mercado notify`` (the lead registers :func:`notify` as a ``mercado.commands`` entry point): delivers
``Alert`` events from Kafka to a JSON webhook and/or Telegram — see :mod:`sinks.notify.consumer`.

Heavy imports happen inside the command: the ``mercado`` CLI imports this module on every start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def notify(
    topics: list[str] = typer.Option(None, "--topic", help="Alert topic(s) (default: md.alerts.v1, risk.alerts.v1)."),
    group: str = typer.Option(None, "--group", help="Consumer group (default: mercado-notify)."),
    webhook_urls: list[str] = typer.Option(None, "--webhook-url", help="POST each alert as JSON to this URL."),
    telegram_chat_id: str = typer.Option(None, "--telegram-chat-id", help="Telegram chat to send alerts to."),
    telegram_token: str = typer.Option(
        None,
        "--telegram-token",
        envvar="MERCADO_NOTIFY__TELEGRAM_TOKEN",
        show_default=False,
        help="Telegram bot token (prefer the environment variable: command lines are visible to other users).",
    ),
    telegram_base_url: str = typer.Option(None, "--telegram-base-url", help="Bot API base URL."),
    min_level: str = typer.Option(None, "--min-level", help="INFO, WARNING, ERROR or CRITICAL."),
    delivery_log: Path = typer.Option(None, "--delivery-log", help="SQLite delivery log file."),
) -> None:
    """Deliver alerts from Kafka to a webhook and/or Telegram (at-least-once, never resending what was delivered)."""
    import signal

    from rich.console import Console

    from infra.redaction import redact
    from sinks.notify.consumer import Notifier, log
    from sinks.notify.settings import NotifySettings
    from streams.config import get_settings
    from streams.observability.logs import configure_logging

    overrides: dict[str, Any] = {
        "topics": tuple(topics) if topics else None,
        "group": group,
        "webhook_urls": tuple(webhook_urls) if webhook_urls else None,
        "telegram_chat_id": telegram_chat_id,
        "telegram_token": telegram_token,
        "telegram_base_url": telegram_base_url,
        "min_level": min_level.upper() if min_level else None,
        "delivery_log": delivery_log,
    }
    try:
        config = NotifySettings(**{k: v for k, v in overrides.items() if v is not None})
        notifier = Notifier(get_settings(), config)
    except ValueError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {redact(str(exc), [telegram_token or ''])}", highlight=False)
        raise typer.Exit(1) from None
    configure_logging()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: notifier.stop.set())
    log.info(
        "notifier started",
        topics=notifier.topics,
        channels=[c.name for c in notifier.channels],
        delivery_log=str(config.log_path(notifier.settings)),
    )
    stats = notifier.run()
    log.info("notifier stopped", delivered=stats.delivered, failed=stats.failed, retries=stats.retries)
