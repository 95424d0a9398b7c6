"""When the facilitator's phones have shown that nothing older is still waiting on them (pure).

A device sync (`meetings.device_synced`) says "everything recorded on this device up to
`synced_through` is on the server". Rules that fire on *missing* evidence (`meeting.overdue`,
`plan.activity_overdue`, `plan.activity_at_risk`) wait for such a sync past the instant in question,
so that "not done" is never confused with "not yet synced".

Which devices count: those of the group's facilitator that synced within 30 days before the instant
in question (an abandoned phone does not hold a rule back beyond its offline grace).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from services.monitoring.rules.state import DeviceWatermark, GroupState

ACTIVE_DEVICE_WINDOW = timedelta(days=30)
# Progress travels on `plans.events`, syncs on `meetings.events`: a worker may read a sync before a
# progress report the server received just before it. Plan rules decide on a sync's evidence only
# this long after it (the detection instant stays the sync's arrival), so that report is read first.
SYNC_SETTLE = timedelta(seconds=30)


# One question put to `synced_past_at`: (needed, reference, since).
SyncQuestion = tuple[datetime, datetime, datetime | None]


def synced_past_at(
    state: GroupState,
    needed: datetime,
    *,
    reference: datetime,
    since: datetime | None = None,
    asked: list[SyncQuestion] | None = None,
) -> datetime | None:
    """When the facilitator's active devices had all synced past `needed` (None if not yet): the
    latest of each device's *first* sync that went past it. With `since`, only syncs received after
    that instant count (a sync from before a plan reached Pantau says nothing about its progress:
    the phone could not have sent progress for activities the server did not know). The question
    is added to `asked`, when given (see `answer_may_change`)."""
    if asked is not None:
        asked.append((needed, reference, since))
    active = [mark for mark in state.devices.values() if mark.received_at >= reference - ACTIVE_DEVICE_WINDOW]
    if not active:
        return None
    firsts = [mark.first_covering(needed, after=since) for mark in active]
    if any(first is None for first in firsts):
        return None
    return max(first for first in firsts if first is not None)


def answer_differs(before: GroupState, after: GroupState, question: SyncQuestion) -> bool:
    """Whether `synced_past_at` answers `question` otherwise for the two states."""
    needed, reference, since = question
    return synced_past_at(before, needed, reference=reference, since=since) != synced_past_at(
        after, needed, reference=reference, since=since
    )


def next_mark_of(before: DeviceWatermark, after: DeviceWatermark) -> bool:
    """Whether `after` is `before` moved on by one sync of the same device, as the engine folds it:
    `before`'s marks kept in order as the history (the oldest perhaps dropped), and a newer mark."""
    marks = (*before.history, (before.synced_through, before.received_at))
    kept = len(after.history)
    return 0 < kept <= len(marks) and marks[len(marks) - kept :] == after.history


def answer_may_change(before: DeviceWatermark, after: DeviceWatermark, question: SyncQuestion) -> bool:
    """Whether `synced_past_at` may answer `question` otherwise once one device's mark `before` is
    replaced by `after` (`next_mark_of(before, after)`; the other devices unchanged). False only when
    it cannot: the device counts among the active ones in both or in neither, and its first sync
    past `needed` is the same mark. That holds unless that first sync was a mark dropped from the
    history, or no kept mark of `before` went past `needed` (conservatively: its latest did not) and
    the new one does. A device sync then moves only the activities whose questions it can answer
    differently (`activities.carry_quiet_over_sync`) and the overdue meetings still awaiting it
    (`overdue.sync_may_decide`)."""
    return SyncMove.of(before, after).may_change(question)


class SyncMove:
    """One device's next sync (`next_mark_of(before, after)`), prepared once to be put every
    question of a group (`may_change` is `answer_may_change`): a sync is half of all records, and a
    group's plan asks a few questions per activity."""

    # A plain class, not a frozen dataclass: built for every sync, and a compiled frozen dataclass is built by
    # Python code (about 10x the cost of this `__init__`). `Final`: the type check keeps it unchanged.
    __slots__ = ("active_until_after", "active_until_before", "after", "before", "dropped")

    def __init__(
        self,
        before: DeviceWatermark,
        after: DeviceWatermark,
        dropped: tuple[tuple[datetime, datetime], ...],
        active_until_before: datetime,
        active_until_after: datetime,
    ) -> None:
        self.before: Final = before
        self.after: Final = after
        self.dropped: Final = dropped  # `before`'s marks no longer in `after`'s history
        # A device is active for a question while `reference` is at most 30 days after its last sync.
        self.active_until_before: Final = active_until_before
        self.active_until_after: Final = active_until_after

    @classmethod
    def of(cls, before: DeviceWatermark, after: DeviceWatermark) -> SyncMove:
        return cls.onto(before, (*before.history, (before.synced_through, before.received_at)), after)

    @classmethod
    def onto(
        cls, before: DeviceWatermark, marks: tuple[tuple[datetime, datetime], ...], after: DeviceWatermark
    ) -> SyncMove:
        """`of`, given `before`'s marks in order (its history, then its own), as the engine built them
        for `after`'s history: a sync is half of all records, and the marks were rebuilt three times."""
        return cls(
            before,
            after,
            marks[: len(marks) - len(after.history)],
            before.received_at + ACTIVE_DEVICE_WINDOW,
            after.received_at + ACTIVE_DEVICE_WINDOW,
        )

    def may_change(self, question: SyncQuestion) -> bool:
        needed, reference, since = question
        if (reference <= self.active_until_before) != (reference <= self.active_until_after):
            return True
        for through, received in self.dropped:
            if through > needed and (since is None or received > since):
                return True
        before = self.before
        if before.synced_through > needed and (since is None or before.received_at > since):
            return False  # a kept mark went past it: the first one still does
        after = self.after
        return after.synced_through > needed and (since is None or after.received_at > since)


def sync_move(before: GroupState, after: GroupState) -> SyncMove | None:
    """The one device's next sync that makes `after`'s devices of `before`'s, or None when they
    differ otherwise (a new device, several moved, a mark not simply moved on)."""
    moved = [key for key, mark in after.devices.items() if before.devices.get(key) is not mark]
    if len(moved) != 1 or len(after.devices) != len(before.devices):
        return None
    old, new = before.devices[moved[0]], after.devices[moved[0]]
    return SyncMove.of(old, new) if next_mark_of(old, new) else None
