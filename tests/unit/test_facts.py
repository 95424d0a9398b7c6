"""`shared.facts` reads every record as the contract (`shared.serde`, pydantic) does: the same
values, the same refusals with the same reasons, and the fast way for what producers really send."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, get_args

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from shared import facts, serde
from shared.events import (
    EVENT_CATALOGUE,
    Attendance,
    DeviceSynced,
    Indicator,
    MeetingRecorded,
    PlannedActivity,
    PlanRevised,
)
from shared.events.plans import ActivityChange
from tools.generator.behaviour import Rates, simulate
from tools.generator.events import history_publications
from tools.generator.programme import Programme, Shape

pytestmark = pytest.mark.unit

SHAPE = Shape(scale=0.003, seed=7, start=date(2026, 1, 1), months=2)
SOURCES = set(facts.FACT_TYPES)


def generated_records() -> list[tuple[bytes, bytes]]:
    """Key and value of every group fact a sample of the generated programme publishes."""
    records = []
    for facilitator in itertools.islice(Programme(SHAPE).facilitators(), 0, 40, 5):
        for publication in history_publications(simulate(facilitator, SHAPE, Rates())):
            if publication.event.event_type in SOURCES:
                key, value, _headers = publication.encode()
                records.append((key.encode(), value))
    return records


RECORDS = generated_records()


def contract_reading(value: bytes | None, key: bytes | None) -> facts.Decoded | str:
    """What `serde.decode` makes of a record, as a `facts.Decoded`, or its refusal's reason."""
    try:
        decoded = serde.decode(value, key=key)
    except serde.DecodeError as exc:
        return exc.reason
    envelope = decoded.envelope
    return facts.Decoded(
        envelope.subject, envelope.pantaureceivedat or envelope.time, facts.fact_of(decoded.event), envelope.type
    )


def fast_reading(value: bytes | None, key: bytes | None) -> facts.Decoded | str:
    try:
        return facts.decode(value, key=key)
    except serde.DecodeError as exc:
        return exc.reason


def test_the_sample_holds_every_fact_type() -> None:
    types = {orjson.loads(value)["type"] for _key, value in RECORDS}
    assert types >= SOURCES - {PlanRevised.event_type}  # the generator never revises a plan


def test_every_generated_record_is_read_as_the_contract_reads_it() -> None:
    for key, value in RECORDS:
        assert fast_reading(value, key) == contract_reading(value, key)


