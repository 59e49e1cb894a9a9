"""Settings of the alert notifier (``mercado notify``): defaults, ``MERCADO_NOTIFY__*`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from processors import topics
from streams.config import Settings

if TYPE_CHECKING:
    from sinks.notify.channels import Channel

Level = Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
LEVELS: tuple[str, ...] = ("INFO", "WARNING", "ERROR", "CRITICAL")


class NotifySettings(BaseSettings):
    """``MERCADO_NOTIFY__*`` environment overrides, e.g. ``MERCADO_NOTIFY__TELEGRAM_TOKEN``,
    ``MERCADO_NOTIFY__WEBHOOK_URLS='["https://hooks.example/x"]'``."""

    model_config = SettingsConfigDict(env_prefix="MERCADO_NOTIFY__", extra="ignore")

    topics: tuple[str, ...] = (topics.MD_ALERTS, topics.RISK_ALERTS)
    group: str = "mercado-notify"
    webhook_urls: tuple[str, ...] = ()
    telegram_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_base_url: str = "https://api.telegram.org"
    min_level: Level = "INFO"
    delivery_log: Path | None = None  # default: <state_dir>/notify/deliveries.sqlite
    http_timeout_s: float = 10.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 60.0
    max_pending: int = 1000
    commit_interval_s: float = 1.0

    def log_path(self, settings: Settings) -> Path:
        return self.delivery_log or settings.local.state_dir / "notify" / "deliveries.sqlite"

    def channels(self) -> list[Channel]:
        from sinks.notify.channels import TelegramChannel, WebhookChannel

        channels: list[Channel] = []
        for i, url in enumerate(self.webhook_urls):
            name = "webhook" if len(self.webhook_urls) == 1 else f"webhook-{i + 1}"
            channels.append(WebhookChannel(url, self.http_timeout_s, name))
        if self.telegram_token is not None and self.telegram_chat_id:
            channels.append(
                TelegramChannel(
                    self.telegram_token.get_secret_value(),
                    self.telegram_chat_id,
                    self.telegram_base_url,
                    self.http_timeout_s,
                )
            )
        return channels

    def secrets(self) -> list[str]:
        out = list(self.webhook_urls)
        if self.telegram_token is not None:
            out.append(self.telegram_token.get_secret_value())
        return out
