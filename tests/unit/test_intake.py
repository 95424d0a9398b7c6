"""Every consumer's way in (`shared.intake.take_in`): counted, decoded, skipped or refused."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from prometheus_client import CollectorRegistry

from shared import serde
from shared.events import DeviceSynced
from shared.intake import IntakeMetrics, Refused, take_in

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def _metrics() -> tuple[IntakeMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return IntakeMetrics(registry, service="monitoring"), registry


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _record() -> tuple[bytes, bytes]:
    event = DeviceSynced(
        group_id="grp-1", facilitator_id="fac-1", device_id="dev-1", synced_through=NOW, received_at=NOW
    )
    envelope = serde.envelope_for(event, source="/test", time=NOW)
    return serde.encode(envelope), event.kafka_key().encode()


def test_a_good_record_is_counted_and_decoded() -> None:
    metrics, registry = _metrics()
    value, key = _record()
    decoded = take_in(value, key, topic="meetings.events", metrics=metrics)
    assert isinstance(decoded, serde.Decoded)
    assert isinstance(decoded.event, DeviceSynced)
    assert _value(registry, "pantau_events_processed_total", service="monitoring", topic="meetings.events") == 1


def test_an_unknown_type_is_counted_and_skipped() -> None:
    metrics, registry = _metrics()
    value, key = _record()
    document = orjson.loads(value)
    document["type"] = "meetings.something_new.v9"
    assert take_in(orjson.dumps(document), key, topic="meetings.events", metrics=metrics) is None
    assert _value(registry, "pantau_events_unknown_type_total", service="monitoring", topic="meetings.events") == 1
    assert _value(registry, "pantau_dead_letters_total", service="monitoring", reason="unknown_type") == 0


def test_a_broken_record_is_refused_with_its_reason() -> None:
    metrics, _ = _metrics()
    value, _key = _record()
    assert take_in(b"{not json", None, topic="t", metrics=metrics) == Refused(
        "malformed_json", take_in_detail(b"{not json")
    )
    refused = take_in(value, b"another-group", topic="t", metrics=metrics)
    assert isinstance(refused, Refused)
    assert refused.reason == "key_mismatch"


def take_in_detail(raw: bytes) -> str:
    try:
        serde.decode(raw)
    except serde.DecodeError as exc:
        return exc.detail
    raise AssertionError("decodes")


def test_dead_lettering_is_counted_per_reason() -> None:
    metrics, registry = _metrics()
    metrics.dead_lettered("invalid_data")
    metrics.dead_lettered("invalid_data")
    assert _value(registry, "pantau_dead_letters_total", service="monitoring", reason="invalid_data") == 2
