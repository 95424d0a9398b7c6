"""Rules that time alone can fire: `meeting.overdue` (with device sync watermarks and the offline
grace), `recognition.sustained_success`, and the engine's `next_wake`. Each test names the exact
instant a decision is expected at."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.monitoring import engine
from services.monitoring.rules import overdue, sustained_success
from services.monitoring.rules.decisions import Escalate, Open, Resolve, deviation_id
from services.monitoring.rules.state import GroupState
from tests.unit.test_monitoring_support import (
    DAY,
    FACILITATOR,
    GROUP,
    KKBPK,
    PKH,
    SECOND,
    WIB,
    WIT,
    WITA,
    At,
    Tick,
    drive,
    due,
    meeting,
    of_rule,
    scheduled,
    summary,
    synced,
    utc,
)

pytestmark = pytest.mark.unit

OVERDUE = overdue.RULE
SUCCESS = sustained_success.RULE
PERIOD = "2026-03"
DUE = due(PERIOD)  # 2026-03-10 23:59:59 WIB
GRACE = 2 * DAY
OFFLINE = 7 * DAY
CRITICAL = 14 * DAY
SCHEDULE = At(scheduled(PERIOD), utc(2026, 2, 1))
OVERDUE_ID = deviation_id(OVERDUE, GROUP, PERIOD)


def overdue_of(steps: list) -> list[tuple[str, str, datetime | None]]:
    _, decisions = drive(steps)
    return summary(of_rule(decisions, OVERDUE))


# ---------------------------------------------------------------- meeting.overdue: the due instants


class TestDueInstants:
    @pytest.mark.parametrize(
        ("time_zone", "expected"),
        [
            (WIB, utc(2026, 3, 10, 16, 59, 59)),  # UTC+7
            (WITA, utc(2026, 3, 10, 15, 59, 59)),  # UTC+8
            (WIT, utc(2026, 3, 10, 14, 59, 59)),  # UTC+9
        ],
    )
    def test_due_is_the_end_of_the_local_due_day(self, time_zone: str, expected: datetime) -> None:
        assert due(PERIOD, time_zone=time_zone) == expected

    @pytest.mark.parametrize("time_zone", [WIB, WITA, WIT])
    def test_offline_grace_fires_at_local_due_plus_seven_days(self, time_zone: str) -> None:
        local_due = due(PERIOD, time_zone=time_zone)
        steps = [At(scheduled(PERIOD, time_zone=time_zone), utc(2026, 2, 1))]
        assert overdue_of([*steps, Tick(local_due + OFFLINE - SECOND)]) == []
        _, decisions = drive([*steps, Tick(local_due + OFFLINE)])
        [opened] = of_rule(decisions, OVERDUE)
        assert isinstance(opened, Open)
        assert opened.at == local_due + OFFLINE
        assert opened.details["time_zone"] == time_zone
        assert opened.details["due_at"] == local_due.isoformat()

    def test_a_meeting_on_the_first_local_day_of_the_period_counts_in_wit(self) -> None:
        # 2026-02-28 16:30 UTC is 2026-03-01 01:30 in Jayapura: a March meeting there (23:30 on 28 February in WIB).
        held = meeting("r-1", utc(2026, 2, 28, 16, 30), time_zone=WIT, received_at=utc(2026, 3, 1))
        steps = [At(scheduled(PERIOD, time_zone=WIT), utc(2026, 2, 1)), held]
        assert overdue_of([*steps, Tick(due(PERIOD, time_zone=WIT) + 30 * DAY)]) == []
        steps_wib = [SCHEDULE, meeting("r-1", utc(2026, 2, 28, 16, 30), received_at=utc(2026, 3, 1))]
        assert overdue_of([*steps_wib, Tick(DUE + OFFLINE)]) == [("open", OVERDUE, DUE + OFFLINE)]

    def test_a_meeting_on_the_next_local_day_after_the_period_does_not_count_in_wit(self) -> None:
        # 2026-03-31 16:00 UTC is 2026-04-01 01:00 in Jayapura: an April meeting, not March's.
        late = meeting("r-1", utc(2026, 3, 31, 16), time_zone=WIT, received_at=utc(2026, 3, 31, 19))
        steps = [At(scheduled(PERIOD, time_zone=WIT), utc(2026, 2, 1)), late]
        local_due = due(PERIOD, time_zone=WIT)
        assert ("open", OVERDUE, local_due + OFFLINE) in overdue_of([*steps, Tick(local_due + 30 * DAY)])

    def test_quarterly_period_is_due_in_its_last_month_and_any_month_counts(self) -> None:
        quarter_due = due("2026-01", cadence="quarterly")
        assert quarter_due == utc(2026, 3, 10, 16, 59, 59)
        schedule = At(scheduled("2026-01", cadence="quarterly", programme="kkbpk-kemitraan"), utc(2025, 12, 1))
        february = meeting("r-1", utc(2026, 2, 3, 2), programme="kkbpk-kemitraan")
        _, decisions = drive([schedule, february, Tick(quarter_due + 30 * DAY)], KKBPK)
        assert of_rule(decisions, OVERDUE) == []
        _, decisions = drive([schedule, Tick(quarter_due + OFFLINE)], KKBPK)
        assert summary(of_rule(decisions, OVERDUE)) == [("open", OVERDUE, quarter_due + OFFLINE)]


# ---------------------------------------------------------------- meeting.overdue: grace, syncs, offline grace


class TestOverdue:
    def test_nothing_within_the_grace_even_with_a_fresh_sync(self) -> None:
        steps = [SCHEDULE, synced(DUE + DAY), Tick(DUE + GRACE - SECOND)]
        assert overdue_of(steps) == []

    def test_nothing_after_the_grace_without_any_sync(self) -> None:
        assert overdue_of([SCHEDULE, Tick(DUE + GRACE), Tick(DUE + GRACE + DAY), Tick(DUE + OFFLINE - SECOND)]) == []

    def test_a_sync_past_due_plus_grace_fires_at_the_syncs_arrival(self) -> None:
        sync_at = DUE + 3 * DAY + 5 * SECOND
        _, decisions = drive([SCHEDULE, synced(sync_at)])
        [opened] = of_rule(decisions, OVERDUE)
        assert isinstance(opened, Open)
        assert opened.deviation_id == OVERDUE_ID
        assert opened.occurrence == PERIOD
        assert opened.at == sync_at  # max(sync received_at, due + grace)
        assert opened.evidence_at == DUE
        assert opened.severity == "warning"
        assert opened.details["evidence"] == "device_synced"

    def test_a_sync_through_exactly_due_plus_grace_is_enough(self) -> None:
        received = DUE + GRACE + 10 * SECOND
        _, decisions = drive([SCHEDULE, synced(DUE + GRACE, received_at=received)])
        assert summary(of_rule(decisions, OVERDUE)) == [("open", OVERDUE, received)]

    def test_a_sync_that_covers_the_instant_before_it_comes_fires_at_due_plus_grace(self) -> None:
        # A phone whose clock runs ahead reports through due + grace an hour early: not before due + grace.
        early = synced(DUE + GRACE, received_at=DUE + GRACE - timedelta(hours=1))
        assert overdue_of([SCHEDULE, early, Tick(DUE + GRACE - SECOND)]) == []
        assert overdue_of([SCHEDULE, early, Tick(DUE + GRACE + timedelta(hours=5))]) == [("open", OVERDUE, DUE + GRACE)]

    def test_a_sync_not_yet_past_the_due_time_fires_nothing(self) -> None:
        # Contract §4: the devices must have synced past the due time; a sync up to just before it
        # says nothing about a meeting recorded at the very end of the due day.
        steps = [SCHEDULE, synced(DUE - SECOND, received_at=DUE + 3 * DAY), Tick(DUE + 6 * DAY)]
        assert overdue_of(steps) == []

    def test_a_sync_past_the_due_time_fires_at_due_plus_grace_at_the_earliest(self) -> None:
        steps = [SCHEDULE, synced(DUE + SECOND, received_at=DUE + DAY), Tick(DUE + 6 * DAY)]
        assert overdue_of(steps) == [("open", OVERDUE, DUE + GRACE)]

    def test_offline_grace_fires_at_due_plus_seven_days(self) -> None:
        [(kind, _, at)] = overdue_of([SCHEDULE, Tick(DUE + OFFLINE)])
        assert (kind, at) == ("open", DUE + OFFLINE)
        _, decisions = drive([SCHEDULE, Tick(DUE + OFFLINE)])
        assert of_rule(decisions, OVERDUE)[0].details["evidence"] == "offline_grace_expired"

    def test_offline_grace_judged_late_still_fires_at_due_plus_seven_days(self) -> None:
        # Replay: the first look at this group after the due time is on day 10 (a sync past due + grace).
        _, decisions = drive([SCHEDULE, synced(DUE + 10 * DAY)])
        [opened] = of_rule(decisions, OVERDUE)
        assert opened.at == DUE + OFFLINE
        assert opened.details["evidence"] == "offline_grace_expired"

    def test_all_active_devices_must_have_synced_past(self) -> None:
        first = synced(DUE - DAY, device_id="hp-old")
        second = synced(DUE + 3 * DAY, device_id="hp-new")
        assert overdue_of([SCHEDULE, first, second, Tick(DUE + 4 * DAY)]) == []
        caught_up = synced(DUE + 5 * DAY, device_id="hp-old")
        assert overdue_of([SCHEDULE, first, second, caught_up]) == [("open", OVERDUE, DUE + 5 * DAY)]

    def test_an_abandoned_device_beyond_thirty_days_is_ignored(self) -> None:
        abandoned = synced(DUE - 31 * DAY, device_id="hp-lost")
        fresh = synced(DUE + 3 * DAY, device_id="hp-new")
        assert overdue_of([SCHEDULE, abandoned, fresh]) == [("open", OVERDUE, DUE + 3 * DAY)]

    def test_a_device_seen_within_thirty_days_holds_the_rule_back(self) -> None:
        recent = synced(DUE - 29 * DAY, device_id="hp-old")
        fresh = synced(DUE + 3 * DAY, device_id="hp-new")
        assert overdue_of([SCHEDULE, recent, fresh, Tick(DUE + OFFLINE - SECOND)]) == []
        assert overdue_of([SCHEDULE, recent, fresh, Tick(DUE + OFFLINE)]) == [("open", OVERDUE, DUE + OFFLINE)]

    def test_devices_of_another_facilitator_are_ignored(self) -> None:
        other = synced(DUE + 3 * DAY, facilitator_id="F-OTHER", device_id="hp-other")
        state, decisions = drive([SCHEDULE, other, Tick(DUE + 4 * DAY)])
        assert of_rule(decisions, OVERDUE) == []
        assert state.devices == {}

    def test_devices_of_another_facilitator_synced_before_the_schedule_are_ignored(self) -> None:
        """BUG: the group's first record is another facilitator's sync (e.g. a reassignment in flight).
        engine.on_fact accepts it (no context yet to compare with), and `_with_context` only drops
        devices when a *known* facilitator changes, so F-OTHER's phone later counts as F-001's and
        `meeting.overdue` fires on it."""
        other = synced(DUE + 3 * DAY, facilitator_id="F-OTHER", device_id="hp-other")
        steps = [At(other, utc(2026, 1, 20)), SCHEDULE, Tick(DUE + 4 * DAY)]
        assert overdue_of(steps) == []

    def test_a_new_facilitator_forgets_the_old_facilitators_devices(self) -> None:
        old_phone = synced(DUE + 3 * DAY, device_id="hp-old")
        handover = At(scheduled("2026-04", facilitator_id="F-NEW"), DUE + 3 * DAY + SECOND)
        state, _ = drive([SCHEDULE, handover])
        assert state.devices == {}
        state, _ = drive([SCHEDULE, old_phone])
        assert set(state.devices) == {"hp-old"}

    def test_an_older_sync_does_not_move_the_watermark_back(self) -> None:
        state, _ = drive([SCHEDULE, synced(DUE + 3 * DAY), At(synced(DUE), DUE + 3 * DAY + SECOND)])
        assert state.devices["hp-1"].synced_through == DUE + 3 * DAY

    def test_escalates_to_critical_at_due_plus_fourteen_days(self) -> None:
        steps = [SCHEDULE, synced(DUE + 3 * DAY), Tick(DUE + CRITICAL - SECOND)]
        assert [kind for kind, _, _ in overdue_of(steps)] == ["open"]
        state, decisions = drive([*steps, Tick(DUE + CRITICAL)])
        escalate = of_rule(decisions, OVERDUE)[-1]
        assert isinstance(escalate, Escalate)
        assert (escalate.previous_severity, escalate.severity, escalate.at) == ("warning", "critical", DUE + CRITICAL)
        assert state.open[OVERDUE_ID].severity == "critical"
        _, again = drive([Tick(DUE + 20 * DAY)], state=state)
        assert of_rule(again, OVERDUE) == []  # escalated once

    def test_judged_first_after_fourteen_days_opens_and_escalates_at_their_instants(self) -> None:
        """BUG: the first look after due + 14 days (the end-of-replay tick, or a worker back after an
        outage) opens the deviation as a warning and does not escalate it; `next_wake` then returns
        None (due + 14 days is already past), so it stays a warning until the group's next record."""
        assert overdue_of([SCHEDULE, Tick(DUE + 20 * DAY)]) == [
            ("open", OVERDUE, DUE + OFFLINE),
            ("escalate", OVERDUE, DUE + CRITICAL),
        ]

    def test_a_report_after_fourteen_days_of_silence_is_open_escalate_resolve_as_when_living_through_it(
        self,
    ) -> None:
        """BUG (replay equivalence): live, the wake index ticks at due+7d (open) and due+14d (escalate)
        before the report resolves it. In replay the first record after the due time is the report
        itself: the catch-up opens (warning) but never escalates in the same pass, and the report then
        resolves it, so the escalation is never published."""
        late = meeting("r-1", utc(2026, 3, 5, 2), received_at=DUE + 20 * DAY)
        live = overdue_of([SCHEDULE, Tick(DUE + OFFLINE), Tick(DUE + CRITICAL), late])
        assert live == [
            ("open", OVERDUE, DUE + OFFLINE),
            ("escalate", OVERDUE, DUE + CRITICAL),
            ("resolve", OVERDUE, DUE + 20 * DAY),
        ]
        assert overdue_of([SCHEDULE, late]) == live

    def test_a_report_read_before_the_clock_reached_its_receipt_cannot_hide_a_real_lateness(self) -> None:
        """In replay a partition's clock waits for its slowest topic, so a report received days after
        due + grace can be folded while the clock is still before due + grace. The lateness was real:
        the deviation opens and resolves as living through it would (found by the two-worker fault
        case: a survivor whose clock a rebalance held back never opened it)."""
        late = meeting("r-1", utc(2026, 3, 9, 2), received_at=DUE + 5 * DAY)
        sync = synced(DUE + DAY)
        live = overdue_of([SCHEDULE, sync, Tick(DUE + GRACE), late])
        assert live == [("open", OVERDUE, DUE + GRACE), ("resolve", OVERDUE, DUE + 5 * DAY)]
        state, decisions = drive([SCHEDULE, sync, At(late, DUE + DAY + SECOND)])
        assert of_rule(decisions, OVERDUE) == []
        assert state.wake_at == DUE + GRACE  # the wake index hands the group out again at that instant
        _, later = drive([Tick(DUE + GRACE)], state=state)
        assert summary(of_rule(later, OVERDUE)) == live

    def test_a_report_read_early_still_lets_the_escalation_come_first(self) -> None:
        late = meeting("r-1", utc(2026, 3, 9, 2), received_at=DUE + 20 * DAY)
        sync = synced(DUE + DAY)
        live = overdue_of([SCHEDULE, sync, Tick(DUE + GRACE), Tick(DUE + CRITICAL), late])
        expected = [
            ("open", OVERDUE, DUE + GRACE),
            ("escalate", OVERDUE, DUE + CRITICAL),
            ("resolve", OVERDUE, DUE + 20 * DAY),
        ]
        assert live == expected
        # read before due + grace, and (already open) read before the critical instant
        early = [SCHEDULE, sync, At(late, DUE + DAY + SECOND), Tick(DUE + GRACE), Tick(DUE + CRITICAL)]
        assert overdue_of(early) == expected
        opened_first = [SCHEDULE, sync, Tick(DUE + GRACE), At(late, DUE + 3 * DAY), Tick(DUE + CRITICAL)]
        assert overdue_of(opened_first) == expected

    def test_a_late_report_resolves_with_late_report_at_its_arrival(self) -> None:
        arrival = DUE + 9 * DAY
        late = meeting("r-1", utc(2026, 3, 8, 2), received_at=arrival)
        state, decisions = drive([SCHEDULE, synced(DUE + 3 * DAY), late])
        [_, resolved] = of_rule(decisions, OVERDUE)
        assert isinstance(resolved, Resolve)
        assert (resolved.reason, resolved.at, resolved.severity) == ("late_report", arrival, "warning")
        assert OVERDUE_ID in state.closed
        # nothing reopens, ever
        _, later = drive([Tick(DUE + 40 * DAY), synced(DUE + 41 * DAY)], state=state)
        assert of_rule(later, OVERDUE) == []

    def test_a_late_report_after_escalation_resolves_the_critical_deviation(self) -> None:
        late = meeting("r-1", utc(2026, 3, 8, 2), received_at=DUE + 16 * DAY)
        _, decisions = drive([SCHEDULE, Tick(DUE + OFFLINE), Tick(DUE + CRITICAL), late])
        resolved = of_rule(decisions, OVERDUE)[-1]
        assert isinstance(resolved, Resolve)
        assert (resolved.severity, resolved.reason) == ("critical", "late_report")

    def test_a_report_reaching_us_after_the_due_time_before_any_sync_past_it_raises_nothing(self) -> None:
        # The acceptance: the phone had not synced; its report comes late; no wolf is cried.
        late = meeting("r-1", utc(2026, 3, 9, 2), received_at=DUE + 5 * DAY)
        assert overdue_of([SCHEDULE, synced(DUE - DAY), late, Tick(DUE + 40 * DAY)]) == []

    def test_a_meeting_before_the_due_time_settles_the_period(self) -> None:
        held = meeting("r-1", utc(2026, 3, 5, 2))
        steps = [SCHEDULE, held, synced(DUE + 3 * DAY), Tick(DUE + OFFLINE), Tick(DUE + 30 * DAY)]
        assert overdue_of(steps) == []

    def test_a_meeting_of_the_previous_period_does_not_settle_this_one(self) -> None:
        february = meeting("r-1", utc(2026, 2, 27, 2))
        assert overdue_of([SCHEDULE, february, synced(DUE + 3 * DAY)]) == [("open", OVERDUE, DUE + 3 * DAY)]

    def test_a_meeting_held_after_the_due_time_but_in_the_period_resolves_too(self) -> None:
        held_late = meeting("r-1", utc(2026, 3, 20, 2), received_at=utc(2026, 3, 20, 5))
        assert overdue_of([SCHEDULE, synced(DUE + 3 * DAY), held_late]) == [
            ("open", OVERDUE, DUE + 3 * DAY),
            ("resolve", OVERDUE, utc(2026, 3, 20, 5)),
        ]

    def test_a_period_learned_after_due_plus_offline_grace_is_history_and_raises_nothing(self) -> None:
        # A past month scheduled late (imported history, a plan agreed afterwards): no year-old alarms.
        learned_late = At(scheduled(PERIOD), DUE + OFFLINE + SECOND)
        steps = [learned_late, synced(DUE + 20 * DAY), Tick(DUE + CRITICAL), Tick(DUE + 40 * DAY)]
        assert overdue_of(steps) == []
        state, _ = drive(steps)
        assert overdue.wake_times(state, PKH.rules.meeting_overdue, group_id=GROUP) == []

    def test_a_period_learned_within_the_offline_grace_is_still_watched(self) -> None:
        learned = At(scheduled(PERIOD), DUE + OFFLINE - SECOND)
        assert overdue_of([learned, Tick(DUE + OFFLINE)]) == [("open", OVERDUE, DUE + OFFLINE)]

    def test_a_re_published_period_keeps_when_it_was_first_learned(self) -> None:
        again = At(scheduled(PERIOD), DUE + 30 * DAY)  # the same period again, first learned in February
        state, decisions = drive([SCHEDULE, again])
        assert [period.learned_at for period in state.periods] == [utc(2026, 2, 1)]
        assert summary(of_rule(decisions, OVERDUE))[0] == ("open", OVERDUE, DUE + OFFLINE)

    def test_periods_are_independent(self) -> None:
        steps = [SCHEDULE, At(scheduled("2026-04"), utc(2026, 2, 1)), Tick(due("2026-04") + OFFLINE)]
        _, decisions = drive(steps)
        opened = {d.occurrence: d.at for d in of_rule(decisions, OVERDUE) if isinstance(d, Open)}
        assert opened == {PERIOD: DUE + OFFLINE, "2026-04": due("2026-04") + OFFLINE}

    def test_a_rescheduled_due_time_moves_the_instants(self) -> None:
        moved = scheduled(PERIOD).model_copy(update={"due_at": DUE + 5 * DAY})
        steps = [SCHEDULE, At(moved, utc(2026, 3, 1)), Tick(DUE + OFFLINE)]
        assert overdue_of(steps) == []
        assert overdue_of([*steps, Tick(DUE + 12 * DAY)]) == [("open", OVERDUE, DUE + 12 * DAY)]

    def test_redelivery_of_schedule_and_syncs_makes_nothing_new(self) -> None:
        sync = synced(DUE + 3 * DAY)
        state, _decisions = drive([SCHEDULE, sync])
        again_state, again = drive([SCHEDULE, sync, At(sync, DUE + 3 * DAY + SECOND)], state=state)
        assert again == []
        assert again_state.open == state.open

    def test_the_rule_direct_is_pure_and_reports_nothing_without_periods(self) -> None:
        config = PKH.rules.meeting_overdue
        assert overdue.evaluate(GroupState(), DUE + 30 * DAY, config, group_id=GROUP) == []
        assert overdue.wake_times(GroupState(), config, group_id=GROUP) == []


