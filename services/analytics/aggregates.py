"""Per-group facts that the metrics and reports are sums of (pure). Kept in a Faust table keyed by group
id, so a restart recovers them from the changelog and every counter survives it.

Each group's facts turn into a *contribution*: for every metric, the label tuples it adds to and by how
much. The worker keeps the running sum of contributions per partition (`Rollup`), applying only the
difference when one group's facts change, so a scrape reads sums whose size depends on the label space,
never on the number of groups.

Labels are bounded by construction: programme, province and kabupaten codes, period (only the newest
`KEPT_PERIODS` months), rule, severity, direction, escalation level. Nothing per group, member or
facilitator ever becomes a label.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from shared import regions
from shared.events import (
    ActivityProgressed,
    AlertAcknowledged,
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
    DeviceSynced,
    EvaluationSubmitted,
    MeetingRecorded,
    MeetingScheduled,
    PlanAgreed,
)

# Enough to recognise a redelivered report or deviation; older ids are long past any redelivery.
REMEMBERED_IDS = 64
# Months kept per group (state) and exposed as `period` label values (metrics): a year, plus the
# month being scheduled ahead.
KEPT_PERIODS = 13
EXPOSED_PERIODS = 12

# Histogram upper bounds (seconds or score); +Inf is implicit.
EVALUATION_SCORE_BUCKETS: tuple[float, ...] = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
DETECTION_LAG_BUCKETS: tuple[float, ...] = (
    1,
    5,
    15,
    60,
    300,
    900,
    3600,
    4 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
)
ACK_SECONDS_BUCKETS: tuple[float, ...] = (30, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400)

LabelKey = tuple[str, ...]
Contribution = dict[str, dict[LabelKey, float]]


# --- what is kept per group --------------------------------------------------------------------------


class MeetingEntry(BaseModel):
    """One recorded meeting, as much as the facilitator's monthly report needs."""

    report_id: str
    started_at: str
    ended_at: str
    module: str | None = None
    topic: str | None = None
    facilitator_present: bool = True
    led_by: str = "facilitator"
    present: int = 0
    members: int = 0


class DeviationEntry(BaseModel):
    """One deviation of the group and how it ended."""

    deviation_id: str
    rule: str
    severity: str
    occurrence: str = ""
    detected_at: str
    escalated_at: str | None = None
    resolved_at: str | None = None
    resolution: str | None = None
    # The few facts a sentence about it needs (which activity, which meeting, which score).
    details: dict[str, str | float | int] = Field(default_factory=dict)


# Details of `deviation_opened` that the monthly report words; nothing personal is among them.
REPORTED_DETAILS = (
    "activity_title",
    "due_on",
    "meeting_started_at",
    "attendance_ratio",
    "mean_score",
    "direction",
    "period",
    "present",
    "members",
)


class ActivityEntry(BaseModel):
    """A planned activity with its indicator and its latest progress (realisasi)."""

    activity_id: str
    plan_id: str = ""
    plan_title: str = ""
    title: str
    stage: str
    due_on: str
    responsible: str = ""
    indicator_name: str | None = None
    indicator_unit: str | None = None
    baseline: float | None = None
    target: float | None = None
    status: str = "not_started"
    value: float | None = None
    reported_on: str | None = None


class EvaluationEntry(BaseModel):
    """One evaluation, either way."""

    evaluation_id: str
    direction: str
    facilitator_id: str
    period: str
    mean_score: float
    scores: dict[str, int] = Field(default_factory=dict)


class PeriodFacts(BaseModel):
    """What happened to one group in one month of its local calendar."""

    programme: str = ""
    kabupaten: str = ""
    facilitator_id: str = ""
    due_at: str | None = None  # from `meeting_scheduled`: the group was due in the period this month opens
    # Local months the scheduled period spans (one; a quarter's three): its meetings may be in any of them.
    window: list[str] = Field(default_factory=list)
    first_started_at: str | None = None  # earliest meeting start in the month
    meetings: list[MeetingEntry] = Field(default_factory=list)
    deviations: list[DeviationEntry] = Field(default_factory=list)
    evaluations: list[EvaluationEntry] = Field(default_factory=list)

    @property
    def present(self) -> int:
        """Members present, summed over the month's meetings."""
        return sum(entry.present for entry in self.meetings)

    @property
    def members(self) -> int:
        """Members expected, summed over the month's meetings."""
        return sum(entry.members for entry in self.meetings)


