"""Offline batch sync: each report succeeds or fails on its own, and the device's sync watermark
(`synced_through`) is stored and published as `meetings.device_synced.v1` for each of the
facilitator's groups, so monitoring can tell a missed meeting from a phone that has not synced. The
event also carries how many items stay on the phone (`pending_count`), for the supervisors' console."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, insert, select, update

from services.meetings import db, outbox
from services.meetings.edge import nik_fields, refuse_personal_data
from services.meetings.meeting_reports.models import BatchIn, BatchItem, BatchResult, MeetingIn
from services.meetings.meeting_reports.service import (
    Recorded,
    Staged,
    lookup,
    plan_report,
    record_meeting,
    require_own_device,
    store,
)
from services.meetings.settings import MeetingsSettings
from shared import serde, topics
from shared.events import DeviceSynced
from shared.events.base import ID_PATTERN
from shared.privacy import contains_nik_shaped_value
from shared.web import Problem, field_errors


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_batch(
    connection: Connection,
    *,
    body: BatchIn,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None,
) -> BatchResult:
    """Record every valid report and advance the device's watermark."""
    owner = facilitator_scope or body.facilitator_id
    if owner is None:
        raise Problem.invalid_field("facilitator_id", "required when an admin syncs on a facilitator's behalf")
    if facilitator_scope is not None and body.facilitator_id not in (None, facilitator_scope):
        raise Problem.invalid_field("facilitator_id", "must be the token's facilitator")
    if connection.execute(select(db.facilitators.c.id).where(db.facilitators.c.id == owner)).first() is None:
        raise Problem.invalid_field("facilitator_id", f"no facilitator {owner}")
    if body.synced_through > now + timedelta(seconds=settings.clock_skew_seconds):
        raise Problem.invalid_field("synced_through", "lies in the future")
    require_own_device(connection, device_id=body.device_id, facilitator_id=owner, field="device_id")

    results = _record_items(connection, body.reports, settings=settings, now=now, facilitator_scope=facilitator_scope)
    # The earliest time any rejected item speaks of; `_UNKNOWN` when a rejected item has none we can read.
    held_back: datetime | None = None
    for item, raw in zip(results, body.reports, strict=True):
        if item.outcome == "rejected":
            moment = earliest_time_of(raw)
            held_back = moment if held_back is None else min(held_back, moment)

    counts = {
        outcome: sum(1 for item in results if item.outcome == outcome)
        for outcome in ("created", "duplicate", "rejected")
    }
    pending = pending_after(body.pending_count, rejected=counts["rejected"])
    claim = truthful_watermark(body.synced_through, held_back)
    advanced = _store_sync(connection, body=body, claim=claim, pending=pending, owner=owner, settings=settings, now=now)
    return BatchResult(
        device_id=body.device_id,
        synced_through=body.synced_through,
        watermark_through=_stored_watermark(connection, body.device_id),
        watermark_advanced=advanced,
        pending_count=pending,
        counts=counts,
        results=results,
    )


def pending_after(reported: int | None, *, rejected: int) -> int | None:
    """Items still on the device after this sync: those it holds besides this batch (as it reports
    them) and this batch's rejected reports, which stay on the phone to be corrected. `None` when the
    device does not say (an older field app): a count of rejections alone would look like the truth."""
    return None if reported is None else reported + rejected


# A rejected item whose time cannot be read could be from any moment: nothing can be claimed past it.
_UNKNOWN = datetime.min.replace(tzinfo=UTC)


def earliest_time_of(raw: Any) -> datetime:
    """The earliest of a raw item's `started_at` and `recorded_at` that parse as aware instants;
    `_UNKNOWN` when neither does (a `null` item, a report without readable times)."""
    times: list[datetime] = []
    if isinstance(raw, dict):
        for field in ("started_at", "recorded_at"):
            value = raw.get(field)
            if not isinstance(value, str):
                continue
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                if moment.tzinfo is not None:
                    times.append(moment.astimezone(UTC))
            except (ValueError, OverflowError):  # unreadable, or year 1 / 9999 beyond UTC's calendar
                continue
    return min(times) if times else _UNKNOWN