# ---------------------------------------------------------------- engine.next_wake


class TestNextWake:
    def state_after(self, steps: list) -> GroupState:
        state, _ = drive(steps)
        return state

    def wake(self, state: GroupState, now: datetime) -> datetime | None:
        return engine.next_wake(state, now, PKH, group_id=GROUP)

    def test_nothing_to_wait_for_in_an_empty_state(self) -> None:
        assert self.wake(GroupState(), DUE) is None

    def test_due_then_grace_then_offline_grace(self) -> None:
        state = self.state_after([SCHEDULE])
        assert self.wake(state, utc(2026, 2, 1)) == DUE  # streaks are judged at due times
        assert self.wake(state, DUE) == DUE + GRACE
        assert self.wake(state, DUE + GRACE) == DUE + OFFLINE
        assert self.wake(state, DUE + OFFLINE) is None

    def test_once_open_the_escalation_instant(self) -> None:
        state = self.state_after([SCHEDULE, Tick(DUE + OFFLINE)])
        assert self.wake(state, DUE + OFFLINE) == DUE + CRITICAL
        escalated = self.state_after([SCHEDULE, Tick(DUE + OFFLINE), Tick(DUE + CRITICAL)])
        assert self.wake(escalated, DUE + CRITICAL) is None

    def test_a_held_meeting_leaves_only_the_due_time(self) -> None:
        state = self.state_after([SCHEDULE, meeting("r-1", utc(2026, 3, 5, 2))])
        assert self.wake(state, utc(2026, 3, 6)) == DUE
        assert self.wake(state, DUE) is None

    def test_the_earliest_of_several_periods(self) -> None:
        state = self.state_after([SCHEDULE, At(scheduled("2026-04"), utc(2026, 2, 1))])
        assert self.wake(state, DUE + GRACE) == DUE + OFFLINE
        assert self.wake(state, DUE + OFFLINE) == due("2026-04")

    def test_every_fact_leaves_the_state_knowing_its_next_wake_up(self) -> None:
        state = self.state_after([SCHEDULE])
        assert state.wake_at == DUE
        state = self.state_after([SCHEDULE, synced(DUE + DAY)])
        assert state.wake_at == DUE + GRACE

    def test_a_tick_leaves_the_state_knowing_its_next_wake_up(self) -> None:
        """BUG: after a tick (engine.on_time_passing) `wake_at` keeps the instant just handled; only
        on_fact refreshes it (with_wake). app.py then re-schedules that past instant in the wake index
        (`wake.schedule(..., state.wake_at)`), so the group is ticked again at every timer round; with
        the event clock each of those ticks carries the stale instant as `now`, so the next instants
        (due + grace, due + 7 days, ...) are never reached by ticks, only by the group's next record."""
        state = self.state_after([SCHEDULE, Tick(DUE)])
        assert state.wake_at == DUE + GRACE
        state = self.state_after([SCHEDULE, Tick(DUE), Tick(DUE + GRACE)])
        assert state.wake_at == DUE + OFFLINE

    def test_a_tick_at_each_wake_instant_finds_every_overdue_decision(self) -> None:
        """Following next_wake alone (as the worker's timer does) detects at the promised instants."""
        state, decisions = drive([SCHEDULE])
        now = utc(2026, 2, 1)
        for _ in range(10):
            wake = self.wake(state, now)
            if wake is None:
                break
            state, made = drive([Tick(wake)], state=state)
            decisions += made
            now = wake
        assert summary(of_rule(decisions, OVERDUE)) == [
            ("open", OVERDUE, DUE + OFFLINE),
            ("escalate", OVERDUE, DUE + CRITICAL),
        ]