class GroupFacts(BaseModel):
    """What analytics knows about one group."""

    partition: int = -1  # source partition of the group's events (= its table partition)
    programme: str = ""
    province: str = ""
    kabupaten: str = ""
    facilitator_id: str = ""
    meetings_recorded: int = 0
    recent_report_ids: list[str] = Field(default_factory=list)
    opened: dict[str, int] = Field(default_factory=dict)  # "rule|severity" -> deviations opened
    open_deviations: dict[str, str] = Field(default_factory=dict)  # deviation id -> "rule|severity"
    recent_deviation_ids: list[str] = Field(default_factory=list)
    recent_evaluation_ids: list[str] = Field(default_factory=list)
    # "direction" -> histogram counts per bucket (+Inf last), then sum, then count
    evaluation_scores: dict[str, list[float]] = Field(default_factory=dict)
    # "rule|severity" -> histogram of detected_at - evidence_at, same layout
    detection_lag: dict[str, list[float]] = Field(default_factory=dict)
    periods: dict[str, PeriodFacts] = Field(default_factory=dict)  # "YYYY-MM" -> that month
    # The furthest the facilitator's devices have synced (from `device_synced`): a missing meeting is
    # only known to be missing once the phones have synced past its due time (data freshness).
    synced_through: str | None = None
    # The group's agreed plan: activity id → the activity and its latest progress.
    activities: dict[str, ActivityEntry] = Field(default_factory=dict)
    recent_progress_ids: list[str] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The table value."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GroupFacts:
        """Read a table value (a missing one is an unknown group)."""
        return cls.model_validate(data) if data else cls()

    def _place(self, programme: str, region_code: str, facilitator_id: str | None = None) -> None:
        self.programme = programme
        self.province = regions.province_of(region_code)
        self.kabupaten = regions.kabupaten_of(region_code) or self.province
        if facilitator_id:
            self.facilitator_id = facilitator_id

    def _period(self, period: str) -> PeriodFacts:
        """The month's facts, created with the group's current place; the oldest months are dropped."""
        facts = self.periods.get(period)
        if facts is None:
            facts = PeriodFacts(programme=self.programme, kabupaten=self.kabupaten, facilitator_id=self.facilitator_id)
            self.periods[period] = facts
            for old in sorted(self.periods)[:-KEPT_PERIODS]:
                del self.periods[old]
        return facts


@dataclass(frozen=True)
class ScheduleOutcome:
    """How a group did in one scheduled period, judged on what has arrived (no clock: whether the due
    time has passed is decided by the reader, at its own "now")."""

    due_at: datetime
    first_started_at: datetime | None  # the first meeting held within the period's months
    on_schedule: bool  # a meeting started no later than the due time
    late: bool  # the first meeting started after the due time (still within the period)
    synced_past_due: bool  # the facilitator's devices have synced past the due time


def schedule_outcome(facts: GroupFacts, period: str) -> ScheduleOutcome | None:
    """The group's outcome in a scheduled period (None if it was never scheduled)."""
    month = facts.periods.get(period)
    if month is None or month.due_at is None:
        return None
    due = _instant(month.due_at)
    starts = [
        _instant(facts.periods[name].first_started_at or "")
        for name in (month.window or [period])
        if name in facts.periods and facts.periods[name].first_started_at
    ]
    first = min(starts, default=None)
    return ScheduleOutcome(
        due_at=due,
        first_started_at=first,
        on_schedule=first is not None and first <= due,
        late=first is not None and first > due,
        synced_past_due=facts.synced_through is not None and _instant(facts.synced_through) >= due,
    )


class SupervisorFacts(BaseModel):
    """What analytics knows about one supervisor's alerts (table keyed by supervisor id)."""

    partition: int = -1
    recent_alert_ids: list[str] = Field(default_factory=list)
    # "severity|escalation_level" -> histogram of ack_seconds (buckets, +Inf, sum, count)
    ack_seconds: dict[str, list[float]] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The table value."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SupervisorFacts:
        """Read a table value."""
        return cls.model_validate(data) if data else cls()


