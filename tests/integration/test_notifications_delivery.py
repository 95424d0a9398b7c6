"""The notifications service on a real broker, fed with real records, delivering to a real receiver.

The service runs in-process (uvicorn in a thread, its lifespan starts the Kafka loops and the
delivery worker); everything else is real: Kafka topics under a per-test prefix, an SQLite store
in `tmp_path`, and `WebhookReceiver`, which verifies every Standard Webhooks signature.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import orjson
import pytest
import uvicorn
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared import serde, topics
from shared.auth import mint_token
from shared.envelope import Envelope
from shared.events import (
    DeviationOpened,
    EventData,
    FacilitatorUpserted,
    GroupUpserted,
    RegionUpserted,
    SupervisorUpserted,
)
from shared.settings import DEVELOPMENT_WEBHOOK_SECRET, AuthSettings, KafkaSettings
from tests.fixtures.reading import read_topic
from tools.stack import free_port
from tools.webhook_receiver import ReceivedWebhook, WebhookReceiver

pytestmark = pytest.mark.integration

GROUP_ID = "KLP-18710110010001"
VILLAGE = "18.71.01.1001"
SUPERVISOR_ID = "SUP-1871"
DETECTED_AT = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
ALWAYS = 10**9  # `fail_first` for a receiver that never succeeds


# --------------------------------------------------------------------------------------------------
# Kafka helpers


def produce(
    producer: KafkaProducer,
    topic: str,
    event: EventData,
    *,
    key: str | None = None,
    event_type: str | None = None,
) -> Any:
    """Send one event in its CloudEvents envelope (a fresh envelope id each call); returns the metadata."""
    envelope = serde.envelope_for(event, source="/pantau/tests", time=datetime.now(UTC))
    if event_type is not None:
        envelope = envelope.model_copy(update={"type": event_type})
    return send_raw(
        producer,
        topic,
        key=key or event.kafka_key(),
        value=serde.encode(envelope),
        headers=serde.kafka_headers(envelope),
    )


def send_raw(
    producer: KafkaProducer, topic: str, *, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
) -> Any:
    metadata = producer.send(topic, key=key.encode(), value=value, headers=headers or []).get(timeout=30)
    producer.flush()
    return metadata


def event_types(records: list[ConsumerRecord]) -> list[str]:
    return [orjson.loads(record.value)["type"] for record in records]


def of_type(records: list[ConsumerRecord], event_type: str) -> list[dict[str, Any]]:
    documents = [orjson.loads(record.value) for record in records]
    return [document for document in documents if document["type"] == event_type]


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {name: bytes(value).decode() for name, value in record.headers or ()}


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


# --------------------------------------------------------------------------------------------------
# The service in a thread


@dataclass
class Notifier:
    """The notifications app under uvicorn in a background thread (lifespan included)."""

    settings: NotificationsSettings
    port: int = field(default_factory=free_port)
    clock: Callable[[], datetime] | None = None  # the service's `now` (default: the real one)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Notifier:
        config = uvicorn.Config(
            create_app(self.settings) if self.clock is None else create_app(self.settings, clock=self.clock),
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="notifications", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                last = f"{response.status_code} {response.text}"
                if response.status_code == 200:
                    return self
            time.sleep(0.2)
        raise TimeoutError(f"notifications not ready after {timeout}s: {last}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text

    def wait_metric(self, name: str, value: float, timeout: float = 30, **labels: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.metrics()
            if metric(text, name, **labels) == value:
                return text
            time.sleep(0.2)
        raise AssertionError(f"{name}{labels} never reached {value}:\n{text}")


@dataclass
class World:
    """One test's broker topics, producer, receiver(s) and notifier."""

    bootstrap: str
    prefix: str
    producer: KafkaProducer
    tmp_path: Path
    receivers: list[WebhookReceiver] = field(default_factory=list)
    notifier: Notifier | None = None

    def topic(self, name: str) -> str:
        return topics.qualified(name, self.prefix)

    def receiver(self, fail_first: int = 0) -> WebhookReceiver:
        receiver = WebhookReceiver(secret=DEVELOPMENT_WEBHOOK_SECRET, fail_first=fail_first).start()
        self.receivers.append(receiver)
        return receiver

    def start_notifier(self, *, max_attempts: int = 8) -> Notifier:
        port = free_port()
        settings = NotificationsSettings(
            database_url=f"sqlite:///{self.tmp_path / 'notifications.db'}",
            kafka=KafkaSettings(bootstrap_servers=self.bootstrap, topic_prefix=self.prefix),
            auth=AuthSettings(),
            public_base_url=f"http://127.0.0.1:{port}",
            retry_initial_seconds=0.2,
            retry_max_seconds=1,
            webhook_max_attempts=max_attempts,
            webhook_timeout_seconds=5,
            # One message per deviation: these tests are about delivery mechanics (retries, parking,
            # dead letters); incidents have their own tests.
            incidents_enabled=False,
        )
        self.notifier = Notifier(settings, port=port).start()
        return self.notifier

    def send(self, event: EventData, **kwargs: Any) -> Any:
        return produce(self.producer, self.topic(event.kafka_topic), event, **kwargs)

    def register(self, *, supervisors: list[SupervisorUpserted], group_id: str = GROUP_ID) -> None:
        """Regions, the given supervisors, a facilitator and the group, on `registry.events`."""
        self.send(RegionUpserted(code="18", name="Lampung", level="provinsi", time_zone="Asia/Jakarta"))
        self.send(
            RegionUpserted(
                code="18.71", name="Kota Bandar Lampung", level="kabupaten", parent_code="18", time_zone="Asia/Jakarta"
            )
        )
        self.send(
            RegionUpserted(
                code=VILLAGE, name="Kelurahan Pesawahan", level="desa", parent_code="18.71.01", time_zone="Asia/Jakarta"
            )
        )
        for supervisor in supervisors:
            self.send(supervisor)
        self.send(
            FacilitatorUpserted(
                facilitator_id="PDP-0001", name="Siti Rahmawati", programme="pkh-p2k2", region_code="18.71.01"
            )
        )
        self.send(
            GroupUpserted(
                group_id=group_id,
                name="Kelompok Mawar",
                programme="pkh-p2k2",
                facilitator_id="PDP-0001",
                region_code=VILLAGE,
                member_refs=("kpm-a", "kpm-b", "kpm-c"),
                chair_member_ref="kpm-a",
                schedule={"cadence": "monthly", "day_of_month": 10},
                time_zone="Asia/Jakarta",
            )
        )

    def alerts(self, *, until: Callable[[list[ConsumerRecord]], bool], timeout: float = 30, settle: float = 0.0) -> Any:
        return read_topic(
            self.bootstrap, self.topic(topics.NOTIFICATIONS_ALERTS), until=until, timeout=timeout, settle=settle
        )

    def diagnostics(self) -> str:
        return self.notifier.metrics() if self.notifier is not None else "(no notifier)"


