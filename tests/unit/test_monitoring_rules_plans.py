"""Plan rules: `plan.activity_overdue` (end of the due day, local) and the early warning
`plan.activity_at_risk`, with the exact instant each first fires."""

from __future__ import annotations

import dataclasses
import gc
from datetime import date, datetime, timedelta

import pytest

from services.monitoring import engine
from services.monitoring.rules import activities
from services.monitoring.rules.decisions import Open, Resolve, deviation_id
from services.monitoring.rules.state import GroupState
from services.monitoring.rules.syncs import SYNC_SETTLE
from shared.events import ActivityProgressed
from tests.unit.test_monitoring_support import (
    DAY,
    GROUP,
    PKH,
    REGION_WIB,
    SECOND,
    WITA,
    At,
    Step,
    Tick,
    activity,
    drive,
    event_time,
    kind,
    meeting,
    of_rule,
    plan,
    progress,
    scheduled,
    summary,
    synced,
    utc,
)

pytestmark = pytest.mark.unit

OVERDUE = activities.OVERDUE
AT_RISK = activities.AT_RISK
DUE_ON = date(2026, 3, 31)
START = utc(2025, 12, 31, 17)  # 2026-01-01 00:00 WIB, the plan's first day
END = utc(2026, 3, 31, 16, 59, 59)  # 2026-03-31 23:59:59 WIB, the last moment still on time
LATE = utc(2026, 3, 31, 17, 0, 0)  # the first late instant: the second after the due day ends
SPAN = END - START
HALF = START + SPAN / 2
PLAIN = At(plan(activity("A-1", DUE_ON)), utc(2026, 1, 1))
MEASURED = At(plan(activity("A-1", DUE_ON, baseline=10, target=20)), utc(2026, 1, 1))
HOUR = timedelta(hours=1)
SETTLE = SYNC_SETTLE
OVERDUE_ID = deviation_id(OVERDUE, GROUP, "A-1")
RISK_ID = deviation_id(AT_RISK, GROUP, "A-1")


def at_share(share: float) -> datetime:
    return START + SPAN * share


def imported_plus(minutes: int) -> datetime:
    return TestPlanImportedAfterItsDueDates.IMPORTED + timedelta(minutes=minutes)


def progress_recorded(
    progress_id: str, activity_id: str, *, recorded_at: datetime, received_at: datetime, **fields: object
) -> ActivityProgressed:
    """A progress report recorded on the phone at one instant and received at another."""
    made = progress(progress_id, activity_id, received_at, reported_on=recorded_at.date(), **fields)  # type: ignore[arg-type]
    return made.model_copy(update={"recorded_at": recorded_at})


def plan_decisions(steps: list) -> list[tuple[str, str, datetime | None]]:
    _, decisions = drive(steps)
    return [entry for entry in summary(decisions) if entry[1] in (OVERDUE, AT_RISK)]