# --- folding events into facts -----------------------------------------------------------------------


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def local_period(moment: datetime, region_code: str) -> str:
    """`YYYY-MM` of an instant in the local calendar of the region's province (WIB/WITA/WIT)."""
    return moment.astimezone(ZoneInfo(regions.time_zone_of(region_code))).strftime("%Y-%m")


def _remember(ids: list[str], new_id: str) -> None:
    ids.append(new_id)
    del ids[:-REMEMBERED_IDS]


def _observe(histogram: dict[str, list[float]], label: str, bounds: tuple[float, ...], value: float) -> None:
    counts = histogram.setdefault(label, [0.0] * (len(bounds) + 3))
    counts[bisect.bisect_left(bounds, value)] += 1
    counts[-2] += value
    counts[-1] += 1


def on_meeting(facts: GroupFacts, meeting: MeetingRecorded) -> bool:
    """Count a meeting once, in the local month it started in. True if anything changed."""
    if meeting.report_id in facts.recent_report_ids:
        return False
    facts._place(meeting.programme, meeting.region_code, meeting.facilitator_id)
    facts.meetings_recorded += 1
    _remember(facts.recent_report_ids, meeting.report_id)
    month = facts._period(local_period(meeting.started_at, meeting.region_code))
    started = _iso(meeting.started_at)
    if month.first_started_at is None or _instant(started) < _instant(month.first_started_at):
        month.first_started_at = started
    month.meetings.append(
        MeetingEntry(
            report_id=meeting.report_id,
            started_at=started,
            ended_at=_iso(meeting.ended_at),
            module=meeting.module,
            topic=meeting.topic,
            facilitator_present=meeting.facilitator_present,
            led_by=meeting.led_by,
            present=meeting.present_count,
            members=meeting.member_count,
        )
    )
    return True


def period_window(period: str, due_at: datetime, time_zone: str) -> list[str]:
    """The local months from a period's first month to the month of its due time (a quarter: three)."""
    year, month = (int(part) for part in period.split("-"))
    last = due_at.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m")
    months = [period]
    while months[-1] < last and len(months) < 12:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        months.append(f"{year:04d}-{month:02d}")
    return months


def on_meeting_scheduled(facts: GroupFacts, scheduled: MeetingScheduled) -> bool:
    """The group is due in the period (idempotent: the latest due time wins)."""
    facts._place(scheduled.programme, scheduled.region_code, scheduled.facilitator_id)
    month = facts._period(scheduled.period)
    due_at = _iso(scheduled.due_at)
    kabupaten = regions.kabupaten_of(scheduled.region_code) or facts.province
    if (month.due_at, month.programme, month.kabupaten) == (due_at, scheduled.programme, kabupaten):
        return False
    month.due_at = due_at
    month.window = period_window(scheduled.period, scheduled.due_at, scheduled.time_zone)
    month.programme = scheduled.programme
    month.kabupaten = kabupaten
    month.facilitator_id = scheduled.facilitator_id
    return True


def on_device_synced(facts: GroupFacts, synced: DeviceSynced) -> bool:
    """The facilitator's devices have synced this far (only a further watermark changes anything)."""
    if facts.facilitator_id and synced.facilitator_id != facts.facilitator_id:
        return False  # a previous facilitator's phone says nothing about this group's reports now
    through = _iso(synced.synced_through)
    if facts.synced_through is not None and _instant(through) <= _instant(facts.synced_through):
        return False
    facts.synced_through = through
    return True


def on_deviation_opened(facts: GroupFacts, opened: DeviationOpened) -> bool:
    """Count an opened deviation once and hold it as open. True if anything changed."""
    if opened.deviation_id in facts.recent_deviation_ids:
        return False
    facts._place(opened.programme, opened.region_code, opened.facilitator_id)
    label = f"{opened.rule}|{opened.severity}"
    facts.opened[label] = facts.opened.get(label, 0) + 1
    facts.open_deviations[opened.deviation_id] = label
    _remember(facts.recent_deviation_ids, opened.deviation_id)
    lag = max(0.0, (opened.detected_at - opened.evidence_at).total_seconds())
    _observe(facts.detection_lag, label, DETECTION_LAG_BUCKETS, lag)
    facts._period(local_period(opened.detected_at, opened.region_code)).deviations.append(
        DeviationEntry(
            deviation_id=opened.deviation_id,
            rule=opened.rule,
            severity=opened.severity,
            occurrence=opened.occurrence,
            detected_at=_iso(opened.detected_at),
            details={
                key: value
                for key, value in opened.details.items()
                if key in REPORTED_DETAILS and isinstance(value, str | float | int)
            },
        )
    )
    return True


