"""Recording meeting reports: validation against the registry, idempotency on `report_id`, and the
`meeting_recorded` event staged in the same transaction.

The write path is built for many reports (profile: docs/benchmarks.md, *Ingestion*): reading what
the store knows about a set of reports (`lookup`: their groups, earlier reports with the same ids,
the devices' owners) is one query per table however many reports come, deciding each report
(`plan_report`) touches no database at all, and storing them (`store`) is one multi-row statement per
table: the meetings, the periods they make due, the outbox. A single report goes the same way with
a set of one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, select

from services.meetings import db, idempotency, outbox
from services.meetings.meeting_reports.models import MeetingIn, MeetingResult
from services.meetings.pseudonym import contains_nik_shaped_value
from services.meetings.registry.service import member_ref_of
from services.meetings.scheduling import due_at, period_of, scheduled_event
from services.meetings.settings import MeetingsSettings
from shared import regions, serde, topics
from shared.envelope import Envelope
from shared.events import Attendance, MeetingRecorded
from shared.web import Problem

DEVICE_BOUND = "https://pantau.id/problems/device-bound"


@dataclass(frozen=True)
class Recorded:
    """A report's outcome: `created` the first time, `duplicate` for an identical repeat."""

    outcome: Literal["created", "duplicate"]
    result: MeetingResult


@dataclass
class Known:
    """What the store holds about a set of reports, read in one query per table: their groups, the
    earlier reports with the same ids (`report_id` → (body_sha256, record)), the devices' owners."""

    groups: dict[str, Mapping[Any, Any]] = field(default_factory=dict)
    previous: dict[str, tuple[str, Any]] = field(default_factory=dict)
    device_owners: dict[str, str] = field(default_factory=dict)


@dataclass
class Staged:
    """A new report ready to store: its row, its event, its answer."""

    body: MeetingIn
    group: Mapping[Any, Any]
    fingerprint: str
    row: dict[str, Any]
    envelope: Envelope
    result: MeetingResult


def lookup(connection: Connection, *, reports: Sequence[MeetingIn]) -> Known:
    """Everything `plan_report` needs for these reports, in at most three queries."""
    known = Known()
    group_ids = sorted({report.group_id for report in reports})
    report_ids = sorted({report.report_id for report in reports})
    device_ids = sorted({report.device_id for report in reports if report.device_id is not None})
    if group_ids:
        for group in connection.execute(select(db.groups).where(db.groups.c.id.in_(group_ids))).mappings():
            known.groups[group["id"]] = group
    if report_ids:
        rows = connection.execute(
            select(db.meetings.c.report_id, db.meetings.c.body_sha256, db.meetings.c.record).where(
                db.meetings.c.report_id.in_(report_ids)
            )
        )
        known.previous = {row.report_id: (row.body_sha256, row.record) for row in rows}
    if device_ids:
        rows = connection.execute(
            select(db.device_syncs.c.device_id, db.device_syncs.c.facilitator_id).where(
                db.device_syncs.c.device_id.in_(device_ids)
            )
        )
        known.device_owners = {row.device_id: row.facilitator_id for row in rows}
    return known


# Built once: SQLAlchemy then reuses the statement's cache key and compiled form on every request
# (building it anew per request cost more CPU than running it).
_LOOKUP_ONE = select(
    db.groups,
    select(db.meetings.c.body_sha256)
    .where(db.meetings.c.report_id == bindparam("report_id"))
    .scalar_subquery()
    .label("previous_sha256"),
    select(db.meetings.c.record)
    .where(db.meetings.c.report_id == bindparam("report_id"))
    .scalar_subquery()
    .label("previous_record"),
    select(db.device_syncs.c.facilitator_id)
    .where(db.device_syncs.c.device_id == bindparam("device_id"))
    .scalar_subquery()
    .label("device_owner"),
).where(db.groups.c.id == bindparam("group_id"))


def lookup_one(connection: Connection, *, report: MeetingIn) -> Known:
    """`lookup` for one report in a single round trip: the group's row with the earlier report and
    the device's owner as scalar subqueries."""
    parameters = {"report_id": report.report_id, "device_id": report.device_id or "", "group_id": report.group_id}
    row = connection.execute(_LOOKUP_ONE, parameters).mappings().first()
    known = Known()
    if row is None:
        return known
    known.groups[report.group_id] = {column.name: row[column.name] for column in db.groups.columns}
    if row["previous_sha256"] is not None:
        known.previous[report.report_id] = (row["previous_sha256"], row["previous_record"])
    if row["device_owner"] is not None and report.device_id is not None:
        known.device_owners[report.device_id] = row["device_owner"]
    return known


