"""The alert-event outbox: events are rows written in the same transaction as the state they report
(a delivery's status, an acknowledgement, an escalation) and published by `OutboxPublisher`.

A row is removed once the broker has acknowledged it (as meetings' outbox does), so the table
holds only what is still to publish and never grows with history. A crash after the broker
acknowledged but before the delete re-publishes the same envelope (same CloudEvents `id`) on
restart: at-least-once, and consumers de-duplicate by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import Connection, Engine, delete, func, insert, select

from services.notifications import store
from shared import serde
from shared.events.base import EventData

log = logging.getLogger(__name__)


def add(connection: Connection, event: EventData, *, source: str, now: datetime) -> None:
    """Write an event to the outbox in the caller's transaction."""
    envelope = serde.envelope_for(event, source=source, time=now)
    connection.execute(
        insert(store.outbox).values(
            topic=event.kafka_topic,
            key=event.kafka_key(),
            envelope=serde.encode(envelope).decode(),
            created_at=now,
        )
    )


def pending_count(connection: Connection) -> int:
    """Events not yet published."""
    return int(
        connection.execute(
            select(func.count()).select_from(store.outbox).where(store.outbox.c.published_at.is_(None))
        ).scalar_one()
    )


class OutboxPublisher:
    """Publishes outbox rows in order and removes each once the broker has it; wake it with `notify()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        producer: AIOKafkaProducer,
        topic_for: Callable[[str], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch: int = 200,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._topic_for = topic_for
        self._clock = clock
        self._batch = batch
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """One pass: publish what is pending; returns how many were published."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(store.outbox)
                .where(store.outbox.c.published_at.is_(None))
                .order_by(store.outbox.c.id)
                .limit(self._batch)
            ).all()
        for row in rows:
            envelope = serde.decode_envelope(row.envelope.encode())
            await self._producer.send_and_wait(
                self._topic_for(row.topic),
                key=row.key.encode(),
                value=row.envelope.encode(),
                headers=serde.kafka_headers(envelope),
            )
            with self._engine.begin() as connection:
                connection.execute(delete(store.outbox).where(store.outbox.c.id == row.id))
            log.info("published %s for %s from the outbox", envelope.type, row.key)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Until stopped: publish, then wait for a wake-up (or a second, to retry after a failure)."""
        while not stop.is_set():
            published = 0
            try:
                published = await self.publish_pending()
            except Exception:
                log.warning("outbox publishing failed; retrying", exc_info=True)
            if published:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