def _entry(facts: GroupFacts, deviation_id: str) -> DeviationEntry | None:
    for month in facts.periods.values():
        for entry in month.deviations:
            if entry.deviation_id == deviation_id:
                return entry
    return None


def on_deviation_escalated(facts: GroupFacts, escalated: DeviationEscalated) -> bool:
    """An open deviation's severity rose: it is open under its new severity (opened counts stay)."""
    changed = False
    if escalated.deviation_id in facts.open_deviations:
        label = f"{escalated.rule}|{escalated.severity}"
        changed = facts.open_deviations[escalated.deviation_id] != label
        facts.open_deviations[escalated.deviation_id] = label
    entry = _entry(facts, escalated.deviation_id)
    if entry is not None and entry.escalated_at is None:
        entry.severity = escalated.severity
        entry.escalated_at = _iso(escalated.escalated_at)
        changed = True
    return changed


def on_deviation_resolved(facts: GroupFacts, resolved: DeviationResolved) -> bool:
    """A resolved deviation is no longer open; the report keeps when and why."""
    changed = facts.open_deviations.pop(resolved.deviation_id, None) is not None
    entry = _entry(facts, resolved.deviation_id)
    if entry is not None and entry.resolved_at is None:
        entry.resolved_at = _iso(resolved.resolved_at)
        entry.resolution = resolved.reason
        changed = True
    return changed


def on_evaluation(facts: GroupFacts, evaluation: EvaluationSubmitted) -> bool:
    """Count an evaluation once, in its own month (a quarterly one in the month it was recorded)."""
    if evaluation.evaluation_id in facts.recent_evaluation_ids:
        return False
    facts._place(evaluation.programme, evaluation.region_code)
    _remember(facts.recent_evaluation_ids, evaluation.evaluation_id)
    _observe(facts.evaluation_scores, evaluation.direction, EVALUATION_SCORE_BUCKETS, evaluation.mean_score)
    period = evaluation.period
    if "Q" in period:
        period = local_period(evaluation.recorded_at, evaluation.region_code)
    facts._period(period).evaluations.append(
        EvaluationEntry(
            evaluation_id=evaluation.evaluation_id,
            direction=evaluation.direction,
            facilitator_id=evaluation.facilitator_id,
            period=evaluation.period,
            mean_score=evaluation.mean_score,
            scores=dict(evaluation.scores),
        )
    )
    return True


def on_plan(facts: GroupFacts, plan: PlanAgreed) -> bool:
    """A plan agreed or revised: its activities replace the plan's previous ones, keeping progress."""
    before = {key: entry.model_copy() for key, entry in facts.activities.items()}
    kept = {key: entry for key, entry in facts.activities.items() if entry.plan_id != plan.plan_id}
    facts.activities = kept
    for activity in plan.activities:
        known = before.get(activity.activity_id)
        indicator = activity.indicator
        facts.activities[activity.activity_id] = ActivityEntry(
            activity_id=activity.activity_id,
            plan_id=plan.plan_id,
            plan_title=plan.title,
            title=activity.title,
            stage=activity.stage,
            due_on=activity.due_on.isoformat(),
            responsible=activity.responsible,
            indicator_name=indicator.name if indicator else None,
            indicator_unit=indicator.unit if indicator else None,
            baseline=indicator.baseline if indicator else None,
            target=indicator.target if indicator else None,
            status=known.status if known else "not_started",
            value=known.value if known else None,
            reported_on=known.reported_on if known else None,
        )
    return facts.activities != before


def on_progress(facts: GroupFacts, progress: ActivityProgressed) -> bool:
    """An activity's progress: the latest report (by the date it refers to) is its state."""
    if progress.progress_id in facts.recent_progress_ids:
        return False
    _remember(facts.recent_progress_ids, progress.progress_id)
    entry = facts.activities.get(progress.activity_id)
    if entry is None:
        return True  # progress before its plan: remembered as seen, shown once the plan arrives
    reported_on = progress.reported_on.isoformat()
    if entry.reported_on is None or reported_on >= entry.reported_on:
        entry.status = progress.status
        entry.value = progress.indicator_value if progress.indicator_value is not None else entry.value
        entry.reported_on = reported_on
    return True


