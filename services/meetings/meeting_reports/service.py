"""Recording meeting reports: validation against the registry, idempotency on `report_id`, and the
`meeting_recorded` event staged in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from services.meetings import db, idempotency, outbox
from services.meetings.idempotency import previous_result
from services.meetings.meeting_reports.models import MeetingIn, MeetingResult
from services.meetings.pseudonym import contains_nik_shaped_value
from services.meetings.registry.service import member_ref_of
from services.meetings.scheduling import schedule_meeting_period
from services.meetings.settings import MeetingsSettings
from shared import serde, topics
from shared.events import Attendance, MeetingRecorded
from shared.web import Problem

DEVICE_BOUND = "https://pantau.id/problems/device-bound"


@dataclass(frozen=True)
class Recorded:
    """A report's outcome: `created` the first time, `duplicate` for an identical repeat."""

    outcome: Literal["created", "duplicate"]
    result: MeetingResult


def record_meeting(
    connection: Connection,
    *,
    body: MeetingIn,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None = None,
) -> Recorded:
    """Store a report and stage `meetings.meeting_recorded.v1`, or return the first result again.

    `facilitator_scope` restricts writes to that facilitator's own groups.
    """
    group = connection.execute(select(db.groups).where(db.groups.c.id == body.group_id)).mappings().first()
    if group is None:
        raise Problem.invalid_field("group_id", f"no group {body.group_id}")
    # Authorise before answering a repeat: a replay must not reveal another facilitator's record.
    if facilitator_scope is not None and group["facilitator_id"] != facilitator_scope:
        raise Problem(403, "Forbidden", "a facilitator may report only for their own groups")
    fingerprint = idempotency.fingerprint(body)
    previous = _previous(connection, body.report_id, fingerprint)
    if previous is not None:
        return Recorded("duplicate", previous)
    _check_times(body, settings=settings, now=now)
    if body.device_id is not None:
        # A report names its device: it must be the group's facilitator's own.
        require_own_device(
            connection, device_id=body.device_id, facilitator_id=group["facilitator_id"], field="device_id"
        )
    for field, text in (("module", body.module), ("topic", body.topic)):
        if text and contains_nik_shaped_value(text):
            raise Problem.invalid_field(field, "must not contain a national ID")

    members = set(group["member_refs"])
    attendance: list[Attendance] = []
    seen: set[str] = set()
    for index, entry in enumerate(body.attendance):
        ref = member_ref_of(entry.member_ref, key=settings.pseudonym_key)
        if ref not in members:
            raise Problem.invalid_field(f"attendance[{index}].member_ref", "not a member of the group")
        if ref in seen:
            raise Problem.invalid_field(f"attendance[{index}].member_ref", "listed twice")
        seen.add(ref)
        attendance.append(Attendance(member_ref=ref, status=entry.status))

    event = MeetingRecorded(
        group_id=body.group_id,
        report_id=body.report_id,
        programme=group["programme"],
        facilitator_id=group["facilitator_id"],
        region_code=group["region_code"],
        started_at=body.started_at,
        ended_at=body.ended_at,
        facilitator_present=body.facilitator_present,
        led_by=body.led_by,
        module=body.module,
        topic=body.topic,
        attendance=tuple(attendance),
        member_count=len(members),
        device_id=body.device_id,
        recorded_at=body.recorded_at,
        received_at=now,
    )
    result = MeetingResult(
        report_id=body.report_id,
        group_id=body.group_id,
        received_at=now,
        present_count=event.present_count,
        member_count=event.member_count,
    )
    try:
        with connection.begin_nested():
            connection.execute(
                insert(db.meetings).values(
                    report_id=body.report_id,
                    group_id=body.group_id,
                    body_sha256=fingerprint,
                    record={"event": event.model_dump(mode="json"), "result": result.model_dump(mode="json")},
                    started_at=body.started_at,
                    recorded_at=body.recorded_at,
                    received_at=now,
                )
            )
    except IntegrityError:
        # A concurrent request with the same report_id won the insert: answer as its repeat.
        previous = _previous(connection, body.report_id, fingerprint)
        if previous is None:  # pragma: no cover - the winner's row must be visible now
            raise
        return Recorded("duplicate", previous)
    envelope = serde.envelope_for(
        event, source=settings.source, time=body.ended_at, recorded_at=body.recorded_at, received_at=now
    )
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.MEETINGS_EVENTS)
    # A meeting of a period never scheduled (imported history) makes that period count in compliance.
    schedule_meeting_period(connection, group, body.started_at, settings=settings, now=now)
    return Recorded("created", result)


def require_own_device(connection: Connection, *, device_id: str, facilitator_id: str, field: str) -> None:
    """A device belongs to the facilitator whose sync first moved its watermark: anyone else's use is
    a 409 naming the field (it would move the real owner's watermark, or claim their reports)."""
    bound = connection.execute(
        select(db.device_syncs.c.facilitator_id).where(db.device_syncs.c.device_id == device_id)
    ).scalar_one_or_none()
    if bound is not None and bound != facilitator_id:
        raise Problem(
            409,
            "Device belongs to another facilitator",
            f"{field}: this device is bound to another facilitator; a new phone or a reinstalled app "
            "gets a new device id",
            type_=DEVICE_BOUND,
            errors=[{"field": field, "message": "bound to another facilitator"}],
        )


def _previous(connection: Connection, report_id: str, fingerprint: str) -> MeetingResult | None:
    record = previous_result(
        connection,
        table=db.meetings,
        key_column=db.meetings.c.report_id,
        key=report_id,
        body_sha256=fingerprint,
        field="report_id",
        result_column=db.meetings.c.record,
    )
    return None if record is None else MeetingResult.model_validate(record["result"])


def _check_times(body: MeetingIn, *, settings: MeetingsSettings, now: datetime) -> None:
    if body.ended_at <= body.started_at:
        raise Problem.invalid_field("ended_at", "must be after started_at")
    if body.ended_at - body.started_at > timedelta(hours=12):
        raise Problem.invalid_field("ended_at", "a meeting lasts at most 12 hours")
    horizon = now.astimezone(UTC) + timedelta(seconds=settings.clock_skew_seconds)
    for field in ("started_at", "ended_at", "recorded_at"):
        if getattr(body, field) > horizon:
            raise Problem.invalid_field(field, "lies in the future")
    if body.recorded_at < body.started_at:
        raise Problem.invalid_field("recorded_at", "must not be before started_at")