# ---------------------------------------------------------------- recognition.sustained_success


MONTHS = [f"2026-{n:02d}" for n in range(1, 10)]
SCHEDULES = [At(scheduled(period), utc(2025, 12, 1)) for period in MONTHS]


def good_meeting(n: int, *, present: int = 9, received_at: datetime | None = None, day: int = 5) -> object:
    """A meeting in MONTHS[n], before its due time, `present` of 10 members."""
    return meeting(f"r-{n}", utc(2026, n + 1, day, 2), present=present, received_at=received_at)


class TestSustainedSuccess:
    def test_opens_once_at_the_sixth_period_at_ninety_percent(self) -> None:
        meetings = [good_meeting(n) for n in range(6)]
        state, decisions = drive([*SCHEDULES, *meetings[:5]])
        assert of_rule(decisions, SUCCESS) == []
        state, decisions = drive([meetings[5]], state=state)
        [opened] = of_rule(decisions, SUCCESS)
        assert isinstance(opened, Open)
        assert (opened.severity, opened.occurrence, opened.at) == ("info", MONTHS[5], meetings[5].received_at)
        assert opened.evidence_at == meetings[5].started_at
        assert opened.details["periods_in_a_row"] == 6
        # a seventh good period opens nothing more
        state, more = drive([good_meeting(6), Tick(due(MONTHS[6]) + DAY)], state=state)
        assert of_rule(more, SUCCESS) == []
        assert len(state.open_of(SUCCESS)) == 1

    def test_just_below_ninety_percent_breaks_the_streak(self) -> None:
        # 8 of 10 in the third month: that period does not qualify and its due time ends the run.
        meetings = [good_meeting(n, present=8 if n == 2 else 10) for n in range(7)]
        _, decisions = drive([*SCHEDULES, *meetings, Tick(due(MONTHS[6]))])
        assert of_rule(decisions, SUCCESS) == []
        _, decisions = drive([*SCHEDULES, *meetings, good_meeting(7), good_meeting(8)])
        assert [d.occurrence for d in of_rule(decisions, SUCCESS)] == [MONTHS[8]]

    def test_a_meeting_started_after_the_due_time_does_not_qualify(self) -> None:
        meetings = [good_meeting(n, day=20 if n == 3 else 5) for n in range(6)]
        _, decisions = drive([*SCHEDULES, *meetings])
        assert of_rule(decisions, SUCCESS) == []

    def test_ends_when_a_due_time_passes_without_a_qualifying_meeting(self) -> None:
        state, _ = drive([*SCHEDULES, *[good_meeting(n) for n in range(6)]])
        assert self_resolved(state, Tick(due(MONTHS[6]) - SECOND)) == []
        [resolved] = self_resolved(state, Tick(due(MONTHS[6])))
        assert isinstance(resolved, Resolve)
        assert (resolved.reason, resolved.at) == ("streak_ended", due(MONTHS[6]))

    def test_a_late_report_of_a_meeting_held_in_time_reopens_nothing(self) -> None:
        state, _ = drive([*SCHEDULES, *[good_meeting(n) for n in range(6)], Tick(due(MONTHS[6]))])
        late = good_meeting(6, received_at=due(MONTHS[6]) + DAY)
        _, decisions = drive([late], state=state)
        assert of_rule(decisions, SUCCESS) == []

    def test_detected_when_the_last_missing_report_of_the_six_arrives(self) -> None:
        """BUG: the evidence of six periods is complete only when the last of their reports arrives:
        here February's report reaches the server (20 June) after June's (5 June). The rule opens when
        February's report arrives but stamps `at` = the sixth period's report arrival (5 June), a
        detection instant 15 days before the evidence was enough."""
        slow = good_meeting(1, received_at=utc(2026, 6, 20))  # held in February, synced in late June
        fast = [good_meeting(n, received_at=utc(2026, n + 1, 5, 6)) for n in (0, 2, 3, 4, 5)]
        steps = sorted([slow, *fast], key=lambda m: m.received_at)
        _, decisions = drive([*SCHEDULES, *steps])
        [opened] = of_rule(decisions, SUCCESS)
        assert opened.at == max(m.received_at for m in [slow, *fast])

    def test_not_counted_towards_the_facilitator_signal(self) -> None:
        state, _ = drive([*SCHEDULES, *[good_meeting(n) for n in range(6)]])
        assert state.open_of(SUCCESS)
        assert not engine.counts_towards_facilitator(state)


def self_resolved(state: GroupState, tick: Tick) -> list:
    _, decisions = drive([tick], state=state)
    return of_rule(decisions, SUCCESS)


def test_other_facilitators_and_groups_do_not_leak_into_ids() -> None:
    _, decisions = drive(
        [At(scheduled(PERIOD, group_id="G-OTHER"), utc(2026, 2, 1)), Tick(DUE + OFFLINE)], group_id="G-OTHER"
    )
    [opened] = of_rule(decisions, OVERDUE)
    assert opened.deviation_id == deviation_id(OVERDUE, "G-OTHER", PERIOD) != OVERDUE_ID
    assert FACILITATOR not in opened.deviation_id
