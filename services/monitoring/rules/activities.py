"""Plan rules over activities (pure).

`plan.activity_overdue`: an activity is past the end of its due day (group's local time) and not
done. Resolved when it is reported done, removed from the plan, or its due date moves later.

`plan.activity_at_risk`: an early warning before the due date. From the moment a share (default
0.5) of the activity's time has passed, it fires if the activity has not started, or if its
indicator is further than a margin (default 0.25 of the baseline→target distance) behind the
straight line from baseline at the plan's start to target at the due date. Fires at the exact
instant the line overtakes the last reported value; resolved when it is back on track, done,
removed, or becomes overdue.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.monitoring.programmes import ActivityAtRiskConfig, ActivityOverdueConfig
from services.monitoring.rules.calendar import end_of_day, start_of_day
from services.monitoring.rules.decisions import Decision, Open, Resolve, deviation_id
from services.monitoring.rules.state import ActivityState, GroupState

OVERDUE = "plan.activity_overdue"
AT_RISK = "plan.activity_at_risk"


def due_end(activity: ActivityState) -> datetime:
    return end_of_day(activity.due_on, activity.time_zone)


def overdue_from(activity: ActivityState) -> datetime:
    """The first instant the activity is late: the second after its due day ends (local time)."""
    return due_end(activity) + timedelta(seconds=1)


def _done_by(activity: ActivityState, instant: datetime) -> bool:
    """Whether the activity was known to be done at `instant` (by when its "done" report arrived)."""
    if activity.done_received_at is not None:
        return activity.done_received_at <= instant
    return activity.status == "done"


def risk_instant(activity: ActivityState, config: ActivityAtRiskConfig) -> datetime | None:
    """When the activity is (or will be, without new progress) behind pace; None if never before due."""
    if activity.status == "done":
        return None
    start = start_of_day(activity.starts_on, activity.time_zone)
    end = due_end(activity)
    span = end - start
    if span.total_seconds() <= 0:
        return None
    earliest = start + span * config.from_elapsed_share
    if activity.status in ("not_started", "blocked") or activity.reported_on is None:
        instant = earliest
    elif activity.baseline is not None and activity.target is not None and activity.value is not None:
        distance = activity.target - activity.baseline
        if distance == 0:
            return None
        done_share = (activity.value - activity.baseline) / distance
        instant = max(earliest, start + span * max(0.0, done_share + config.margin_ratio))
    else:
        return None  # in progress without an indicator: nothing measurable to be behind on
    return instant if instant < end else None


def evaluate(
    state: GroupState,
    now: datetime,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
    evidence_at: datetime | None = None,
) -> list[Decision]:
    """Decisions for every activity as of `now`; `evidence_at` is when new progress arrived, if any."""
    decisions: list[Decision] = []
    for key, open_ in sorted(state.open.items()):
        if open_.rule in (OVERDUE, AT_RISK) and open_.occurrence not in state.activities:
            decisions.append(Resolve(key, open_.rule, open_.severity, "activity_removed", at=evidence_at or now))
    for activity in sorted(state.activities.values(), key=lambda a: a.activity_id):
        late = overdue_from(activity)
        overdue_id = deviation_id(OVERDUE, group_id, activity.activity_id)
        risk_id = deviation_id(AT_RISK, group_id, activity.activity_id)
        done = activity.status == "done"
        if overdue_id in state.open:
            if done:
                decisions.append(
                    Resolve(
                        overdue_id, OVERDUE, state.open[overdue_id].severity, "activity_done", at=evidence_at or now
                    )
                )
            elif now < late and state.open[overdue_id].memory.get("due_on") not in (None, activity.due_on.isoformat()):
                decisions.append(
                    Resolve(
                        overdue_id, OVERDUE, state.open[overdue_id].severity, "due_date_moved", at=evidence_at or now
                    )
                )
        elif now >= late and overdue_id not in state.closed and not _done_by(activity, late):
            decisions.append(
                Open(
                    rule=OVERDUE,
                    subject=group_id,
                    occurrence=activity.activity_id,
                    severity=overdue.severity,
                    evidence_at=late,
                    at=late,
                    details={
                        "activity_id": activity.activity_id,
                        "activity_title": activity.title,
                        "plan_id": activity.plan_id,
                        "due_on": activity.due_on.isoformat(),
                        "status": activity.status,
                    },
                    memory={"due_on": activity.due_on.isoformat()},
                )
            )
            if activity.done_received_at is not None:
                # Reported done after the due day: late, then done (as living through it would see).
                decisions.append(
                    Resolve(overdue_id, OVERDUE, overdue.severity, "activity_done", at=activity.done_received_at)
                )
        instant = risk_instant(activity, at_risk)
        if risk_id in state.open:
            severity = state.open[risk_id].severity
            if done:
                decisions.append(Resolve(risk_id, AT_RISK, severity, "activity_done", at=evidence_at or now))
            elif now >= late:
                decisions.append(Resolve(risk_id, AT_RISK, severity, "became_overdue", at=late))
            elif instant is None or instant > now:
                decisions.append(Resolve(risk_id, AT_RISK, severity, "back_on_track", at=evidence_at or now))
        elif instant is not None and instant <= now and risk_id not in state.closed:
            at = max(instant, evidence_at) if evidence_at is not None else instant
            if at >= late:
                continue  # the evidence came after the due day: it is overdue, no longer merely at risk
            decisions.append(
                Open(
                    rule=AT_RISK,
                    subject=group_id,
                    occurrence=activity.activity_id,
                    severity="info",
                    evidence_at=at,
                    at=at,
                    details={
                        "activity_id": activity.activity_id,
                        "activity_title": activity.title,
                        "due_on": activity.due_on.isoformat(),
                        "status": activity.status,
                        "indicator_value": activity.value,
                        "indicator_target": activity.target,
                    },
                )
            )
            if now >= late:
                # First looked at after the due day: the warning came and went, as living through it.
                decisions.append(Resolve(risk_id, AT_RISK, "info", "became_overdue", at=late))
    return decisions


def wake_times(state: GroupState, at_risk: ActivityAtRiskConfig, *, group_id: str) -> list[datetime]:
    times: list[datetime] = []
    for activity in state.activities.values():
        if activity.status == "done":
            continue
        if deviation_id(OVERDUE, group_id, activity.activity_id) not in state.closed:
            times.append(overdue_from(activity))
        instant = risk_instant(activity, at_risk)
        if instant is not None:
            times.append(instant)
    return times