def test_what_producers_send_takes_the_fast_way(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("took the contract's decoder")

    monkeypatch.setattr(facts.serde, "decode", refuse)
    for key, value in RECORDS:
        decoded = facts.decode(value, key=key)
        assert decoded.event is not None
        assert decoded.received_at.tzinfo is UTC


def test_a_contract_event_becomes_the_same_fact_it_decodes_to() -> None:
    for key, value in RECORDS[:200]:
        event = serde.decode(value, key=key).event
        assert facts.fact_of(event) == facts.decode(value, key=key).event


def mutated(value: bytes, path: tuple[str | int, ...], new: Any) -> bytes:
    document = orjson.loads(value)
    target = document
    for name in path[:-1]:
        target = target[name]
    if new is _DELETE:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = new
    return orjson.dumps(document)


_DELETE = object()
SYNC_KEY, SYNC = next((key, value) for key, value in RECORDS if b"device_synced" in value)
MEETING_KEY, MEETING = next((key, value) for key, value in RECORDS if b"meeting_recorded" in value)


@pytest.mark.parametrize(
    ("path", "new"),
    [
        (("data", "group_id"), "g-1\n"),  # `$` would let the newline through: the contract's regex does not
        (("data", "facilitator_id"), ""),
        (("data", "device_id"), "x" * 121),
        (("data", "synced_through"), "2026-01-05T10:00:00"),  # naive: refused, never guessed
        (("data", "synced_through"), "2026-01-05T17:00:00+07:00"),  # read as UTC
        (("data", "synced_through"), "2026-01-05T10:00:00.123456Z"),
        (("data", "synced_through"), 1767607200),  # lax form the contract may coerce
        (("data", "pending_count"), -1),
        (("data", "pending_count"), "3"),
        (("data", "received_at"), _DELETE),
        (("data", "extra_field"), "ignored by both"),
        (("time",), "2026-01-05T17:00:00+07:00"),
        (("time",), "not a time"),
        (("pantaureceivedat",), "2026-01-05T10:00:00"),
        (("pantaureceivedat",), _DELETE),
        (("specversion",), "2.0"),
        (("type",), "Meetings.device_synced.v1"),
        (("type",), "meetings.something_new.v1"),  # unknown: counted and skipped by callers
        (("type",), "meetings.group_upserted.v1"),
        (("subject",), ""),
        (("id",), "not-a-uuid"),
        (("data",), [1, 2]),
    ],
)
def test_a_changed_sync_is_read_or_refused_as_the_contract_does(path: tuple[str, ...], new: Any) -> None:
    value = mutated(SYNC, path, new)
    assert fast_reading(value, SYNC_KEY) == contract_reading(value, SYNC_KEY)


@pytest.mark.parametrize(
    ("path", "new"),
    [
        (("data", "member_count"), "20"),
        (("data", "member_count"), 20.0),
        (("data", "facilitator_present"), "true"),
        (("data", "facilitator_present"), 1),
        (("data", "led_by"), "mayor"),
        (("data", "attendance"), [{"member_ref": "m-1", "status": "late"}]),
        (("data", "attendance"), [{"member_ref": "m 1", "status": "present"}]),
        (("data", "module"), "m" * 201),
        (("data", "region_code"), "18.71.01.1001\n"),
        (("data", "started_at"), "2026-01-05T09:00:00-05:00"),
    ],
)
def test_a_changed_meeting_is_read_or_refused_as_the_contract_does(path: tuple[str, ...], new: Any) -> None:
    value = mutated(MEETING, path, new)
    assert fast_reading(value, MEETING_KEY) == contract_reading(value, MEETING_KEY)


def patterned_fields(
    model: type[BaseModel], document: dict[str, Any], prefix: tuple[str | int, ...] = ("data",)
) -> list[tuple[str | int, ...]]:
    """Where the contract checks a value against a pattern in this event's data (a nested model's
    through its first item)."""
    paths: list[tuple[str | int, ...]] = []
    for field, info in model.model_fields.items():
        if any(getattr(meta, "pattern", None) for meta in info.metadata):
            paths.append((*prefix, field))
        nested = [arg for arg in get_args(info.annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if nested and document.get(field):
            paths += patterned_fields(nested[0], document[field][0], (*prefix, field, 0))
    return paths


def patterned_paths() -> list[tuple[bytes, bytes, tuple[str | int, ...]]]:
    """Every patterned value in one sample record of each fact type. Taken from the contract's
    models, so a pattern the monitoring's mirror forgot is among them."""
    paths = []
    for name in sorted(SOURCES - {PlanRevised.event_type}):
        key, value = next((key, value) for key, value in RECORDS if orjson.loads(value)["type"] == name)
        document = orjson.loads(value)["data"]
        paths += [(key, value, path) for path in patterned_fields(EVENT_CATALOGUE[name], document)]
    return paths


@pytest.mark.parametrize("bad", ["x y", "g-1\n", "", "é"])
def test_every_patterned_value_is_refused_as_the_contract_does(bad: str) -> None:
    paths = patterned_paths()
    assert len(paths) >= 20  # ids, programmes, regions, periods, member refs, activity ids
    for key, value, path in paths:
        changed = mutated(value, path, bad)
        assert fast_reading(changed, key) == contract_reading(changed, key) == "invalid_data", path


def test_a_pattern_remembers_a_bounded_number_of_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts, "MATCHED_KEPT", 3)
    pattern = facts.Pattern("^[a-z]+$")
    assert all(pattern.matches(value) for value in ["a", "b", "c", "d", "a"])
    assert not pattern.matches("a\n")
    assert not pattern.matches("A")
    assert len(pattern._matched) <= 3
    once = facts.Pattern("^[a-z]+$", remember=False)
    assert once.matches("a")
    assert not once._matched


def test_refusals_keep_the_contracts_reasons() -> None:
    assert fast_reading(None, None) == "malformed_json"
    assert fast_reading(b"{not json", None) == "malformed_json"
    assert fast_reading(SYNC, b"another-group") == "key_mismatch"
    assert fast_reading(mutated(SYNC, ("type",), "meetings.something_new.v1"), None) == "unknown_type"
    assert fast_reading(mutated(SYNC, ("data", "device_id"), ""), None) == "invalid_data"
    assert fast_reading(mutated(SYNC, ("subject",), ""), None) == "invalid_envelope"


def test_a_contract_event_the_monitoring_does_not_fold_has_no_fact() -> None:
    value = mutated(SYNC, ("type",), "meetings.group_upserted.v1")
    reading = contract_reading(value, None)
    assert isinstance(reading, str) or reading.event is None


def test_a_revised_plan_needs_its_changes() -> None:
    plan = next(value for _key, value in RECORDS if b"plan_agreed" in value)
    revised = mutated(plan, ("type",), PlanRevised.event_type)
    assert fast_reading(revised, None) == contract_reading(revised, None) == "invalid_data"
    change = ActivityChange(activity_id="a-1", change="modified", fields=("due_on",)).model_dump(mode="json")
    with_changes = mutated(revised, ("data", "changes"), [change])
    reading = fast_reading(with_changes, None)
    assert reading == contract_reading(with_changes, None)
    assert isinstance(reading, facts.Decoded)
    assert isinstance(reading.event, facts.PlanRevised)


def test_meeting_properties_match_the_contracts() -> None:
    event = serde.decode(MEETING).event
    fact = facts.decode(MEETING).event
    assert isinstance(event, MeetingRecorded)
    assert isinstance(fact, facts.MeetingRecorded)
    assert (fact.duration_seconds, fact.present_count) == (event.duration_seconds, event.present_count)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7))]),
)
texts = st.text(alphabet=st.sampled_from("aZ09._:- \n\t/é"), max_size=130)


