"""Webhook channel: JSON POST signed with Standard Webhooks headers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from services.notifications.channels.base import Channel, ChannelSpec, Delivery, DeliveryError
from services.notifications.channels.feed import FeedHub
from services.notifications.settings import NotificationsSettings
from services.notifications.signing import signed_headers

# Statuses where retrying cannot help: the receiver says the endpoint or the request is wrong.
_PERMANENT = frozenset({400, 401, 403, 404, 405, 410, 413, 422})


class WebhookChannel:
    """POSTs the alert body; a fresh timestamp and signature per attempt, the same `webhook-id`."""

    name = "webhook"

    def __init__(self, secret: str, *, timeout_seconds: float, client: httpx.AsyncClient | None = None) -> None:
        self._secret = secret
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def send(self, delivery: Delivery) -> None:
        headers = signed_headers(
            self._secret, message_id=delivery.message_id, timestamp=int(time.time()), body=delivery.body
        )
        headers["user-agent"] = "Pantau-Notifications/1"
        try:
            response = await self._client.post(delivery.target, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}") from exc
        if 200 <= response.status_code < 300:
            return
        raise DeliveryError(f"HTTP {response.status_code}", retryable=response.status_code not in _PERMANENT)

    async def close(self) -> None:
        await self._client.aclose()


def _build(settings: NotificationsSettings, hub: FeedHub) -> Channel:
    return WebhookChannel(settings.webhook_secret, timeout_seconds=settings.webhook_timeout_seconds)


def _target(supervisor: Mapping[str, Any], settings: NotificationsSettings) -> str | None:
    return supervisor.get("webhook_url") or None


SPEC = ChannelSpec(name="webhook", build=_build, target=_target)
