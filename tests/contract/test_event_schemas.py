"""Event contracts: committed schema snapshots, compatibility rules and the serializer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field, create_model

from shared import serde, topics
from shared.events import ALL_EVENT_CLASSES, EVENT_CATALOGUE, EventData, MeetingRecorded
from shared.events.base import GroupKeyed
from tests.samples import SAMPLES
from tools import contracts
from tools.topics import load_topic_specs

pytestmark = pytest.mark.contract


def test_every_event_type_matches_its_committed_snapshot() -> None:
    broken, outdated = contracts.check_all()
    assert broken == [], "incompatible change: make a new major version instead"
    assert outdated == [], "run `uv run python -m tools.contracts update` and commit shared/schemas/"


def test_every_contract_type_name_follows_the_naming_rule() -> None:
    for event_type in EVENT_CATALOGUE:
        producer, rest = event_type.split(".", 1)
        assert producer in {"meetings", "monitoring", "notifications", "analytics"}
        assert rest.rsplit(".", 1)[1] == "v1"


def test_every_event_class_has_a_sample_and_every_field_is_documented() -> None:
    assert set(SAMPLES) == set(ALL_EVENT_CLASSES)
    for event_class in ALL_EVENT_CLASSES:
        schema = contracts.schema_of(event_class)
        for name, prop in schema["properties"].items():
            assert prop.get("description") or "$ref" in prop, f"{event_class.__name__}.{name} is undocumented"


@pytest.mark.parametrize("event_class", ALL_EVENT_CLASSES, ids=lambda cls: cls.event_type)
def test_round_trip_through_kafka_bytes(event_class: type[EventData]) -> None:
    event = SAMPLES[event_class]
    envelope = serde.envelope_for(event, source="/pantau/test", time=serde_time())
    raw = serde.encode(envelope)
    decoded = serde.decode(raw, key=event.kafka_key().encode())
    assert decoded.event == event
    assert decoded.envelope.subject == event.kafka_key()
    assert json.loads(raw)["specversion"] == "1.0"
    assert event.kafka_topic in topics.CONTRACT_TOPICS


def serde_time():  # type: ignore[no-untyped-def]
    from tests.samples import AT

    return AT


def test_topics_in_code_match_the_declared_topics() -> None:
    specs = {spec.name: spec for spec in load_topic_specs()}
    assert set(topics.CONTRACT_TOPICS) | set(topics.DEAD_LETTER_TOPICS) == set(specs)
    for name in topics.GROUP_KEYED_TOPICS:
        assert specs[name].partitions == topics.GROUP_KEYED_PARTITIONS, f"{name} is not co-partitioned"
    assert specs[topics.REGISTRY_EVENTS].config.get("cleanup.policy") == "compact"


# --- the compatibility checker itself must catch what it guards against -----------------------


def _variant(**fields: object) -> type[EventData]:
    return create_model("Variant", __base__=GroupKeyed, **fields)  # type: ignore[call-overload, no-any-return]


BASE = _variant(count=(int, Field(description="n")), note=(str | None, Field(default=None, description="x")))


def test_compatibility_allows_a_new_optional_field_and_doc_changes() -> None:
    new = _variant(
        count=(int, Field(description="changed wording")),
        note=(str | None, Field(default=None, description="x")),
        extra=(str | None, Field(default=None, description="added")),
    )
    assert contracts.incompatibilities(BASE.model_json_schema(), new.model_json_schema()) == []


def test_compatibility_refuses_a_removed_field() -> None:
    new = _variant(count=(int, Field(description="n")))
    assert contracts.incompatibilities(BASE.model_json_schema(), new.model_json_schema()) == ["$.note: removed"]


def test_compatibility_refuses_a_retyped_field() -> None:
    new = _variant(count=(str, Field(description="n")), note=(str | None, Field(default=None, description="x")))
    assert contracts.incompatibilities(BASE.model_json_schema(), new.model_json_schema()) == ["$.count: retyped"]


def test_compatibility_refuses_a_newly_required_field() -> None:
    new = _variant(
        count=(int, Field(description="n")),
        note=(str, Field(description="x")),
        added=(int, Field(description="y")),
    )
    problems = contracts.incompatibilities(BASE.model_json_schema(), new.model_json_schema())
    assert "$.note: newly required" in problems
    assert "$.added: newly required" in problems


def test_compatibility_looks_into_nested_models() -> None:
    old = MeetingRecorded.model_json_schema()
    new = json.loads(json.dumps(old))
    new["$defs"]["Attendance"]["properties"]["status"]["enum"] = ["present", "absent"]
    assert contracts.incompatibilities(old, new) == ["$.attendance[].status: retyped"]


def test_update_refuses_incompatible_snapshots(tmp_path: Path) -> None:
    contracts.update(tmp_path)
    path = contracts.snapshot_path(MeetingRecorded.event_type, tmp_path)
    schema = json.loads(path.read_text())
    schema["properties"]["legacy_field"] = {"type": "string"}
    path.write_text(json.dumps(schema))
    broken, _ = contracts.check_all(tmp_path)
    assert broken == ["meetings.meeting_recorded.v1 $.legacy_field: removed"]
    with pytest.raises(SystemExit):
        contracts.update(tmp_path)
