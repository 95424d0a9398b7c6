"""What one device sync can change (`rules/syncs.py`): a sync moves only the plan instants whose
questions to the devices it may answer otherwise, and the instants it leaves are those a fresh
computation finds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.monitoring import engine
from services.monitoring.rules import activities
from services.monitoring.rules.state import (
    PLAN_TIMES,
    SYNC_MARKS_AHEAD_KEPT,
    SYNC_MARKS_KEPT,
    DeviceWatermark,
    GroupState,
    kept_sync_marks,
)
from services.monitoring.rules.syncs import answer_may_change, next_mark_of, synced_past_at
from tests.unit.test_monitoring_plan_times import AT_RISK_CONFIG, OVERDUE_CONFIG, planned
from tests.unit.test_monitoring_support import GROUP, PKH, synced, utc

pytestmark = pytest.mark.unit

START = utc(2026, 1, 1)
hours = st.integers(min_value=0, max_value=24 * 120).map(lambda h: START + timedelta(hours=h))


def folded(before: DeviceWatermark | None, through: datetime, received_at: datetime) -> DeviceWatermark:
    """The device's mark after one more sync, as `engine._fold` builds it."""
    if before is None:
        return DeviceWatermark(through, received_at)
    history = (*before.history, (before.synced_through, before.received_at))
    return DeviceWatermark(through, received_at, "", history[-SYNC_MARKS_KEPT:])


@st.composite
def marks(draw: st.DrawFn) -> tuple[DeviceWatermark, DeviceWatermark]:
    """A device's mark after 1 to 16 syncs (each further than the last, received in any order), and
    after one sync more."""
    throughs = sorted(set(draw(st.lists(hours, min_size=2, max_size=17))))
    if len(throughs) < 2:
        throughs.append(throughs[0] + timedelta(hours=1))
    mark: DeviceWatermark | None = None
    for through in throughs[:-1]:
        mark = folded(mark, through, draw(hours))
    assert mark is not None
    return mark, folded(mark, throughs[-1], draw(hours))


questions = st.tuples(hours, hours, st.none() | hours)


def with_devices(**devices: DeviceWatermark) -> GroupState:
    return GroupState(devices=devices)


class TestNextMarkOf:
    @given(marks())
    def test_holds_for_the_engines_next_sync(self, pair: tuple[DeviceWatermark, DeviceWatermark]) -> None:
        assert next_mark_of(*pair)

    def test_not_for_another_devices_mark(self) -> None:
        first = folded(folded(None, START, START), START + timedelta(days=1), START + timedelta(days=1))
        other = folded(None, START + timedelta(days=2), START + timedelta(days=2))
        assert not next_mark_of(first, other)
        assert not next_mark_of(other, first)


