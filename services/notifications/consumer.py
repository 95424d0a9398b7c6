"""Reads `registry.events`, `meetings.events` (device syncs and attendance, for the console) and
`monitoring.deviations`, keeps the registry projection and queues
alerts. Offsets are committed only after the store committed, so a crash re-reads (at-least-once)
and the derived alert ids turn the re-read into a no-op. Deviations wait until the registry has
been read to where it stood when the partitions were assigned (`registry_gate.py`), so routing
does not depend on which partition the consumer happened to fetch first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from sqlalchemy import Connection, Engine

from services.notifications import alerts, incident_shell, parking, projection
from services.notifications.metrics import SERVICE, NotificationsMetrics
from services.notifications.registry_gate import RegistryGate
from services.notifications.settings import NotificationsSettings
from services.notifications.timing import Policy
from shared import serde, topics
from shared.deadletters import headers_for
from shared.events import DeviationEscalated, DeviationOpened, DeviationResolved
from shared.events.base import EventData
from shared.intake import Refused, take_in

log = logging.getLogger(__name__)

CONSUMED_TOPICS = (topics.REGISTRY_EVENTS, topics.MONITORING_DEVIATIONS, topics.MEETINGS_EVENTS)


class AlertIntake:
    """The consumer loop; `on_queued` wakes the delivery worker."""

    def __init__(
        self,
        engine: Engine,
        *,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        settings: NotificationsSettings,
        metrics: NotificationsMetrics,
        on_queued: Callable[[], None],
        policy: Policy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._consumer = consumer
        self._producer = producer
        self._settings = settings
        self._metrics = metrics
        self._on_queued = on_queued
        self._clock = clock
        self._policy = policy
        self._prefix = settings.kafka.topic_prefix
        self._handlers: dict[str, Callable[[Connection, EventData, bytes, datetime], bool]] = {
            DeviationOpened.event_type: self._opened,
            DeviationResolved.event_type: self._resolved,
            DeviationEscalated.event_type: self._escalated,
        }
        self._gate: RegistryGate[ConsumerRecord] = RegistryGate(
            registry_topic=settings.kafka.topic(topics.REGISTRY_EVENTS),
            held_topic=settings.kafka.topic(topics.MONITORING_DEVIATIONS),
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            fetched = await self._consumer.getmany(timeout_ms=200, max_records=500)
            batches = await self._through_gate(fetched)
            if batches:
                registry_changed = False
                queued = False
                for records in batches.values():
                    for record in records:
                        changed, was_queued = await self._handle(record)
                        registry_changed |= changed
                        queued |= was_queued
                if registry_changed:
                    queued |= self._retry_parked()
                await self._consumer.commit()
                if queued:
                    self._on_queued()
            if not self._gate.is_open:
                await self._open_gate_if_read()

    # -- the registry gate (why: registry_gate.py)

    async def _through_gate(
        self, batches: dict[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, Sequence[ConsumerRecord]]:
        """The records to handle now: all of them once the registry was read; before that, none of
        the deviations (their partitions are paused and read again from the first one held)."""
        wanted = self._gate.reassigned(self._consumer.assignment())
        if wanted is not None:
            try:
                ends = await self._consumer.end_offsets(wanted) if wanted else {}
                positions = await self._positions(ends)
            except KafkaError as exc:  # the broker is slow or away: hold, and ask on the next pass
                log.warning("registry end offsets unknown (%r); deviations wait", exc)
            else:
                self._gate.close(ends, positions)
                if not self._gate.is_open:
                    log.info(
                        "routing waits for the registry: %d record(s) to read on %d partition(s) before deviations",
                        sum(end - positions.get(tp, 0) for tp, end in self._gate.behind.items()),
                        len(self._gate.behind),
                    )
        if self._gate.is_open:
            return dict(batches)
        passed, rewind = self._gate.split(batches)
        for tp, offset in rewind.items():
            with contextlib.suppress(IllegalStateError):  # taken away by a rebalance meanwhile
                self._consumer.seek(tp, offset)
        held = [tp for tp in self._gate.held() if tp not in self._consumer.paused()]
        if held:
            # A rebalance forgets pauses; pause again whatever the gate holds.
            self._consumer.pause(*held)
        return passed

    async def _open_gate_if_read(self) -> None:
        if not self._gate.ends_known:
            return  # asked again on the next pass
        try:
            positions = await self._positions(self._gate.behind)
        except KafkaError as exc:
            log.warning("registry positions unknown (%r); deviations wait", exc)
            return
        if self._gate.advance(positions):
            resumed = [tp for tp in self._gate.assignment if tp in self._consumer.paused()]
            self._consumer.resume(*resumed)
            log.info("registry read to where it stood at assignment; routing deviations")

    async def _positions(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        positions = {}
        for tp in partitions:
            with contextlib.suppress(IllegalStateError):  # no longer assigned: the next pass re-gates
                positions[tp] = await self._consumer.position(tp)
        return positions

    async def _handle(self, record: ConsumerRecord) -> tuple[bool, bool]:
        topic = record.topic.removeprefix(self._prefix)
        decoded = take_in(record.value, record.key, topic=topic, metrics=self._metrics.intake)
        if decoded is None:
            return False, False
        if isinstance(decoded, Refused):
            await self._dead_letter(record, decoded.reason, decoded.detail)
            return False, False
        fact = decoded.event
        now = self._clock()
        if topic == topics.REGISTRY_EVENTS:
            with self._engine.begin() as connection:
                return projection.project_registry(connection, fact), False
        if topic == topics.MEETINGS_EVENTS:
            # Only what the console shows (device syncs, attendance); other meeting facts are not ours.
            with self._engine.begin() as connection:
                projection.project_field_activity(connection, fact)
            return False, False
        handler = self._handlers.get(decoded.envelope.type)
        if handler is None:
            await self._dead_letter(record, "unexpected_type", f"{decoded.envelope.type} on {topic}")
            return False, False
        with self._engine.begin() as connection:
            return False, handler(connection, fact, record.value or b"", now)

    # -- one handler per deviation event type: (connection, fact, raw record, now) → queued anything

    def _opened(self, connection: Connection, fact: EventData, raw: bytes, now: datetime) -> bool:
        assert isinstance(fact, DeviationOpened)
        accepted = alerts.accept_deviation(connection, fact, record=raw, policy=self._policy, now=now)
        self._metrics.alerts.labels(accepted.outcome, fact.severity).inc()
        if accepted.outcome in ("queued", "digest", "updated"):
            incident_shell.on_opened(connection, fact, policy=self._policy, now=now)
        if accepted.climbed:
            self._metrics.routing_climbed.labels("above_kabupaten").inc()
        log.info(
            "deviation %s (%s, %s, concerns %s): %s%s",
            fact.deviation_id,
            fact.rule,
            fact.severity,
            fact.concerns,
            accepted.outcome,
            f" as {accepted.alert_id}" if accepted.alert_id else "",
        )
        return accepted.outcome in ("queued", "digest", "updated")

    def _resolved(self, connection: Connection, fact: EventData, raw: bytes, now: datetime) -> bool:
        assert isinstance(fact, DeviationResolved)
        closed = alerts.resolve_deviation(connection, fact, policy=self._policy, now=now)
        messages = incident_shell.on_resolved(connection, fact, policy=self._policy, now=now)
        log.info("deviation %s resolved (%s): %d alert(s) closed", fact.deviation_id, fact.reason, len(closed))
        return bool(closed) or messages > 0

    def _escalated(self, connection: Connection, fact: EventData, raw: bytes, now: datetime) -> bool:
        assert isinstance(fact, DeviationEscalated)
        # The deviation got worse: the same alert is updated, never a second one.
        updated = alerts.update_deviation(connection, fact, policy=self._policy, now=now)
        incident_shell.on_escalated(connection, fact, policy=self._policy, now=now)
        self._metrics.alerts.labels("updated" if updated else "duplicate", fact.severity).inc()
        log.info(
            "deviation %s escalated %s → %s: %d alert(s) updated",
            fact.deviation_id,
            fact.previous_severity,
            fact.severity,
            len(updated),
        )
        return bool(updated)

    def _retry_parked(self) -> bool:
        queued = False
        with self._engine.begin() as connection:
            for raw in parking.parked_records(connection):
                decoded = serde.decode(raw)
                if isinstance(decoded.event, DeviationOpened):
                    accepted = alerts.accept_deviation(
                        connection, decoded.event, record=raw, policy=self._policy, now=self._clock()
                    )
                    if accepted.outcome in ("queued", "digest"):
                        log.info("parked deviation %s now routed", decoded.event.deviation_id)
                        self._metrics.alerts.labels(accepted.outcome, decoded.event.severity).inc()
                        if accepted.climbed:
                            self._metrics.routing_climbed.labels("above_kabupaten").inc()
                        queued = True
                        incident_shell.on_opened(connection, decoded.event, policy=self._policy, now=self._clock())
        return queued

    async def _dead_letter(self, record: ConsumerRecord, reason: str, detail: str) -> None:
        self._metrics.intake.dead_lettered(reason)
        await self._producer.send_and_wait(
            self._settings.kafka.topic(topics.NOTIFICATIONS_DLQ),
            key=record.key,
            value=record.value or b"",
            headers=headers_for(record, service=SERVICE, reason=reason, detail=detail),
        )