class TestActivityOverdue:
    def test_due_instants_are_the_end_of_the_local_due_day(self) -> None:
        assert activities.due_end(engine_state_activity([PLAIN])) == END

    def test_a_sync_ending_at_the_last_second_of_the_due_day_is_not_past_it(self) -> None:
        steps = [PLAIN, progress("pr-1", "A-1", utc(2026, 1, 10), status="in_progress"), synced(END)]
        assert of_rule_kinds([*steps, Tick(END + DAY)], OVERDUE) == []

    def test_opens_at_the_first_sync_past_the_due_day_when_not_done(self) -> None:
        sync = synced(END + HOUR, received_at=END + 2 * HOUR)
        steps = [PLAIN, progress("pr-1", "A-1", utc(2026, 1, 10), status="in_progress"), Tick(LATE), sync]
        assert of_rule_kinds(steps[:3], OVERDUE) == []  # late, but the phone may still hold the "done"
        assert of_rule_kinds([*steps, Tick(sync.received_at + SETTLE - SECOND)], OVERDUE) == []
        steps.append(Tick(sync.received_at + SETTLE))  # acted on once a progress sent just before is read
        state, decisions = drive(steps)
        [opened] = of_rule(decisions, OVERDUE)
        assert isinstance(opened, Open)
        assert (opened.at, opened.evidence_at, opened.severity) == (END + 2 * HOUR, LATE, "warning")
        assert opened.details["status"] == "in_progress"
        assert opened.details["due_on"] == "2026-03-31"
        assert opened.details["evidence"] == "device_synced"
        assert OVERDUE_ID in state.open

    def test_without_any_sync_it_opens_when_the_offline_grace_runs_out(self) -> None:
        assert of_rule_kinds([PLAIN, Tick(LATE + 7 * DAY - SECOND)], OVERDUE) == []
        _, decisions = drive([PLAIN, Tick(LATE + 7 * DAY)])
        [opened] = of_rule(decisions, OVERDUE)
        assert (opened.at, opened.details["evidence"]) == (LATE + 7 * DAY, "offline_grace_expired")

    def test_judged_late_it_still_opens_when_the_grace_ran_out(self) -> None:
        _, decisions = drive([PLAIN, Tick(END + 20 * DAY)])
        assert ("open", OVERDUE, LATE + 7 * DAY) in summary(decisions)

    def test_a_sync_not_past_the_due_day_leaves_it_to_the_grace(self) -> None:
        steps = [PLAIN, synced(END - HOUR, received_at=END + DAY), Tick(LATE + 7 * DAY - SECOND)]
        assert of_rule_kinds(steps, OVERDUE) == []

    def test_in_wita_the_local_day_ends_an_hour_earlier(self) -> None:
        context = At(scheduled("2026-01", time_zone=WITA), utc(2025, 12, 1))
        _, decisions = drive([context, PLAIN, Tick(LATE + 7 * DAY)])
        assert ("open", OVERDUE, LATE - HOUR + 7 * DAY) in summary(decisions)

    def test_done_before_the_due_day_ends_never_opens(self) -> None:
        steps = [PLAIN, progress("pr-1", "A-1", utc(2026, 3, 30), status="done"), synced(END + DAY)]
        assert of_rule_kinds([*steps, Tick(END + 30 * DAY)], OVERDUE) == []

    def test_done_on_time_but_synced_after_the_due_day_never_opens(self) -> None:
        # Offline over the due day: the "done" (recorded in time) arrives with the batch that
        # carries the sync past the due day.
        done = progress_recorded("pr-1", "A-1", recorded_at=END - DAY, received_at=END + 3 * DAY, status="done")
        steps = [PLAIN, Tick(LATE), done, synced(END + 3 * DAY), Tick(END + 30 * DAY)]
        assert of_rule_kinds(steps, OVERDUE) == []

    def test_a_done_received_before_the_sync_but_read_after_it_is_not_late(self) -> None:
        # Progress and syncs travel on different topics: the worker may read the sync first.
        sync = synced(END + DAY)
        done = progress("pr-1", "A-1", END + DAY - SECOND, status="done", reported_on=DUE_ON)
        steps = [PLAIN, sync, At(done, END + DAY + 5 * SECOND), Tick(END + 2 * DAY)]
        assert of_rule_kinds(steps, OVERDUE) == []

    def test_done_later_resolves_with_activity_done_at_the_reports_arrival(self) -> None:
        done_at = END + 3 * DAY
        steps = [PLAIN, synced(END + DAY), progress("pr-1", "A-1", done_at, status="done")]
        _, decisions = drive(steps)
        assert summary(of_rule(decisions, OVERDUE)) == [("open", OVERDUE, END + DAY), ("resolve", OVERDUE, done_at)]
        # the "done" arrived after the sync but before the rule acted on it: the status is as it stood
        just_after = progress("pr-1", "A-1", END + DAY + 10 * SECOND, status="done")
        started = progress("pr-0", "A-1", utc(2026, 2, 1))
        _, decided = drive([PLAIN, started, synced(END + DAY), just_after, Tick(END + 2 * DAY)])
        assert summary(of_rule(decided, OVERDUE)) == [
            ("open", OVERDUE, END + DAY),
            ("resolve", OVERDUE, just_after.received_at),
        ]
        assert of_rule(decided, OVERDUE)[0].details["status"] == "in_progress"
        # and with nothing else coming for the group, the wake index still brings that instant
        state, _ = drive([PLAIN, started, synced(END + DAY), just_after])
        assert engine.next_wake(state, just_after.received_at, PKH, group_id=GROUP) == END + DAY + SETTLE
        assert of_rule(decisions, OVERDUE)[-1].reason == "activity_done"

    def test_a_revision_moving_the_due_date_later_resolves_it(self) -> None:
        revised = At(plan(activity("A-1", date(2026, 4, 30)), revision=2), END + 2 * DAY)
        _, decisions = drive([PLAIN, synced(END + DAY), revised])
        resolved = of_rule(decisions, OVERDUE)[-1]
        assert (kind(resolved), resolved.reason, resolved.at) == ("resolve", "due_date_moved", END + 2 * DAY)

    def test_a_revision_removing_the_activity_resolves_it(self) -> None:
        revised = At(plan(activity("A-2", date(2026, 6, 30)), revision=2), END + 2 * DAY)
        _, decisions = drive([PLAIN, synced(END + DAY), revised])
        resolved = of_rule(decisions, OVERDUE)[-1]
        assert (kind(resolved), resolved.reason, resolved.at) == ("resolve", "activity_removed", END + 2 * DAY)

    def test_progress_for_an_unknown_activity_is_ignored(self) -> None:
        state, decisions = drive([PLAIN, progress("pr-1", "A-9", utc(2026, 1, 10), status="done")])
        assert decisions == []
        assert set(state.activities) == {"A-1"}