def kabupaten_supervisor(url: str, supervisor_id: str = SUPERVISOR_ID) -> SupervisorUpserted:
    return SupervisorUpserted(
        supervisor_id=supervisor_id,
        name="Koordinator Kota Bandar Lampung",
        level="kabupaten",
        region_code="18.71",
        webhook_url=url,
        language="id",
    )


def deviation(deviation_id: str | None = None, *, group_id: str = GROUP_ID) -> DeviationOpened:
    return DeviationOpened(
        group_id=group_id,
        deviation_id=deviation_id or f"dev-{uuid4().hex}",
        rule="meeting.facilitator_absent",
        severity="warning",
        programme="pkh-p2k2",
        facilitator_id="PDP-0001",
        region_code=VILLAGE,
        occurrence=f"r-{uuid4().hex[:8]}",
        detected_at=DETECTED_AT,
        evidence_at=DETECTED_AT,
        details={"led_by": "chair", "report_id": "r-1", "meeting_started_at": "2026-11-10T02:00:00+00:00"},
    )


@pytest.fixture
def world(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[World]:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    world = World(kafka_bootstrap, kafka_topics, producer, tmp_path)
    try:
        yield world
    finally:
        if world.notifier is not None:
            world.notifier.stop()
        for receiver in world.receivers:
            receiver.stop()
        producer.close()


def wait_attempts(receiver: WebhookReceiver, count: int, timeout: float) -> list[ReceivedWebhook]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(receiver.received) < count:
        time.sleep(0.05)
    return list(receiver.received)


# --------------------------------------------------------------------------------------------------
# (a) retries


def test_receiver_failing_three_times_gets_the_alert_on_the_fourth_attempt(world: World) -> None:
    receiver = world.receiver(fail_first=3)
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    world.start_notifier(max_attempts=8)
    opened = deviation()
    world.send(opened)

    accepted = receiver.wait_for(1, timeout=30)
    assert len(accepted) == 1, f"{receiver.received}\n{world.diagnostics()}"
    time.sleep(1.5)  # a fifth attempt, if any, would come within the 1 s back-off ceiling

    attempts = list(receiver.received)
    assert [attempt.answered for attempt in attempts] == [503, 503, 503, 204]
    assert len(receiver.accepted) == 1
    message_ids = {attempt.headers["webhook-id"] for attempt in attempts}
    assert len(message_ids) == 1, message_ids
    assert all(attempt.signature_valid for attempt in attempts)
    for attempt in attempts:
        # signed at the moment of the attempt, not once for all retries
        assert abs(int(attempt.headers["webhook-timestamp"]) - attempt.received_at) <= 1.5
        assert attempt.headers["webhook-signature"].startswith("v1,")
    assert [int(a.headers["webhook-timestamp"]) for a in attempts] == sorted(
        int(a.headers["webhook-timestamp"]) for a in attempts
    )
    assert all(attempt.body == attempts[0].body for attempt in attempts)
    body = attempts[-1].body
    assert body["type"] == "alert.opened"
    assert body["deviation_id"] == opened.deviation_id
    assert body["supervisor_id"] == SUPERVISOR_ID
    assert body["escalation_level"] == "kabupaten"
    assert body["group"] == {"id": GROUP_ID, "name": "Kelompok Mawar"}
    assert body["facilitator"] == {"id": "PDP-0001", "name": "Siti Rahmawati"}

    records = world.alerts(until=lambda rs: "notifications.alert_sent.v1" in event_types(rs), settle=1)
    sent = of_type(records, "notifications.alert_sent.v1")
    assert len(sent) == 1, event_types(records)
    assert sent[0]["data"]["attempts"] == 4
    assert sent[0]["data"]["message_id"] == message_ids.pop()
    assert sent[0]["data"]["deviation_id"] == opened.deviation_id
    assert sent[0]["subject"] == SUPERVISOR_ID
    assert [record.key for record in records] == [SUPERVISOR_ID.encode()] * len(records)
    assert "notifications.delivery_failed.v1" not in event_types(records)


# --------------------------------------------------------------------------------------------------
# (b) parked until the registry knows the group


def test_deviation_before_the_registry_is_parked_then_delivered(world: World) -> None:
    receiver = world.receiver()
    notifier = world.start_notifier()
    opened = deviation()
    world.send(opened)

    notifier.wait_metric("pantau_alerts_total", 1, outcome="parked", severity="warning")
    time.sleep(0.5)
    assert receiver.received == []

    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    accepted = receiver.wait_for(1, timeout=30)
    assert len(accepted) == 1, f"parked deviation never delivered\n{world.diagnostics()}"
    assert accepted[0].body["deviation_id"] == opened.deviation_id
    assert accepted[0].body["group"]["name"] == "Kelompok Mawar"
    assert accepted[0].signature_valid
    time.sleep(1)
    assert len(receiver.received) == 1


# --------------------------------------------------------------------------------------------------
# (c) redelivery


def test_the_same_deviation_three_times_makes_one_webhook(world: World) -> None:
    receiver = world.receiver()
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    notifier = world.start_notifier()
    opened = deviation()
    metadata = [world.send(opened) for _ in range(3)]  # a fresh envelope id every time
    assert len({(m.partition, m.offset) for m in metadata}) == 3

    assert len(receiver.wait_for(1, timeout=30)) == 1
    notifier.wait_metric("pantau_alerts_total", 2, outcome="duplicate", severity="warning")
    time.sleep(1)
    assert len(receiver.received) == 1
    assert receiver.received[0].body["deviation_id"] == opened.deviation_id

    records = world.alerts(until=lambda rs: "notifications.alert_sent.v1" in event_types(rs), settle=1)
    assert event_types(records) == ["notifications.alert_sent.v1"]


# --------------------------------------------------------------------------------------------------
# (d) giving up


def test_a_receiver_that_always_fails_ends_in_delivery_failed(world: World) -> None:
    receiver = world.receiver(fail_first=ALWAYS)
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    world.start_notifier(max_attempts=3)
    opened = deviation()
    world.send(opened)

    records = world.alerts(until=lambda rs: "notifications.delivery_failed.v1" in event_types(rs), settle=1.5)
    failed = of_type(records, "notifications.delivery_failed.v1")
    assert len(failed) == 1, f"{event_types(records)}\n{receiver.received}\n{world.diagnostics()}"
    assert failed[0]["data"]["attempts"] == 3
    assert failed[0]["data"]["deviation_id"] == opened.deviation_id
    assert failed[0]["data"]["supervisor_id"] == SUPERVISOR_ID
    assert "503" in failed[0]["data"]["last_error"]
    assert "notifications.alert_sent.v1" not in event_types(records)

    attempts = list(receiver.received)
    assert len(attempts) == 3
    assert len({attempt.headers["webhook-id"] for attempt in attempts}) == 1
    assert failed[0]["data"]["message_id"] == attempts[0].headers["webhook-id"]
    assert all(attempt.signature_valid for attempt in attempts)
    assert receiver.accepted == []


# --------------------------------------------------------------------------------------------------
# (e) routing climbs


def test_without_a_kabupaten_supervisor_the_provinsi_one_gets_it(world: World) -> None:
    receiver = world.receiver()
    provinsi = SupervisorUpserted(
        supervisor_id="SUP-18",
        name="Koordinator Provinsi Lampung",
        level="provinsi",
        region_code="18",
        webhook_url=receiver.url,
        language="en",
    )
    world.register(supervisors=[provinsi])
    notifier = world.start_notifier()
    world.send(deviation())

    accepted = receiver.wait_for(1, timeout=30)
    assert len(accepted) == 1, world.diagnostics()
    body = accepted[0].body
    assert body["supervisor_id"] == "SUP-18"
    assert body["escalation_level"] == "provinsi"
    notifier.wait_metric("pantau_alert_routing_climbed_total", 1, level="above_kabupaten")

    records = world.alerts(until=lambda rs: "notifications.alert_sent.v1" in event_types(rs))
    sent = of_type(records, "notifications.alert_sent.v1")
    assert [item["data"]["escalation_level"] for item in sent] == ["provinsi"]
    assert [record.key for record in records] == [b"SUP-18"]


def test_a_registry_on_the_topic_before_the_start_is_read_before_any_deviation_is_routed(world: World) -> None:
    # The province's supervisor first, the district's two last: a notifier that routed a deviation
    # as soon as it fetched it, before the registry partitions holding the district's supervisors,
    # would climb to the province or tell one of the two (the notifications-kill fault case).
    receiver = world.receiver()
    provinsi = SupervisorUpserted(
        supervisor_id="SUP-18",
        name="Koordinator Provinsi Lampung",
        level="provinsi",
        region_code="18",
        webhook_url=receiver.url,
        language="en",
    )
    world.register(supervisors=[provinsi])
    # More registry before the district's supervisors than one fetch of a partition brings (1 MB):
    # the deviations are fetched before the supervisors are. Explicit partitions, so that the
    # supervisors sit behind the villages whatever their keys hash to.
    registry = world.topic(topics.REGISTRY_EVENTS)
    for number in range(4000):
        village = RegionUpserted(
            code=f"18.71.02.{2001 + number}",
            name=f"Desa {number}",
            level="desa",
            parent_code="18.71.02",
            time_zone="Asia/Jakarta",
        )
        envelope = serde.envelope_for(village, source="/pantau/tests", time=DETECTED_AT)
        world.producer.send(
            registry, key=village.kafka_key().encode(), value=serde.encode(envelope), partition=0,
            headers=serde.kafka_headers(envelope),
        )  # fmt: skip
    for supervisor_id in ("SUP-1871", "SUP-1871B"):
        supervisor = kabupaten_supervisor(receiver.url, supervisor_id)
        envelope = serde.envelope_for(supervisor, source="/pantau/tests", time=DETECTED_AT)
        world.producer.send(
            registry, key=supervisor.kafka_key().encode(), value=serde.encode(envelope), partition=0,
            headers=serde.kafka_headers(envelope),
        )  # fmt: skip
    world.producer.flush()
    sent = [deviation() for _ in range(20)]
    for opened in sent:
        world.send(opened)
    world.start_notifier()

    expected = sorted((opened.deviation_id, who) for opened in sent for who in ("SUP-1871", "SUP-1871B"))
    receiver.wait_for(len(expected), timeout=60)
    time.sleep(1)  # a delivery to the province, or a second one, would come within it
    got = sorted((hook.body["deviation_id"], hook.body["supervisor_id"]) for hook in receiver.accepted)
    assert got == expected, world.diagnostics()


# --------------------------------------------------------------------------------------------------
# (f) dead letters and unknown types


def test_refused_records_go_to_the_dlq_unknown_types_are_skipped_and_delivery_goes_on(world: World) -> None:
    receiver = world.receiver()
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    notifier = world.start_notifier()
    deviations_topic = world.topic(topics.MONITORING_DEVIATIONS)

    malformed = send_raw(world.producer, deviations_topic, key=GROUP_ID, value=b"not json")
    good = serde.envelope_for(deviation(), source="/pantau/tests", time=datetime.now(UTC))
    bad = Envelope(**{**good.model_dump(), "data": {**good.data, "region_code": "not-a-region"}})
    invalid = send_raw(world.producer, deviations_topic, key=GROUP_ID, value=serde.encode(bad))
    unknown = world.send(deviation(), event_type="monitoring.deviation_opened.v9")
    after = deviation()
    world.send(after)

    accepted = receiver.wait_for(1, timeout=30)
    assert [item.body["deviation_id"] for item in accepted] == [after.deviation_id], world.diagnostics()

    dlq = read_topic(
        world.bootstrap, world.topic(topics.NOTIFICATIONS_DLQ), until=lambda rs: len(rs) >= 2, timeout=30, settle=1
    )
    assert len(dlq) == 2, [headers_of(record) for record in dlq]
    by_reason = {headers_of(record)["pantau-dlq-reason"]: record for record in dlq}
    assert set(by_reason) == {"malformed_json", "invalid_data"}
    for reason, source in (("malformed_json", malformed), ("invalid_data", invalid)):
        record = by_reason[reason]
        headers = headers_of(record)
        assert headers["pantau-dlq-service"] == "notifications"
        assert headers["pantau-dlq-source-topic"] == deviations_topic
        assert headers["pantau-dlq-source-partition"] == str(source.partition)
        assert headers["pantau-dlq-source-offset"] == str(source.offset)
        assert record.key == GROUP_ID.encode()
    assert by_reason["malformed_json"].value == b"not json"
    assert by_reason["invalid_data"].value == serde.encode(bad)
    assert "region_code" in headers_of(by_reason["invalid_data"])["pantau-dlq-detail"]
    # the unknown type was skipped, not dead-lettered, and counted
    assert all(headers_of(record)["pantau-dlq-source-offset"] != str(unknown.offset) for record in dlq)
    text = notifier.wait_metric(
        "pantau_events_unknown_type_total", 1, service="notifications", topic=topics.MONITORING_DEVIATIONS
    )
    assert metric(text, "pantau_dead_letters_total", service="notifications", reason="malformed_json") == 1
    assert metric(text, "pantau_dead_letters_total", service="notifications", reason="invalid_data") == 1


# --------------------------------------------------------------------------------------------------
# (g) the alerts API


def test_alerts_api_lists_and_only_the_owner_acknowledges_once(world: World) -> None:
    receiver = world.receiver()
    other = kabupaten_supervisor(receiver.url, supervisor_id="SUP-1872").model_copy(update={"region_code": "18.72"})
    world.register(supervisors=[kabupaten_supervisor(receiver.url), other])
    notifier = world.start_notifier()
    opened = deviation()
    world.send(opened)
    assert len(receiver.wait_for(1, timeout=30)) == 1, world.diagnostics()
    alert_id = receiver.accepted[0].body["alert_id"]

    auth = AuthSettings()
    owner = {"Authorization": f"Bearer {mint_token(auth, subject=SUPERVISOR_ID, role='supervisor', scope='18.71')}"}
    intruder = {"Authorization": f"Bearer {mint_token(auth, subject='SUP-1872', role='supervisor', scope='18.72')}"}
    with httpx.Client(base_url=f"{notifier.url}/api/v1", timeout=10) as api:
        assert api.get("/alerts").status_code == 401
        listed = api.get("/alerts", headers=owner)
        assert listed.status_code == 200, listed.text
        assert [item["alert_id"] for item in listed.json()] == [alert_id]
        assert listed.json()[0]["status"] == "open"
        assert listed.json()[0]["body"]["deviation_id"] == opened.deviation_id
        assert api.get("/alerts", headers=intruder).json() == []

        refused = api.post(f"/alerts/{alert_id}/ack", headers=intruder)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

        first = api.post(f"/alerts/{alert_id}/ack", headers=owner)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "acknowledged"
        assert first.json()["acknowledged_at"] is not None
        again = api.post(f"/alerts/{alert_id}/ack", headers=owner)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert api.get("/alerts", headers=owner, params={"status": "acknowledged"}).json()[0]["alert_id"] == alert_id
        assert api.post("/alerts/alert-does-not-exist/ack", headers=owner).status_code == 404
        # Every timestamp carries its offset (the schema says date-time); what does not exist is a 404 problem.
        one = api.get(f"/alerts/{alert_id}", headers=owner)
        assert one.status_code == 200, one.text
        for name in ("created_at", "acknowledged_at"):
            assert datetime.fromisoformat(one.json()[name]).utcoffset() is not None, one.json()[name]
        assert api.get(f"/alerts/{alert_id}", headers=intruder).status_code == 403
        for missing in ("/alerts/alert-does-not-exist", "/incidents/inc-does-not-exist"):
            answer = api.get(missing, headers=owner)
            assert answer.status_code == 404, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")

    records = world.alerts(
        until=lambda rs: "notifications.alert_acknowledged.v1" in event_types(rs), timeout=30, settle=1.5
    )
    acknowledged = of_type(records, "notifications.alert_acknowledged.v1")
    assert len(acknowledged) == 1, event_types(records)
    assert acknowledged[0]["data"]["alert_id"] == alert_id
    assert acknowledged[0]["data"]["supervisor_id"] == SUPERVISOR_ID
    assert acknowledged[0]["data"]["ack_seconds"] >= 0
    assert sorted(event_types(records)) == ["notifications.alert_acknowledged.v1", "notifications.alert_sent.v1"]
