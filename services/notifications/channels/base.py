"""The interface every channel implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