def on_alert_acknowledged(facts: SupervisorFacts, ack: AlertAcknowledged) -> bool:
    """Observe an alert's time to acknowledge once per alert id."""
    if ack.alert_id in facts.recent_alert_ids:
        return False
    _remember(facts.recent_alert_ids, ack.alert_id)
    _observe(facts.ack_seconds, f"{ack.severity}|{ack.escalation_level}", ACK_SECONDS_BUCKETS, ack.ack_seconds)
    return True


# --- contributions and their running sums -------------------------------------------------------------

MEETINGS = "meetings"  # (programme, province)
OPENED = "opened"  # (rule, severity, programme, province)
OPEN = "open"  # (rule, severity, programme, province)
# Compliance: the due time is part of the key, so that a reader splits the sums at its own "now" into
# "due time passed" and "still open" (one due time per group and period: ≤ 28 per kabupaten and month).
SCHEDULED = "scheduled"  # (programme, province, kabupaten, period, due_at)
ON_SCHEDULE = "on_schedule"  # (programme, province, kabupaten, period, due_at)
LATE = "late"  # (programme, province, kabupaten, period, due_at): first met after the due time
SYNCED = "synced"  # (programme, province, kabupaten, period, due_at): devices synced past the due time
PRESENT = "present"  # (programme, province, period)
EXPECTED = "expected"  # (programme, province, period)
EVALUATION = "evaluation"  # (direction, programme, province, bucket index | "sum" | "count")
DETECTION_LAG = "detection_lag"  # (rule, severity, bucket index | "sum" | "count")
ACK = "ack"  # (severity, escalation_level, bucket index | "sum" | "count")


def _add(contribution: Contribution, metric: str, key: LabelKey, value: float) -> None:
    if value:
        series = contribution.setdefault(metric, {})
        series[key] = series.get(key, 0.0) + value


def _add_histogram(contribution: Contribution, metric: str, prefix: LabelKey, counts: list[float]) -> None:
    for index, count in enumerate(counts[:-2]):
        _add(contribution, metric, (*prefix, str(index)), count)
    _add(contribution, metric, (*prefix, "sum"), counts[-2])
    _add(contribution, metric, (*prefix, "count"), counts[-1])


def contribution(facts: GroupFacts) -> Contribution:
    """What one group adds to every metric series."""
    out: Contribution = {}
    if facts.meetings_recorded:
        _add(out, MEETINGS, (facts.programme, facts.province), facts.meetings_recorded)
    for label, count in facts.opened.items():
        rule, severity = label.split("|")
        _add(out, OPENED, (rule, severity, facts.programme, facts.province), count)
    for label in facts.open_deviations.values():
        rule, severity = label.split("|")
        _add(out, OPEN, (rule, severity, facts.programme, facts.province), 1)
    for period, month in facts.periods.items():
        province = regions.province_of(month.kabupaten) if month.kabupaten else facts.province
        outcome = schedule_outcome(facts, period)
        if outcome is not None:
            place = (month.programme, province, month.kabupaten, period)
            _add(out, SCHEDULED, (*place, month.due_at or ""), 1)
            _add(out, ON_SCHEDULE, (*place, month.due_at or ""), 1 if outcome.on_schedule else 0)
            _add(out, LATE, (*place, month.due_at or ""), 1 if outcome.late else 0)
            _add(out, SYNCED, (*place, month.due_at or ""), 1 if outcome.synced_past_due else 0)
        _add(out, PRESENT, (month.programme, province, period), month.present)
        _add(out, EXPECTED, (month.programme, province, period), month.members)
    for direction, counts in facts.evaluation_scores.items():
        _add_histogram(out, EVALUATION, (direction, facts.programme, facts.province), counts)
    for label, counts in facts.detection_lag.items():
        rule, severity = label.split("|")
        _add_histogram(out, DETECTION_LAG, (rule, severity), counts)
    return out


