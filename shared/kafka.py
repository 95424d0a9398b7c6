"""Kafka client plumbing for asyncio services: built on demand, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared import serde
from shared.envelope import Envelope
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


def build_producer(kafka: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas."""
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )


def build_consumer(kafka: KafkaSettings, *, topics: Sequence[str], group: str, client_id: str) -> AIOKafkaConsumer:
    """A consumer of contract topics (names prefixed per deployment) that commits only explicitly."""
    return AIOKafkaConsumer(
        *(kafka.topic(name) for name in topics),
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=kafka.group_id(group),
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )


async def start_with_retry(client: AIOKafkaProducer | AIOKafkaConsumer, *, what: str, stop: asyncio.Event) -> bool:
    """Start a client, retrying with back-off while the broker is unreachable. False if stopped first."""
    delay = 0.5
    while not stop.is_set():
        try:
            await client.start()
            return True
        except KafkaError as exc:
            log.warning("%s cannot reach Kafka yet (%s); retrying in %.1fs", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 10.0)
    return False


async def publish(producer: AIOKafkaProducer, envelope: Envelope, *, topic: str) -> None:
    """Send one event and wait for the broker's acknowledgement."""
    await producer.send_and_wait(
        topic, key=envelope.subject.encode(), value=serde.encode(envelope), headers=serde.kafka_headers(envelope)
    )
