"""Behaviour over time: what each facilitator and their groups do during the simulated periods.

Most groups do well: they meet a few days before the due day, for about the expected time, with
most members present; the facilitator leads; reports reach the server minutes later; activities
progress ahead of the straight line and are done before their due date; evaluations score 3–5.
Injected deviations occur at the rates of `Rates`, each drawn from the group's (or facilitator's)
own random stream:

- `skipped_meeting`: no meeting for the period (→ `meeting.overdue`);
- `late_meeting`: held 4–6 days after the due day (→ `meeting.overdue`, then resolved);
- `chair_led`: led by the chair or someone else, without the facilitator (→ `meeting.facilitator_absent`);
- `low_attendance`: 40–65 % of members present (→ `meeting.low_attendance`);
- `declining_attendance`: the last three meetings go all present → ~90 % → 76–79 %
  (→ `meeting.attendance_declining`);
- `too_short`: 35–50 % of the programme's expected duration (→ `meeting.too_short`);
- `offline_spell`: the phone is offline 2–4 days (short) or 9–12 days (long), then syncs everything in
  one batch (long spells → `reporting.lagging`; both delay `meeting.overdue`);
- `late_activity`: on pace but done 3–8 days after the due date (→ `plan.activity_overdue`);
- `at_risk_activity`: behind the straight line, or not started, past half its time, then catches up
  (→ `plan.activity_at_risk`);
- `low_evaluation_*`: every score 1–2, in either direction (→ `evaluation.low_score`).

Which deviations these cause is not decided here: `oracle.py` derives them from the history.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from services.meetings.scheduling import due_at as scheduling_due_at
from tools.generator.programme import Activity, Facilitator, Group, Shape

_NAMESPACE = uuid.UUID("0b7f3e0e-5d0a-4c55-9a8b-7d2f4f3c1a10")
SYNC_EVERY_DAYS = 3

_MODULES = {
    "pkh-p2k2": (
        ("Pengasuhan dan Pendidikan Anak", "Menjadi orang tua yang lebih baik"),
        ("Kesehatan dan Gizi", "Pentingnya gizi ibu hamil"),
        ("Pengelolaan Keuangan Keluarga", "Membuat anggaran rumah tangga"),
        ("Perlindungan Anak", "Mencegah kekerasan terhadap anak"),
        ("Kesejahteraan Sosial", "Layanan bagi lansia dan disabilitas"),
    ),
    "ssk-pokja": (
        ("Rencana aksi sanitasi", "Pemicuan STBM"),
        ("Air minum", "Pemeliharaan sarana air bersih"),
        ("Persampahan", "Bank sampah desa"),
    ),
    "kkbpk-kemitraan": (
        ("Kemitraan KB", "Penggerakan peserta KB baru"),
        ("Bina Keluarga Balita", "Tumbuh kembang balita"),
    ),
}
_CRITERIA = {
    "group_rates_facilitator": ("kehadiran", "komunikasi", "penguasaan_materi", "kepedulian"),
    "facilitator_rates_group": ("kehadiran_anggota", "keaktifan", "kekompakan", "tindak_lanjut"),
}


@dataclass(frozen=True, slots=True)
class Rates:
    """How often each deviation is injected (probabilities per group-period unless stated)."""

    skipped_meeting: float = 0.03
    late_meeting: float = 0.03
    chair_led: float = 0.05
    low_attendance: float = 0.04
    declining_attendance: float = 0.05  # per group, over its last three meetings (needs ≥ 3 periods)
    too_short: float = 0.03
    offline_spell: float = 0.12  # per facilitator-period
    long_offline_share: float = 0.5  # of offline spells, those long enough to make reports lag
    late_activity: float = 0.05  # per activity
    at_risk_activity: float = 0.05  # per activity
    low_evaluation_of_facilitator: float = 0.03
    low_evaluation_of_group: float = 0.03

    @staticmethod
    def none() -> Rates:
        """Every group does well: no injected deviation at all."""
        return Rates(**{name: 0.0 for name in Rates.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class SimSchedule:
    """A group's meeting became due for a period (published at the start of the period's month)."""

    group_id: str
    period: str
    due_at: datetime
    published_at: datetime


@dataclass(frozen=True, slots=True)
class SimMeeting:
    """A held meeting as the field app records it, and when the server receives it."""

    report_id: str
    group_id: str
    period: str
    started_at: datetime
    ended_at: datetime
    facilitator_present: bool
    led_by: Literal["facilitator", "chair", "other"]
    module: str
    topic: str
    attendance: tuple[tuple[str, Literal["present", "absent", "excused"]], ...]
    member_count: int
    recorded_at: datetime
    received_at: datetime
    batched: bool  # True when it arrives in an offline batch sync

    @property
    def present_count(self) -> int:
        """Members marked present."""
        return sum(1 for _, status in self.attendance if status == "present")


@dataclass(frozen=True, slots=True)
class SimSync:
    """A device sync (`POST /meetings/batch`): the reports it carries and its watermark."""

    device_id: str
    synced_through: datetime
    received_at: datetime
    report_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SimProgress:
    """An activity progress report (realisasi)."""

    progress_id: str
    group_id: str
    plan_id: str
    activity_id: str
    reported_on: date
    status: Literal["not_started", "in_progress", "done", "blocked"]
    indicator_value: float | None
    recorded_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SimEvaluation:
    """An evaluation in one direction for one period."""

    evaluation_id: str
    group_id: str
    direction: Literal["facilitator_rates_group", "group_rates_facilitator"]
    period: str
    scores: tuple[tuple[str, int], ...]
    recorded_at: datetime
    received_at: datetime

    @property
    def mean_score(self) -> float:
        """Mean score, rounded as the meetings service rounds it."""
        return round(sum(score for _, score in self.scores) / len(self.scores), 3)


@dataclass(frozen=True, slots=True)
class History:
    """Everything one facilitator and their groups did up to `horizon_end`, as the server sees it."""

    facilitator: Facilitator
    horizon_end: datetime
    registered_at: datetime
    schedules: tuple[SimSchedule, ...]
    meetings: tuple[SimMeeting, ...]
    syncs: tuple[SimSync, ...]
    progress: tuple[SimProgress, ...]
    evaluations: tuple[SimEvaluation, ...]
    injected: dict[str, int] = field(default_factory=dict)  # label → count, for summaries

    @property
    def plans_agreed_at(self) -> datetime:
        """When the groups' plans reach the server: the day after registration, before any due date."""
        return self.registered_at + timedelta(days=1)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(day: date, clock: time, time_zone: str) -> datetime:
    """A local wall-clock moment in the group's province, as UTC."""
    return datetime.combine(day, clock, tzinfo=_zone(time_zone)).astimezone(UTC)