def plan_report(
    *,
    body: MeetingIn,
    known: Known,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None,
) -> Recorded | Staged:
    """Decide one report without touching the store: a `Recorded` duplicate, a `Staged` new report,
    or a `Problem` raised naming the field. The checks run in the order a client learns most from."""
    group = known.groups.get(body.group_id)
    if group is None:
        raise Problem.invalid_field("group_id", f"no group {body.group_id}")
    # Authorise before answering a repeat: a replay must not reveal another facilitator's record.
    if facilitator_scope is not None and group["facilitator_id"] != facilitator_scope:
        raise Problem(403, "Forbidden", "a facilitator may report only for their own groups")
    fingerprint = idempotency.fingerprint(body)
    previous = known.previous.get(body.report_id)
    if previous is not None:
        return Recorded("duplicate", _previous_result(body.report_id, fingerprint, *previous))
    _check_times(body, settings=settings, now=now)
    if body.device_id is not None:
        # A report names its device: it must be the group's facilitator's own.
        _require_owner(known.device_owners.get(body.device_id), group["facilitator_id"], field="device_id")
    for name, text in (("module", body.module), ("topic", body.topic)):
        if text and contains_nik_shaped_value(text):
            raise Problem.invalid_field(name, "must not contain a national ID")

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
    envelope = serde.envelope_for(
        event, source=settings.source, time=body.ended_at, recorded_at=body.recorded_at, received_at=now
    )
    row = {
        "report_id": body.report_id,
        "group_id": body.group_id,
        "body_sha256": fingerprint,
        # The envelope already holds the event as JSON: stored as is, not dumped a second time.
        "record": {"event": envelope.data, "result": result.model_dump(mode="json")},
        "started_at": body.started_at,
        "recorded_at": body.recorded_at,
        "received_at": now,
    }
    return Staged(body=body, group=group, fingerprint=fingerprint, row=row, envelope=envelope, result=result)


def store(
    connection: Connection, *, staged: Sequence[Staged], settings: MeetingsSettings, now: datetime
) -> list[Recorded | Problem]:
    """Store new reports in the caller's transaction, one multi-row statement per table, and stage
    their events: each `meeting_recorded`, and right after it the `meeting_scheduled` of a period it
    is the first meeting of (history that arrives late is counted in its own period), so a consumer
    reading the group's partition in order sees the meeting first. One outcome per report, in order:
    a report whose id a concurrent request stored first is answered as that request's repeat (or a
    conflict, if the bodies differ)."""
    if not staged:
        return []
    # ON CONFLICT DO NOTHING, not a savepoint per report: a concurrent duplicate waits for the other
    # transaction and is then simply not returned (one statement, no rollback to recover from).
    # In key order, so two transactions storing overlapping reports lock them in the same order.
    meeting_rows = sorted((item.row for item in staged), key=lambda row: str(row["report_id"]))
    inserted = {key for (key,) in db.insert_new(connection, db.meetings, meeting_rows, keys=["report_id"])}
    outcomes: list[Recorded | Problem] = []
    lost = [item.body.report_id for item in staged if item.body.report_id not in inserted]
    winners: dict[str, tuple[str, Any]] = {}
    if lost:
        rows = connection.execute(
            select(db.meetings.c.report_id, db.meetings.c.body_sha256, db.meetings.c.record).where(
                db.meetings.c.report_id.in_(lost)
            )
        )
        winners = {row.report_id: (row.body_sha256, row.record) for row in rows}
    periods = _new_periods(connection, [item for item in staged if item.body.report_id in inserted], now=now)
    envelopes: list[Envelope] = []
    for item in staged:
        if item.body.report_id not in inserted:
            try:
                winner = winners[item.body.report_id]
                outcomes.append(Recorded("duplicate", _previous_result(item.body.report_id, item.fingerprint, *winner)))
            except Problem as problem:
                outcomes.append(problem)
            continue
        envelopes.append(item.envelope)
        scheduled = periods.pop(item.body.report_id, None)
        if scheduled is not None:
            envelopes.append(serde.envelope_for(scheduled, source=settings.source, time=now))
        outcomes.append(Recorded("created", item.result))
    outbox.append(connection, envelopes, kafka=settings.kafka, topic=topics.MEETINGS_EVENTS)
    return outcomes


