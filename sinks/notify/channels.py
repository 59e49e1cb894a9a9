"""Where the notifier delivers alerts: a generic JSON webhook and Telegram's Bot API.

A channel sends one alert and says how it went (:class:`Outcome`): delivered; a transient failure to
retry (network error, timeout, HTTP 5xx, 429 — with the server's ``Retry-After`` when it gives one);
or a permanent failure (any other 4xx: retrying the same request cannot help).

Secrets: the Telegram bot token is part of the API URL, and webhook URLs often embed a secret too, so
no outcome detail and no log line ever contains a URL or the token — only the channel's name, the HTTP
status and the error type, with every configured secret redacted from anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

LEVEL_ICONS = {"INFO": "ℹ️", "WARNING": "⚠️", "ERROR": "🛑", "CRITICAL": "🚨"}
_MARKDOWN_SPECIAL = ("\\", "_", "*", "`", "[")


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool
    detail: str
    retry_after_s: float | None = None

    @classmethod
    def ok(cls, detail: str = "delivered") -> Outcome:
        return cls(True, False, detail)

    @classmethod
    def transient(cls, detail: str, retry_after_s: float | None = None) -> Outcome:
        return cls(False, True, detail, retry_after_s)

    @classmethod
    def permanent(cls, detail: str) -> Outcome:
        return cls(False, False, detail)


class Channel(Protocol):
    name: str

    def send(self, alert: dict[str, Any]) -> Outcome: ...

    def close(self) -> None: ...


def alert_time(alert: dict[str, Any]) -> str:
    return datetime.fromtimestamp(alert["event_time"] / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def markdown_escape(text: str) -> str:
    """Text for Telegram's (legacy) Markdown: its four markup characters escaped."""
    for ch in _MARKDOWN_SPECIAL:
        text = text.replace(ch, "\\" + ch)
    return text


def alert_markdown(alert: dict[str, Any]) -> str:
    """``🚨 *CRITICAL* · risk · breaker_opened`` then the message, the key and the time."""
    level = alert["level"]
    lines = [
        f"{LEVEL_ICONS.get(level, '')} *{level}* · {markdown_escape(alert['source'])} · "
        f"{markdown_escape(alert['kind'])}".strip(),
        markdown_escape(alert["message"]),
        f"`{alert['alert_key'].replace('`', '')}` · {alert_time(alert)}",
    ]
    if alert.get("suppressed_count"):
        lines.append(f"_{alert['suppressed_count']} similar alert(s) suppressed before this one_")
    return "\n".join(lines)


def classify(status: int, retry_after: str | None = None) -> Outcome:
    if 200 <= status < 300:
        return Outcome.ok(f"HTTP {status}")
    if status == 429 or status >= 500:
        after = None
        if retry_after is not None:
            try:
                after = max(0.0, float(retry_after))
            except ValueError:
                after = None
        return Outcome.transient(f"HTTP {status}", after)
    return Outcome.permanent(f"HTTP {status}")


def _transport_error(exc: Exception) -> Outcome:
    return Outcome.transient(type(exc).__name__)


class WebhookChannel:
    """POSTs ``{"event_id", "time", "text", "alert": {...}}`` as JSON; ``Idempotency-Key: <event_id>`` lets the
    receiver drop the duplicates at-least-once delivery can cause."""

    def __init__(self, url: str, timeout_s: float = 10.0, name: str = "webhook"):
        self.name = name
        self._url = url
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, alert: dict[str, Any]) -> Outcome:
        payload = {"event_id": alert["event_id"], "time": alert_time(alert), "text": alert["message"], "alert": alert}
        try:
            response = self._client.post(self._url, json=payload, headers={"Idempotency-Key": alert["event_id"]})
        except httpx.HTTPError as exc:
            return _transport_error(exc)
        return classify(response.status_code, response.headers.get("Retry-After"))

    def close(self) -> None:
        self._client.close()


class TelegramChannel:
    """Bot API ``sendMessage`` with Markdown; ``base_url`` is configurable (tests point it at a local server)."""

    def __init__(
        self,
        token: str,
        chat_id: str,
        base_url: str = "https://api.telegram.org",
        timeout_s: float = 10.0,
        name: str = "telegram",
    ):
        self.name = name
        self._token = token
        self._chat_id = chat_id
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, alert: dict[str, Any]) -> Outcome:
        body = {
            "chat_id": self._chat_id,
            "text": alert_markdown(alert),
            "parse_mode": "Markdown",
            "disable_web_page_preview": True,
        }
        try:
            response = self._client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            return _transport_error(exc)
        retry_after = response.headers.get("Retry-After")
        if response.status_code == 429 and retry_after is None:
            try:
                retry_after = str(response.json()["parameters"]["retry_after"])
            except (ValueError, KeyError, TypeError):
                retry_after = None
        outcome = classify(response.status_code, retry_after)
        if outcome.delivered:
            try:
                ok = response.json().get("ok", False)
            except ValueError:
                ok = False
            if not ok:
                return Outcome.transient(f"HTTP {response.status_code} without ok: true")
        return outcome

    def close(self) -> None:
        self._client.close()
