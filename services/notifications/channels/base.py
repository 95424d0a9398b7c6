"""The interface every channel implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from services.notifications.channels.feed import FeedHub
    from services.notifications.settings import NotificationsSettings


@dataclass(frozen=True)
class Delivery:
    """One message to one target; `message_id` is stable across retries."""

    message_id: str
    alert_id: str
    target: str
    body: bytes
    attempt: int


class DeliveryError(Exception):
    """A failed attempt; `retryable` False means retrying cannot help (e.g. HTTP 410)."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Channel(Protocol):
    """Delivers a message or raises `DeliveryError`."""

    name: str

    async def send(self, delivery: Delivery) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ChannelSpec:
    """How a channel plugs in: each channel module defines `SPEC`, and `channels.registry` finds it.

    - `build(settings, hub)`: the channel, or None when it is not configured (no SMTP relay, …);
    - `target(supervisor, settings)`: where one supervisor gets it (a URL, an address), or None;
    - `body(body, supervisor)`: the delivery body for this channel (default: the webhook body);
    - `pushed`: False for the console's live feed (never held for working hours, not "a message").
    """

    name: str
    build: Callable[[NotificationsSettings, FeedHub], Channel | None]
    target: Callable[[Mapping[str, Any], NotificationsSettings], str | None]
    body: Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]] = field(default=lambda body, supervisor: body)
    pushed: bool = True
