"""One valid sample payload per event type, for round-trip and consumer tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.events import (
    ActivityProgressed,
    AlertAcknowledged,
    AlertEscalated,
    AlertSent,
    DeliveryFailed,
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
    DeviceSynced,
    EvaluationSubmitted,
    EventData,
    FacilitatorUpserted,
    GroupUpserted,
    MeetingRecorded,
    MeetingScheduled,
    PlanAgreed,
    PlanRevised,
    RegionUpserted,
    SupervisorUpserted,
)

AT = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
GROUP = {"group_id": "G-18710110010001"}
_COMMON_DEVIATION = {
    **GROUP,
    "deviation_id": "dev-facilitator_absent-G1-r1",
    "rule": "meeting.facilitator_absent",
    "severity": "warning",
    "programme": "pkh-p2k2",
    "facilitator_id": "F-001",
    "region_code": "18.71.01.1001",
}
_COMMON_ALERT = {
    "alert_id": "alert-1",
    "deviation_id": "dev-1",
    "supervisor_id": "S-1871",
    **GROUP,
    "rule": "meeting.facilitator_absent",
    "severity": "warning",
    "escalation_level": "kabupaten",
}
_PLAN = {
    **GROUP,
    "plan_id": "P-1",
    "revision": 1,
    "title": "Rencana pendampingan 2026",
    "starts_on": date(2026, 1, 1),
    "ends_on": date(2026, 12, 31),
    "agreed_by": ("F-001", "m-chair"),
    "activities": (
        {
            "activity_id": "A-1",
            "title": "Diskusi kelompok terarah",
            "stage": "dialogue",
            "due_on": date(2026, 3, 31),
            "responsible": "facilitator",
            "indicator": {"name": "KPM hadir", "unit": "orang", "baseline": 10, "target": 20},
        },
    ),
}

SAMPLES: dict[type[EventData], EventData] = {
    RegionUpserted: RegionUpserted(
        code="18.71",
        name="Kota Bandar Lampung",
        level="kabupaten",
        parent_code="18",
        time_zone="Asia/Jakarta",
    ),
    SupervisorUpserted: SupervisorUpserted(
        supervisor_id="S-1871",
        name="Koordinator Kota Bandar Lampung",
        level="kabupaten",
        region_code="18.71",
        webhook_url="http://127.0.0.1:9/hook",
        language="id",
    ),
    FacilitatorUpserted: FacilitatorUpserted(
        facilitator_id="F-001", name="Siti Rahma", programme="pkh-p2k2", region_code="18.71.01"
    ),
    GroupUpserted: GroupUpserted(
        group_id="G-18710110010001",
        name="Kelompok Mawar",
        programme="pkh-p2k2",
        facilitator_id="F-001",
        region_code="18.71.01.1001",
        member_refs=("m-1", "m-2", "m-chair"),
        chair_member_ref="m-chair",
        schedule={"cadence": "monthly", "day_of_month": 10},
        time_zone="Asia/Jakarta",
    ),
    MeetingRecorded: MeetingRecorded(
        **GROUP,
        report_id="r-1",
        programme="pkh-p2k2",
        facilitator_id="F-001",
        region_code="18.71.01.1001",
        started_at=AT,
        ended_at=AT + timedelta(hours=2),
        facilitator_present=False,
        led_by="chair",
        module="Kesehatan",
        topic="Gizi anak",
        attendance=({"member_ref": "m-1", "status": "present"}, {"member_ref": "m-2", "status": "absent"}),
        member_count=3,
        device_id="dev-1",
        recorded_at=AT + timedelta(hours=2),
        received_at=AT + timedelta(hours=3),
    ),
    MeetingScheduled: MeetingScheduled(
        **GROUP,
        programme="pkh-p2k2",
        facilitator_id="F-001",
        region_code="18.71.01.1001",
        period="2026-11",
        due_at=datetime(2026, 11, 10, 16, 59, 59, tzinfo=UTC),
        time_zone="Asia/Jakarta",
    ),
    DeviceSynced: DeviceSynced(
        **GROUP, facilitator_id="F-001", device_id="dev-1", synced_through=AT, received_at=AT, pending_count=3
    ),
    PlanAgreed: PlanAgreed(**_PLAN),
    PlanRevised: PlanRevised(**_PLAN, changes=({"activity_id": "A-1", "change": "modified", "fields": ("due_on",)},)),
    ActivityProgressed: ActivityProgressed(
        **GROUP,
        progress_id="pr-1",
        plan_id="P-1",
        activity_id="A-1",
        reported_on=date(2026, 2, 1),
        status="in_progress",
        indicator_value=14,
        recorded_at=AT,
        received_at=AT,
    ),
    EvaluationSubmitted: EvaluationSubmitted(
        **GROUP,
        evaluation_id="ev-1",
        facilitator_id="F-001",
        programme="pkh-p2k2",
        region_code="18.71.01.1001",
        direction="group_rates_facilitator",
        period="2026-11",
        scores={"kehadiran": 2, "komunikasi": 3},
        mean_score=2.5,
        recorded_at=AT,
        received_at=AT,
    ),
    DeviationOpened: DeviationOpened(
        **_COMMON_DEVIATION, occurrence="r-1", detected_at=AT, evidence_at=AT, details={"led_by": "chair"}
    ),
    DeviationEscalated: DeviationEscalated(
        **{**_COMMON_DEVIATION, "severity": "critical"},
        previous_severity="warning",
        escalated_at=AT,
        reason="second_in_a_row",
    ),
    DeviationResolved: DeviationResolved(**_COMMON_DEVIATION, resolved_at=AT, reason="late_report"),
    AlertSent: AlertSent(
        **_COMMON_ALERT, channel="webhook", message_id="msg_1", attempts=1, sent_at=AT, detected_at=AT
    ),
    AlertAcknowledged: AlertAcknowledged(**_COMMON_ALERT, acknowledged_at=AT, ack_seconds=60),
    AlertEscalated: AlertEscalated(
        **{**_COMMON_ALERT, "escalation_level": "provinsi"}, from_supervisor_id="S-1871", escalated_at=AT
    ),
    DeliveryFailed: DeliveryFailed(
        **_COMMON_ALERT,
        channel="webhook",
        message_id="msg_1",
        attempts=8,
        last_error="HTTP 500",
        failed_at=AT,
    ),
}