class TestPlanImportedAfterItsDueDates:
    """A plan agreed on paper and entered later: its activities are past due when Pantau hears of
    them, and their progress follows. Syncs from before the plan arrived prove nothing about it."""

    IMPORTED = END + 10 * DAY
    LATE_PLAN = At(plan(activity("A-1", DUE_ON)), IMPORTED)
    ALREADY_SYNCED = synced(END + 5 * DAY)  # the phone synced past the due day before the plan came

    def test_followed_by_its_progress_it_raises_nothing(self) -> None:
        done = progress_recorded(
            "pr-1", "A-1", recorded_at=imported_plus(20), received_at=imported_plus(30), status="done"
        )
        done = done.model_copy(update={"reported_on": date(2026, 3, 20)})
        steps = [self.ALREADY_SYNCED, self.LATE_PLAN, done, synced(imported_plus(60)), Tick(END + 60 * DAY)]
        assert plan_decisions(steps) == []

    def test_never_reported_done_it_opens_at_the_first_sync_after_the_plan_arrived(self) -> None:
        later_sync = synced(imported_plus(60))
        steps = [self.ALREADY_SYNCED, self.LATE_PLAN, later_sync, Tick(later_sync.received_at + SETTLE)]
        assert plan_decisions(steps[:2]) == []
        assert plan_decisions(steps) == [("open", OVERDUE, later_sync.received_at)]

    def test_without_a_later_sync_the_grace_counts_from_the_plans_arrival(self) -> None:
        steps = [self.ALREADY_SYNCED, self.LATE_PLAN, Tick(self.IMPORTED + 7 * DAY - SECOND)]
        assert plan_decisions(steps) == []
        assert plan_decisions([*steps, Tick(self.IMPORTED + 7 * DAY)]) == [("open", OVERDUE, self.IMPORTED + 7 * DAY)]

    def test_it_is_never_merely_at_risk(self) -> None:
        steps = [self.LATE_PLAN, synced(imported_plus(60)), Tick(END + 60 * DAY)]
        assert of_rule_kinds(steps, AT_RISK) == []

    def test_the_plans_arrival_is_its_receipt_not_when_a_busy_worker_got_to_it(self) -> None:
        received = self.IMPORTED
        outcome = engine.on_fact(GroupState(), self.LATE_PLAN.fact, received + HOUR, PKH, received_at=received)
        assert outcome.state.activities["A-1"].known_at == received
        # a sync received between the plan's receipt and its processing proves the phone had it
        _, decisions = drive([synced(received + 10 * SECOND), Tick(received + HOUR)], state=outcome.state)
        assert summary(of_rule(decisions, OVERDUE)) == [("open", OVERDUE, received + 10 * SECOND)]

    def test_a_state_stored_before_plans_carried_their_arrival_counts_every_sync(self) -> None:
        state, _ = drive([PLAIN])
        stored = state.to_json()
        for item in stored["activities"].values():
            del item["known_at"], item["progress_recorded_at"], item["progress_received_at"]
            del item["status_before_done"]
        old = GroupState.from_json(stored)
        assert old.activities["A-1"].known_at is None
        _, decisions = drive([synced(END + DAY), Tick(END + 2 * DAY)], state=old)
        assert summary(of_rule(decisions, OVERDUE)) == [("open", OVERDUE, END + DAY)]


