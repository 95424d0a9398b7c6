"""The notifications outbox on a real broker: events published in order and removed once the broker
has them, so the table holds only what is still to publish."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer
from sqlalchemy import func, select

from services.notifications import outbox, store
from services.notifications.outbox import OutboxPublisher
from shared import topics
from shared.events import AlertAcknowledged

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def test_published_events_leave_the_outbox_and_arrive_in_order(
    kafka_bootstrap: str, kafka_topics: str, tmp_path: Path
) -> None:
    engine = store.build_engine(f"sqlite:///{tmp_path / 'notifications.db'}")
    alert_ids = [f"inc-{number}" for number in range(3)]
    with engine.begin() as connection:
        for alert_id in alert_ids:
            event = AlertAcknowledged(
                alert_id=alert_id, deviation_id="dev-1", supervisor_id="SUP-1871", group_id="KLP-1",
                rule="meeting.low_attendance", severity="warning", escalation_level="kabupaten",
                acknowledged_at=NOW, ack_seconds=60.0,
            )  # fmt: skip
            outbox.add(connection, event, source="/pantau/tests", now=NOW)
        assert outbox.pending_count(connection) == 3

    async def publish() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            publisher = OutboxPublisher(engine, producer=producer, topic_for=lambda name: kafka_topics + name)
            first = await publisher.publish_pending()
            again = await publisher.publish_pending()
            return first + again
        finally:
            await producer.stop()

    assert asyncio.run(publish()) == 3
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(store.outbox)).scalar_one() == 0
    consumer = KafkaConsumer(
        kafka_topics + topics.NOTIFICATIONS_ALERTS,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    try:
        received = []
        for record in consumer:
            received.append(orjson.loads(record.value)["data"]["alert_id"])
            if len(received) == len(alert_ids):
                break
    finally:
        consumer.close()
    assert sorted(received) == alert_ids
    engine.dispose()