def truthful_watermark(synced_through: datetime, held_back: datetime | None) -> datetime | None:
    """How far a device's sync may move its watermark: "everything recorded up to here is on the server"
    is true only before the earliest rejected item (which is still on the phone, waiting to be fixed).
    `None` when nothing can be claimed."""
    if held_back is None:
        return synced_through
    if held_back == _UNKNOWN:
        return None
    return min(synced_through, held_back - timedelta(microseconds=1))


def _record_items(
    connection: Connection,
    raws: list[Any],
    *,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None,
) -> list[BatchItem]:
    """Every item's outcome, in order. Items are read and checked on their own (a malformed one is its
    `rejected` result), then the valid ones go to the store together: one query per table for what it
    knows of them (groups, earlier reports with the same ids, devices), one multi-row insert per table.
    A batch that names one `report_id` twice is recorded item by item, each in its own savepoint,
    so the second sees what the first stored, exactly as two requests would."""
    results: list[BatchItem | None] = []
    reports: list[tuple[int, MeetingIn]] = []
    for index, raw in enumerate(raws):
        parsed = _parse_item(index, raw)
        if isinstance(parsed, BatchItem):
            results.append(parsed)
        else:
            results.append(None)
            reports.append((index, parsed))
    ids = [report.report_id for _, report in reports]
    if len(set(ids)) != len(ids):
        for index, report in reports:
            results[index] = _record_one(
                connection, index, report, settings=settings, now=now, facilitator_scope=facilitator_scope
            )
        return [item for item in results if item is not None]
    known = lookup(connection, reports=[report for _, report in reports])
    staged: list[tuple[int, Staged]] = []
    for index, report in reports:
        try:
            planned = plan_report(
                body=report, known=known, settings=settings, now=now, facilitator_scope=facilitator_scope
            )
        except Problem as problem:
            results[index] = _rejected(index, report.report_id, problem)
            continue
        if isinstance(planned, Recorded):
            results[index] = _answered(index, planned)
        else:
            staged.append((index, planned))
    outcomes = store(connection, staged=[item for _, item in staged], settings=settings, now=now)
    for (index, item), outcome in zip(staged, outcomes, strict=True):
        if isinstance(outcome, Problem):
            results[index] = _rejected(index, item.body.report_id, outcome)
        else:
            results[index] = _answered(index, outcome)
    return [item for item in results if item is not None]


def _parse_item(index: int, raw: Any) -> MeetingIn | BatchItem:
    """The item as a report, or its `rejected` result with a problem naming the field."""
    report_id = raw.get("report_id") if isinstance(raw, dict) and isinstance(raw.get("report_id"), str) else None
    if not isinstance(raw, dict):
        problem = Problem.invalid_field(f"reports[{index}]", "must be a meeting report (a JSON object)")
        return BatchItem(index=index, report_id=None, outcome="rejected", problem=problem.body())
    personal = list(nik_fields(raw, f"reports[{index}]"))
    if personal:
        document = refuse_personal_data(personal).body()
        return BatchItem(index=index, report_id=_safe_id(report_id), outcome="rejected", problem=document)
    try:
        return MeetingIn.model_validate(raw)
    except ValidationError as exc:
        # Never echo the input: messages only, so a mistyped national ID stays out of answers and logs.
        errors = field_errors(exc.errors(include_input=False, include_url=False), prefix=f"reports[{index}].")
        problem = Problem(
            422,
            "Invalid report",
            errors[0]["field"] + ": " + errors[0]["message"],
            type_="https://pantau.id/problems/invalid-field",
            errors=errors,
        )
        return BatchItem(index=index, report_id=_safe_id(report_id), outcome="rejected", problem=problem.body())


