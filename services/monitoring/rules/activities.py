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

from datetime import datetime

from services.monitoring.programmes import ActivityAtRiskConfig, ActivityOverdueConfig
from services.monitoring.rules.calendar import end_of_day, start_of_day
from services.monitoring.rules.decisions import Decision, Open, Resolve, deviation_id
from services.monitoring.rules.state import ActivityState, GroupState

OVERDUE = "plan.activity_overdue"
AT_RISK = "plan.activity_at_risk"


def due_end(activity: ActivityState) -> datetime:
    return end_of_day(activity.due_on, activity.time_zone)


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
        end = due_end(activity)
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
            elif now <= end:
                decisions.append(
                    Resolve(
                        overdue_id, OVERDUE, state.open[overdue_id].severity, "due_date_moved", at=evidence_at or now
                    )
                )
        elif not done and now > end and overdue_id not in state.closed:
            decisions.append(
                Open(
                    rule=OVERDUE,
                    subject=group_id,
                    occurrence=activity.activity_id,
                    severity=overdue.severity,
                    evidence_at=end,
                    at=end,
                    details={
                        "activity_id": activity.activity_id,
                        "activity_title": activity.title,
                        "plan_id": activity.plan_id,
                        "due_on": activity.due_on.isoformat(),
                        "status": activity.status,
                    },
                )
            )
        instant = risk_instant(activity, at_risk)
        if risk_id in state.open:
            severity = state.open[risk_id].severity
            if done:
                decisions.append(Resolve(risk_id, AT_RISK, severity, "activity_done", at=evidence_at or now))
            elif now > end:
                decisions.append(Resolve(risk_id, AT_RISK, severity, "became_overdue", at=end))
            elif instant is None or instant > now:
                decisions.append(Resolve(risk_id, AT_RISK, severity, "back_on_track", at=evidence_at or now))
        elif instant is not None and instant <= now <= end and risk_id not in state.closed:
            at = max(instant, evidence_at) if evidence_at is not None else instant
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
    return decisions


def wake_times(state: GroupState, at_risk: ActivityAtRiskConfig, *, group_id: str) -> list[datetime]:
    times: list[datetime] = []
    for activity in state.activities.values():
        if activity.status == "done":
            continue
        end = due_end(activity)
        if deviation_id(OVERDUE, group_id, activity.activity_id) not in state.closed:
            times.append(end)
        instant = risk_instant(activity, at_risk)
        if instant is not None:
            times.append(instant)
    return times
