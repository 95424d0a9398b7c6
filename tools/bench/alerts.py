"""The alert budget (`python -m tools.bench --only alerts`): how many messages supervisors get for
the generated programme at the oracle's deviation rate, and whether every deviation reaches them.

The oracle (`tools/generator/oracle.py`) says which deviations a history must cause; this module
gives each one the moment it opens and clears (from the same history, as the rules would see it:
receipt times, due dates, the offline grace) and drives the notifications service's pure incident
lifecycle (`services/notifications/incidents.py`) with them, one desk per facilitator, routing each
to the kabupaten → provinsi → nasional chain of the generated registry. Supervisors acknowledge an
incident `ack_hours` after its first message (a supervisor who never does is `--ack-hours 0`), and
info-only incidents reach them in the service's daily digest (07.00 WIB on working days).

Figures: messages (every pushed message: opened, updated, escalated, resolved, digest) per
supervisor per week and per 100 groups per month, and *incident recall*: the share of the oracle's
deviations that are an item of an incident the supervisor was told about (a message or a digest).
Optionally (`facilitator_signal`) the facilitator-level signal is emulated from the open items with
the programme's own thresholds (`facilitator.many_groups_deviating` in `programmes/*.yaml`: at least
`groups` of the facilitator's groups *and* `share_of_groups` of them, counting `from_severity` and
above), as `services/monitoring/rules/many_groups.py` decides it, to show inhibition.
"""

from __future__ import annotations

import heapq
import itertools
import time as clock
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from services.monitoring.programmes import ManyGroupsConfig, ProgrammeConfig, load_programmes, programme_config
from services.monitoring.rules.many_groups import NOT_COUNTED, counts
from services.notifications.incident_shell import timing_for
from services.notifications.incidents import (
    Acknowledged,
    Desk,
    Event,
    Item,
    Message,
    Opened,
    Raised,
    Recipient,
    Resolved,
    Severity,
    Tick,
    Timing,
    run_due,
    step,
)
from services.notifications.routing import LEVELS, Level, route
from services.notifications.settings import NotificationsSettings
from shared import regions
from tools.generator.behaviour import History, Rates, SimProgress, local_time, simulate
from tools.generator.oracle import (
    ACTIVITY_AT_RISK,
    ACTIVITY_OVERDUE,
    ATTENDANCE_DECLINING,
    FACILITATOR_ABSENT,
    LOW_ATTENDANCE,
    LOW_SCORE,
    OVERDUE,
    REPORTING_LAGGING,
    SUSTAINED_SUCCESS,
    TOO_SHORT,
    Expected,
    expected_deviations,
)
from tools.generator.programme import Programme, Shape

SEVERITY: dict[str, Severity] = {
    OVERDUE: "warning",
    FACILITATOR_ABSENT: "warning",
    LOW_ATTENDANCE: "warning",
    TOO_SHORT: "warning",
    ACTIVITY_OVERDUE: "warning",
    LOW_SCORE: "warning",
    ATTENDANCE_DECLINING: "info",
    REPORTING_LAGGING: "info",
    ACTIVITY_AT_RISK: "info",
    SUSTAINED_SUCCESS: "info",
}
SIGNAL_RULE = "facilitator.many_groups_deviating"


@dataclass(frozen=True, slots=True)
class Timeline:
    """One oracle deviation with when it opens, gets worse and clears."""

    expected: Expected
    opened_at: datetime
    resolved_at: datetime | None
    severity: Severity
    critical_at: datetime | None = None


@dataclass
class AlertBudget:
    """What one run measured."""

    shape: Shape
    timing: Timing
    ack_hours: float
    facilitator_signal: bool
    groups: int = 0
    facilitators: int = 0
    supervisors_told: int = 0
    supervisors_kabupaten: int = 0
    weeks: float = 0.0
    deviations: int = 0
    delivered: int = 0
    incidents: int = 0
    incidents_told: int = 0
    dismissed: int = 0
    signals: int = 0
    facilitators_signalled: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    per_supervisor: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total_messages(self) -> int:
        """Every pushed message."""
        return sum(self.messages.values())

    @property
    def per_100_groups_per_month(self) -> float:
        """Messages per 100 groups per month."""
        return self.total_messages / (self.groups / 100) / self.shape.months if self.groups else 0.0

    @property
    def per_supervisor_per_week(self) -> float:
        """Messages per kabupaten supervisor (who has groups) per week, all levels' messages counted."""
        return self.total_messages / max(1, self.supervisors_kabupaten) / self.weeks if self.weeks else 0.0

    @property
    def busiest_per_week(self) -> float:
        """The busiest supervisor's messages per week."""
        top = max(self.per_supervisor.values(), default=0)
        return top / self.weeks if self.weeks else 0.0

    @property
    def recall(self) -> float:
        """Oracle deviations that are items of an incident someone was told about."""
        return self.delivered / self.deviations if self.deviations else 1.0


