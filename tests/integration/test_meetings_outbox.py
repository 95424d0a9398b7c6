"""The meetings outbox on a real Kafka broker: what the API accepts reaches `meetings.events` and
`registry.events` as CloudEvents, in order per group, and survives the broker being down."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared import serde
from shared.auth import mint_token
from shared.envelope import rfc3339
from shared.events import MeetingRecorded
from shared.settings import AuthSettings, KafkaSettings
from tests.fixtures.kafka import skip_or_fail
from tools.kafka_broker import KafkaBrokerError, LocalKafkaBroker, ensure_jars
from tools.topics import create_topics

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin-1', role='admin', scope='*')}"}
VILLAGE = "18.71.01.1001"
FACILITATOR = "PDP-0001"
MEMBERS = ["m-01", "m-02", "m-03"]
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
MEETING_TYPE = "meetings.meeting_recorded.v1"
CLOUDEVENT_FIELDS = ("specversion", "id", "source", "type", "time", "subject", "pantaurecordedat", "pantaureceivedat")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def outbox_lag(client: TestClient) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        if family.name == "pantau_outbox_lag_events":
            return family.samples[0].value
    raise AssertionError("pantau_outbox_lag_events is not exported")


def app_client(db_path: Path, bootstrap: str, prefix: str) -> TestClient:
    settings = MeetingsSettings(
        database_url=f"sqlite:///{db_path}",
        publish_events=True,
        outbox_poll_seconds=0.1,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def seed_registry(client: TestClient, groups: list[str]) -> None:
    for code, name in (("18", "Lampung"), ("18.71", "Kota Bandar Lampung"), ("18.71.01", "Kedaton")):
        assert client.put(f"/api/v1/regions/{code}", json={"name": name}, headers=ADMIN).status_code == 201
    assert client.put(f"/api/v1/regions/{VILLAGE}", json={"name": "Pesawahan"}, headers=ADMIN).status_code == 201
    supervisor = {"name": "Budi", "level": "kabupaten", "region_code": "18.71"}
    assert client.put("/api/v1/supervisors/SUP-1871", json=supervisor, headers=ADMIN).status_code == 201
    facilitator = {"name": "Siti", "programme": "pkh-p2k2", "region_code": "18.71"}
    assert client.put(f"/api/v1/facilitators/{FACILITATOR}", json=facilitator, headers=ADMIN).status_code == 201
    for group_id in groups:
        group = {
            "name": f"Kelompok {group_id}",
            "programme": "pkh-p2k2",
            "facilitator_id": FACILITATOR,
            "region_code": VILLAGE,
            "members": MEMBERS,
            "chair_member_ref": MEMBERS[0],
        }
        assert client.put(f"/api/v1/groups/{group_id}", json=group, headers=ADMIN).status_code == 201


def meeting(report_id: str, group_id: str, index: int) -> dict[str, Any]:
    start = BASE + timedelta(hours=index)
    return {
        "report_id": report_id,
        "group_id": group_id,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=45)).isoformat(),
        "facilitator_present": index % 3 != 0,
        "led_by": "facilitator" if index % 3 != 0 else "chair",
        "module": f"Modul {index % 7}",
        "attendance": [{"member_ref": ref, "status": "present"} for ref in MEMBERS[: 1 + index % 3]],
        "recorded_at": (start + timedelta(minutes=50)).isoformat(),
        "device_id": "dev-1",
    }


def post_meetings(client: TestClient, groups: list[str], count: int, tag: str) -> dict[str, list[str]]:
    """POST `count` meetings round-robin over the groups; returns the report ids per group in POST order."""
    posted: dict[str, list[str]] = defaultdict(list)
    for index in range(count):
        group_id = groups[index % len(groups)]
        report_id = f"R-{tag}-{index:03d}"
        started = time.monotonic()
        response = client.post("/api/v1/meetings", json=meeting(report_id, group_id, index), headers=ADMIN)
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.text
        assert elapsed < 5, f"POST {report_id} took {elapsed:.1f} s: the API must not wait for Kafka"
        posted[group_id].append(report_id)
    return dict(posted)


def consume(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], timeout: float = 60
) -> list[tuple[str, bytes, Any]]:
    """Read the topic from the beginning until `done(records)`; returns (key, raw value, message)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = wait_for(lambda: consumer.partitions_for_topic(topic), 30, f"metadata of {topic}")
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[tuple[str, bytes, Any]] = []
        deadline = time.monotonic() + timeout
        while not done(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend((message.key.decode(), message.value, message) for message in batch)
        # Anything already on the topic beyond what we waited for (e.g. duplicates) is read too.
        end_offsets = consumer.end_offsets(assigned)
        while any(consumer.position(tp) < end_offsets[tp] for tp in assigned) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend((message.key.decode(), message.value, message) for message in batch)
        return records
    finally:
        consumer.close()


def is_recorded(value: bytes) -> bool:
    return serde.decode_envelope(value).type == MEETING_TYPE


def meeting_events(records: list[tuple[str, bytes, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, report_id, raw CloudEvent document) per `meeting_recorded` record, checked as CloudEvents.

    Other types on the topic (e.g. `meeting_scheduled` from group schedules) must decode with the
    key as subject, and are otherwise left out.
    """
    events = []
    for key, value, _message in records:
        decoded = serde.decode(value, key=key)
        assert decoded.envelope.subject == key
        if decoded.envelope.type != MEETING_TYPE:
            continue
        assert isinstance(decoded.event, MeetingRecorded)
        document = orjson.loads(value)
        for field in CLOUDEVENT_FIELDS:
            assert document.get(field), (field, document)
        assert document["specversion"] == "1.0"
        assert document["type"] == MEETING_TYPE
        assert document["subject"] == key == decoded.event.group_id
        assert document["source"] == "/pantau/meetings"
        events.append((key, decoded.event.report_id, document))
    return events


def per_group_order(events: list[tuple[str, str, dict[str, Any]]]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for key, report_id, _ in events:
        order[key].append(report_id)
    return dict(order)


def first_occurrences(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def test_registry_and_meetings_are_published_in_order(tmp_path: Path, kafka_bootstrap: str, kafka_topics: str) -> None:
    prefix = kafka_topics
    groups = [f"G-{n}" for n in range(1, 6)]
    with app_client(tmp_path / "meetings.db", kafka_bootstrap, prefix) as client:
        seed_registry(client, groups)
        posted = post_meetings(client, groups, 50, "A")
        relay = client.app.state.context.relay  # type: ignore[attr-defined]
        assert relay.wait_until_drained(60), "the outbox did not drain within 60 s"
        assert wait_for(lambda: outbox_lag(client) == 0, 30, "pantau_outbox_lag_events == 0")
        assert client.get("/readyz").json()["checks"] == {"database": True, "kafka": True}

    expected = {report_id for ids in posted.values() for report_id in ids}
    records = consume(
        kafka_bootstrap, prefix + "meetings.events", lambda r: sum(is_recorded(v) for _, v, _ in r) >= len(expected)
    )
    events = meeting_events(records)
    report_ids = [report_id for _, report_id, _ in events]
    assert len(report_ids) == 50, Counter(report_ids).most_common(3)
    assert set(report_ids) == expected
    assert per_group_order(events) == posted
    for _, report_id, document in events:
        index = int(report_id.rsplit("-", 1)[1])
        assert document["time"] == rfc3339(BASE + timedelta(hours=index, minutes=45))
        assert document["pantaurecordedat"] == rfc3339(BASE + timedelta(hours=index, minutes=50))

    registry_keys_expected = {
        "region:18",
        "region:18.71",
        "region:18.71.01",
        f"region:{VILLAGE}",
        "supervisor:SUP-1871",
        f"facilitator:{FACILITATOR}",
        *(f"group:{group_id}" for group_id in groups),
    }
    registry = consume(
        kafka_bootstrap, prefix + "registry.events", lambda r: {k for k, *_ in r} >= registry_keys_expected
    )
    keys = [key for key, _, _ in registry]
    assert set(keys) == registry_keys_expected
    assert len(keys) == len(registry_keys_expected)
    for key, value, _ in registry:
        decoded = serde.decode(value, key=key)
        assert decoded.envelope.subject == key
        assert decoded.envelope.type == f"meetings.{key.split(':', 1)[0]}_upserted.v1"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafkaBroker]:
    """A broker this test may stop and restart (on the same port and data directory)."""
    import shutil

    if shutil.which("java") is None:
        skip_or_fail("'java' is not on PATH (needed for a broker the test can stop and restart)")
    try:
        libs = ensure_jars()
    except KafkaBrokerError as exc:
        skip_or_fail(f"Kafka jars unavailable: {exc}")
    broker = LocalKafkaBroker(tmp_path / "kafka", libs_dir=libs)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_api_keeps_accepting_while_the_broker_is_down_and_the_outbox_catches_up(
    tmp_path: Path, own_broker: LocalKafkaBroker, topic_prefix: str
) -> None:
    bootstrap = own_broker.bootstrap_servers
    port, data_dir = own_broker.port, own_broker.data_dir
    cluster_id = own_broker.cluster_id
    create_topics(bootstrap, prefix=topic_prefix)
    groups = [f"G-{n}" for n in range(1, 4)]

    with app_client(tmp_path / "meetings.db", bootstrap, topic_prefix) as client:
        seed_registry(client, groups)
        relay = client.app.state.context.relay  # type: ignore[attr-defined]
        assert relay.wait_until_drained(60), "the registry events did not reach the broker"

        own_broker.stop()
        assert not own_broker.is_running()

        started = time.monotonic()
        posted = post_meetings(client, groups, 30, "B")
        post_seconds = time.monotonic() - started
        assert post_seconds < 30, f"30 POSTs took {post_seconds:.1f} s with the broker down"

        lag = wait_for(lambda: outbox_lag(client), 60, "pantau_outbox_lag_events > 0 while the broker is down")
        assert lag > 0
        first_seen = time.monotonic() - started
        # The gauge is refreshed once per relay round, and a round with the broker gone blocks in
        # flush() for up to 30 s: wait until it shows the whole backlog (and the relay is backing off).
        wait_for(lambda: outbox_lag(client) >= 30, 120, "pantau_outbox_lag_events to show all 30 pending events")
        full_seen = time.monotonic() - started
        readiness = wait_for(
            lambda: (r := client.get("/readyz")).status_code == 503 and r.json(), 30, "/readyz to report kafka down"
        )
        assert readiness["checks"] == {"database": True, "kafka": False}
        print(
            f"\nbroker down: 30 POSTs in {post_seconds:.2f} s; lag gauge first {lag:.0f} after {first_seen:.1f} s, "
            f"30 after {full_seen:.1f} s; /readyz {readiness}"
        )

        own_broker.start()
        assert own_broker.port == port
        assert own_broker.data_dir == data_dir
        assert own_broker.cluster_id == cluster_id
        restarted = time.monotonic()
        wait_for(lambda: outbox_lag(client) == 0, 60, "the outbox to catch up after the broker restart", 0.25)
        catch_up = time.monotonic() - restarted
        print(f"outbox caught up {catch_up:.2f} s after the broker restarted")
        assert wait_for(
            lambda: client.get("/readyz").json()["checks"]["kafka"], 30, "/readyz to report kafka reachable"
        )

    expected = {report_id for ids in posted.values() for report_id in ids}
    records = consume(
        bootstrap,
        topic_prefix + "meetings.events",
        lambda r: {report_id for _, report_id, _ in meeting_events(r)} >= expected,
    )
    events = meeting_events(records)
    report_ids = [report_id for _, report_id, _ in events]
    duplicates = {report_id: n for report_id, n in Counter(report_ids).items() if n > 1}
    print(f"consumed {len(report_ids)} meeting events for 30 reports; duplicates: {duplicates or 'none'}")
    assert set(report_ids) == expected
    order = per_group_order(events)
    assert {group: first_occurrences(ids) for group, ids in order.items()} == posted
    # At-least-once may repeat a tail, but a redelivered event is the same event (same CloudEvents id).
    ids_per_report: dict[str, set[str]] = defaultdict(set)
    for _, report_id, document in events:
        ids_per_report[report_id].add(document["id"])
    assert all(len(ids) == 1 for ids in ids_per_report.values()), ids_per_report
