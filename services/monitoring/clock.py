"""The rules' clock: wall-clock time when live, the event-time watermark when replaying, so that a
replay of history produces the same deviations as living through it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


class RuleClock:
    """`now()` for the rules. In event mode it is the largest event time observed so far."""

    def __init__(self, mode: str = "wall", wall: Callable[[], datetime] | None = None) -> None:
        self.mode = mode
        self._wall = wall or (lambda: datetime.now(UTC))
        self._watermark: datetime | None = None

    def observe(self, event_time: datetime) -> None:
        """Advance the watermark (never backwards)."""
        if self._watermark is None or event_time > self._watermark:
            self._watermark = event_time

    def now(self) -> datetime:
        if self.mode == "event" and self._watermark is not None:
            return self._watermark
        return self._wall()