def timelines(history: History, certain: set[Expected], programmes: dict[str, ProgrammeConfig]) -> list[Timeline]:
    """When each certain oracle deviation opens and clears, read from the history as the rules see it."""
    groups = {group.group_id: group for group in history.facilitator.groups}
    meetings = {meeting.report_id: meeting for meeting in history.meetings}
    by_group: dict[str, list[datetime]] = defaultdict(list)
    for meeting in history.meetings:
        by_group[meeting.group_id].append(meeting.received_at)
    for received in by_group.values():
        received.sort()
    evaluations = {evaluation.evaluation_id: evaluation for evaluation in history.evaluations}
    schedules = {(schedule.group_id, schedule.period): schedule for schedule in history.schedules}
    activities = {
        activity.activity_id: (group, activity) for group in groups.values() for activity in group.plan.activities
    }
    progress: dict[str, list[SimProgress]] = defaultdict(list)
    for report in sorted(history.progress, key=lambda item: item.received_at):
        progress[report.activity_id].append(report)
    syncs = sorted((sync.received_at, sync.synced_through) for sync in history.syncs)

    def next_meeting_after(group_id: str, moment: datetime) -> datetime | None:
        return next((received for received in by_group[group_id] if received > moment), None)

    result = []
    for expected in sorted(certain):
        severity = SEVERITY.get(expected.rule, "warning")
        if expected.rule in (FACILITATOR_ABSENT, LOW_ATTENDANCE, TOO_SHORT, REPORTING_LAGGING, ATTENDANCE_DECLINING):
            opened_at = meetings[expected.occurrence].received_at
            result.append(Timeline(expected, opened_at, next_meeting_after(expected.group_id, opened_at), severity))
        elif expected.rule == LOW_SCORE:
            evaluation = evaluations[expected.occurrence]
            later = [
                other.received_at
                for other in history.evaluations
                if other.group_id == evaluation.group_id
                and other.direction == evaluation.direction
                and other.received_at > evaluation.received_at
            ]
            result.append(Timeline(expected, evaluation.received_at, min(later, default=None), severity))
        elif expected.rule == OVERDUE:
            group = groups[expected.group_id]
            config = programme_config(programmes, group.programme).rules.meeting_overdue
            due = schedules[(expected.group_id, expected.occurrence)].due_at
            synced = next((received for received, through in syncs if through > due), None)
            offline = due + timedelta(days=config.offline_grace_days)
            opened_at = max(due + timedelta(days=config.grace_days), min(synced or offline, offline))
            reported = next(
                (
                    meeting.received_at
                    for meeting in sorted(history.meetings, key=lambda item: item.received_at)
                    if meeting.group_id == expected.group_id
                    and meeting.period == expected.occurrence
                    and meeting.received_at > opened_at
                ),
                None,
            )
            critical = due + timedelta(days=config.critical_after_days)
            result.append(Timeline(expected, opened_at, reported, severity, critical))
        elif expected.rule in (ACTIVITY_OVERDUE, ACTIVITY_AT_RISK):
            group, activity = activities[expected.occurrence]
            due_end = local_time(activity.due_on, time(23, 59, 59), group.time_zone)
            done = next(
                (report.received_at for report in progress[activity.activity_id] if report.status == "done"), None
            )
            if expected.rule == ACTIVITY_OVERDUE:
                result.append(Timeline(expected, due_end, done, severity))
                continue
            half = group.plan.starts_on + (activity.due_on - group.plan.starts_on) / 2
            opened_at = next(
                (report.received_at for report in progress[activity.activity_id] if report.reported_on >= half),
                local_time(half, time(0), group.time_zone),
            )
            cleared = min(
                (moment for moment in (done, due_end) if moment is not None and moment > opened_at), default=None
            )
            result.append(Timeline(expected, opened_at, cleared, severity))
        else:  # recognition: good news, a digest item that never clears
            group = groups[expected.group_id]
            schedule = schedules.get((expected.group_id, expected.occurrence))
            opened_at = schedule.due_at if schedule else history.horizon_end
            result.append(Timeline(expected, opened_at, None, severity))
    return result


