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
- `plan.activity_overdue` — activity id: no `done` progress received by the end of the due day (local),
  and that moment ≤ now;
- `plan.activity_at_risk` — activity id: a progress report dated at ≥ half the activity's time (plan
  start → due) says `not_started`, or its indicator is more than the margin behind the straight line
  from baseline to target;
- `evaluation.low_score` — evaluation id: mean score < threshold (either direction);
- `recognition.sustained_success` — the period completing a run of `periods` scheduled periods in a
  row met by the due time with attendance ≥ the ratio.

A meeting is "for" the period of the calendar month it started in (group's local time).
`facilitator.many_groups_deviating` is not in the oracle: whether three groups are open "at once"
depends on when every other rule resolves, which the contract leaves to the implementation.

Ambiguous (both answers accepted): a boundary within one hour (or a day of `now`); `meeting.overdue`
whose answer changes when the offline grace is counted from due + grace instead of due; an absence
reported after a later meeting the facilitator attended; a lag whose answer changes when measured
from the start or the recording instead of the end; an at-risk reading that changes when the rule
also checks on a timer at half time or against the moving line between reports.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from services.monitoring.programmes import ProgrammeConfig, programme_config
from tools.generator.behaviour import History, SimMeeting, SimProgress, local_time
from tools.generator.programme import Activity, Group

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


@dataclass
class OracleResult:
    """Deviations that must open, and those the contract leaves open to either answer."""

    certain: set[Expected] = field(default_factory=set)
    ambiguous: set[Expected] = field(default_factory=set)

    def add(self, expected: Expected, *, fires: bool, ambiguous: bool) -> None:
        """Record a verdict; an ambiguous one goes to `ambiguous` whatever it would have been."""
        if ambiguous:
            self.ambiguous.add(expected)
        elif fires:
            self.certain.add(expected)

    def update(self, other: OracleResult) -> None:
        """Merge another facilitator's result."""
        self.certain |= other.certain
        self.ambiguous |= other.ambiguous

    def restricted_to(self, rules: tuple[str, ...] | frozenset[str] | set[str]) -> OracleResult:
        """Only the given rules."""
        return OracleResult(
            {item for item in self.certain if item.rule in rules},
            {item for item in self.ambiguous if item.rule in rules},
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
        verdicts = []
        for offline_from in (due, due + grace):  # the contract does not say which
            earliest = min(synced_past_due or datetime.max.replace(tzinfo=due.tzinfo), offline_from + offline)
            fire_at = max(due + grace, earliest)
            fires = fire_at <= now and (first_report is None or first_report > fire_at)
            # A report in the very batch whose watermark would fire the rule is published first: not near.
            near = (first_report is not None and first_report != fire_at and abs(first_report - fire_at) < _NEAR) or (
                fire_at <= now < fire_at + timedelta(days=1)
            )
            verdicts.append((fires, near))
        fires = verdicts[0][0]
        ambiguous = verdicts[0][0] != verdicts[1][0] or any(near for _, near in verdicts)
        result.add(Expected(OVERDUE, group.group_id, schedule.period), fires=fires, ambiguous=ambiguous)

    for group_id, meetings in meetings_by_group.items():
        _meeting_rules(result, groups[group_id], meetings, programmes)

    for group in history.facilitator.groups:
        for activity in group.plan.activities:
            _activity_rules(result, group, activity, progress_by_activity[activity.activity_id], programmes, now)

    for evaluation in history.evaluations:
        group = groups[evaluation.group_id]
        threshold = programme_config(programmes, group.programme).rules.evaluation_low_score.threshold_score
        result.add(
            Expected(LOW_SCORE, group.group_id, evaluation.evaluation_id),
            fires=evaluation.mean_score < threshold,
            ambiguous=False,
        )

    for group in history.facilitator.groups:
        _sustained_success(result, group, history, meetings_by_group[group.group_id], programmes)
    return result


def _local_period(moment: datetime, group: Group) -> str:
    local = moment.astimezone(ZoneInfo(group.time_zone))
    return f"{local.year:04d}-{local.month:02d}"


def _ratio(meeting: SimMeeting) -> float:
    return meeting.present_count / meeting.member_count if meeting.member_count else 0.0


def _meeting_rules(
    result: OracleResult, group: Group, meetings: list[SimMeeting], programmes: dict[str, ProgrammeConfig]
) -> None:
    """Per-meeting rules, fed in the order the server received the meetings."""
    config = programme_config(programmes, group.programme)
    rules = config.rules
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
        )
        ratio = _ratio(meeting)
        threshold = rules.meeting_low_attendance.threshold_ratio
        result.add(
            Expected(LOW_ATTENDANCE, group.group_id, report),
            fires=meeting.member_count > 0 and ratio < threshold,
            ambiguous=False,
        )
        minutes = (meeting.ended_at - meeting.started_at).total_seconds() / 60
        limit = rules.meeting_too_short.min_share_of_expected * config.expected_meeting_minutes
        result.add(
            Expected(TOO_SHORT, group.group_id, report), fires=minutes < limit, ambiguous=abs(minutes - limit) < 1
        )
        max_lag = timedelta(days=rules.reporting_lagging.max_lag_days)
        lags = [meeting.received_at - moment for moment in (meeting.ended_at, meeting.started_at, meeting.recorded_at)]
        lagging = [lag > max_lag for lag in lags]
        result.add(
            Expected(REPORTING_LAGGING, group.group_id, report),
            fires=lagging[0],
            ambiguous=len(set(lagging)) > 1 or abs(lags[0] - max_lag) < _NEAR,
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
    result.add(expected, fires=fires, ambiguous=ambiguous)


def _activity_rules(
    result: OracleResult,
    group: Group,
    activity: Activity,
    reports: list[SimProgress],
    programmes: dict[str, ProgrammeConfig],
    now: datetime,
) -> None:
    rules = programme_config(programmes, group.programme).rules
    due_end = local_time(activity.due_on, time(23, 59, 59), group.time_zone)
    done = [report for report in reports if report.status == "done"]
    done_at = min((report.received_at for report in done), default=None)
    overdue = due_end <= now and (done_at is None or done_at > due_end)
    late_but_dated_in_time = done_at is not None and done_at > due_end and done[0].reported_on <= activity.due_on
    result.add(
        Expected(ACTIVITY_OVERDUE, group.group_id, activity.activity_id),
        fires=overdue,
        ambiguous=(done_at is not None and abs(done_at - due_end) < _NEAR)
        or (due_end <= now < due_end + timedelta(days=1))
        or (overdue and late_but_dated_in_time),
    )

    config = rules.plan_activity_at_risk
    starts_on = group.plan.starts_on
    span_days = (activity.due_on - starts_on).days
    if span_days <= 0:
        return
    indicator = activity.indicator

    def share_on(day_offset: float) -> float:
        return day_offset / span_days

    def behind(value: float | None, share: float) -> bool:
        if indicator is None or value is None or indicator.target == indicator.baseline:
            return False
        line = indicator.baseline + (indicator.target - indicator.baseline) * share
        return (line - value) / (indicator.target - indicator.baseline) > config.margin_ratio

    # Reading A: judge each report as of its own date.
    by_report = False
    for report in reports:
        if report.received_at > now or report.reported_on >= activity.due_on:
            continue
        share = share_on((report.reported_on - starts_on).days)
        if share >= config.from_elapsed_share and report.status != "done":
            by_report = by_report or report.status == "not_started" or behind(report.indicator_value, share)
    # Reading B: also check at half time on a timer, and against the moving line until the next report.
    half_day = math.ceil(config.from_elapsed_share * span_days)
    half_at = local_time(starts_on + timedelta(days=half_day), time(0), group.time_zone)
    by_timer = False
    if half_at <= now and half_at < due_end:
        checkpoints = [half_at] + [r.received_at for r in reports if half_at < r.received_at < min(due_end, now)]
        checkpoints.append(min(due_end, now))
        for moment in checkpoints:
            seen = [r for r in reports if r.received_at <= moment]
            latest = max(seen, key=lambda r: (r.reported_on, r.received_at), default=None)
            if latest is not None and latest.status == "done":
                break
            elapsed = share_on((moment - local_time(starts_on, time(0), group.time_zone)).total_seconds() / 86400)
            if latest is None or latest.status == "not_started" or behind(latest.indicator_value, min(1.0, elapsed)):
                by_timer = True
                break
    result.add(
        Expected(ACTIVITY_AT_RISK, group.group_id, activity.activity_id),
        fires=by_report,
        ambiguous=by_report != (by_report or by_timer),
    )


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
            result.add(Expected(SUSTAINED_SUCCESS, group.group_id, schedule.period), fires=True, ambiguous=borderline)
            run = 0