def due_at(period: str, day_of_month: int, time_zone: str) -> datetime:
    """End of the due day (23:59:59 local) of a period, as UTC (contract §1)."""
    year, month = map(int, period.split("-"))
    return local_time(date(year, month, day_of_month), time(23, 59, 59), time_zone)


def scheduled_periods(group: Group, periods: list[str]) -> list[str]:
    """Periods a meeting is due: every month, or for quarterly groups one period per quarter, labelled by
    the quarter's first month (as the meetings service labels them)."""
    if group.cadence == "monthly":
        return periods
    return [period for period in periods if int(period[5:]) in (1, 4, 7, 10)]


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(part) for part in parts)))


class _Device:
    """A facilitator's phone: online, or offline during spells after which it syncs in one batch."""

    def __init__(self, spells: list[tuple[datetime, datetime]], rng: random.Random) -> None:
        self.spells = spells
        self._rng = rng

    def arrival(self, recorded_at: datetime) -> tuple[datetime, bool]:
        """When a record completed at `recorded_at` reaches the server, and whether by batch."""
        for begin, end in self.spells:
            if begin <= recorded_at < end:
                return end, True
        return recorded_at + timedelta(minutes=self._rng.randint(1, 5)), False

    def online_at(self, moment: datetime) -> bool:
        return not any(begin <= moment < end for begin, end in self.spells)


