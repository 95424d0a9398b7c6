"""`meeting.overdue`: a scheduled meeting has no report by its due time + grace, and either the
facilitator's devices have synced past the due time (so the report is not merely waiting on a phone
without signal: anything recorded before the due time would have come with that sync) or the offline
grace has run out. It fires at the later of due + grace and the sync that showed it; escalates to
critical if still missing after `critical_after_days`. A report of a meeting held in the period
resolves it (`late_report`).

Which devices count: see `syncs.py` (those that synced within 30 days before the due time).

A period learned only after its due time + offline grace (the meetings service schedules imported
history and the past months of a plan agreed afterwards late, so that compliance counts them) is
history: nobody could have acted on it in time, and an import of a year would otherwise flood
supervisors with year-old alarms. The rule says nothing about such a period; analytics still counts
it as met or not met.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime
from typing import Final

from services.monitoring.programmes import OverdueConfig
from services.monitoring.rules.calendar import days, local_date, period_bounds
from services.monitoring.rules.decisions import Decision, DetailValue, Escalate, Open, Resolve, deviation_id
from services.monitoring.rules.state import GroupState, MeetingSummary, ScheduledPeriod
from services.monitoring.rules.syncs import SyncMove, answer_differs, synced_past_at

RULE = "meeting.overdue"


def meeting_for_period(state: GroupState, scheduled: ScheduledPeriod) -> MeetingSummary | None:
    """The first meeting held (by local start date) within the period, if any."""
    first, last = period_bounds(scheduled.period, scheduled.cadence)
    for meeting in state.meetings:
        if first <= _local_day(meeting, scheduled.time_zone) <= last:
            return meeting
    return None


def first_report_for_period(state: GroupState, scheduled: ScheduledPeriod) -> MeetingSummary | None:
    """The meeting of the period whose report reached Pantau first (what "the report was there by
    instant T" is judged on, whatever order the records were read in)."""
    first, last = period_bounds(scheduled.period, scheduled.cadence)
    found: MeetingSummary | None = None
    found_at: datetime | None = None
    for meeting in state.meetings:  # a loop, not `min` over a list: asked for every period at most records
        if first <= _local_day(meeting, scheduled.time_zone) <= last:
            received = _received(meeting)
            if found_at is None or received < found_at:
                found, found_at = meeting, received
    return found


def _local_day(meeting: MeetingSummary, time_zone: str) -> date:
    """The meeting's local start date, kept beside it for the time zone it was asked in (a cached
    `local_date` hashes an aware datetime, which asks its offset, at every call)."""
    known: tuple[str, date] | None = meeting._local_day
    if known is not None and known[0] == time_zone:
        return known[1]
    day = local_date(meeting.started_at, time_zone)
    object.__setattr__(meeting, "_local_day", (time_zone, day))
    return day


def _received(meeting: MeetingSummary) -> datetime:
    return meeting.received_at or meeting.started_at


# Module functions, not functions nested in `evaluate`: compiled, a nested function and its
# environment refer to each other, so every call left a cycle that only the collector frees, and the
# loop worker keeps the collector away from a batch's fold (`shared/heap.BatchCollector.folding`).
def _still_missing_at(report: MeetingSummary | None, instant: datetime) -> bool:
    return report is None or _received(report) > instant


def _escalate(key: str, critical_at: datetime, config: OverdueConfig) -> Escalate:
    details: dict[str, DetailValue] = {"days_overdue": config.critical_after_days}
    return Escalate(key, RULE, "warning", "critical", "still_missing", details=details, at=critical_at)


def learned_as_history(scheduled: ScheduledPeriod, config: OverdueConfig) -> bool:
    """True when the period became known only after its due time + offline grace."""
    learned_at = scheduled.learned_at
    return learned_at is not None and learned_at > scheduled.due_at + days(config.offline_grace_days)


def evaluate(state: GroupState, now: datetime, config: OverdueConfig, *, group_id: str) -> list[Decision]:
    """Open, escalate or resolve overdue meetings as of `now`."""
    grace = days(config.grace_days)
    offline_grace = days(config.offline_grace_days)
    critical_after = days(config.critical_after_days)
    decisions: list[Decision] = []
    for scheduled in state.periods:
        key = deviation_id(RULE, group_id, scheduled.period)
        if key in state.closed or (key not in state.open and learned_as_history(scheduled, config)):
            continue
        # Judged as of each instant on what had been *received* by then, so that a report read
        # early (a replay reading topics at different speeds) cannot hide a lateness that was real.
        report = first_report_for_period(state, scheduled)
        open_ = state.open.get(key)
        due = scheduled.due_at
        critical_at = due + critical_after

        # A report read while the partition's clock is still behind its receipt (a replay waits for
        # its slowest topic) must not cut short what living through it would have decided first: the
        # escalation comes at its instant, and the resolution after it (`wake_times` keeps the instant).
        escalation_ahead = now < critical_at and _still_missing_at(report, critical_at)
        if open_ is not None:
            if open_.severity != "critical" and now >= critical_at and _still_missing_at(report, critical_at):
                decisions.append(_escalate(key, critical_at, config))
            if report is not None and not (open_.severity != "critical" and escalation_ahead):
                decisions.append(Resolve(key, RULE, open_.severity, "late_report", at=_received(report)))
            continue
        if now < due + grace:
            continue
        candidates = []
        synced = synced_past_at(state, due, reference=due)
        if synced is not None:
            candidates.append(max(synced, due + grace))
        if now >= due + offline_grace:
            candidates.append(due + offline_grace)
        if not candidates:
            continue
        at = min(candidates)
        if not _still_missing_at(report, at):
            continue  # the report was there in time: nothing to say
        evidence = "device_synced" if synced is not None and at < due + offline_grace else "offline_grace_expired"
        opened_critical = at >= critical_at
        decisions.append(
            Open(
                rule=RULE,
                subject=group_id,
                occurrence=scheduled.period,
                severity="critical" if opened_critical else "warning",
                evidence_at=due,
                at=at,
                details={
                    "period": scheduled.period,
                    "due_at": due.isoformat(),
                    "time_zone": scheduled.time_zone,
                    "evidence": evidence,
                },
            )
        )
        if not opened_critical and now >= critical_at and _still_missing_at(report, critical_at):
            # First looked at only after the critical instant: decide both, as living through it would.
            decisions.append(_escalate(key, critical_at, config))
        if report is not None and not (not opened_critical and escalation_ahead):
            decisions.append(
                Resolve(key, RULE, "critical" if opened_critical else "warning", "late_report", at=_received(report))
            )
    return decisions


def wake_times(state: GroupState, config: OverdueConfig, *, group_id: str) -> list[datetime]:
    """Instants at which this rule may decide something without a new event."""
    times: list[datetime] = []
    for scheduled in state.periods:
        key = deviation_id(RULE, group_id, scheduled.period)
        if key in state.closed:
            continue
        if key not in state.open and learned_as_history(scheduled, config):
            continue
        # An instant counts while the report was still missing then, judged by its receipt: a report
        # read before the clock got there (a replay waiting for a slower topic) does not cancel it.
        report = first_report_for_period(state, scheduled)
        received = None if report is None else _received(report)
        due = scheduled.due_at
        if key in state.open:
            critical_at = due + days(config.critical_after_days)
            if state.open[key].severity != "critical" and (received is None or received > critical_at):
                times.append(critical_at)
        else:
            instants = (due + days(config.grace_days), due + days(config.offline_grace_days))
            times += [instant for instant in instants if received is None or received > instant]
    return times


class MeetingTimes:
    """What the meeting rules know of a group until its meetings, periods or deviations change:
    every instant at which time alone may make them decide (`wakes`, sorted: this rule's, and each
    period's due time, when `recognition.sustained_success` judges a streak), and the periods a
    device sync may still open this rule for (`awaiting_sync`: each one's due time, which the sync
    must go past, and the first instant it can open at). Kept beside the state (never stored:
    rebuilt after a restart), so that a sync, a progress report or an evaluation does not walk
    every period and meeting again. Neither depends on the devices: a sync only answers the
    questions of `awaiting_sync` (`sync_may_decide`)."""

    # A plain class, not a frozen dataclass: built whenever a group's meetings or periods change,
    # and a compiled frozen dataclass is built by Python code (about 10x the cost of this
    # `__init__`). `Final`: the type check keeps it unchanged.
    __slots__ = ("awaiting_sync", "config", "group_id", "wakes")

    def __init__(
        self,
        group_id: str,
        config: OverdueConfig,
        wakes: tuple[datetime, ...],
        awaiting_sync: tuple[tuple[datetime, datetime], ...],
    ) -> None:
        self.group_id: Final = group_id
        self.config: Final = config
        self.wakes: Final = wakes
        self.awaiting_sync: Final = awaiting_sync

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MeetingTimes) and (self.group_id, self.config, self.wakes, self.awaiting_sync) == (
            other.group_id,
            other.config,
            other.wakes,
            other.awaiting_sync,
        )

    def __repr__(self) -> str:
        return f"MeetingTimes(group_id={self.group_id!r}, wakes={self.wakes!r}, awaiting_sync={self.awaiting_sync!r})"

    def fits(self, group_id: str, config: OverdueConfig) -> bool:
        return self.group_id == group_id and (self.config is config or self.config == config)

    def next_wake(self, now: datetime) -> datetime | None:
        """The first of `wakes` after `now`."""
        index = bisect.bisect_right(self.wakes, now)
        return self.wakes[index] if index < len(self.wakes) else None