def _chain(
    region_code: str, scopes: dict[tuple[Level, str | None], str], zones: dict[str, str]
) -> tuple[Recipient, ...]:
    chain: list[Recipient] = []
    level: Level | None = "kabupaten"
    while level is not None:
        chosen = route(region_code, scopes, from_level=level)
        if chosen is None:
            break
        zone = zones.get(chosen.supervisor_id, regions.WIB)
        chain.append(Recipient(chosen.level, chosen.supervisor_id, zone, chosen.others))
        above = LEVELS.index(chosen.level) + 1
        level = LEVELS[above] if above < len(LEVELS) else None
    return tuple(chain)


def _working_mornings(start: datetime, end: datetime) -> Iterator[datetime]:
    """07.00 WIB (00.00 UTC) of every day but Sunday: when the service sends its daily digest
    (`digest.py`, `DIGEST_LOCAL_TIME` on working days; holidays are left out here)."""
    day = start.date() + timedelta(days=1)
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    while moment <= end:
        if moment.weekday() != 6:
            yield moment
        moment += timedelta(days=1)


def measure(
    shape: Shape,
    *,
    timing: Timing | None = None,
    ack_hours: float = 4.0,
    facilitator_signal: bool = True,
    rates: Rates | None = None,
) -> AlertBudget:
    """Drive the incident lifecycle with the oracle's deviations for the whole generated programme."""
    began = clock.perf_counter()
    timing = timing or Timing()
    rates = rates or Rates()
    programmes = load_programmes()
    programme = Programme(shape)
    budget = AlertBudget(shape=shape, timing=timing, ack_hours=ack_hours, facilitator_signal=facilitator_signal)
    scopes: dict[tuple[Level, str | None], str] = {}
    zones: dict[str, str] = {}
    for supervisor in programme.supervisors():
        scopes[(supervisor.level, supervisor.region_code)] = supervisor.supervisor_id
        zones[supervisor.supervisor_id] = (
            regions.time_zone_of(supervisor.region_code) if supervisor.region_code else regions.WIB
        )
    budget.supervisors_kabupaten = len(programme.regencies_in_use())
    end = shape.horizon_end
    budget.weeks = (end - shape.started_at).total_seconds() / (7 * 86400)
    digest_moments = list(_working_mornings(shape.started_at, end))
    digested: set[str] = set()
    told_supervisors: set[str] = set()
    digest_slots: set[tuple[datetime, str]] = set()
    for facilitator in programme.facilitators():
        budget.facilitators += 1
        budget.groups += len(facilitator.groups)
        history = simulate(facilitator, shape, rates)
        oracle = expected_deviations(history, programmes)
        lines = timelines(history, oracle.certain, programmes)
        budget.deviations += len(lines)
        chains = {group.group_id: _chain(group.region_code, scopes, zones) for group in facilitator.groups}
        # The signal's thresholds are those of the programme of the facilitator's groups (one programme each).
        programme_rules = programme_config(programmes, facilitator.groups[0].programme).rules
        many_groups = programme_rules.facilitator_many_groups_deviating
        delivered, signals = _drive_facilitator(
            facilitator.facilitator_id,
            len(facilitator.groups),
            lines,
            chains,
            _chain(facilitator.region_code, scopes, zones),
            timing=timing,
            ack=timedelta(hours=ack_hours) if ack_hours > 0 else None,
            signal=facilitator_signal,
            many_groups=many_groups,
            digests=digest_moments,
            digested=digested,
            end=end,
            budget=budget,
            told_supervisors=told_supervisors,
            digest_slots=digest_slots,
        )
        budget.delivered += len(delivered & {line.expected for line in lines})
        budget.signals += signals
        budget.facilitators_signalled += 1 if signals else 0
    for _, supervisor_id in digest_slots:
        budget.messages["digest"] += 1
        budget.per_supervisor[supervisor_id] += 1
        told_supervisors.add(supervisor_id)
    budget.supervisors_told = len(told_supervisors)
    budget.seconds = clock.perf_counter() - began
    return budget


