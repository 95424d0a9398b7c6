"""The rules' clock: wall-clock time when live; in replay the event-time watermark of each
partition, so that replaying history gives the same deviations as living through it.

Event time is the server's receipt time of the evidence (`pantaureceivedat`) when the record has
one, else the CloudEvents `time`: it is what "now" was when Pantau first knew the fact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RuleClock:
    """`now()` for the rules; `now(partition)` is that partition's watermark in event mode."""

    def __init__(self, mode: str = "wall", wall: Callable[[], datetime] | None = None) -> None:
        self.mode = mode
        self._wall = wall or (lambda: datetime.now(UTC))
        self._watermarks: dict[int, datetime] = {}

    def observe(self, event_time: datetime, partition: int = 0) -> None:
        """Advance a partition's watermark (never backwards)."""
        current = self._watermarks.get(partition)
        if current is None or event_time > current:
            self._watermarks[partition] = event_time

    def now(self, partition: int | None = None) -> datetime:
        if self.mode != "event":
            return self._wall()
        if partition is not None:
            return self._watermarks.get(partition, _EPOCH)
        return max(self._watermarks.values(), default=_EPOCH)
