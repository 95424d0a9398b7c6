"""Builders and a driver shared by the monitoring unit tests (no tests here).

`drive` folds facts and ticks through the engine exactly as `services/monitoring/app.py` does: every
fact is preceded by `catch_up(state, now)` ("catch up with time first": `on_time_passing` when the
state's remembered wake-up instant has come), then `on_fact` with the same `now`; a tick is
`on_time_passing` alone. `now` is the fact's event time (its `received_at`, or an
explicit instant for facts that have none, like `meeting_scheduled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.meetings.scheduling import due_at
from services.monitoring import engine
from services.monitoring.programmes import ProgrammeConfig, load_programmes
from services.monitoring.rules.decisions import Decision, Escalate, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.events import (
    ActivityProgressed,
    DeviceSynced,
    EvaluationSubmitted,
    MeetingRecorded,
    MeetingScheduled,
    PlanAgreed,
)
from shared.events.base import EventData
from shared.events.meetings import Attendance
from shared.events.plans import Indicator, PlannedActivity

PROGRAMMES = load_programmes()
PKH = PROGRAMMES["pkh-p2k2"]
SSK = PROGRAMMES["ssk-pokja"]
KKBPK = PROGRAMMES["kkbpk-kemitraan"]

GROUP = "G-18710110010001"
FACILITATOR = "F-001"
REGION_WIB = "18.71.01.1001"  # Lampung: Asia/Jakarta
REGION_WITA = "73.71.01.1001"  # Sulawesi Selatan: Asia/Makassar
REGION_WIT = "94.71.01.1001"  # Papua: Asia/Jayapura
WIB, WITA, WIT = "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"
REGION_OF = {WIB: REGION_WIB, WITA: REGION_WITA, WIT: REGION_WIT}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def due(period: str, *, time_zone: str = WIB, cadence: str = "monthly", day: int = 10) -> datetime:
    """The due instant the meetings service publishes for a period (end of the due day, local)."""
    return due_at(period, cadence=cadence, day_of_month=day, time_zone=time_zone)


def scheduled(
    period: str,
    *,
    time_zone: str = WIB,
    cadence: str = "monthly",
    group_id: str = GROUP,
    facilitator_id: str = FACILITATOR,
    programme: str = "pkh-p2k2",
) -> MeetingScheduled:
    return MeetingScheduled(
        group_id=group_id,
        programme=programme,
        facilitator_id=facilitator_id,
        region_code=REGION_OF[time_zone],
        period=period,
        due_at=due(period, time_zone=time_zone, cadence=cadence),
        time_zone=time_zone,
    )


def meeting(
    report_id: str,
    started_at: datetime,
    *,
    present: int = 10,
    members: int = 10,
    minutes: float = 120,
    facilitator_present: bool = True,
    received_at: datetime | None = None,
    group_id: str = GROUP,
    facilitator_id: str = FACILITATOR,
    programme: str = "pkh-p2k2",
    time_zone: str = WIB,
    device_id: str = "hp-1",
) -> MeetingRecorded:
    """A meeting; by default a perfect one (everyone present, two hours, facilitator present)."""
    ended_at = started_at + timedelta(minutes=minutes)
    attendance = tuple(
        Attendance(member_ref=f"m-{n}", status="present" if n < present else "absent") for n in range(members)
    )
    return MeetingRecorded(
        group_id=group_id,
        report_id=report_id,
        programme=programme,
        facilitator_id=facilitator_id,
        region_code=REGION_OF[time_zone],
        started_at=started_at,
        ended_at=ended_at,
        facilitator_present=facilitator_present,
        led_by="facilitator" if facilitator_present else "chair",
        module="Kesehatan",
        topic="Gizi anak",
        attendance=attendance,
        member_count=members,
        device_id=device_id,
        recorded_at=ended_at,
        received_at=received_at or ended_at + timedelta(hours=1),
    )


def synced(
    through: datetime,
    *,
    received_at: datetime | None = None,
    device_id: str = "hp-1",
    facilitator_id: str = FACILITATOR,
    group_id: str = GROUP,
) -> DeviceSynced:
    return DeviceSynced(
        group_id=group_id,
        facilitator_id=facilitator_id,
        device_id=device_id,
        synced_through=through,
        received_at=received_at or through,
    )


def activity(
    activity_id: str, due_on: date, *, baseline: float | None = None, target: float | None = None
) -> PlannedActivity:
    indicator = None
    if baseline is not None and target is not None:
        indicator = Indicator(name="KPM hadir", unit="orang", baseline=baseline, target=target)
    return PlannedActivity(
        activity_id=activity_id,
        title=f"Kegiatan {activity_id}",
        stage="dialogue",
        due_on=due_on,
        responsible="facilitator",
        indicator=indicator,
    )


def plan(
    *activities: PlannedActivity, starts_on: date = date(2026, 1, 1), plan_id: str = "P-1", revision: int = 1
) -> PlanAgreed:
    return PlanAgreed(
        group_id=GROUP,
        plan_id=plan_id,
        revision=revision,
        title="Rencana pendampingan 2026",
        starts_on=starts_on,
        ends_on=date(2026, 12, 31),
        agreed_by=(FACILITATOR, "m-chair"),
        activities=activities,
    )


def progress(
    progress_id: str,
    activity_id: str,
    received_at: datetime,
    *,
    status: str = "in_progress",
    value: float | None = None,
    reported_on: date | None = None,
    plan_id: str = "P-1",
) -> ActivityProgressed:
    return ActivityProgressed(
        group_id=GROUP,
        progress_id=progress_id,
        plan_id=plan_id,
        activity_id=activity_id,
        reported_on=reported_on or received_at.date(),
        status=status,  # type: ignore[arg-type]
        indicator_value=value,
        recorded_at=received_at,
        received_at=received_at,
    )


def evaluation(
    evaluation_id: str,
    mean_score: float,
    received_at: datetime,
    *,
    direction: str = "group_rates_facilitator",
    group_id: str = GROUP,
) -> EvaluationSubmitted:
    return EvaluationSubmitted(
        group_id=group_id,
        evaluation_id=evaluation_id,
        facilitator_id=FACILITATOR,
        programme="pkh-p2k2",
        region_code=REGION_WIB,
        direction=direction,  # type: ignore[arg-type]
        period="2026-03",
        scores={"kehadiran": round(mean_score)},
        mean_score=mean_score,
        recorded_at=received_at,
        received_at=received_at,
    )


@dataclass(frozen=True)
class Tick:
    """The passing of time alone (the worker's wake index handing out a due instant)."""

    at: datetime


@dataclass(frozen=True)
class At:
    """A fact delivered at an explicit event time (for facts without `received_at`)."""

    fact: EventData
    at: datetime


Step = EventData | Tick | At


def event_time(step: Step) -> datetime:
    if isinstance(step, Tick | At):
        return step.at
    received = getattr(step, "received_at", None)
    if received is None:
        raise ValueError(f"{type(step).__name__} has no received_at: wrap it in At(fact, time)")
    return received


def step_once(
    state: GroupState, step: Step, programme: ProgrammeConfig, *, now: datetime | None = None, group_id: str = GROUP
) -> tuple[GroupState, list[Decision]]:
    """One record as app.py processes it: catch up with time, then the fact (if any)."""
    now = now or event_time(step)
    fact = None if isinstance(step, Tick) else step.fact if isinstance(step, At) else step
    outcome = engine.step(state, fact, now, programme, group_id=group_id)
    return outcome.state, list(outcome.decisions)


def drive(
    steps: list[Step], programme: ProgrammeConfig = PKH, state: GroupState | None = None, *, group_id: str = GROUP
) -> tuple[GroupState, list[Decision]]:
    state = state or GroupState()
    decisions: list[Decision] = []
    for step in steps:
        state, made = step_once(state, step, programme, group_id=group_id)
        decisions += made
    return state, decisions


def of_rule(decisions: list[Decision], rule: str) -> list[Decision]:
    return [decision for decision in decisions if decision.rule == rule]


def kind(decision: Decision) -> str:
    return {Open: "open", Escalate: "escalate", Resolve: "resolve"}[type(decision)]


def summary(decisions: list[Decision]) -> list[tuple[str, str, datetime | None]]:
    """(kind, rule, at) of each decision, in order."""
    return [(kind(decision), decision.rule, decision.at) for decision in decisions]


def triples(decisions: list[Decision]) -> set[tuple[str, str, datetime | None]]:
    """The comparable identity of decisions: (deviation id, kind, detection instant)."""
    return {(decision.deviation_id, kind(decision), decision.at) for decision in decisions}


SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