def _new_periods(connection: Connection, created: Sequence[Staged], *, now: datetime) -> dict[str, Any]:
    """Schedule the periods the created reports' meetings fall in, where not scheduled yet, in one
    `INSERT … ON CONFLICT DO NOTHING RETURNING`: only the periods this transaction inserted come
    back, so two processes racing for one period stage one `meeting_scheduled`, never two. Returns
    the event keyed by the report that is the first of its period."""
    first_of: dict[tuple[str, str], tuple[str, Any]] = {}
    for item in created:
        schedule = item.group["schedule"]
        if not schedule:
            continue
        time_zone = regions.time_zone_of(item.group["region_code"])
        period = period_of(item.body.started_at.astimezone(ZoneInfo(time_zone)).date(), schedule["cadence"])
        key = (item.group["id"], period)
        if key not in first_of:
            due = due_at(
                period, cadence=schedule["cadence"], day_of_month=schedule["day_of_month"], time_zone=time_zone
            )
            first_of[key] = (item.body.report_id, scheduled_event(item.group, period, due=due, time_zone=time_zone))
    if not first_of:
        return {}
    # In key order: two batches racing for overlapping periods lock them in the same order (no deadlock).
    rows = [
        {"group_id": group_id, "period": period, "due_at": first_of[(group_id, period)][1].due_at}
        for group_id, period in sorted(first_of)
    ]
    inserted = db.insert_new(connection, db.scheduled_meetings, rows, keys=["group_id", "period"])
    return {first_of[(group_id, period)][0]: first_of[(group_id, period)][1] for group_id, period in inserted}


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
    known = lookup_one(connection, report=body)
    planned = plan_report(body=body, known=known, settings=settings, now=now, facilitator_scope=facilitator_scope)
    if isinstance(planned, Recorded):
        return planned
    (outcome,) = store(connection, staged=[planned], settings=settings, now=now)
    if isinstance(outcome, Problem):
        raise outcome
    return outcome


def require_own_device(connection: Connection, *, device_id: str, facilitator_id: str, field: str) -> None:
    """A device belongs to the facilitator whose sync first moved its watermark: anyone else's use is
    a 409 naming the field (it would move the real owner's watermark, or claim their reports)."""
    bound = connection.execute(
        select(db.device_syncs.c.facilitator_id).where(db.device_syncs.c.device_id == device_id)
    ).scalar_one_or_none()
    _require_owner(bound, facilitator_id, field=field)


def _require_owner(bound: str | None, facilitator_id: str, *, field: str) -> None:
    if bound is not None and bound != facilitator_id:
        raise Problem(
            409,
            "Device belongs to another facilitator",
            f"{field}: this device is bound to another facilitator; a new phone or a reinstalled app "
            "gets a new device id",
            type_=DEVICE_BOUND,
            errors=[{"field": field, "message": "bound to another facilitator"}],
        )


def _previous_result(report_id: str, fingerprint: str, body_sha256: str, record: Any) -> MeetingResult:
    """The first result of an identical repeat; 422 naming `report_id` when the body differs."""
    idempotency.require_same_body(key=report_id, field="report_id", stored=body_sha256, given=fingerprint)
    return MeetingResult.model_validate(record["result"])


def _check_times(body: MeetingIn, *, settings: MeetingsSettings, now: datetime) -> None:
    if body.ended_at <= body.started_at:
        raise Problem.invalid_field("ended_at", "must be after started_at")
    if body.ended_at - body.started_at > timedelta(hours=12):
        raise Problem.invalid_field("ended_at", "a meeting lasts at most 12 hours")
    horizon = now.astimezone(UTC) + timedelta(seconds=settings.clock_skew_seconds)
    for name in ("started_at", "ended_at", "recorded_at"):
        if getattr(body, name) > horizon:
            raise Problem.invalid_field(name, "lies in the future")
    if body.recorded_at < body.started_at:
        raise Problem.invalid_field("recorded_at", "must not be before started_at")
