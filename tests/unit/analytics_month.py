"""A facilitator's November 2026, folded through the real analytics folds (support for the report
tests, no I/O): Siti Rahmawati in Kota Bandar Lampung (WIB) with a monthly group that met on time and
has a plan, a monthly group that did not meet (her phone had not synced past the due time), and a
quarterly group whose quarter is due in December."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.analytics import aggregates
from services.analytics.aggregates import GroupFacts
from services.analytics.directory import Directory
from shared.events import (
    ActivityProgressed,
    DeviationOpened,
    DeviationResolved,
    DeviceSynced,
    EvaluationSubmitted,
    MeetingRecorded,
    MeetingScheduled,
    PlanAgreed,
)

FACILITATOR = "PDP-120101-01"
VILLAGE = "18.71.01.1001"
WIB_NOV_10_DUE = datetime(2026, 11, 10, 16, 59, 59, tzinfo=UTC)  # 10 November 2026, 23.59 WIB
READ_AT = datetime(2026, 12, 2, 1, 14, 56, tzinfo=UTC)  # 2 December 2026, 08.14 WIB
EARLY = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 2 November 2026, 08.00 WIB: nothing due yet

NAMES: dict[str, dict[str, Any]] = {
    "region:18": {"name": "Lampung"},
    "region:18.71": {"name": "Kota Bandar Lampung"},
    f"facilitator:{FACILITATOR}": {"name": "Siti Rahmawati"},
    "group:KLP-MAWAR": {"name": "Kelompok Mawar", "cadence": "monthly"},
    "group:KLP-MELATI": {"name": "Kelompok Melati", "cadence": "monthly"},
    "group:KLP-ANGGREK": {"name": "Forum KB Anggrek", "cadence": "quarterly"},
}
DIRECTORY = Directory(NAMES.get)


def wib(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A wall-clock time in WIB (UTC+7), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


def _place(group_id: str, programme: str = "pkh-p2k2") -> dict[str, Any]:
    return {"group_id": group_id, "programme": programme, "facilitator_id": FACILITATOR, "region_code": VILLAGE}


def _scheduled(group_id: str, period: str, due_at: datetime, programme: str = "pkh-p2k2") -> MeetingScheduled:
    return MeetingScheduled(**_place(group_id, programme), period=period, due_at=due_at, time_zone="Asia/Jakarta")


def _meeting(group_id: str, report_id: str, started: datetime, present: int, members: int = 10, **extra: Any) -> Any:
    attendance = [{"member_ref": f"kpm-{n}", "status": "present" if n < present else "absent"} for n in range(members)]
    return MeetingRecorded.model_validate(
        {
            **_place(group_id, extra.pop("programme", "pkh-p2k2")),
            "report_id": report_id,
            "started_at": started,
            "ended_at": started + timedelta(minutes=extra.pop("minutes", 120)),
            "facilitator_present": extra.get("led_by", "facilitator") == "facilitator",
            "led_by": extra.pop("led_by", "facilitator"),
            "module": extra.pop("module", "Kesehatan dan Gizi"),
            "topic": extra.pop("topic", "Pentingnya gizi ibu hamil"),
            "attendance": attendance,
            "member_count": members,
            "device_id": "hp-siti",
            "recorded_at": started + timedelta(hours=3),
            "received_at": started + timedelta(hours=3, minutes=2),
        }
    )


def mawar() -> GroupFacts:
    """Met on 4 November 17.00 WIB (on schedule), a plan with an indicator, evaluations both ways, and
    a low-attendance deviation on a second meeting that ended when attendance recovered."""
    facts = GroupFacts(partition=1)
    aggregates.on_meeting_scheduled(facts, _scheduled("KLP-MAWAR", "2026-11", WIB_NOV_10_DUE))
    aggregates.on_meeting(facts, _meeting("KLP-MAWAR", "r-mawar-1", wib(4, 17), present=9))
    aggregates.on_meeting(
        facts, _meeting("KLP-MAWAR", "r-mawar-2", wib(18, 9), present=5, module="Perlindungan Anak", topic=None)
    )
    opened = DeviationOpened(
        **_place("KLP-MAWAR"),
        deviation_id="dev-low-mawar",
        rule="meeting.low_attendance",
        severity="warning",
        occurrence="r-mawar-2",
        detected_at=wib(18, 12, 5),
        evidence_at=wib(18, 9),
        details={"meeting_started_at": wib(18, 9).isoformat(), "attendance_ratio": 0.5, "report_id": "r-mawar-2"},
    )
    aggregates.on_deviation_opened(facts, opened)
    aggregates.on_deviation_resolved(
        facts,
        DeviationResolved(
            **_place("KLP-MAWAR"),
            deviation_id="dev-low-mawar",
            rule="meeting.low_attendance",
            severity="warning",
            resolved_at=wib(25, 11, 30),
            reason="attendance_recovered",
        ),
    )
    at_risk = DeviationOpened(
        **_place("KLP-MAWAR"),
        deviation_id="dev-risk-gizi",
        rule="plan.activity_at_risk",
        severity="info",
        occurrence="act-gizi",
        detected_at=wib(15, 0),
        evidence_at=wib(15, 0),
        details={"activity_title": "Pemantauan gizi balita"},
    )
    aggregates.on_deviation_opened(facts, at_risk)
    aggregates.on_deviation_resolved(
        facts,
        DeviationResolved(
            **_place("KLP-MAWAR"),
            deviation_id="dev-risk-gizi",
            rule="plan.activity_at_risk",
            severity="info",
            resolved_at=wib(20, 10),
            reason="back_on_track",
        ),
    )
    aggregates.on_plan(
        facts,
        PlanAgreed(
            group_id="KLP-MAWAR",
            plan_id="plan-mawar",
            revision=1,
            title="Rencana Kelompok Mawar 2026",
            starts_on=date(2026, 9, 1),
            ends_on=date(2027, 2, 28),
            agreed_by=(FACILITATOR, "kpm-0"),
            activities=(
                {
                    "activity_id": "act-gizi",
                    "title": "Pemantauan gizi balita",
                    "stage": "discovery",
                    "due_on": date(2026, 11, 30),
                    "responsible": "group",
                    "indicator": {"name": "Balita ditimbang", "unit": "anak", "baseline": 4, "target": 12},
                },
                {
                    "activity_id": "act-tabungan",
                    "title": "Tabungan kelompok",
                    "stage": "development",
                    "due_on": date(2027, 1, 31),
                    "responsible": "group",
                },
            ),
        ),
    )
    aggregates.on_progress(
        facts,
        ActivityProgressed(
            group_id="KLP-MAWAR",
            progress_id="pr-gizi-1",
            plan_id="plan-mawar",
            activity_id="act-gizi",
            reported_on=date(2026, 11, 20),
            status="in_progress",
            indicator_value=10,
            recorded_at=wib(20, 10),
            received_at=wib(20, 10),
        ),
    )
    for direction, scores in (
        ("group_rates_facilitator", {"kehadiran": 5, "penguasaan_materi": 4}),
        ("facilitator_rates_group", {"keaktifan": 4, "kekompakan": 3}),
    ):
        aggregates.on_evaluation(
            facts,
            EvaluationSubmitted(
                **_place("KLP-MAWAR"),
                evaluation_id=f"ev-mawar-{direction}",
                direction=direction,
                period="2026-11",
                scores=scores,
                mean_score=sum(scores.values()) / len(scores),
                recorded_at=wib(4, 20),
                received_at=wib(4, 20),
            ),
        )
    return facts


def melati() -> GroupFacts:
    """Due 10 November, no meeting; the phone synced only up to the 8th."""
    facts = GroupFacts(partition=2)
    aggregates.on_meeting_scheduled(facts, _scheduled("KLP-MELATI", "2026-11", WIB_NOV_10_DUE))
    aggregates.on_device_synced(
        facts,
        DeviceSynced(
            group_id="KLP-MELATI",
            facilitator_id=FACILITATOR,
            device_id="hp-siti",
            synced_through=wib(8, 12),
            received_at=wib(8, 12),
        ),
    )
    return facts


def anggrek() -> GroupFacts:
    """A quarterly forum: the fourth quarter (labelled 2026-10) is due 10 December."""
    facts = GroupFacts(partition=3)
    due = datetime(2026, 12, 10, 16, 59, 59, tzinfo=UTC)
    aggregates.on_meeting_scheduled(facts, _scheduled("KLP-ANGGREK", "2026-10", due, programme="kkbpk-kemitraan"))
    return facts


def table() -> dict[str, GroupFacts]:
    """The facilitator's three groups, keyed by group id as the worker's table is."""
    return {"KLP-MAWAR": mawar(), "KLP-MELATI": melati(), "KLP-ANGGREK": anggrek()}