class TestActivityAtRisk:
    def test_not_started_fires_at_the_first_sync_past_half_the_time(self) -> None:
        sync = synced(HALF + HOUR, received_at=HALF + 2 * HOUR)
        assert of_rule_kinds([PLAIN, synced(HALF - HOUR), Tick(HALF)], AT_RISK) == []
        _, decisions = drive([PLAIN, Tick(HALF), sync, Tick(sync.received_at + SETTLE)])
        [opened] = of_rule(decisions, AT_RISK)
        assert isinstance(opened, Open)
        assert (opened.at, opened.severity, opened.occurrence) == (HALF + 2 * HOUR, "info", "A-1")
        assert opened.details["status"] == "not_started"

    def test_not_started_without_a_sync_fires_when_the_grace_runs_out(self) -> None:
        assert of_rule_kinds([PLAIN, Tick(HALF + 7 * DAY - SECOND)], AT_RISK) == []
        assert summary(of_rule(drive([PLAIN, Tick(at_share(0.8))])[1], AT_RISK)) == [("open", AT_RISK, HALF + 7 * DAY)]

    def test_a_sync_from_a_phone_clock_ahead_counts_from_the_instant_itself(self) -> None:
        # A sync "past" half time received before it (a phone clock ahead) says nothing earlier.
        steps = [PLAIN, synced(HALF + HOUR, received_at=HALF - HOUR), Tick(HALF), Tick(HALF + SETTLE)]
        assert summary(of_rule(drive(steps)[1], AT_RISK)) == [("open", AT_RISK, HALF)]

    def test_the_instant_the_straight_line_overtakes_value_plus_margin(self) -> None:
        # 14 of 10 -> 20 is 40 % done; with the 25 % margin the line overtakes it at 65 % of the time.
        instant = START + SPAN * ((14 - 10) / (20 - 10) + 0.25)
        assert abs(instant - (START + SPAN * 0.65)) < timedelta(milliseconds=1)
        steps = [MEASURED, progress("pr-1", "A-1", utc(2026, 1, 20), value=14), Tick(HALF), Tick(instant)]
        assert of_rule_kinds([*steps, synced(instant - SECOND, received_at=instant + HOUR)], AT_RISK) == []
        _, decisions = drive([*steps, synced(instant + SECOND, received_at=instant + HOUR), Tick(instant + 2 * HOUR)])
        [opened] = of_rule(decisions, AT_RISK)
        assert opened.at == instant + HOUR
        assert (opened.details["indicator_value"], opened.details["indicator_target"]) == (14, 20)

    def test_far_ahead_before_half_time_waits_for_half_time_then_for_the_line(self) -> None:
        # 2 % done: the line is past value + margin from the start, but the rule looks only from 50 %.
        steps = [MEASURED, progress("pr-1", "A-1", utc(2026, 1, 5), value=10.2), synced(HALF - SECOND)]
        assert of_rule_kinds(steps, AT_RISK) == []
        assert of_rule_kinds([*steps, synced(HALF)], AT_RISK) == []  # through HALF is not past it
        assert summary(of_rule(drive([*steps, synced(HALF + SECOND), Tick(HALF + HOUR)])[1], AT_RISK)) == [
            ("open", AT_RISK, HALF + SECOND)
        ]

    def test_a_progress_report_revealing_the_lag_fires_at_its_arrival(self) -> None:
        on_track = progress("pr-1", "A-1", at_share(0.3), value=14)  # safe until 65 %
        revealing = progress("pr-2", "A-1", at_share(0.55), value=12)  # 20 %: behind since 50 %
        steps = [MEASURED, on_track, Tick(HALF), revealing]
        _, decisions = drive(steps)
        [opened] = of_rule(decisions, AT_RISK)
        assert opened.at == revealing.received_at
        assert opened.evidence_at == revealing.received_at

    def test_a_report_recorded_before_the_risk_instant_waits_for_a_sync(self) -> None:
        # Recorded at 30 % (5 % done, so behind from half time) but synced only at 55 %: the phone
        # synced past half time with it, so it fires at that batch's arrival, not at its own.
        behind = progress_recorded("pr-1", "A-1", recorded_at=at_share(0.3), received_at=at_share(0.55), value=10.5)
        _, decisions = drive([MEASURED, Tick(HALF), behind])
        assert of_rule(decisions, AT_RISK) == []
        _, decisions = drive([MEASURED, Tick(HALF), behind, synced(at_share(0.55)), Tick(at_share(0.56))])
        assert summary(of_rule(decisions, AT_RISK)) == [("open", AT_RISK, at_share(0.55))]

    def test_back_on_track_resolves_at_the_reports_arrival(self) -> None:
        recovered = progress("pr-2", "A-1", at_share(0.7), value=18)  # 80 % + 25 % > 100 %: never behind
        state, decisions = drive([MEASURED, synced(HALF + HOUR), recovered])
        resolved = of_rule(decisions, AT_RISK)[-1]
        assert isinstance(resolved, Resolve)
        assert (resolved.reason, resolved.at) == ("back_on_track", recovered.received_at)
        assert RISK_ID in state.closed
        # the id never reopens, even if it falls behind again
        _, later = drive([progress("pr-3", "A-1", at_share(0.9), value=11)], state=state)
        assert of_rule(later, AT_RISK) == []

    def test_started_without_an_indicator_is_not_measurable(self) -> None:
        steps = [PLAIN, progress("pr-1", "A-1", utc(2026, 1, 10), status="in_progress"), synced(at_share(0.9))]
        assert of_rule_kinds(steps, AT_RISK) == []

    def test_blocked_counts_as_not_started(self) -> None:
        blocked = progress("pr-1", "A-1", utc(2026, 1, 10), status="blocked", value=19)
        steps = [MEASURED, blocked, synced(HALF + HOUR), Tick(HALF + 2 * HOUR)]
        assert plan_decisions(steps) == [("open", AT_RISK, HALF + HOUR)]

    def test_done_resolves_with_activity_done(self) -> None:
        done = progress("pr-1", "A-1", at_share(0.6), status="done")
        steps = [PLAIN, synced(HALF + HOUR), done, synced(END + DAY)]
        state, decisions = drive(steps)
        assert plan_decisions(steps) == [("open", AT_RISK, HALF + HOUR), ("resolve", AT_RISK, done.received_at)]
        assert state.open == {}
        assert of_rule(decisions, AT_RISK)[-1].reason == "activity_done"

    def test_the_due_day_passing_resolves_it_and_overdue_waits_for_its_own_evidence(self) -> None:
        steps = [PLAIN, synced(HALF + HOUR), Tick(END + SECOND)]
        assert plan_decisions(steps) == [("open", AT_RISK, HALF + HOUR), ("resolve", AT_RISK, LATE)]
        assert of_rule(drive(steps)[1], AT_RISK)[-1].reason == "became_overdue"
        assert plan_decisions([*steps, synced(END + DAY), Tick(END + 2 * DAY)])[-1] == ("open", OVERDUE, END + DAY)

    def test_known_only_after_the_due_day_it_is_not_at_risk(self) -> None:
        # Eleven days long: the offline grace from half time runs past the due day.
        short = At(plan(activity("A-1", DUE_ON), starts_on=date(2026, 3, 21)), utc(2026, 3, 20))
        assert of_rule_kinds([short, synced(utc(2026, 3, 22)), synced(END + DAY)], AT_RISK) == []

    def test_an_older_progress_report_does_not_undo_newer_progress(self) -> None:
        newer = progress("pr-2", "A-1", at_share(0.4), value=18, reported_on=date(2026, 2, 20))
        older = progress("pr-1", "A-1", at_share(0.45), value=11, reported_on=date(2026, 2, 1))
        state, _ = drive([MEASURED, newer, older, synced(at_share(0.9))])
        assert state.activities["A-1"].value == 18
        assert of_rule_kinds([MEASURED, newer, older, synced(at_share(0.9))], AT_RISK) == []

    def test_a_report_of_the_same_day_read_again_does_not_undo_a_later_one(self) -> None:
        # Found by the redelivery property: four reports of one day, all recorded in the same minute;
        # after a crash the first ("not started") was read again and put the activity back at risk.
        same_minute = utc(2026, 1, 20, 1)
        first = progress("pr-0", "A-1", same_minute, status="not_started")
        last = progress("pr-3", "A-1", same_minute, status="in_progress")
        state, _ = drive([PLAIN, first, last, first, synced(at_share(0.9))])
        assert state.activities["A-1"].status == "in_progress"
        assert of_rule_kinds([PLAIN, first, last, first, synced(at_share(0.9))], AT_RISK) == []

    def test_reports_of_one_day_count_in_the_order_the_phone_recorded_them(self) -> None:
        earlier = progress_recorded(
            "pr-b", "A-1", recorded_at=utc(2026, 1, 20, 1), received_at=utc(2026, 1, 20, 9), status="not_started"
        )
        later = progress_recorded(
            "pr-a", "A-1", recorded_at=utc(2026, 1, 20, 2), received_at=utc(2026, 1, 20, 3), status="in_progress"
        )
        for order in ([later, earlier], [earlier, later]):
            state, _ = drive([PLAIN, *order])
            assert state.activities["A-1"].status == "in_progress"

    def test_wake_times_are_the_instants_a_decision_is_due_without_news(self) -> None:
        state, _ = drive([MEASURED, progress("pr-1", "A-1", utc(2026, 1, 20), value=14)])
        instant = START + SPAN * 0.65
        # no sync yet: at risk when the grace from the risk instant runs out, overdue likewise
        assert engine.next_wake(state, utc(2026, 1, 21), PKH, group_id=GROUP) == instant + 7 * DAY
        assert engine.next_wake(state, instant + 7 * DAY, PKH, group_id=GROUP) == LATE + 7 * DAY
        # a sync past the risk instant: half a minute after it
        synced_state, _ = drive([synced(instant + HOUR)], state=state)
        assert engine.next_wake(synced_state, instant + HOUR, PKH, group_id=GROUP) == instant + HOUR + SETTLE
        # open: the end of the due day ends it
        opened, _ = drive([Tick(instant + HOUR + SETTLE)], state=synced_state)
        assert RISK_ID in opened.open
        assert engine.next_wake(opened, instant + 2 * HOUR, PKH, group_id=GROUP) == LATE

    def test_risk_instant_direct(self) -> None:
        config = PKH.rules.plan_activity_at_risk
        state, _ = drive([MEASURED])
        assert activities.risk_instant(state.activities["A-1"], config) == HALF
        done = dataclasses.replace(state.activities["A-1"], status="done")
        assert activities.risk_instant(done, config) is None

    def test_risk_instant_kept_beside_the_activity_is_for_its_config_only(self) -> None:
        config = PKH.rules.plan_activity_at_risk
        state, _ = drive([MEASURED])
        activity = state.activities["A-1"]
        assert activities.risk_instant(activity, config) == HALF
        assert activities.risk_instant(activity, config) == HALF  # asked again: kept
        later = config.model_copy(update={"from_elapsed_share": 0.9})
        fresh = dataclasses.replace(activity)
        assert activities.risk_instant(activity, later) == activities.risk_instant(fresh, later) != HALF
        assert activities.risk_instant(activity.evolve(status="done"), config) is None  # a new activity asks anew