@settings(max_examples=300, deadline=None)
@given(
    device_id=texts,
    group_id=texts,
    synced_through=moments,
    pending=st.one_of(st.none(), st.integers(min_value=-3, max_value=3), st.just("2")),
)
def test_any_sync_is_read_or_refused_as_the_contract_does(
    device_id: str, group_id: str, synced_through: datetime, pending: int | str | None
) -> None:
    value = mutated(SYNC, ("data", "device_id"), device_id)
    value = mutated(value, ("data", "group_id"), group_id)
    value = mutated(value, ("data", "synced_through"), synced_through.isoformat())
    value = mutated(value, ("data", "pending_count"), pending)
    assert fast_reading(value, None) == contract_reading(value, None)


def test_a_fact_of_an_event_built_in_code() -> None:
    event = DeviceSynced(
        group_id="g-1",
        facilitator_id="f-1",
        device_id="d-1",
        synced_through=datetime(2026, 1, 5, 17, tzinfo=timezone(timedelta(hours=7))),
        received_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
    )
    fact = facts.fact_of(event)
    assert isinstance(fact, facts.DeviceSynced)
    assert fact.synced_through == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert fact.synced_through.tzinfo is UTC


def test_every_fact_has_every_field_of_its_contract_event() -> None:
    # A field the contract gains must be added here too, or the rules would never see it.
    pairs: list[tuple[type[Any], type[Any]]] = [(EVENT_CATALOGUE[name], cls) for name, cls in facts.FACT_TYPES.items()]
    pairs += [
        (Attendance, facts.Attendance),
        (Indicator, facts.Indicator),
        (PlannedActivity, facts.PlannedActivity),
        (ActivityChange, facts.ActivityChange),
    ]
    for model, struct in pairs:
        assert set(model.model_fields) == set(struct.__struct_fields__), model.__name__
        assert {name for name, info in model.model_fields.items() if info.is_required()} == {
            field.name for field in msgspec.structs.fields(struct) if field.required
        }, model.__name__
