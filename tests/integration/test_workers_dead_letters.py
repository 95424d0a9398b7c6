"""The stream workers (monitoring and analytics, real processes on a real broker) refuse bad records
into their dead-letter topics with the reason in headers, skip unknown types, and keep working."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from shared import serde, topics
from shared.envelope import Envelope
from shared.events import MeetingRecorded
from tests.fixtures.reading import end_offsets, read_topic
from tools.stack import REPO_ROOT, ServiceProcess, Stack, free_port

pytestmark = pytest.mark.integration

WORKERS = ("monitoring", "analytics")
# A recent, full, two-hour meeting: only `meeting.facilitator_absent` has a reason to fire
# (no lag in reporting, full attendance, the programme's expected duration).
AT = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def start_service(stack: Stack, name: str) -> ServiceProcess:
    """Start one service of `stack` the way `Stack.start` does (same command, same environment)."""
    stack.workdir.mkdir(parents=True, exist_ok=True)
    port = stack.ports.get(name) or free_port()
    stack.ports[name] = port
    log_path = stack.workdir / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=REPO_ROOT,
            env=stack.env_for(name, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.processes[name] = ServiceProcess(name, port, log_path, process)
    return stack.processes[name]


@pytest.fixture
def workers(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(bootstrap_servers=kafka_bootstrap, workdir=tmp_path / "stack", topic_prefix=kafka_topics)
    try:
        for name in WORKERS:
            start_service(stack, name)
        stack.wait_ready(timeout=120)
        yield stack
    finally:
        stack.stop()


def meeting(group_id: str, report_id: str, *, region_code: str = "18.71.01.1001") -> MeetingRecorded:
    return MeetingRecorded(
        group_id=group_id,
        report_id=report_id,
        programme="pkh-p2k2",
        facilitator_id="PDP-0001",
        region_code=region_code,
        started_at=AT,
        ended_at=AT + timedelta(hours=2),
        facilitator_present=False,
        led_by="chair",
        module="Kesehatan dan Gizi",
        topic="Gizi ibu hamil",
        attendance=tuple({"member_ref": f"kpm-{ref}", "status": "present"} for ref in "abc"),
        member_count=3,
        device_id="hp-1",
        recorded_at=AT + timedelta(hours=2),
        received_at=AT + timedelta(hours=2, minutes=5),
    )


def envelope_of(event: MeetingRecorded, **changes: Any) -> Envelope:
    envelope = serde.envelope_for(event, source="/pantau/meetings", time=datetime.now(UTC))
    return envelope.model_copy(update=changes) if changes else envelope


def send(producer: KafkaProducer, topic: str, *, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
    metadata = producer.send(topic, key=key.encode(), value=value, headers=headers).get(timeout=30)
    producer.flush()
    return metadata


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {name: bytes(value).decode() for name, value in record.headers or ()}


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_metric(url: str, name: str, value: float, *, timeout: float = 30, **labels: str) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics", timeout=5).text
        if metric(text, name, **labels) == value:
            return text
        time.sleep(0.25)
    raise AssertionError(f"{name}{labels} never reached {value}:\n{text}")


def agent_crashes(stack: Stack, name: str) -> list[str]:
    """Lines where Faust reports that an agent crashed (its supervisor may restart it, or give up)."""
    text = stack.processes[name].log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "Crashed reason=" in line]


def test_bad_records_are_dead_lettered_by_both_workers_and_they_keep_working(workers: Stack) -> None:
    prefix = workers.topic_prefix
    bootstrap = workers.bootstrap_servers
    meetings_topic = topics.qualified(topics.MEETINGS_EVENTS, prefix)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    try:
        # 1. not JSON at all
        malformed = send(producer, meetings_topic, key="KLP-BAD-1", value=b"{not json", headers=[])
        # 2. a known type whose data breaks the schema (region code)
        invalid_event = meeting("KLP-BAD-2", "r-bad-2")
        good = envelope_of(invalid_event)
        invalid_envelope = Envelope(**{**good.model_dump(), "data": {**good.data, "region_code": "18.7"}})
        invalid = send(
            producer,
            meetings_topic,
            key="KLP-BAD-2",
            value=serde.encode(invalid_envelope),
            headers=serde.kafka_headers(invalid_envelope),
        )
        # 3. a valid record whose Kafka key is not its subject
        mismatched_envelope = envelope_of(meeting("KLP-BAD-3", "r-bad-3"))
        mismatched = send(
            producer,
            meetings_topic,
            key="KLP-SOMEONE-ELSE",
            value=serde.encode(mismatched_envelope),
            headers=serde.kafka_headers(mismatched_envelope),
        )
        # 4. a type from the future: counted and skipped, never dead-lettered
        unknown_envelope = envelope_of(meeting("KLP-BAD-4", "r-bad-4"), type="meetings.meeting_recorded.v9")
        unknown = send(
            producer,
            meetings_topic,
            key="KLP-BAD-4",
            value=serde.encode(unknown_envelope),
            headers=serde.kafka_headers(unknown_envelope),
        )
        # 5. then a valid chair-led meeting
        valid_event = meeting("KLP-GOOD-1", "r-good-1")
        valid_envelope = envelope_of(valid_event)
        send(
            producer,
            meetings_topic,
            key=valid_event.kafka_key(),
            value=serde.encode(valid_envelope),
            headers=serde.kafka_headers(valid_envelope),
        )
    finally:
        producer.close()

    expected_sources = {
        "malformed_json": (malformed, b"KLP-BAD-1"),
        "invalid_data": (invalid, b"KLP-BAD-2"),
        "key_mismatch": (mismatched, b"KLP-SOMEONE-ELSE"),
    }
    for service, dlq_name in (("monitoring", topics.MONITORING_DLQ), ("analytics", topics.ANALYTICS_DLQ)):
        dlq = read_topic(
            bootstrap, topics.qualified(dlq_name, prefix), until=lambda rs: len(rs) >= 3, timeout=60, settle=1.5
        )
        described = [headers_of(record) for record in dlq]
        assert len(dlq) == 3, (
            f"{service}: {described}; the topic holds {end_offsets(bootstrap, topics.qualified(dlq_name, prefix))}"
            f"\n{workers.tail(service)}"
        )
        by_reason = {headers_of(record)["pantau-dlq-reason"]: record for record in dlq}
        assert set(by_reason) == set(expected_sources), described
        for reason, (source, key) in expected_sources.items():
            record = by_reason[reason]
            headers = headers_of(record)
            assert headers["pantau-dlq-service"] == service
            assert headers["pantau-dlq-source-topic"] == meetings_topic
            assert headers["pantau-dlq-source-partition"] == str(source.partition)
            assert headers["pantau-dlq-source-offset"] == str(source.offset)
            assert record.key == key
        assert by_reason["malformed_json"].value == b"{not json"
        assert orjson.loads(by_reason["invalid_data"].value)["data"]["region_code"] == "18.7"
        # the original headers travel with the dead letter
        assert headers_of(by_reason["key_mismatch"])["ce_type"] == "meetings.meeting_recorded.v1"
        assert all(
            (headers_of(record)["pantau-dlq-source-partition"], headers_of(record)["pantau-dlq-source-offset"])
            != (str(unknown.partition), str(unknown.offset))
            for record in dlq
        )

    # the valid meeting afterwards still opens a deviation: the agents did not crash
    deviations = read_topic(
        bootstrap,
        topics.qualified(topics.MONITORING_DEVIATIONS, prefix),
        until=lambda rs: any(record.key == b"KLP-GOOD-1" for record in rs),
        timeout=60,
        settle=1,
    )
    documents = [orjson.loads(record.value) for record in deviations]
    # only the valid meeting's group has deviations; the refused records made none
    assert {d["subject"] for d in documents} == {"KLP-GOOD-1"}, workers.tail("monitoring")
    absent = [d for d in documents if d["data"]["rule"] == "meeting.facilitator_absent"]
    assert [d["type"] for d in absent] == ["monitoring.deviation_opened.v1"], documents
    assert absent[0]["data"]["details"]["report_id"] == "r-good-1"
    assert absent[0]["data"]["severity"] == "warning"

    monitoring = workers.url("monitoring")
    text = wait_metric(monitoring, "pantau_dead_letters_total", 1, service="monitoring", reason="malformed_json")
    assert metric(text, "pantau_dead_letters_total", service="monitoring", reason="invalid_data") == 1
    assert metric(text, "pantau_dead_letters_total", service="monitoring", reason="key_mismatch") == 1
    assert metric(text, "pantau_events_unknown_type_total", service="monitoring", topic=topics.MEETINGS_EVENTS) == 1
    assert metric(text, "pantau_events_processed_total", service="monitoring", topic=topics.MEETINGS_EVENTS) == 5

    analytics = workers.url("analytics")
    text = wait_metric(analytics, "pantau_dead_letters_total", 1, service="analytics", reason="malformed_json")
    assert metric(text, "pantau_dead_letters_total", service="analytics", reason="invalid_data") == 1
    assert metric(text, "pantau_dead_letters_total", service="analytics", reason="key_mismatch") == 1
    assert metric(text, "pantau_events_unknown_type_total", service="analytics", topic=topics.MEETINGS_EVENTS) == 1
    wait_metric(analytics, "pantau_meetings_recorded_total", 1, programme="pkh-p2k2", province="18")

    for name in WORKERS:
        assert workers.processes[name].process.poll() is None, f"{name} exited\n{workers.tail(name)}"
        # refused records cost one record each, never an agent (a crashed agent's batch is acked and lost)
        assert agent_crashes(workers, name) == [], "\n".join(agent_crashes(workers, name))
        assert httpx.get(f"{workers.url(name)}/readyz", timeout=5).status_code == 200