def engine_state_activity(steps: list) -> object:
    state, _ = drive(steps)
    return state.activities["A-1"]


def of_rule_kinds(steps: list, rule: str) -> list[str]:
    _, decisions = drive(steps)
    return [kind(decision) for decision in of_rule(decisions, rule)]


def test_plan_rules_are_pure_on_an_empty_state() -> None:
    rules = PKH.rules
    assert (
        activities.evaluate(GroupState(), END, rules.plan_activity_overdue, rules.plan_activity_at_risk, group_id=GROUP)
        == []
    )


class TestReplayOfPlans:
    def test_an_at_risk_period_passed_unseen_is_published_as_when_living_through_it(self) -> None:
        """BUG (replay equivalence): live, the wake index ticks at half time (at risk opens) and at the
        end of the due day (at risk resolves `became_overdue`, overdue opens). A replay whose first
        look is after the due day (the end-of-replay tick, or the next record) opens only the overdue:
        activities.evaluate requires `instant <= now <= end` to open at risk, so the early warning that
        live processing published is never replayed."""
        live = plan_decisions([PLAIN, Tick(HALF + 7 * DAY), Tick(END + SECOND), Tick(LATE + 7 * DAY)])
        replayed = plan_decisions([PLAIN, Tick(LATE + 7 * DAY)])
        assert sorted(replayed) == sorted(live)

    def test_a_record_with_an_earlier_event_time_does_not_resolve_an_overdue_activity(self) -> None:
        """BUG (event clock): in replay mode app.py passes each record's own event time as `now`
        (`now = ... else event_time`), which goes back when a record is redelivered after a crash or when
        records of the group's other topics interleave out of time order. activities.evaluate then
        resolves an open `plan.activity_overdue` as `due_date_moved` because `now <= end`, although
        the due date did not move, with `at` before the opening; the id is closed and never reopens."""
        started = progress("pr-1", "A-1", utc(2026, 3, 1), status="in_progress")
        state, decisions = drive([PLAIN, started, Tick(END + 8 * DAY)])
        assert OVERDUE_ID in state.open
        redelivered, decisions = drive([started], state=state)  # now = its own event time, 1 March
        assert of_rule(decisions, OVERDUE) == []
        assert OVERDUE_ID in redelivered.open