class TestAnswerMayChange:
    @settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
    @given(marks(), questions, st.none() | marks())
    def test_false_only_when_the_answer_is_the_same(
        self,
        pair: tuple[DeviceWatermark, DeviceWatermark],
        question: tuple[datetime, datetime, datetime | None],
        other: tuple[DeviceWatermark, DeviceWatermark] | None,
    ) -> None:
        before, after = pair
        others = {} if other is None else {"hp-2": other[0]}
        needed, reference, since = question
        if not answer_may_change(before, after, question):
            assert synced_past_at(
                with_devices(**others, **{"hp-1": before}), needed, reference=reference, since=since
            ) == synced_past_at(with_devices(**others, **{"hp-1": after}), needed, reference=reference, since=since)

    def test_true_when_the_new_sync_is_the_first_past_the_instant(self) -> None:
        before = folded(None, utc(2026, 1, 5), utc(2026, 1, 5))
        after = folded(before, utc(2026, 1, 20), utc(2026, 1, 20))
        question = (utc(2026, 1, 10), utc(2026, 1, 10), None)
        assert answer_may_change(before, after, question)

    def test_false_when_an_older_kept_sync_went_past_it(self) -> None:
        before = folded(None, utc(2026, 1, 15), utc(2026, 1, 15))
        after = folded(before, utc(2026, 1, 20), utc(2026, 1, 20))
        assert not answer_may_change(before, after, (utc(2026, 1, 10), utc(2026, 1, 10), None))

    def test_true_when_the_first_sync_past_it_is_dropped_from_the_history(self) -> None:
        mark = folded(None, utc(2026, 1, 2), utc(2026, 1, 2))
        for day in range(3, 3 + SYNC_MARKS_KEPT):
            mark = folded(mark, utc(2026, 1, day), utc(2026, 1, day))
        after = folded(mark, utc(2026, 1, 28), utc(2026, 1, 28))
        assert answer_may_change(mark, after, (utc(2026, 1, 1), utc(2026, 1, 1), None))

    def test_true_when_the_device_becomes_active_for_the_question(self) -> None:
        before = folded(None, utc(2026, 1, 2), utc(2026, 1, 2))
        after = folded(before, utc(2026, 3, 1), utc(2026, 3, 1))
        assert answer_may_change(before, after, (utc(2025, 12, 1), utc(2026, 3, 15), None))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["hp-1", "hp-2"]), st.integers(min_value=1, max_value=24 * 100)),
        min_size=1,
        max_size=25,
    )
)
def test_a_syncs_plan_times_are_those_a_fresh_state_computes(syncs: list[tuple[str, int]]) -> None:
    """Syncs of one or two phones folded one by one (time passing to each as the worker does): the
    plan times the engine carries over each sync are those computed afresh for the same state."""
    state = planned()
    moment = utc(2026, 1, 1)
    throughs: dict[str, datetime] = {}
    for device, step_hours in syncs:
        moment += timedelta(hours=step_hours % 48 + 1)
        through = max(moment - timedelta(hours=step_hours % 30), throughs.get(device, START) + timedelta(minutes=1))
        throughs[device] = through
        state = engine.step(state, None, moment, PKH, group_id=GROUP).state
        state = engine.step(
            state, synced(through, received_at=moment, device_id=device), moment, PKH, group_id=GROUP
        ).state
        carried = getattr(state, PLAN_TIMES)
        if carried is None:
            continue
        fresh = activities.plan_times(dataclasses.replace(state), OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        assert carried.by_activity == fresh.by_activity
        assert carried.wakes == fresh.wakes
        assert carried.asked == fresh.asked


def test_a_device_keeps_the_sync_marks_its_clock_has_not_passed() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    marks = tuple((start + timedelta(days=3 * n), start + timedelta(days=3 * n, hours=13)) for n in range(40))
    # Live (the clock at the latest mark): the last SYNC_MARKS_KEPT, as before.
    assert kept_sync_marks(marks, marks[-1][1]) == marks[-SYNC_MARKS_KEPT:]
    # A replay whose clock waits on a slower topic at mark 25: every mark after it, and 12 up to it.
    clock = marks[25][1]
    assert kept_sync_marks(marks, clock) == marks[25 - SYNC_MARKS_KEPT + 1 :]
    # The clock at the epoch (a topic not read yet): all 40 (within the bound).
    assert kept_sync_marks(marks, datetime(1970, 1, 1, tzinfo=UTC)) == marks
    many = tuple((start + timedelta(hours=n), start + timedelta(hours=n)) for n in range(SYNC_MARKS_AHEAD_KEPT + 50))
    assert kept_sync_marks(many, start) == many[-SYNC_MARKS_AHEAD_KEPT:]


# The marks a device's syncs leave, as (synced through, received) hours after START, in any order
# of receipt (a replay can read a phone's syncs in any order of arrival).
_MARKS = st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 2000)), max_size=SYNC_MARKS_KEPT + 8)


@settings(max_examples=200, deadline=None)
@given(_MARKS, st.integers(0, 2000), st.integers(0, 500))
def test_marks_kept_are_the_same_when_the_clock_is_known_past_them_all(
    marks: list[tuple[int, int]], clock_hours: int, margin_hours: int
) -> None:
    """`kept_sync_marks` told an instant no earlier than every receipt keeps what it keeps without
    being told, and only skips looking at the marks when the clock is past that instant."""
    history = tuple(
        (START + timedelta(hours=through), START + timedelta(hours=received)) for through, received in marks
    )
    clock = START + timedelta(hours=clock_hours)
    latest = max((received for _, received in history), default=START)
    told = latest + timedelta(hours=margin_hours)
    assert kept_sync_marks(history, clock, received_by=told) == kept_sync_marks(history, clock)


def test_a_devices_marks_know_a_bound_on_every_receipt() -> None:
    """`DeviceWatermark.received_by` is no earlier than any mark's receipt, through syncs folded one
    after another (a later sync received before an earlier one included) and after a restart."""
    state = GroupState()
    received = [utc(2026, 1, day) for day in (3, 9, 5, 20, 12)]
    for index, at in enumerate(received):
        fact = synced(utc(2026, 1, 1) + timedelta(days=index + 1), received_at=at)
        state = engine.step(state, fact, at, PKH, group_id=GROUP, received_at=at).state
        mark = state.devices[fact.device_id]
        receipts = [mark.received_at, *(item for _, item in mark.history)]
        assert mark.received_by >= max(receipts)
    restored = DeviceWatermark(mark.synced_through, mark.received_at, mark.facilitator_id, mark.history)
    assert restored.received_by == max(receipts)