def supervisor_contribution(facts: SupervisorFacts) -> Contribution:
    """What one supervisor's acknowledged alerts add to `pantau_alert_ack_seconds`."""
    out: Contribution = {}
    for label, counts in facts.ack_seconds.items():
        severity, level = label.split("|")
        _add_histogram(out, ACK, (severity, level), counts)
    return out


class Rollup:
    """Running sums of contributions for the keys of one table partition (or of everything)."""

    def __init__(self) -> None:
        self.series: dict[str, dict[LabelKey, float]] = {}

    def apply(self, contribution: Contribution, sign: int = 1) -> None:
        """Add (`sign=1`) or take away (`sign=-1`) one key's contribution."""
        for metric, values in contribution.items():
            series = self.series.setdefault(metric, {})
            for key, value in values.items():
                total = series.get(key, 0.0) + sign * value
                if abs(total) < 1e-9:
                    series.pop(key, None)
                else:
                    series[key] = total
            if not series:
                del self.series[metric]  # an emptied metric looks exactly like one never seen

    def replace(self, old: Contribution, new: Contribution) -> None:
        """One key's facts changed from `old` to `new`."""
        self.apply(old, -1)
        self.apply(new, 1)

    def get(self, metric: str) -> dict[LabelKey, float]:
        """The series of one metric (label tuple → value)."""
        return self.series.get(metric, {})

    @classmethod
    def of(cls, contributions: Iterable[Contribution]) -> Rollup:
        """The sum of many contributions (a rebuild)."""
        rollup = cls()
        for item in contributions:
            rollup.apply(item)
        return rollup

    @classmethod
    def merged(cls, parts: Iterable[Rollup]) -> Rollup:
        """The sum of several rollups (e.g. one per partition)."""
        total = cls()
        for part in parts:
            total.apply(part.series)
        return total


@dataclass
class Compliance:
    """Groups of one period and region, split at an instant: those whose due time has passed (met on
    schedule, met late or not met) and those still open, which are never counted as failures."""

    due: int = 0  # due time passed
    on_schedule: int = 0
    late: int = 0
    synced: int = 0  # of `due`: the facilitator's devices synced past the due time
    open: int = 0  # due time still ahead
    open_met: int = 0  # of `open`: already met

    @property
    def not_met(self) -> int:
        """Due time passed and no meeting in the period (yet)."""
        return self.due - self.on_schedule - self.late

    @property
    def ratio(self) -> float | None:
        """Met on schedule / due time passed; None while nothing is due yet."""
        return self.on_schedule / self.due if self.due else None

    @property
    def freshness(self) -> float | None:
        """Share of the groups due whose facilitator's devices synced past the due time."""
        return self.synced / self.due if self.due else None

    def add(self, other: Compliance) -> None:
        """Sum another region's counts into this one."""
        for name in ("due", "on_schedule", "late", "synced", "open", "open_met"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def compliance_series(rollup: Rollup, now: datetime) -> dict[LabelKey, Compliance]:
    """(programme, province, kabupaten, period) → compliance as of `now`, per kabupaten; the province
    level has kabupaten `""` and sums its kabupaten."""
    out: dict[LabelKey, Compliance] = {}
    on_schedule = rollup.get(ON_SCHEDULE)
    late, synced = rollup.get(LATE), rollup.get(SYNCED)
    for key, groups in rollup.get(SCHEDULED).items():
        place, due_at = key[:4], key[4]
        counts = out.setdefault(place, Compliance())
        met = int(on_schedule.get(key, 0.0))
        if _instant(due_at) <= now:
            counts.due += int(groups)
            counts.on_schedule += met
            counts.late += int(late.get(key, 0.0))
            counts.synced += int(synced.get(key, 0.0))
        else:  # nobody can be late yet: a meeting already held counts as met early
            counts.open += int(groups)
            counts.open_met += met
    for (programme, province, _kabupaten, period), counts in list(out.items()):
        out.setdefault((programme, province, "", period), Compliance()).add(counts)
    return out


def exposed_periods(periods: Iterable[str], keep: int = EXPOSED_PERIODS) -> set[str]:
    """The newest `keep` months among `periods`: older months leave the metrics (not the reports)."""
    return set(sorted(set(periods))[-keep:])


def totals(groups: list[GroupFacts]) -> Rollup:
    """Aggregate per-group facts into metric series (what the incremental rollup must always equal)."""
    return Rollup.of(contribution(facts) for facts in groups)