class TestRedeliveryKeepsTheContext:
    """A fact read again changes nothing, the group's context included: the plan's activities take
    their time zone from the group's region, so a redelivered schedule that moved the context back to
    an older region put a later plan's due days an hour off (found by the crash property test)."""

    def test_a_redelivered_schedule_or_report_does_not_move_the_region(self) -> None:
        schedule = At(scheduled("2026-01", time_zone=WITA), utc(2026, 1, 1))
        report = meeting("r-1", utc(2026, 1, 5, 2), time_zone=WITA)
        # then a report from the group's region as the registry has it now
        moved = meeting("r-2", utc(2026, 1, 6, 2)).model_copy(update={"region_code": REGION_WIB})
        once, _ = drive([schedule, report, moved, PLAIN])
        again, _ = drive([schedule, report, moved, schedule, report, PLAIN])
        assert once.context == again.context
        assert once.activities["A-1"].time_zone == again.activities["A-1"].time_zone == "Asia/Jakarta"


def read_at(records: list[tuple[Step, datetime]]) -> list[tuple[str, str, datetime | None]]:
    """The plan decisions of records folded as the replaying worker folds them: each at the rule
    clock it was read at (its partition's safe watermark, which a record of another topic can be
    ahead of), the group's clock never going back."""
    state, decisions = GroupState(), []
    for record, now in records:
        fact = None if isinstance(record, Tick) else record.fact if isinstance(record, At) else record
        outcome = engine.step(state, fact, now, PKH, group_id=GROUP, replay=True)
        state, decisions = outcome.state, [*decisions, *outcome.decisions]
    return [entry for entry in summary(decisions) if entry[1] == AT_RISK]


