"""Keeps the open deviations of each group in the meetings store, read from `monitoring.deviations`,
so `GET /groups/{id}` can show them. A background thread with kafka-python; offsets are committed
after the store committed, and applying an event twice leaves the same row, so redelivery is harmless."""

from __future__ import annotations

import logging
import threading
from datetime import UTC

from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Connection, Engine, delete, insert, select, update

from services.meetings import db
from shared import serde, topics
from shared.events import DeviationEscalated, DeviationOpened, DeviationResolved
from shared.events.base import EventData
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


def apply_deviation(connection: Connection, fact: EventData) -> None:
    """Fold one deviation fact into the open-deviations table (idempotent)."""
    if isinstance(fact, DeviationOpened):
        exists = connection.execute(
            select(db.open_deviations.c.deviation_id).where(db.open_deviations.c.deviation_id == fact.deviation_id)
        ).first()
        if exists is None:
            connection.execute(
                insert(db.open_deviations).values(
                    deviation_id=fact.deviation_id,
                    group_id=fact.group_id,
                    rule=fact.rule,
                    severity=fact.severity,
                    detected_at=fact.detected_at.astimezone(UTC),
                    details=dict(fact.details),
                )
            )
    elif isinstance(fact, DeviationEscalated):
        connection.execute(
            update(db.open_deviations)
            .where(db.open_deviations.c.deviation_id == fact.deviation_id)
            .values(severity=fact.severity)
        )
    elif isinstance(fact, DeviationResolved):
        connection.execute(delete(db.open_deviations).where(db.open_deviations.c.deviation_id == fact.deviation_id))


class DeviationProjection:
    """The consumer thread; `stop()` ends it after the current poll."""

    def __init__(self, engine: Engine, *, kafka: KafkaSettings, registry: CollectorRegistry) -> None:
        self._engine = engine
        self._kafka = kafka
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._skipped = Counter(
            "pantau_deviation_projection_skipped_total",
            "Deviation records the meetings service could not read (left for monitoring's DLQ to explain).",
            ["reason"],
            registry=registry,
        )

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="deviation-projection", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        consumer: KafkaConsumer | None = None
        while not self._stopping.is_set():
            try:
                if consumer is None:
                    consumer = KafkaConsumer(
                        self._kafka.topic(topics.MONITORING_DEVIATIONS),
                        bootstrap_servers=self._kafka.bootstrap_servers.split(","),
                        group_id=self._kafka.group_id("pantau-meetings-deviations"),
                        client_id="pantau-meetings-deviations",
                        enable_auto_commit=False,
                        auto_offset_reset="earliest",
                    )
                batches = consumer.poll(timeout_ms=500, max_records=500)
                if not batches:
                    continue
                with self._engine.begin() as connection:
                    for records in batches.values():
                        for record in records:
                            try:
                                decoded = serde.decode(record.value, key=record.key)
                            except serde.DecodeError as exc:
                                self._skipped.labels(exc.reason).inc()
                                continue
                            apply_deviation(connection, decoded.event)
                consumer.commit()
            except Exception as exc:  # keep projecting through broker trouble
                log.warning("deviation projection paused (%s); retrying", exc)
                if consumer is not None:
                    try:
                        consumer.close()
                    except Exception:  # a broken consumer may fail to close; nothing to save
                        log.debug("closing the projection consumer failed", exc_info=True)
                    consumer = None
                self._stopping.wait(2)
        if consumer is not None:
            consumer.close()
