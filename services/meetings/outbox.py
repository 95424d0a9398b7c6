"""Transactional outbox: events are written in the same transaction as the record they describe,
and a relay publishes them to Kafka in order, so that no committed record is ever left without its
event and no event exists for a rolled-back record.

The relay uses kafka-python's idempotent producer with `acks=all`. It publishes rows in id order
and deletes a row only after the broker acknowledged it and every row before it; after a failure it
starts again from the oldest unpublished row. A row may so be published twice (at-least-once);
consumers de-duplicate on the CloudEvents (source, id), which is stored with the row.

Several meetings processes may share one PostgreSQL database; only the holder of the `outbox-relay`
lease publishes (`services/meetings/leases.py`), the others stand by and take over within a poll
interval when it dies. One relay keeps every group's events in id order, the order their requests
committed; its measured rate (`python -m tools.relay_bench`, docs/benchmarks-outbox.md: thousands of
events/s) is several times the national peak (docs/scaling.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Connection, Engine, delete, func, insert, select

from services.meetings.db import outbox
from services.meetings.leases import Lease
from shared import serde
from shared.envelope import Envelope
from shared.settings import KafkaSettings
from shared.sql import read_only

log = logging.getLogger(__name__)

ROUND_STUCK_SECONDS = 5.0
# How long a woken relay waits for more commits before its round: under load a round per request
# cost about as much CPU as the request itself (docs/benchmarks.md); 20 ms adds that to an event's way.
GATHER_SECONDS = 0.02


def append(connection: Connection, envelopes: Iterable[Envelope], *, kafka: KafkaSettings, topic: str) -> int:
    """Stage events in the caller's transaction. Returns how many were staged."""
    rows = [
        {
            "topic": kafka.topic(topic),
            "message_key": envelope.subject,
            "message_value": serde.encode(envelope),
            "headers": [[name, value.decode()] for name, value in serde.kafka_headers(envelope)],
            "created_at": datetime.now(UTC),
        }
        for envelope in envelopes
    ]
    if len(rows) == 1:
        connection.execute(insert(outbox), rows[0])
    elif rows:
        # RETURNING makes SQLAlchemy send one multi-row VALUES per 1,000 rows ("insertmanyvalues")
        # instead of one INSERT per row. The relay publishes in id order, so ids must follow the rows:
        # SQLite numbers a VALUES list in order; on PostgreSQL SQLAlchemy's ordered form guarantees it
        # (asked of SQLite, that form would fall back to one statement per row).
        ordered = connection.dialect.name == "postgresql"
        connection.execute(insert(outbox).returning(outbox.c.id, sort_by_parameter_order=ordered), rows)
    return len(rows)


