"""The live feed: an in-process hub of server-sent-event subscribers (the supervisor console).

As a channel it never fails: a message goes to whoever is connected now; a console that connects
later loads the current state from `GET /api/v1/alerts` first, so nothing depends on the feed's
memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.notifications.channels.base import Channel, ChannelSpec, Delivery
from services.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)

FeedFilter = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)
class Subscriber:
    """One open stream: what it wants and its bounded queue (a slow client drops, not the hub)."""

    wants: FeedFilter
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))


class FeedHub:
    """Fan-out of feed items to subscribers whose filter accepts them."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()

    def subscribe(self, wants: FeedFilter) -> Subscriber:
        subscriber = Subscriber(wants)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, item: dict[str, Any]) -> int:
        """Offer an item to every subscriber; returns how many took it."""
        taken = 0
        for subscriber in list(self._subscribers):
            if not subscriber.wants(item):
                continue
            try:
                subscriber.queue.put_nowait(item)
                taken += 1
            except asyncio.QueueFull:
                log.warning("feed subscriber too slow: dropped %s", item.get("alert_id"))
        return taken


class FeedChannel:
    """The delivery worker's face of the hub."""

    name = "feed"

    def __init__(self, hub: FeedHub) -> None:
        self._hub = hub

    async def send(self, delivery: Delivery) -> None:
        body: dict[str, Any] = orjson.loads(delivery.body)
        self._hub.publish({"event": body.get("type", "alert.opened"), "alert_id": delivery.alert_id, "body": body})

    async def close(self) -> None:
        return None


def _build(settings: NotificationsSettings, hub: FeedHub) -> Channel:
    return FeedChannel(hub)


def _target(supervisor: Mapping[str, Any], settings: NotificationsSettings) -> str | None:
    return str(supervisor["id"])


SPEC = ChannelSpec(name="feed", build=_build, target=_target, pushed=False)