def _record_one(
    connection: Connection,
    index: int,
    report: MeetingIn,
    *,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None,
) -> BatchItem:
    try:
        with connection.begin_nested():
            recorded = record_meeting(
                connection, body=report, settings=settings, now=now, facilitator_scope=facilitator_scope
            )
    except Problem as problem:
        return _rejected(index, report.report_id, problem)
    return _answered(index, recorded)


def _answered(index: int, recorded: Recorded) -> BatchItem:
    return BatchItem(index=index, report_id=recorded.result.report_id, outcome=recorded.outcome, result=recorded.result)


def _rejected(index: int, report_id: str, problem: Problem) -> BatchItem:
    """The item's problem with every field named under `reports[index].`."""
    prefixed = [{**error, "field": f"reports[{index}].{error['field']}"} for error in problem.errors]
    document = Problem(problem.status, problem.title, problem.detail, type_=problem.type, errors=prefixed).body()
    return BatchItem(index=index, report_id=report_id, outcome="rejected", problem=document)


def _safe_id(report_id: str | None) -> str | None:
    """A rejected item's report id is echoed only when it is a well-formed id (never free input)."""
    if report_id is None or not re.fullmatch(ID_PATTERN, report_id) or contains_nik_shaped_value(report_id):
        return None
    return report_id


def _stored_watermark(connection: Connection, device_id: str) -> datetime | None:
    row = connection.execute(
        select(db.device_syncs.c.synced_through).where(db.device_syncs.c.device_id == device_id)
    ).first()
    return None if row is None else _as_utc(row.synced_through)


def _store_sync(
    connection: Connection,
    *,
    body: BatchIn,
    claim: datetime | None,
    pending: int | None,
    owner: str,
    settings: MeetingsSettings,
    now: datetime,
) -> bool:
    """Move the device's watermark forward (never back), keep its pending count, and tell every group
    of its facilitator. A sync that cannot move the watermark but changes a count the device reported
    is still told (with the watermark as it stands), so the supervisors' count never lags behind the
    phone's. True if the watermark moved."""
    table = db.device_syncs
    current = connection.execute(
        select(table.c.synced_through, table.c.pending_count).where(table.c.device_id == body.device_id)
    ).first()
    if claim is not None and (current is None or _as_utc(current.synced_through) < claim):
        values = {"facilitator_id": owner, "synced_through": claim, "received_at": now, "pending_count": pending}
        if current is None:
            connection.execute(insert(table).values(device_id=body.device_id, **values))
        else:
            connection.execute(update(table).where(table.c.device_id == body.device_id).values(**values))
        _tell_groups(
            connection, body=body, synced_through=claim, pending=pending, owner=owner, settings=settings, now=now
        )
        return True
    if current is None or pending is None or current.pending_count == pending:
        return False
    connection.execute(
        update(table).where(table.c.device_id == body.device_id).values(pending_count=pending, received_at=now)
    )
    synced_through = _as_utc(current.synced_through)
    _tell_groups(
        connection, body=body, synced_through=synced_through, pending=pending, owner=owner, settings=settings, now=now
    )
    return False


def _tell_groups(
    connection: Connection,
    *,
    body: BatchIn,
    synced_through: datetime,
    pending: int | None,
    owner: str,
    settings: MeetingsSettings,
    now: datetime,
) -> None:
    """`meetings.device_synced.v1` for every group of the device's facilitator, through the outbox."""
    group_ids = connection.execute(select(db.groups.c.id).where(db.groups.c.facilitator_id == owner)).scalars().all()
    envelopes = [
        serde.envelope_for(
            DeviceSynced(
                group_id=group_id,
                facilitator_id=owner,
                device_id=body.device_id,
                synced_through=synced_through,
                received_at=now,
                pending_count=pending,
            ),
            source=settings.source,
            time=now,
            received_at=now,
        )
        for group_id in sorted(group_ids)
    ]
    outbox.append(connection, envelopes, kafka=settings.kafka, topic=topics.MEETINGS_EVENTS)
