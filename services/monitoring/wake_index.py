"""The due-time index of a worker: when each group next needs the clock to look at it.

A heap of (instant, partition, group id), filled as states are stored and rebuilt once from the
table after a rebalance. The timer pops what is due and hands it to the agent through the ticks
topic (timers never write tables). Stale entries are harmless: a tick re-evaluates and finds nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import datetime


class WakeIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, str]] = []
        self._scheduled: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, group_id: str, partition: int, at: datetime | None) -> None:
        """Remember the group's next wake-up (only the earliest pending one matters)."""
        if at is None:
            return
        current = self._scheduled.get(group_id)
        if current is not None and current <= at:
            return
        self._scheduled[group_id] = at
        heapq.heappush(self._heap, (at, partition, group_id))

    def pop_due(
        self, now_for_partition: Callable[[int], datetime], limit: int = 10_000
    ) -> list[tuple[str, int, datetime]]:
        """Entries whose instant has come on their partition's clock, earliest first."""
        due: list[tuple[str, int, datetime]] = []
        deferred: list[tuple[datetime, int, str]] = []
        while self._heap and len(due) < limit:
            at, partition, group_id = self._heap[0]
            if at > now_for_partition(partition):
                # Another partition's clock may be further along: look a little deeper, then stop.
                deferred.append(heapq.heappop(self._heap))
                if len(deferred) > 256:
                    break
                continue
            heapq.heappop(self._heap)
            if self._scheduled.get(group_id) == at:
                del self._scheduled[group_id]
            due.append((group_id, partition, at))
        for entry in deferred:
            heapq.heappush(self._heap, entry)
        return due

    def rebuild(self, entries: Iterable[tuple[str, int, datetime | None]]) -> None:
        self._heap.clear()
        self._scheduled.clear()
        for group_id, partition, at in entries:
            self.schedule(group_id, partition, at)