def _drive_facilitator(
    facilitator_id: str,
    group_count: int,
    lines: list[Timeline],
    chains: dict[str, tuple[Recipient, ...]],
    facilitator_chain: tuple[Recipient, ...],
    *,
    timing: Timing,
    ack: timedelta | None,
    signal: bool,
    many_groups: ManyGroupsConfig,
    digests: list[datetime],
    digested: set[str],
    end: datetime,
    budget: AlertBudget,
    told_supervisors: set[str],
    digest_slots: set[tuple[datetime, str]],
) -> tuple[set[Expected], int]:
    """One facilitator's desk through time; returns the delivered oracle deviations and signals opened."""
    sequence = itertools.count()
    queue: list[tuple[datetime, int, str, object]] = []
    ids: dict[str, Expected] = {}
    for line in lines:
        deviation_id = f"{line.expected.rule}|{line.expected.group_id}|{line.expected.occurrence}"
        ids[deviation_id] = line.expected
        item = Item(deviation_id, line.expected.rule, line.severity, line.expected.group_id, line.opened_at)
        heapq.heappush(
            queue, (line.opened_at, next(sequence), "event", Opened(item, "group", chains[line.expected.group_id]))
        )
        if line.critical_at is not None and (line.resolved_at is None or line.critical_at < line.resolved_at):
            heapq.heappush(queue, (line.critical_at, next(sequence), "event", Raised(deviation_id, "critical")))
        if line.resolved_at is not None:
            heapq.heappush(queue, (line.resolved_at, next(sequence), "event", Resolved(deviation_id, line.resolved_at)))
    for moment in digests:
        heapq.heappush(queue, (moment, next(sequence), "digest", None))
    desk = Desk(facilitator_id)
    delivered: set[str] = set()
    severities: dict[str, Severity] = {}  # open deviations that may count towards the signal
    group_of: dict[str, str] = {}
    signal_open: str | None = None
    signals = 0
    acknowledged: set[str] = set()
    ticks: set[datetime] = set()
    cleared: dict[str, list[str]] = defaultdict(list)

    def apply(event: Event, now: datetime) -> None:
        nonlocal desk
        result = step(desk, event, now, timing)
        desk = result.desk
        for change in result.changes:
            if isinstance(change, Message):
                budget.messages[change.kind] += 1
                budget.per_supervisor[change.supervisor_id] += 1
                told_supervisors.add(change.supervisor_id)
                incident = change.incident
                if change.kind == "opened":
                    budget.incidents_told += 1
                    if ack is not None and incident.incident_id not in acknowledged:
                        acknowledged.add(incident.incident_id)
                        heapq.heappush(
                            queue,
                            (
                                now + ack,
                                next(sequence),
                                "event",
                                Acknowledged(incident.incident_id, incident.recipient.supervisor_id),
                            ),
                        )
            elif change.kind == "opened":
                budget.incidents += 1
            elif change.kind == "dismissed":
                budget.dismissed += 1
                incident = change.incident
                lasted = (incident.resolved_at or now) - incident.opened_at
                if incident.notified_severity is None and not incident.open_items and lasted > timing.group_wait:
                    # Info items that cleared before the digest are still in it ("already cleared").
                    cleared[incident.recipient.supervisor_id].extend(item.deviation_id for item in incident.items)
        if desk.wake_at is not None and desk.wake_at not in ticks:
            # The scheduler's next pass: due moments are processed in order with everything else.
            ticks.add(desk.wake_at)
            heapq.heappush(queue, (desk.wake_at, next(sequence), "event", Tick()))
        for incident in desk.incidents:
            if incident.notified_severity is not None:
                delivered.update(item.deviation_id for item in incident.items)
        for change in result.changes:
            if isinstance(change, Message):
                delivered.update(item.deviation_id for item in change.incident.items)

    while queue:
        now, _, what, payload = heapq.heappop(queue)
        if now > end:
            break
        if what == "digest":
            # Info-only incidents nobody was told about go out as one digest per supervisor.
            desk = run_due(desk, now, timing).desk
            waiting: dict[str, list[str]] = defaultdict(list)
            for incident in desk.incidents:
                if incident.notified_severity is None:
                    fresh = [item.deviation_id for item in incident.items if item.deviation_id not in digested]
                    if fresh:
                        waiting[incident.recipient.supervisor_id].extend(fresh)
            for supervisor_id, items in cleared.items():
                waiting[supervisor_id].extend(item for item in items if item not in digested)
            cleared.clear()
            for supervisor_id, items in waiting.items():
                if items:
                    # One digest per supervisor and working day with news, whichever facilitators it covers.
                    digest_slots.add((now, supervisor_id))
                    digested.update(items)
                    delivered.update(items)
            continue
        assert isinstance(payload, Opened | Raised | Resolved | Acknowledged | Tick)
        apply(payload, now)
        if not signal:
            continue
        # Emulated facilitator-level signal, with the programme's thresholds (rules/many_groups.py).
        if isinstance(payload, Opened) and payload.item.rule not in NOT_COUNTED:
            severities[payload.item.deviation_id] = payload.item.severity
            group_of[payload.item.deviation_id] = payload.item.group_id
        elif isinstance(payload, Raised) and payload.deviation_id in severities:
            severities[payload.deviation_id] = payload.severity
        elif isinstance(payload, Resolved):
            severities.pop(payload.deviation_id, None)
        counting = {key: group_of[key] for key, severity in severities.items() if counts(severity, many_groups)}
        deviating = len(set(counting.values()))
        stands_out = deviating >= many_groups.groups and deviating >= many_groups.share_of_groups * group_count
        if stands_out and signal_open is None:
            signals += 1
            signal_open = f"{SIGNAL_RULE}|{facilitator_id}|{signals}"
            item = Item(signal_open, SIGNAL_RULE, "warning", "", now)
            apply(Opened(item, "facilitator", facilitator_chain), now)
        elif not stands_out and signal_open is not None:
            apply(Resolved(signal_open, now), now)
            signal_open = None
    desk = run_due(desk, end, timing).desk
    for incident in desk.incidents:
        if incident.notified_severity is not None:
            delivered.update(item.deviation_id for item in incident.items)
    return {ids[deviation_id] for deviation_id in delivered if deviation_id in ids}, signals


