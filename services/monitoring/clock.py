"""The rules' clock: wall-clock time when live; in replay a *safe* event-time watermark per
partition, so that replaying history gives the same deviations as living through it.

Event time is the server's receipt time of the evidence (`pantaureceivedat`) when the record has
one, else the CloudEvents `time`: it is what "now" was when Pantau first knew the fact.

A group's facts arrive on several topics (meetings, plans, evaluations) that a worker reads at
different speeds. Rules that fire on the *absence* of evidence (a missing report, an activity not
done) may only look at an instant once every topic of the group's partition has been read past it;
otherwise a fast topic would drag the clock ahead of a report still waiting in a slow one. So the
watermark of a partition is the smallest last-seen time among its source topic-partitions that
still have unread records; caught-up ones do not hold it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CaughtUp = Callable[[str, int, int | None], bool]  # (topic, partition, last offset read) -> nothing left?


class RuleClock:
    """`now()` for the rules; `now(partition)` is that partition's safe watermark in event mode."""

    def __init__(
        self,
        mode: str = "wall",
        wall: Callable[[], datetime] | None = None,
        *,
        sources: Sequence[str] = (),
        caught_up: CaughtUp | None = None,
    ) -> None:
        self.mode = mode
        self._wall = wall or (lambda: datetime.now(UTC))
        self._sources = tuple(sources)
        self._caught_up = caught_up
        self._last_time: dict[tuple[str, int], datetime] = {}
        self._last_offset: dict[tuple[str, int], int] = {}
        self._watermarks: dict[int, datetime] = {}
        self._floors: dict[int, datetime] = {}

    def observe(self, event_time: datetime, partition: int = 0, topic: str = "", offset: int | None = None) -> None:
        """Record a record read from `topic`/`partition` (times per topic-partition never go back)."""
        key = (topic, partition)
        if key not in self._last_time or event_time > self._last_time[key]:
            self._last_time[key] = event_time
        if offset is not None:
            self._last_offset[key] = offset
        current = self._watermarks.get(partition)
        if current is None or event_time > current:
            self._watermarks[partition] = event_time

    def forget(self, topic: str, partition: int) -> None:
        """`topic`/`partition` was sought back (a rebalance, or a re-read): what was read of it beyond
        the new position is read again, and until it is, the clock must not count it as read. Left
        as it was, a plan's progress read, dropped by the rebalance and not yet read again would still
        hold the clock past it, and a tick would find the activity overdue.

        What was read is not forgotten for good, though: it becomes a floor of the partition (see
        `restore`), which counts only once every source has caught up, that is once everything up to
        it has been read again or was committed. Dropped altogether, a partition sought back to
        where nothing was left to read (a restarted worker that had read and committed it to the end
        before the seek, Faust seeking to the committed offsets after recovery) knew no time beyond
        its states' own clocks, and every wake-up after them waited for good: one restart in eight
        lost tens of overdue and at-risk deviations that way."""
        last = self._last_time.pop((topic, partition), None)
        self._last_offset.pop((topic, partition), None)
        self._watermarks.pop(partition, None)
        if last is not None:
            self.restore(partition, last)

    def restore(self, partition: int, at: datetime) -> None:
        """A time this partition's clock had reached before a restart or a rebalance (the latest
        rule clock stored in its groups' states): once every source of the partition has caught up,
        the watermark is never below it. Without it, a partition whose topics bring nothing new
        after a restart stays at the epoch and its absence rules (overdue meetings and activities)
        never fire. While a source still lags it does not count: see `now`."""
        if partition not in self._floors or at > self._floors[partition]:
            self._floors[partition] = at

    def now(self, partition: int | None = None) -> datetime:
        if self.mode != "event":
            return self._wall()
        if partition is None:
            return max([*self._watermarks.values(), *self._floors.values()], default=_EPOCH)
        computed, lagging = self._computed(partition)
        if lagging:
            # Records still to read may be older than the floor: the states stored before a crash
            # need not hold all of them (a batch is stored group by group, and a kill can land
            # between two writes), so only what is read decides until every source has caught up.
            return computed
        return max(computed, self._floors.get(partition, _EPOCH))

    def _computed(self, partition: int) -> tuple[datetime, bool]:
        """The partition's watermark from what was read, and whether a source still lags."""
        if not self._sources or self._caught_up is None:
            return self._watermarks.get(partition, _EPOCH), False
        # Asked at every record: the least and the greatest without building lists.
        slowest: datetime | None = None  # of the sources that still lag
        latest: datetime | None = None  # of all of them
        last_time, last_offset, caught_up = self._last_time, self._last_offset, self._caught_up
        for topic in self._sources:
            key = (topic, partition)
            last = last_time.get(key)
            if last is not None and (latest is None or last > latest):
                latest = last
            if not caught_up(topic, partition, last_offset.get(key)):
                lagged = last or _EPOCH
                if slowest is None or lagged < slowest:
                    slowest = lagged
        if slowest is not None:
            return slowest, True
        return (_EPOCH if latest is None else latest), False