class OutboxMetrics:
    """Outbox health on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Gauge(
            "pantau_outbox_lag_events",
            "Events committed but not yet acknowledged by Kafka.",
            registry=registry,
        )
        self.oldest_age = Gauge(
            "pantau_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox event (0 when empty).",
            registry=registry,
        )
        self.published = Counter(
            "pantau_outbox_published_total", "Outbox events acknowledged by Kafka.", registry=registry
        )
        self.failures = Counter(
            "pantau_outbox_publish_failures_total", "Relay rounds that failed to publish.", registry=registry
        )


class OutboxRelay:
    """Publishes outbox rows to Kafka from a background thread until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        kafka: KafkaSettings,
        metrics: OutboxMetrics,
        poll_seconds: float = 0.2,
        batch_size: int = 500,
        lease: Lease | None = None,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self._engine = engine
        self._lease = lease
        self._kafka = kafka
        self._metrics = metrics
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._gather_seconds = gather_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: KafkaProducer | None = None
        self._last_round_failed = False
        self._round_started_at: float | None = None
        # Read from the store at scrape time: the backlog shows even while a round hangs on a dead broker.
        metrics.lag.set_function(self.lag_events)
        metrics.oldest_age.set_function(self.oldest_age_seconds)

    @property
    def broker_reachable(self) -> bool:
        """The producer exists, the last round succeeded, and no round has hung for long (a round
        against a dead broker blocks until its delivery timeout; readiness should not wait for that)."""
        if self._producer is None or self._last_round_failed:
            return False
        started = self._round_started_at
        return started is None or time.monotonic() - started < ROUND_STUCK_SECONDS

    def start(self) -> None:
        """Start the relay thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        """Tell the relay new rows were committed, so it does not wait for its next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current round; unpublished rows stay in the outbox for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
        if self._lease is not None:
            self._lease.release()

    @property
    def publishing(self) -> bool:
        """Whether this process's relay holds the lease (the others stand by)."""
        return self._lease is None or self._lease.held()

    def _run(self) -> None:
        backoff = self._poll_seconds
        while not self._stopping.is_set():
            if not self.publishing:
                self._stand_by()
                continue
            try:
                published = self.publish_pending()
                self._last_round_failed = False
                backoff = self._poll_seconds
            except Exception as exc:  # the relay must outlive any broker trouble
                self._metrics.failures.inc()
                self._last_round_failed = True
                log.warning("outbox relay could not publish (%s); retrying in %.1fs", exc, backoff)
                self._drop_producer()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if published < self._batch_size:
                woken = self._wake.wait(self._poll_seconds)
                self._wake.clear()
                if woken:
                    # Gather the commits of the next moment into the same round: a round has a fixed
                    # cost (read, send, flush, delete) that one round per request paid again and again.
                    self._stopping.wait(self._gather_seconds)

    def _stand_by(self) -> None:
        # Another process publishes. Keep a producer so readiness still says whether Kafka answers.
        try:
            self._ensure_producer()
            self._last_round_failed = False
        except Exception:  # the same broker trouble the publishing relay would meet
            self._last_round_failed = True
            self._drop_producer()
        self._stopping.wait(self._poll_seconds)

    def publish_pending(self) -> int:
        """One round: publish up to a batch of the oldest rows, delete those acknowledged."""
        with read_only(self._engine) as connection:
            rows = connection.execute(select(outbox).order_by(outbox.c.id).limit(self._batch_size)).all()
        if not rows:
            if self._producer is None:
                self._ensure_producer()
            return 0
        producer = self._ensure_producer()
        self._round_started_at = time.monotonic()
        futures = [
            producer.send(
                row.topic,
                key=row.message_key.encode(),
                value=row.message_value,
                headers=[(name, value.encode()) for name, value in row.headers],
            )
            for row in rows
        ]
        try:
            producer.flush(timeout=30)
        finally:
            self._round_started_at = None
        acknowledged: list[int] = []
        for row, future in zip(rows, futures, strict=True):
            future.get(timeout=0)  # raises the send's error; rows after it stay for the next round
            acknowledged.append(row.id)
        with self._engine.begin() as connection:
            connection.execute(delete(outbox).where(outbox.c.id.in_(acknowledged)))
        self._metrics.published.inc(len(acknowledged))
        return len(acknowledged)

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._kafka.bootstrap_servers.split(","),
                client_id="pantau-meetings-outbox",
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                compression_type="gzip",
                retries=2**31 - 1,
                max_in_flight_requests_per_connection=5,
                request_timeout_ms=10000,
                delivery_timeout_ms=30000,
            )
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:  # closing a broken producer may itself fail; nothing to save
                log.debug("closing the outbox producer failed", exc_info=True)
            self._producer = None

    def lag_events(self) -> float:
        """Events committed but not yet acknowledged by Kafka."""
        with read_only(self._engine) as connection:
            return float(connection.execute(select(func.count()).select_from(outbox)).scalar_one())

    def oldest_age_seconds(self) -> float:
        """Age of the oldest unpublished event (0 when the outbox is empty)."""
        with read_only(self._engine) as connection:
            oldest = connection.execute(select(func.min(outbox.c.created_at))).scalar_one()
        if oldest is None:
            return 0.0
        oldest_utc = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        return max(0.0, (datetime.now(UTC) - oldest_utc).total_seconds())

    def wait_until_drained(self, timeout: float) -> bool:
        """For tools and tests: block until the outbox is empty or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with read_only(self._engine) as connection:
                if connection.execute(select(func.count()).select_from(outbox)).scalar_one() == 0:
                    return True
            self.notify()
            time.sleep(0.05)
        return False