def simulate(facilitator: Facilitator, shape: Shape, rates: Rates) -> History:
    """The facilitator's and their groups' history over the shape's periods (pure, deterministic)."""
    seed = shape.seed
    horizon = shape.horizon_end
    periods = shape.periods()
    tz = facilitator.time_zone
    frng = random.Random(f"{seed}:behaviour:{facilitator.facilitator_id}")
    injected: dict[str, int] = {}

    def mark(label: str) -> None:
        injected[label] = injected.get(label, 0) + 1

    # Offline spells, at most one starting in each period, never overlapping.
    spells: list[tuple[datetime, datetime]] = []
    for period in periods:
        if frng.random() >= rates.offline_spell:
            continue
        year, month = map(int, period.split("-"))
        long_spell = frng.random() < rates.long_offline_share
        length = frng.randint(9, 12) if long_spell else frng.randint(2, 4)
        first_day = date(year, month, frng.randint(1, 22))
        begin = local_time(first_day, time(8, 0), tz)
        end = local_time(first_day + timedelta(days=length), time(19, frng.randint(0, 59)), tz)
        if spells and begin <= spells[-1][1]:
            continue
        spells.append((begin, end))
        mark("offline_spell_long" if long_spell else "offline_spell_short")
    device = _Device(spells, random.Random(f"{seed}:device:{facilitator.facilitator_id}"))

    schedules: list[SimSchedule] = []
    meetings: list[SimMeeting] = []
    progress: list[SimProgress] = []
    evaluations: list[SimEvaluation] = []
    for group in facilitator.groups:
        grng = random.Random(f"{seed}:behaviour:{group.group_id}")
        due_periods = scheduled_periods(group, periods)
        declining = len(due_periods) >= 3 and grng.random() < rates.declining_attendance
        declining_counts = _declining_counts(len(group.member_refs)) if declining else None
        if declining_counts is None:
            declining = False
        else:
            mark("declining_attendance")
        for position, period in enumerate(due_periods):
            year, month = map(int, period.split("-"))
            # The meetings service's own rule (quarterly: due in the quarter's last month).
            due = scheduling_due_at(period, cadence=group.cadence, day_of_month=group.day_of_month, time_zone=tz)
            schedules.append(SimSchedule(group.group_id, period, due, local_time(date(year, month, 1), time(0, 0), tz)))
            window_index = position - (len(due_periods) - 3)
            in_decline = declining and window_index >= 0
            draw = grng.random()
            if not in_decline and draw < rates.skipped_meeting:
                mark("skipped_meeting")
                continue
            late = not in_decline and draw < rates.skipped_meeting + rates.late_meeting
            if late:
                mark("late_meeting")
                day = group.day_of_month + grng.randint(4, 6)
            else:
                day = grng.randint(max(2, group.day_of_month - 8), group.day_of_month - 1)
            start = local_time(date(year, month, day), time(grng.randint(8, 13), grng.choice((0, 15, 30))), tz)
            too_short = grng.random() < rates.too_short
            share = grng.uniform(0.35, 0.5) if too_short else grng.uniform(0.85, 1.1)
            end = start + timedelta(minutes=round(group.expected_minutes * share))
            chair_led = grng.random() < rates.chair_led
            low = not in_decline and grng.random() < rates.low_attendance
            members = len(group.member_refs)
            if in_decline and declining_counts is not None:
                present = declining_counts[window_index]
                mark("declining_window_meeting")
            elif low:
                present = math.floor(grng.uniform(0.4, 0.65) * members)
                mark("low_attendance")
            else:
                present = min(members, math.ceil(grng.uniform(0.85, 1.0) * members))
            if too_short:
                mark("too_short")
            if chair_led:
                mark("chair_led")
            absent = set(grng.sample(range(members), members - present))
            attendance = tuple(
                (ref, ("present" if index not in absent else ("excused" if index % 3 == 0 else "absent")))
                for index, ref in enumerate(group.member_refs)
            )
            recorded = end + timedelta(minutes=grng.randint(5, 30))
            received, batched = device.arrival(recorded)
            module, topic = grng.choice(_MODULES[group.programme])
            meeting = SimMeeting(
                report_id=_uuid(seed, group.group_id, period),
                group_id=group.group_id,
                period=period,
                started_at=start,
                ended_at=end,
                facilitator_present=not chair_led,
                led_by=("other" if grng.random() < 0.2 else "chair") if chair_led else "facilitator",
                module=module,
                topic=topic,
                attendance=attendance,  # type: ignore[arg-type]
                member_count=members,
                recorded_at=recorded,
                received_at=received,
                batched=batched,
            )
            if received <= horizon:
                meetings.append(meeting)
            for direction, rate in (
                ("group_rates_facilitator", rates.low_evaluation_of_facilitator),
                ("facilitator_rates_group", rates.low_evaluation_of_group),
            ):
                low_score = grng.random() < rate
                if low_score:
                    mark(f"low_evaluation_{direction}")
                scores = tuple(
                    (criterion, grng.randint(1, 2) if low_score else grng.randint(3, 5))
                    for criterion in _CRITERIA[direction]
                )
                evaluation_recorded = recorded + timedelta(minutes=grng.randint(10, 60))
                evaluation_received, _ = device.arrival(evaluation_recorded)
                if evaluation_received <= horizon:
                    evaluations.append(
                        SimEvaluation(
                            evaluation_id=_uuid(seed, group.group_id, period, direction),
                            group_id=group.group_id,
                            direction=direction,  # type: ignore[arg-type]
                            period=period,
                            scores=scores,
                            recorded_at=evaluation_recorded,
                            received_at=evaluation_received,
                        )
                    )
        for activity in group.plan.activities:
            progress += _activity_progress(group, activity, grng, rates, device, horizon, mark)

    syncs = _syncs(facilitator, shape, device, meetings)
    return History(
        facilitator=facilitator,
        horizon_end=horizon,
        registered_at=shape.started_at - timedelta(days=2),
        schedules=tuple(schedules),
        meetings=tuple(sorted(meetings, key=lambda meeting: (meeting.received_at, meeting.started_at))),
        syncs=tuple(syncs),
        progress=tuple(sorted(progress, key=lambda item: item.received_at)),
        evaluations=tuple(sorted(evaluations, key=lambda item: item.received_at)),
        injected=injected,
    )


