"""The oracle: which deviations a generated history must cause under the contract's rules (§4).

`expected_deviations` is a pure function of one facilitator's `History`, the programme configs
(`services/monitoring/programmes/*.yaml`, the contract's defaults) and the rule clock's final
`now`. It reads only what the server sees — times of receipt, not the injection labels — and returns
the set of (rule, group, occurrence) that must be opened, plus the set of *ambiguous* ones where the
contract's wording allows either answer (these are left out of precision and recall).

Occurrence keys, per rule (the third part of the deviation id, `rules/decisions.deviation_id`):

- `meeting.overdue` — period `YYYY-MM`: no report for the period received by
  T = max(due + grace, min(first device sync with `synced_through` > due, due + offline grace)), T ≤ now;
- `meeting.facilitator_absent` — report id: `facilitator_present` is false;
- `meeting.low_attendance` — report id: present / member_count < threshold;
- `meeting.attendance_declining` — report id of the newest meeting of the window: over the last
  `window_meetings` meetings by start time the newest is still ≥ threshold and the ratio fell by more
  than the margin;
- `meeting.too_short` — report id: duration < share × the programme's expected minutes;
- `reporting.lagging` — report id: received_at − ended_at > max lag;
- `plan.activity_overdue` — activity id: no `done` progress received by
  T = min(max(end of the due day, first device sync received after the plan with `synced_through`
  past the due day), max(end of the due day, the plan's arrival) + offline grace), T ≤ now;
- `plan.activity_at_risk` — activity id: at some instant before the due day ends, with the progress
  received by then, the activity is behind (not started at ≥ half its time, or its indicator more than
  the margin behind the straight line from baseline to target; the *risk instant* R is when the line
  overtakes the last value) and Pantau knows no newer progress waits on a phone: the latest report
  was recorded at or after R, or a sync received after the plan went past R, or R (or the plan's
  arrival) + offline grace passed;
- `evaluation.low_score` — evaluation id: mean score < threshold (either direction);
- `recognition.sustained_success` — the period completing a run of `periods` scheduled periods in a
  row met by the due time with attendance ≥ the ratio.

A meeting is "for" the period of the calendar month it started in (group's local time).
`facilitator.many_groups_deviating` is estimated, not scored (it is not in `ORACLE_RULES`): whether
enough groups are open "at once" depends on when every other rule resolves, which the contract
leaves to the implementation; `_many_groups` sweeps the certain deviations' opening and resolving
instants through the rule's own thresholds (`rules/many_groups.py`).

Ambiguous (both answers accepted): a boundary within one hour (or a day of `now`); `meeting.overdue`
whose answer changes when the offline grace is counted from due + grace instead of due; an absence
reported after a later meeting the facilitator attended; a lag whose answer changes when measured
from the start or the recording instead of the end; an activity done late whose "done" is dated on
or before its due day.

Besides the verdicts, `OracleResult.timing` says when each certain deviation opens, at which
severity, and when it resolves where the history shows it (`oracle_deviations` yields them with
the people and places an alert goes to, for alert budgets).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC as UTC_
from datetime import datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from services.monitoring.programmes import ProgrammeConfig, load_programmes, programme_config
from services.monitoring.rules.many_groups import NOT_COUNTED, FacilitatorState, GroupSignal, counts, on_signal
from shared.regions import kabupaten_of
from tools.generator.behaviour import History, Rates, SimMeeting, SimProgress, local_time, simulate
from tools.generator.programme import Activity, Group, Programme, Shape

Severity = Literal["info", "warning", "critical"]

OVERDUE: Final = "meeting.overdue"
FACILITATOR_ABSENT: Final = "meeting.facilitator_absent"
LOW_ATTENDANCE: Final = "meeting.low_attendance"
ATTENDANCE_DECLINING: Final = "meeting.attendance_declining"
TOO_SHORT: Final = "meeting.too_short"
ACTIVITY_OVERDUE: Final = "plan.activity_overdue"
ACTIVITY_AT_RISK: Final = "plan.activity_at_risk"
LOW_SCORE: Final = "evaluation.low_score"
REPORTING_LAGGING: Final = "reporting.lagging"
SUSTAINED_SUCCESS: Final = "recognition.sustained_success"
MANY_GROUPS: Final = "facilitator.many_groups_deviating"

ORACLE_RULES: Final = (
    OVERDUE,
    FACILITATOR_ABSENT,
    LOW_ATTENDANCE,
    ATTENDANCE_DECLINING,
    TOO_SHORT,
    REPORTING_LAGGING,
    ACTIVITY_OVERDUE,
    ACTIVITY_AT_RISK,
    LOW_SCORE,
    SUSTAINED_SUCCESS,
)
# Rules whose answer does not depend on when the server received anything: the only ones an HTTP
# run can be scored on, since the server stamps receipt with its own clock.
TIME_INSENSITIVE_RULES: Final = (FACILITATOR_ABSENT, LOW_ATTENDANCE, ATTENDANCE_DECLINING, TOO_SHORT, LOW_SCORE)

_NEAR = timedelta(hours=1)


@dataclass(frozen=True, slots=True, order=True)
class Expected:
    """One deviation the history must cause: its id is derived from exactly these three parts."""

    rule: str
    group_id: str
    occurrence: str


@dataclass(frozen=True, slots=True)
class Timing:
    """When a certain deviation opens (on the rule clock), at which severity, and when the history
    resolves it (None: still open at the horizon, or the oracle does not follow that rule's end)."""

    opened_at: datetime
    severity: Severity
    resolved_at: datetime | None = None
    evidence: str = ""  # for the sync-aware rules: `device_synced`, `offline_grace_expired`, `report`
    concerns: Literal["group", "facilitator"] = "group"


@dataclass
class OracleResult:
    """Deviations that must open, and those the contract leaves open to either answer."""

    certain: set[Expected] = field(default_factory=set)
    ambiguous: set[Expected] = field(default_factory=set)
    timing: dict[Expected, Timing] = field(default_factory=dict)  # of every deviation that fires by the rules

    def add(self, expected: Expected, *, fires: bool, ambiguous: bool, timing: Timing | None = None) -> None:
        """Record a verdict; an ambiguous one goes to `ambiguous` whatever it would have been."""
        if fires and timing is not None:
            self.timing[expected] = timing  # ambiguous ones too: the facilitator-level estimate counts them
        if ambiguous:
            self.ambiguous.add(expected)
        elif fires:
            self.certain.add(expected)

    def update(self, other: OracleResult) -> None:
        """Merge another facilitator's result."""
        self.certain |= other.certain
        self.ambiguous |= other.ambiguous
        self.timing |= other.timing

    def restricted_to(self, rules: tuple[str, ...] | frozenset[str] | set[str]) -> OracleResult:
        """Only the given rules."""
        return OracleResult(
            {item for item in self.certain if item.rule in rules},
            {item for item in self.ambiguous if item.rule in rules},
            {item: timing for item, timing in self.timing.items() if item.rule in rules},
        )

    def count_by_rule(self) -> dict[str, int]:
        """Certain deviations per rule."""
        counts: dict[str, int] = defaultdict(int)
        for item in self.certain:
            counts[item.rule] += 1
        return dict(counts)


def expected_deviations(
    history: History, programmes: dict[str, ProgrammeConfig], *, now: datetime | None = None
) -> OracleResult:
    """The deviations `history` must cause when the rule clock has reached `now` (default: the
    simulation's horizon end). Pure: same inputs, same answer."""
    now = now or history.horizon_end
    result = OracleResult()
    groups = {group.group_id: group for group in history.facilitator.groups}
    meetings_by_group: dict[str, list[SimMeeting]] = defaultdict(list)
    for meeting in sorted(history.meetings, key=lambda item: (item.received_at, item.started_at)):
        meetings_by_group[meeting.group_id].append(meeting)
    progress_by_activity: dict[str, list[SimProgress]] = defaultdict(list)
    for item in sorted(history.progress, key=lambda item: item.received_at):
        progress_by_activity[item.activity_id].append(item)
    sync_receipts = sorted((sync.received_at, sync.synced_through) for sync in history.syncs)

    for schedule in history.schedules:
        group = groups[schedule.group_id]
        config = programme_config(programmes, group.programme).rules.meeting_overdue
        reports = [
            meeting.received_at
            for meeting in meetings_by_group[group.group_id]
            if _local_period(meeting.started_at, group) == schedule.period
        ]
        first_report = min(reports) if reports else None
        due = schedule.due_at
        grace = timedelta(days=config.grace_days)
        offline = timedelta(days=config.offline_grace_days)
        synced_past_due = next((received for received, through in sync_receipts if through > due), None)
        verdicts: list[tuple[bool, bool, datetime]] = []
        for offline_from in (due, due + grace):  # the contract does not say which
            earliest = min(synced_past_due or datetime.max.replace(tzinfo=due.tzinfo), offline_from + offline)
            fire_at = max(due + grace, earliest)
            fires = fire_at <= now and (first_report is None or first_report > fire_at)
            # A report in the very batch whose watermark would fire the rule is published first: not near.
            near = (first_report is not None and first_report != fire_at and abs(first_report - fire_at) < _NEAR) or (
                fire_at <= now < fire_at + timedelta(days=1)
            )
            verdicts.append((fires, near, fire_at))
        fires = verdicts[0][0]
        ambiguous = verdicts[0][0] != verdicts[1][0] or any(near for _, near, _ in verdicts)
        fire_at = verdicts[0][2]
        severity: Severity = "critical" if fire_at >= due + timedelta(days=config.critical_after_days) else "warning"
        evidence = "device_synced" if synced_past_due else "offline_grace_expired"
        timing = Timing(fire_at, severity, first_report, evidence)
        result.add(Expected(OVERDUE, group.group_id, schedule.period), fires=fires, ambiguous=ambiguous, timing=timing)

    for group_id, meetings in meetings_by_group.items():
        _meeting_rules(result, groups[group_id], meetings, programmes)

    for group in history.facilitator.groups:
        for activity in group.plan.activities:
            _activity_rules(
                result,
                group,
                activity,
                progress_by_activity[activity.activity_id],
                programmes,
                now,
                known_at=history.plans_agreed_at,
                syncs=sync_receipts,
            )

    for evaluation in history.evaluations:
        group = groups[evaluation.group_id]
        threshold = programme_config(programmes, group.programme).rules.evaluation_low_score.threshold_score
        cleared = next(
            (
                other.received_at
                for other in history.evaluations
                if other.group_id == evaluation.group_id
                and other.direction == evaluation.direction
                and other.received_at > evaluation.received_at
                and other.mean_score >= threshold
            ),
            None,
        )
        result.add(
            Expected(LOW_SCORE, group.group_id, evaluation.evaluation_id),
            fires=evaluation.mean_score < threshold,
            ambiguous=False,
            timing=Timing(
                evaluation.received_at,
                "warning",
                cleared,
                concerns="facilitator" if evaluation.direction == "group_rates_facilitator" else "group",
            ),
        )

    for group in history.facilitator.groups:
        _sustained_success(result, group, history, meetings_by_group[group.group_id], programmes)
    _many_groups(result, history, programmes)
    return result


def _local_period(moment: datetime, group: Group) -> str:
    local = moment.astimezone(ZoneInfo(group.time_zone))
    return f"{local.year:04d}-{local.month:02d}"


def _at_least(meeting: SimMeeting, *, threshold: float) -> bool:
    return _ratio(meeting) >= threshold


def _ratio(meeting: SimMeeting) -> float:
    return meeting.present_count / meeting.member_count if meeting.member_count else 0.0


def _meeting_rules(
    result: OracleResult, group: Group, meetings: list[SimMeeting], programmes: dict[str, ProgrammeConfig]
) -> None:
    """Per-meeting rules, fed in the order the server received the meetings."""
    config = programme_config(programmes, group.programme)
    rules = config.rules
    limit = rules.meeting_too_short.min_share_of_expected * config.expected_meeting_minutes
    max_lag = timedelta(days=rules.reporting_lagging.max_lag_days)

    def minutes_of(meeting: SimMeeting) -> float:
        return (meeting.ended_at - meeting.started_at).total_seconds() / 60

    def cleared_at(
        meeting: SimMeeting, good: Callable[[SimMeeting], bool], *, later_start: bool = True
    ) -> datetime | None:
        """Receipt of the first later report that clears it (held later, unless `later_start` is off)."""
        return next(
            (
                other.received_at
                for other in meetings
                if other.received_at > meeting.received_at
                and (other.started_at > meeting.started_at or not later_start)
                and good(other)
            ),
            None,
        )

    known: list[SimMeeting] = []
    for meeting in meetings:
        known.append(meeting)
        known.sort(key=lambda item: (item.started_at, item.report_id))
        report = meeting.report_id
        # facilitator_absent: ambiguous when a later meeting with the facilitator arrived first.
        cleared_before = any(
            other.started_at > meeting.started_at and other.facilitator_present
            for other in known
            if other is not meeting
        )
        result.add(
            Expected(FACILITATOR_ABSENT, group.group_id, report),
            fires=not meeting.facilitator_present,
            ambiguous=not meeting.facilitator_present and cleared_before,
            timing=Timing(
                meeting.received_at,
                rules.meeting_facilitator_absent.severity,
                cleared_at(meeting, lambda other: other.facilitator_present),
            ),
        )
        ratio = _ratio(meeting)
        threshold = rules.meeting_low_attendance.threshold_ratio
        result.add(
            Expected(LOW_ATTENDANCE, group.group_id, report),
            fires=meeting.member_count > 0 and ratio < threshold,
            ambiguous=False,
            timing=Timing(
                meeting.received_at, "warning", cleared_at(meeting, functools.partial(_at_least, threshold=threshold))
            ),
        )
        minutes = minutes_of(meeting)
        result.add(
            Expected(TOO_SHORT, group.group_id, report),
            fires=minutes < limit,
            ambiguous=abs(minutes - limit) < 1,
            timing=Timing(
                meeting.received_at, "warning", cleared_at(meeting, lambda other: minutes_of(other) >= limit)
            ),
        )
        lags = [meeting.received_at - moment for moment in (meeting.ended_at, meeting.started_at, meeting.recorded_at)]
        lagging = [lag > max_lag for lag in lags]
        result.add(
            Expected(REPORTING_LAGGING, group.group_id, report),
            fires=lagging[0],
            ambiguous=len(set(lagging)) > 1 or abs(lags[0] - max_lag) < _NEAR,
            timing=Timing(
                meeting.received_at,
                "info",
                cleared_at(meeting, lambda other: other.received_at - other.ended_at <= max_lag, later_start=False),
            ),
        )
        _declining(result, group, known, meeting, config)


def _declining(
    result: OracleResult, group: Group, known: list[SimMeeting], arrived: SimMeeting, config: ProgrammeConfig
) -> None:
    rules = config.rules
    window = rules.meeting_attendance_declining.window_meetings
    margin = rules.meeting_attendance_declining.margin_ratio
    threshold = rules.meeting_low_attendance.threshold_ratio
    if len(known) < window:
        return
    recent = known[-window:]
    newest = recent[-1]
    ratios = [_ratio(meeting) for meeting in recent]
    drop = ratios[0] - ratios[-1]
    absolute = ratios[-1] >= threshold and drop > margin
    relative = ratios[-1] >= threshold and ratios[0] > 0 and drop / ratios[0] > margin
    monotone = all(later <= earlier for earlier, later in itertools.pairwise(ratios))
    # On a boundary (the threshold, or a fall of exactly the margin) either answer is defensible.
    near = (math.isclose(ratios[-1], threshold) and drop > margin - 0.005) or (
        abs(drop - margin) < 0.005 and ratios[-1] >= threshold - 1e-9
    )
    if not (absolute or relative or near):
        return
    fires = absolute
    ambiguous = absolute != relative or (fires and not monotone) or near or newest is not arrived
    expected = Expected(ATTENDANCE_DECLINING, group.group_id, newest.report_id)
    if expected in result.certain:
        return
    result.add(expected, fires=fires, ambiguous=ambiguous, timing=Timing(newest.received_at, "info"))


def _first_sync_past(syncs: list[tuple[datetime, datetime]], needed: datetime, after: datetime) -> datetime | None:
    """Receipt of the first sync received after `after` whose watermark went past `needed` (the
    generated facilitator has one phone, syncing every few days: always an active device)."""
    reached = datetime.min.replace(tzinfo=needed.tzinfo)
    for received, through in syncs:
        # A sync that does not advance the watermark is no news (the service keeps the highest).
        if through <= reached:
            continue
        reached = through
        if through > needed and received > after:
            return received
    return None


def _activity_rules(
    result: OracleResult,
    group: Group,
    activity: Activity,
    reports: list[SimProgress],
    programmes: dict[str, ProgrammeConfig],
    now: datetime,
    *,
    known_at: datetime,
    syncs: list[tuple[datetime, datetime]],
) -> None:
    rules = programme_config(programmes, group.programme).rules
    due_end = local_time(activity.due_on, time(23, 59, 59), group.time_zone)
    late = due_end + timedelta(seconds=1)
    done = [report for report in reports if report.status == "done"]
    done_at = min((report.received_at for report in done), default=None)

    # plan.activity_overdue: known late at a sync past the due day (received after the plan), or
    # when the offline grace runs out.
    config = rules.plan_activity_overdue
    grace_at = max(late, known_at) + timedelta(days=config.offline_grace_days)
    synced = _first_sync_past(syncs, due_end, known_at)
    at, evidence = grace_at, "offline_grace_expired"
    if synced is not None and max(synced, late) < grace_at:
        at, evidence = max(synced, late), "device_synced"
    overdue = at <= now and (done_at is None or done_at > at)
    late_but_dated_in_time = done_at is not None and done_at > at and done[0].reported_on <= activity.due_on
    result.add(
        Expected(ACTIVITY_OVERDUE, group.group_id, activity.activity_id),
        fires=overdue,
        ambiguous=(done_at is not None and abs(done_at - at) < _NEAR)
        or (at <= now < at + timedelta(days=1))
        or (overdue and late_but_dated_in_time),
        timing=Timing(at, config.severity, done_at if done_at is not None and done_at > at else None, evidence),
    )
    _at_risk(result, group, activity, reports, programmes, now, known_at=known_at, syncs=syncs, late=late)


def _at_risk(
    result: OracleResult,
    group: Group,
    activity: Activity,
    reports: list[SimProgress],
    programmes: dict[str, ProgrammeConfig],
    now: datetime,
    *,
    known_at: datetime,
    syncs: list[tuple[datetime, datetime]],
    late: datetime,
) -> None:
    """plan.activity_at_risk, segment by segment: between two progress arrivals what Pantau knows of
    the activity stays the same, so it opens in a segment iff its evidence arrives within it."""
    config = programme_config(programmes, group.programme).rules.plan_activity_at_risk
    start = local_time(group.plan.starts_on, time(0), group.time_zone)
    due_end = late - timedelta(seconds=1)
    span = due_end - start
    if span.total_seconds() <= 0:
        return
    indicator = activity.indicator
    earliest = start + span * config.from_elapsed_share
    grace = timedelta(days=config.offline_grace_days)

    def risk_instant(latest: SimProgress | None, value: float | None) -> datetime | None:
        if latest is not None and latest.status == "done":
            return None
        if latest is None or latest.status in ("not_started", "blocked"):
            instant = earliest
        elif indicator is not None and value is not None:
            distance = indicator.target - indicator.baseline
            if distance == 0:
                return None
            share = (value - indicator.baseline) / distance
            instant = max(earliest, start + span * max(0.0, share + config.margin_ratio))
        else:
            return None
        return instant if instant < due_end else None

    def known_behind_at(instant: datetime, latest: SimProgress | None) -> tuple[datetime, str]:
        base = max(instant, known_at)
        candidates = [(base + grace, "offline_grace_expired")]
        if latest is not None and latest.recorded_at >= instant:
            candidates.append((latest.received_at, "report"))
        synced = _first_sync_past(syncs, instant, known_at)
        if synced is not None:
            candidates.append((synced, "device_synced"))
        first, evidence = min(candidates)
        floor = latest.received_at if latest is not None else known_at
        return max(instant, floor, first), evidence

    expected = Expected(ACTIVITY_AT_RISK, group.group_id, activity.activity_id)
    latest: SimProgress | None = None
    value: float | None = None
    arrivals = sorted(reports, key=lambda report: report.received_at)
    for index in range(len(arrivals) + 1):
        segment_end = arrivals[index].received_at if index < len(arrivals) else datetime.max.replace(tzinfo=UTC_)
        instant = risk_instant(latest, value)
        if instant is not None and instant < segment_end:
            at, evidence = known_behind_at(instant, latest)
            if at < segment_end and at < late:
                fires = at <= now
                near = (
                    abs(at - segment_end) < _NEAR or abs(at - late) < _NEAR or (fires and now < at + timedelta(days=1))
                )
                resolved = _risk_resolved(arrivals[index:], late, risk_instant, value)
                result.add(expected, fires=fires, ambiguous=near, timing=Timing(at, "info", resolved, evidence))
                return
            if abs(at - segment_end) < _NEAR and at < late:
                result.add(expected, fires=False, ambiguous=True)  # evidence and progress together
                return
        if index == len(arrivals) or segment_end > now:
            return
        arrived = arrivals[index]
        if latest is None or arrived.reported_on >= latest.reported_on:
            latest = arrived
            value = arrived.indicator_value if arrived.indicator_value is not None else value


def _risk_resolved(
    later: list[SimProgress],
    late: datetime,
    risk_instant: Callable[[SimProgress | None, float | None], datetime | None],
    value: float | None,
) -> datetime:
    """When an open at-risk deviation ends: the first later report putting it back on track (or
    done), else the end of the due day."""
    for report in later:
        if report.received_at >= late:
            break
        value = report.indicator_value if report.indicator_value is not None else value
        instant = risk_instant(report, value)
        if instant is None or instant > report.received_at:
            return report.received_at
    return late


def _many_groups(result: OracleResult, history: History, programmes: dict[str, ProgrammeConfig]) -> None:
    """`facilitator.many_groups_deviating`, estimated from the other rules' certain deviations and
    when they open and resolve: a sweep over time of the facilitator's groups that have a warning
    or worse about themselves open. Not scored for precision and recall (not in `ORACLE_RULES`): an
    ambiguous deviation, or a resolution the oracle does not follow, can shift an episode; it is
    what an alert budget counts facilitator-level incidents with."""
    config = programme_config(programmes, history.facilitator.programme).rules.facilitator_many_groups_deviating
    # (instant, order, group id, change): a group is heard of (0), a deviation resolves (-1) before
    # one opens (+1) at the same instant.
    changes: list[tuple[datetime, int, str, int]] = []
    for schedule in history.schedules:
        changes.append((schedule.published_at, 0, schedule.group_id, 0))
    for meeting in history.meetings:
        changes.append((meeting.received_at, 0, meeting.group_id, 0))
    for expected, timing in result.timing.items():
        if expected.rule in NOT_COUNTED or timing.concerns != "group" or not counts(timing.severity, config):
            continue
        changes.append((timing.opened_at, 2, expected.group_id, 1))
        if timing.resolved_at is not None:
            changes.append((timing.resolved_at, 1, expected.group_id, -1))
    open_per_group: dict[str, int] = defaultdict(int)
    state = FacilitatorState()
    facilitator_id = history.facilitator.facilitator_id
    opened: Expected | None = None
    opened_at = datetime.min.replace(tzinfo=UTC_)
    for instant, _order, group_id, change in sorted(changes):
        if instant > history.horizon_end:
            break
        open_per_group[group_id] += change
        group = next(item for item in history.facilitator.groups if item.group_id == group_id)
        signal = GroupSignal(
            facilitator_id, group_id, group.region_code, group.programme, open_per_group[group_id] > 0, instant
        )
        state, decisions = on_signal(state, signal, config)
        for published_under, decision in decisions:
            if decision.rule != MANY_GROUPS:
                continue
            if opened is None:
                opened, opened_at = Expected(MANY_GROUPS, published_under, f"{facilitator_id}#{state.episode}"), instant
            else:
                result.add(opened, fires=True, ambiguous=False, timing=Timing(opened_at, "warning", instant))
                opened = None
    if opened is not None:
        result.add(opened, fires=True, ambiguous=False, timing=Timing(opened_at, "warning"))


def _sustained_success(
    result: OracleResult,
    group: Group,
    history: History,
    meetings: list[SimMeeting],
    programmes: dict[str, ProgrammeConfig],
) -> None:
    config = programme_config(programmes, group.programme).rules.recognition_sustained_success
    run = 0
    for schedule in (item for item in history.schedules if item.group_id == group.group_id):
        held = [
            meeting
            for meeting in meetings
            if _local_period(meeting.started_at, group) == schedule.period and meeting.started_at <= schedule.due_at
        ]
        good = bool(held) and _ratio(held[0]) >= config.attendance_ratio
        borderline = bool(held) and math.isclose(_ratio(held[0]), config.attendance_ratio)
        run = run + 1 if good else 0
        if run == config.periods:
            result.add(
                Expected(SUSTAINED_SUCCESS, group.group_id, schedule.period),
                fires=True,
                ambiguous=borderline,
                timing=Timing(schedule.due_at, "info"),
            )
            run = 0


@dataclass(frozen=True, slots=True)
class OracleDeviation:
    """One deviation the oracle expects, with who hears of it and when (for alert budgets)."""

    rule: str
    group_id: str
    occurrence: str
    facilitator_id: str
    region_code: str  # the group's village (desa)
    supervisor_region: str  # the kabupaten whose supervisor an alert goes to first
    supervisor_id: str
    severity: Severity
    opened_at: datetime
    resolved_at: datetime | None  # None: still open at the horizon, or not followed by the oracle


def oracle_deviations(
    *,
    scale: float,
    months: int,
    seed: int = 7,
    start: datetime | None = None,
    rates: Rates | None = None,
    programmes: dict[str, ProgrammeConfig] | None = None,
) -> Iterator[OracleDeviation]:
    """The oracle's certain deviations of a generated programme, facilitator by facilitator (in
    bounded memory), each with its group, facilitator, supervisor region, severity, opened-at and
    resolved-at. `facilitator.many_groups_deviating` is not among them (see the module docstring).

        for item in oracle_deviations(scale=0.003, months=3):
            ...  # e.g. group into incidents per group, count messages per supervisor per week
    """
    programmes = programmes if programmes is not None else load_programmes()
    first = (start or datetime(2026, 1, 1)).date()
    shape = Shape(scale=scale, seed=seed, start=first.replace(day=1), months=months)
    for facilitator in Programme(shape).facilitators():
        history = simulate(facilitator, shape, rates or Rates())
        result = expected_deviations(history, programmes)
        groups = {group.group_id: group for group in facilitator.groups}
        for item in sorted(result.certain):
            timing = result.timing[item]
            group = groups[item.group_id]
            kabupaten = kabupaten_of(group.region_code) or group.region_code
            yield OracleDeviation(
                rule=item.rule,
                group_id=item.group_id,
                occurrence=item.occurrence,
                facilitator_id=facilitator.facilitator_id,
                region_code=group.region_code,
                supervisor_region=kabupaten,
                supervisor_id=f"SUP-{kabupaten.replace('.', '')}",
                severity=timing.severity,
                opened_at=timing.opened_at,
                resolved_at=timing.resolved_at,
            )