def in_receipt_order(records: list[Step]) -> list[tuple[str, str, datetime | None]]:
    return read_at([(record, event_time(record)) for record in records])


class TestProgressReadAheadOfTheClock:
    """In a replay a group's records come on several topics: the worker can read a progress report
    (plans.events) while its partition's clock, held back by a slower topic (meetings.events), is
    still before the instant the activity became at risk. The rule must judge that instant with the
    progress received by then, as living through it did, not with the report read early.

    Found by the Kafka replay benchmark (recall 0.997): KLP-33010120050003-A1, due 2026-01-15, not
    started at half its time; with no sync the grace ran out at 2026-01-15 04:59:59 (at risk until
    the due day ended at 17:00); its "not started" and "done" reports reached the server on 16
    January, but were read while the partition's clock was still before 15 January."""

    def test_done_received_after_the_warning_read_before_it(self) -> None:
        done = progress("pr-1", "A-1", HALF + 8 * DAY, status="done")
        lived = in_receipt_order([PLAIN, Tick(HALF + 7 * DAY), done, Tick(HALF + 9 * DAY)])
        assert lived == [("open", AT_RISK, HALF + 7 * DAY), ("resolve", AT_RISK, done.received_at)]
        assert read_at([(PLAIN, PLAIN.at), (done, HALF), (Tick(HALF + 9 * DAY), HALF + 9 * DAY)]) == lived

    def test_two_reports_received_together_after_the_due_day(self) -> None:
        # The benchmark's case: "not started" and "done" both after the due day, read before the grace.
        after = LATE + DAY
        not_started = progress("pr-1", "A-1", after, status="not_started", reported_on=date(2026, 2, 1))
        done = progress("pr-2", "A-1", after, status="done", reported_on=date(2026, 3, 1))
        lived = in_receipt_order([PLAIN, not_started, done, Tick(after + DAY)])
        assert lived == [("open", AT_RISK, HALF + 7 * DAY), ("resolve", AT_RISK, LATE)]
        records = [(PLAIN, PLAIN.at), (not_started, HALF), (done, HALF), (Tick(after + DAY), after + DAY)]
        assert read_at(records) == lived

    def test_back_on_track_read_before_the_sync_that_showed_the_lag(self) -> None:
        # Behind from 65 % (14 of 10 -> 20); a sync past it shows the lag; later back on track.
        instant = START + SPAN * 0.65
        behind = progress("pr-1", "A-1", utc(2026, 1, 20), value=14)
        sync = synced(instant + HOUR, received_at=instant + 2 * HOUR)
        recovered = progress("pr-2", "A-1", instant + DAY, value=19)
        lived = in_receipt_order([MEASURED, behind, sync, Tick(instant + 3 * HOUR), recovered])
        assert lived == [("open", AT_RISK, instant + 2 * HOUR), ("resolve", AT_RISK, recovered.received_at)]
        # the recovery read at the clock of the report before it, the sync only then
        records = [(MEASURED, MEASURED.at), (behind, behind.received_at), (recovered, behind.received_at)]
        records += [(sync, sync.received_at), (Tick(instant + 2 * DAY), instant + 2 * DAY)]
        assert read_at(records) == lived

    def test_read_ahead_progress_that_was_never_behind_changes_nothing(self) -> None:
        early = progress("pr-1", "A-1", at_share(0.4), value=19)
        lived = in_receipt_order([MEASURED, early, Tick(LATE + 8 * DAY)])
        assert lived == []
        assert read_at([(MEASURED, MEASURED.at), (early, at_share(0.1)), (Tick(LATE + 8 * DAY), LATE + 8 * DAY)]) == []

    def test_in_arrival_order_nothing_is_kept_beside_the_latest_progress(self) -> None:
        state, _ = drive([MEASURED, progress("pr-1", "A-1", at_share(0.3), value=14), Tick(at_share(0.9))])
        assert state.activities["A-1"].superseded == ()

    def test_the_progress_replaced_early_is_kept_until_the_clock_passes_its_replacement(self) -> None:
        first = progress("pr-1", "A-1", at_share(0.2), value=12)
        second = progress("pr-2", "A-1", at_share(0.3), value=14)
        third = progress("pr-3", "A-1", at_share(0.6), value=16)
        state = GroupState()
        for record, now in [(MEASURED, MEASURED.at), (first, at_share(0.1)), (second, at_share(0.1))]:
            fact = record.fact if isinstance(record, At) else record
            state = engine.step(state, fact, now, PKH, group_id=GROUP, replay=True).state
        kept = state.activities["A-1"].superseded
        assert [(item.status, item.value, item.received_at, item.until) for item in kept] == [
            ("not_started", None, None, first.received_at),
            ("in_progress", 12, first.received_at, second.received_at),
        ]
        # the clock is past both replacements (and a sync's settling) when the next report is read
        state = engine.step(state, third, third.received_at, PKH, group_id=GROUP, replay=True).state
        assert state.activities["A-1"].superseded == ()

    def test_progress_windows_show_the_activity_as_known_between_receipts(self) -> None:
        early = progress("pr-1", "A-1", at_share(0.3), value=14)
        state = engine.step(drive([MEASURED])[0], early, at_share(0.1), PKH, group_id=GROUP, replay=True).state
        windows = activities.progress_windows(state.activities["A-1"])
        assert [(known.status, known.value, until) for known, until in windows] == [
            ("not_started", None, early.received_at),
            ("in_progress", 14, None),
        ]
        config = PKH.rules.plan_activity_at_risk
        # not started: behind from half time, but only known by the grace, after the report came
        assert activities.risk_decision(state, state.activities["A-1"], config) == (
            1,
            state.activities["A-1"],
            START + SPAN * 0.65 + 7 * DAY,
            "offline_grace_expired",
        )

    def test_an_activity_with_its_progress_windows_is_freed_without_the_cycle_collector(self) -> None:
        # Kept beside the activity, its windows must not hold it: a reference cycle waits for a full
        # collection, and the worker freezes its heap out of the collector's sight (shared/heap.py).
        early = progress("pr-1", "A-1", at_share(0.3), value=14)
        state = engine.step(drive([MEASURED])[0], early, at_share(0.1), PKH, group_id=GROUP, replay=True).state
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            gc.collect()
            activity = state.activities["A-1"].evolve(title="copy")  # one nothing else holds
            assert len(activities.progress_windows(activity)) == 2
            assert activities.progress_windows(activity)[-1][0] is activity  # from what was kept
            del activity
            assert gc.collect() == 0
        finally:
            if was_enabled:
                gc.enable()

    def test_a_clock_behind_the_opening_does_not_resolve_it(self) -> None:
        # A record processed at an earlier instant than the warning's (a redelivery on the wall clock).
        state, _ = drive([PLAIN, Tick(HALF + 7 * DAY)])
        assert RISK_ID in state.open
        assert of_rule(drive([Tick(HALF)], state=state)[1], AT_RISK) == []