def _declining_counts(members: int) -> tuple[int, int, int] | None:
    """Present counts for a clear decline: all → about 90 % → just above the low-attendance line,
    with a drop well over the margin by either reading of it (absolute or relative); None when the
    group's size allows no such count (e.g. 0.75 exactly would sit on the threshold)."""
    for last in range(members, 0, -1):
        ratio = last / members
        if 0.755 <= ratio <= 0.795:
            middle = max(last + 1, round(members * 0.9))
            return members, min(middle, members), last
    return None


def _activity_progress(
    group: Group,
    activity: Activity,
    rng: random.Random,
    rates: Rates,
    device: _Device,
    horizon: datetime,
    mark: Callable[[str], None],
) -> list[SimProgress]:
    """Progress reports for one activity: on pace (the default), late, or at risk."""
    starts_on = group.plan.starts_on
    span = (activity.due_on - starts_on).days
    draw = rng.random()
    variant = "late" if draw < rates.late_activity else "normal"
    if variant == "normal" and draw < rates.late_activity + rates.at_risk_activity:
        variant = "at_risk"
    if variant != "normal":
        mark(f"{variant}_activity")
    indicator = activity.indicator
    steps: list[tuple[float, str, float | None, int]] = []  # (share of time, status, share of indicator, +days)
    if variant == "normal":
        steps = [(0.25, "in_progress", 0.5, 0), (0.5, "in_progress", 0.8, 0), (0.8, "done", 1.0, 0)]
    elif variant == "late":
        steps = [(0.25, "in_progress", 0.5, 0), (0.5, "in_progress", 0.8, 0), (1.0, "done", 1.0, rng.randint(3, 8))]
    elif indicator is not None:
        steps = [(0.25, "in_progress", 0.05, 0), (0.55, "in_progress", 0.1, 0), (0.85, "done", 1.0, 0)]
    else:
        steps = [(0.55, "not_started", None, 0), (0.85, "done", None, 0)]
    reports = []
    for number, (share, status, indicator_share, extra_days) in enumerate(steps, start=1):
        reported_on = starts_on + timedelta(days=math.ceil(share * span) + extra_days)
        if status != "done" and reported_on >= activity.due_on:
            continue
        value = None
        if indicator is not None and indicator_share is not None:
            value = round(indicator.baseline + (indicator.target - indicator.baseline) * indicator_share, 2)
        recorded = local_time(reported_on, time(16, rng.randint(0, 59)), group.time_zone)
        received, _ = device.arrival(recorded)
        if received > horizon:
            continue
        reports.append(
            SimProgress(
                progress_id=_uuid("progress", activity.activity_id, number),
                group_id=group.group_id,
                plan_id=group.plan.plan_id,
                activity_id=activity.activity_id,
                reported_on=reported_on,
                status=status,  # type: ignore[arg-type]
                indicator_value=value,
                recorded_at=recorded,
                received_at=received,
            )
        )
    return reports


def _syncs(facilitator: Facilitator, shape: Shape, device: _Device, meetings: list[SimMeeting]) -> list[SimSync]:
    """Routine syncs every few days at 20:00 local while online, plus one batch at each spell's end."""
    horizon = shape.horizon_end
    syncs: list[SimSync] = []
    day = shape.start
    offset = random.Random(f"{shape.seed}:sync:{facilitator.facilitator_id}").randint(0, SYNC_EVERY_DAYS - 1)
    day += timedelta(days=offset)
    while True:
        moment = local_time(day, time(20, 0), facilitator.time_zone)
        if moment > horizon:
            break
        if device.online_at(moment):
            syncs.append(SimSync(facilitator.device_id, moment, moment))
        day += timedelta(days=SYNC_EVERY_DAYS)
    # A last sync exactly at the horizon: the rule clock of a replay ends there for every facilitator.
    syncs.append(SimSync(facilitator.device_id, horizon, horizon))
    for _begin, end in device.spells:
        if end > horizon:
            continue
        carried = tuple(
            sorted(meeting.report_id for meeting in meetings if meeting.batched and meeting.received_at == end)
        )
        syncs.append(SimSync(facilitator.device_id, end, end, carried))
    return sorted(syncs, key=lambda sync: sync.received_at)