def meeting_times(state: GroupState, config: OverdueConfig, *, group_id: str) -> MeetingTimes:
    """The group's `MeetingTimes`, computed once for given meetings, periods and deviations."""
    known: MeetingTimes | None = state._meeting_times
    if known is not None and known.fits(group_id, config):
        return known
    grace = days(config.grace_days)
    awaiting: list[tuple[datetime, datetime]] = []
    for scheduled in state.periods:
        key = deviation_id(RULE, group_id, scheduled.period)
        if key in state.closed or key in state.open or learned_as_history(scheduled, config):
            continue
        report = first_report_for_period(state, scheduled)
        opens_from = scheduled.due_at + grace  # `evaluate` opens nothing before it, whatever the devices say
        if report is None or _received(report) > opens_from:
            awaiting.append((scheduled.due_at, opens_from))
    wakes = wake_times(state, config, group_id=group_id) + [scheduled.due_at for scheduled in state.periods]
    times = MeetingTimes(group_id, config, tuple(sorted(wakes)), tuple(awaiting))
    object.__setattr__(state, "_meeting_times", times)  # `GroupState.evolve` drops it when an input changes
    return times


def sync_may_decide(
    before: GroupState,
    after: GroupState,
    now: datetime,
    config: OverdueConfig,
    *,
    group_id: str,
    move: SyncMove | None,
) -> bool:
    """Whether `evaluate(after, now)` may decide something that `evaluate(before, now)` did not,
    where `after` is `before` with other device marks and nothing else changed. Only the answer to
    "had every active device synced past the due time, and when" (`synced_past_at`) differs between
    the two, and only for a period still awaiting that evidence once its grace has passed; a device's
    next sync (`move`) that cannot answer it otherwise (`syncs.answer_may_change`) changes nothing.
    Anything else (`move` None: a new device, several moved) is judged again in full."""
    awaiting = [
        due for due, opens_from in meeting_times(after, config, group_id=group_id).awaiting_sync if opens_from <= now
    ]
    if not awaiting:
        return False
    if move is None:
        return True
    questions = [(due, due, None) for due in awaiting]
    return any(move.may_change(question) and answer_differs(before, after, question) for question in questions)
