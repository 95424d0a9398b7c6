"""Registry upserts: each change is stored and staged as an event in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Table, insert, select, update

from services.meetings import db, outbox
from services.meetings.pseudonym import NIK_PATTERN, contains_nik_shaped_value, pseudonymise_nik
from services.meetings.registry.models import (
    FacilitatorIn,
    GroupIn,
    MemberIn,
    NamedMember,
    NikRef,
    RegionIn,
    SupervisorIn,
)
from services.meetings.scheduling import schedule_group
from services.meetings.settings import MeetingsSettings
from shared import regions as region_facts
from shared import serde, topics
from shared.events import FacilitatorUpserted, GroupUpserted, RegionUpserted, SupervisorUpserted
from shared.events.base import EventData
from shared.web import Problem

Outcome = Literal["created", "updated", "unchanged"]

_SUPERVISOR_REGION_PARTS = {"kabupaten": 2, "provinsi": 1}


def member_ref_of(member: MemberIn, *, key: str) -> str:
    """A member as its pseudonymous ref: NIKs (given as such, or as a bare 16-digit ref) are hashed."""
    if isinstance(member, NikRef):
        return pseudonymise_nik(member.nik, key=key)
    if isinstance(member, NamedMember):
        return pseudonymise_nik(member.nik, key=key) if member.nik is not None else str(member.member_ref)
    if NIK_PATTERN.fullmatch(member):
        return pseudonymise_nik(member, key=key)
    return member


def _require_province(code: str, field: str) -> str:
    try:
        return region_facts.time_zone_of(code)
    except ValueError as exc:
        raise Problem.invalid_field(field, f"unknown province {region_facts.province_of(code)}") from exc


def _upsert(
    connection: Connection,
    table: Table,
    key_column: str,
    key: str,
    values: dict[str, Any],
    *,
    now: datetime,
) -> Outcome:
    existing = connection.execute(select(table).where(table.c[key_column] == key)).mappings().first()
    if existing is None:
        connection.execute(insert(table).values({key_column: key, **values, "updated_at": now}))
        return "created"
    if all(existing[column] == value for column, value in values.items()):
        return "unchanged"
    connection.execute(update(table).where(table.c[key_column] == key).values({**values, "updated_at": now}))
    return "updated"


def _publish(connection: Connection, event: EventData, *, settings: MeetingsSettings, now: datetime) -> None:
    envelope = serde.envelope_for(event, source=settings.source, time=now)
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.REGISTRY_EVENTS)


def upsert_region(
    connection: Connection, *, code: str, body: RegionIn, settings: MeetingsSettings, now: datetime
) -> Outcome:
    """Create or change a region; level and parent follow from the Kemendagri code."""
    level = region_facts.level_of(code)
    if body.level is not None and body.level != level:
        raise Problem.invalid_field("level", f"code {code} is a {level}, not a {body.level}")
    parent = region_facts.parent_of(code)
    if body.parent_code is not None and body.parent_code != parent:
        raise Problem.invalid_field("parent_code", f"the parent of {code} is {parent}")
    time_zone = _require_province(code, "code")
    values = {"name": body.name, "level": level, "parent_code": parent, "time_zone": time_zone}
    outcome = _upsert(connection, db.regions, "code", code, values, now=now)
    if outcome != "unchanged":
        event = RegionUpserted(code=code, name=body.name, level=level, parent_code=parent, time_zone=time_zone)
        _publish(connection, event, settings=settings, now=now)
    return outcome


def upsert_supervisor(
    connection: Connection,
    *,
    supervisor_id: str,
    body: SupervisorIn,
    settings: MeetingsSettings,
    now: datetime,
) -> Outcome:
    """Create or change a supervisor; the region must fit the level."""
    if body.level == "nasional":
        region_code = None
    else:
        if body.region_code is None:
            raise Problem.invalid_field("region_code", f"required for a {body.level} supervisor")
        if len(body.region_code.split(".")) != _SUPERVISOR_REGION_PARTS[body.level]:
            raise Problem.invalid_field("region_code", f"a {body.level} supervisor needs a {body.level} code")
        _require_province(body.region_code, "region_code")
        region_code = body.region_code
    webhook_url = str(body.webhook_url) if body.webhook_url else None
    values = {
        "name": body.name,
        "level": body.level,
        "region_code": region_code or "",
        "email": body.email,
        "webhook_url": webhook_url,
        "language": body.language,
    }
    outcome = _upsert(connection, db.supervisors, "id", supervisor_id, values, now=now)
    if outcome != "unchanged":
        event = SupervisorUpserted(
            supervisor_id=supervisor_id,
            name=body.name,
            level=body.level,
            region_code=region_code,
            email=body.email,
            webhook_url=webhook_url,
            language=body.language,
        )
        _publish(connection, event, settings=settings, now=now)
    return outcome


def upsert_facilitator(
    connection: Connection,
    *,
    facilitator_id: str,
    body: FacilitatorIn,
    settings: MeetingsSettings,
    now: datetime,
) -> Outcome:
    """Create or change a facilitator. Contact details stay in this store; the event omits them."""
    _require_province(body.region_code, "region_code")
    values = body.model_dump()
    outcome = _upsert(connection, db.facilitators, "id", facilitator_id, values, now=now)
    if outcome != "unchanged":
        event = FacilitatorUpserted(
            facilitator_id=facilitator_id,
            name=body.name,
            programme=body.programme,
            region_code=body.region_code,
        )
        _publish(connection, event, settings=settings, now=now)
    return outcome


def upsert_group(
    connection: Connection, *, group_id: str, body: GroupIn, settings: MeetingsSettings, now: datetime
) -> Outcome:
    """Create or change a group; NIKs among its members become pseudonyms here."""
    time_zone = _require_province(body.region_code, "region_code")
    facilitator = connection.execute(
        select(db.facilitators.c.id, db.facilitators.c.programme).where(db.facilitators.c.id == body.facilitator_id)
    ).first()
    if facilitator is None:
        raise Problem.invalid_field("facilitator_id", f"no facilitator {body.facilitator_id}")
    key = settings.pseudonym_key
    member_refs = _unique([member_ref_of(member, key=key) for member in body.members], "members")
    chair = member_ref_of(body.chair_member_ref, key=key) if body.chair_member_ref is not None else None
    if chair is not None and chair not in member_refs:
        raise Problem.invalid_field("chair_member_ref", "the chair must be one of the members")
    schedule = body.schedule.model_dump() if body.schedule else None
    names = _member_names(body.members, member_refs)
    values = {
        "name": body.name,
        "programme": body.programme,
        "facilitator_id": body.facilitator_id,
        "region_code": body.region_code,
        "member_refs": member_refs,
        "chair_member_ref": chair,
        "schedule": schedule,
        "member_names": names,
    }
    outcome = _upsert(connection, db.groups, "id", group_id, values, now=now)
    if outcome != "unchanged":
        event = GroupUpserted(
            group_id=group_id,
            name=body.name,
            programme=body.programme,
            facilitator_id=body.facilitator_id,
            region_code=body.region_code,
            member_refs=tuple(member_refs),
            chair_member_ref=chair,
            schedule=schedule,
            time_zone=time_zone,
        )
        _publish(connection, event, settings=settings, now=now)
        stored = connection.execute(select(db.groups).where(db.groups.c.id == group_id)).mappings().one()
        schedule_group(connection, stored, settings=settings, now=now)
    return outcome


def _member_names(members: Sequence[MemberIn], refs: Sequence[str]) -> dict[str, str] | None:
    """{member_ref: display name} for members given with a name; a NIK-shaped name is refused."""
    names: dict[str, str] = {}
    for index, (member, ref) in enumerate(zip(members, refs, strict=True)):
        if isinstance(member, NamedMember):
            if contains_nik_shaped_value(member.display_name):
                raise Problem.invalid_field(f"members[{index}].display_name", "must not contain a national ID")
            names[ref] = member.display_name
    return names or None


def _unique(refs: Sequence[str], field: str) -> list[str]:
    seen: set[str] = set()
    for index, ref in enumerate(refs):
        if ref in seen:
            raise Problem.invalid_field(f"{field}[{index}]", "listed twice")
        seen.add(ref)
    return list(refs)
