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

from services.monitoring.rules.state import GroupState

ACTIVE_DEVICE_WINDOW = timedelta(days=30)
# Progress travels on `plans.events`, syncs on `meetings.events`: a worker may read a sync before a
# progress report the server received just before it. Plan rules decide on a sync's evidence only
# this long after it (the detection instant stays the sync's arrival), so that report is read first.
SYNC_SETTLE = timedelta(seconds=30)


def synced_past_at(
    state: GroupState, needed: datetime, *, reference: datetime, since: datetime | None = None
) -> datetime | None:
    """When the facilitator's active devices had all synced past `needed` (None if not yet): the
    latest of each device's *first* sync that went past it. With `since`, only syncs received after
    that instant count (a sync from before a plan reached Pantau says nothing about its progress:
    the phone could not have sent progress for activities the server did not know)."""
    active = [mark for mark in state.devices.values() if mark.received_at >= reference - ACTIVE_DEVICE_WINDOW]
    if not active:
        return None
    firsts = [mark.first_covering(needed, after=since) for mark in active]
    if any(first is None for first in firsts):
        return None
    return max(first for first in firsts if first is not None)