def _signal_thresholds() -> str:
    """The `facilitator.many_groups_deviating` thresholds of the programmes, in words."""
    configs = [programme.rules.facilitator_many_groups_deviating for programme in load_programmes().values()]
    found = sorted({(config.groups, config.share_of_groups, config.from_severity) for config in configs})
    return "; ".join(
        f"at least {groups} of a facilitator's groups and at least {share:.0%} of them with a {severity} or worse"
        for groups, share, severity in found
    )


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


def render(budgets: list[tuple[str, AlertBudget]]) -> str:
    """docs/benchmarks-alerts.md: one column per setting measured."""
    first = budgets[0][1]
    timing = first.timing

    def row(name: str, value: Callable[[AlertBudget], str]) -> str:
        return f"| {name} | " + " | ".join(value(budget) for _, budget in budgets) + " |"

    lines = [
        "# Alert budget",
        "",
        "Generated by `uv run python -m tools.bench --only alerts` (`tools/bench/alerts.py`). The generated "
        f"programme (scale {first.shape.scale}, seed {first.shape.seed}, {first.shape.months} months from "
        f"{first.shape.start}: {first.facilitators:,} facilitators, {first.groups:,} groups, "
        f"{first.supervisors_kabupaten:,} kabupaten supervisors) at the oracle's deviation rate drives the "
        "notifications service's pure incident lifecycle (`services/notifications/incidents.py`). Aim: at most "
        "10 messages per 100 groups per month, incident recall 1.000.",
        "",
        "| figure | " + " | ".join(label for label, _ in budgets) + " |",
        "|---|" + "---|" * len(budgets),
        row("oracle deviations (certain)", lambda b: f"{b.deviations:,}"),
        row("incidents opened", lambda b: f"{b.incidents:,}"),
        row("incidents told (a first message)", lambda b: f"{b.incidents_told:,}"),
        row("incidents dismissed (cleared before anyone was told, or folded)", lambda b: f"{b.dismissed:,}"),
        row(
            "messages pushed",
            lambda b: (
                f"{b.total_messages:,} ("
                + ", ".join(f"{kind} {count:,}" for kind, count in sorted(b.messages.items()))
                + ")"
            ),
        ),
        row("**messages per 100 groups per month**", lambda b: f"**{b.per_100_groups_per_month:.1f}**"),
        row(
            "**messages per kabupaten supervisor per week** (busiest)",
            lambda b: f"**{b.per_supervisor_per_week:.2f}** ({b.busiest_per_week:.2f})",
        ),
        row(
            "**incident recall** (deviations that are items of a told incident or a digest)",
            lambda b: f"**{b.recall:.3f}** ({b.delivered:,} / {b.deviations:,})",
        ),
        row(
            "facilitators with an (emulated) facilitator-level signal",
            lambda b: f"{b.facilitators_signalled:,} of {b.facilitators:,}",
        ),
        row("run time", lambda b: f"{b.seconds:.1f} s"),
        "",
        "## Settings",
        "",
        f"- group_wait {_minutes(timing.group_wait)}, group_interval {_minutes(timing.group_interval)}, "
        "acknowledgement deadlines "
        + ", ".join(f"{severity} {_minutes(deadline)}" for severity, deadline in sorted(timing.ack_deadlines.items()))
        + f", pushed from `{timing.push_from}`, resolutions pushed: {'yes' if timing.send_resolved else 'no'}.",
        "- `group_by=group` is one incident per group (and one per facilitator for what concerns the "
        "facilitator) with inhibition under a facilitator-level signal; `group_by=facilitator` puts every "
        "symptom of a facilitator's groups in one incident "
        "(`PANTAU_NOTIFICATIONS_INCIDENT_GROUP_BY`).",
        f"- Supervisors acknowledge {first.ack_hours:g} h after an incident's first message.",
        "- Info-only incidents are never pushed on their own: the daily digest per supervisor "
        "(07.00 WIB on working days, as the service sends it) "
        "carries them, those that cleared meanwhile included; an info item joining a warning incident is "
        "delivered with it.",
        "",
        "## Method",
        "",
        "- Deviations: the oracle's certain items (`tools/generator/oracle.py`, read as it is). Each opens when "
        "the rules could see it — the meeting's or evaluation's receipt, `meeting.overdue` at due + grace once a "
        "sync passed the due time (or the offline grace ran out), `plan.activity_overdue` at the end of the due "
        "day, `plan.activity_at_risk` at the first progress report past half time — and clears at the next "
        "meeting, the next evaluation in the same direction, the meeting's report, the activity's `done`. "
        "`meeting.overdue` turns critical after `critical_after_days`.",
        "- Facilitator-level signal (`facilitator.many_groups_deviating`) emulated from the open items with the "
        f"programmes' own thresholds ({_signal_thresholds()}), as `services/monitoring/rules/many_groups.py` "
        "decides it; its group symptoms become items of the facilitator's incident (inhibition).",
        "- Routing: the generated registry's kabupaten supervisor of the group's region, then provinsi, then "
        "nasional, as `services/notifications/routing.py` routes. Quiet hours are not applied (they move "
        "messages in time, not their number).",
        "- A message is any push to a supervisor (webhook or e-mail; the console's live feed is not counted): "
        "an incident's first message, a severity rise, an escalation, a resolution to each level that had it "
        "(when pushed), and a digest (one per supervisor and working day with news).",
        "- At this scale a kabupaten supervisor has one or two facilitators, so per-supervisor messages (the "
        "digest) weigh more per 100 groups than they would nationally.",
    ]
    return "\n".join(lines) + "\n"


def run(
    shape: Shape, *, timing: Timing | None = None, ack_hours: float = 1.0
) -> tuple[list[tuple[str, AlertBudget]], str]:
    """Measure the service's setting and the facilitator-grouped one; returns the budgets and the report."""
    # The service's own setting first (PANTAU_NOTIFICATIONS_INCIDENT_* as configured), then the other grouping.
    base = timing or timing_for(NotificationsSettings())
    settings = [
        (f"group_by={base.group_by}", base),
        (
            "group_by=facilitator" if base.group_by == "group" else "group_by=group",
            replace(base, group_by="facilitator" if base.group_by == "group" else "group"),
        ),
    ]
    budgets = [(label, measure(shape, timing=value, ack_hours=ack_hours)) for label, value in settings]
    return budgets, render(budgets)


def default_shape(scale: float, seed: int, months: int) -> Shape:
    """The bench's programme: `months` months from January 2026."""
    return Shape(scale=scale, seed=seed, start=date(2026, 1, 1), months=months)
