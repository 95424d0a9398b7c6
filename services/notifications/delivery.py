"""The delivery worker: takes due rows from the delivery queue, tries their channel, and records the
outcome. Success writes `alert_sent`, giving up writes `delivery_failed` — into the outbox, in the
same transaction as the delivery's new status, so neither can be lost between the two (the outbox
publisher sends them). The live feed is a channel too, but reports no events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select, update

from services.notifications import outbox, store
from services.notifications.backoff import next_retry_delay
from services.notifications.channels.base import Channel, Delivery, DeliveryError
from services.notifications.metrics import NotificationsMetrics
from services.notifications.settings import NotificationsSettings
from shared.events import AlertSent, DeliveryFailed

log = logging.getLogger(__name__)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DeliveryWorker:
    """Runs until stopped; wake it with `notify()` after queueing."""

    def __init__(
        self,
        engine: Engine,
        *,
        channels: Mapping[str, Channel],
        settings: NotificationsSettings,
        metrics: NotificationsMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._channels = channels
        self._on_event = on_event
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._jitter = jitter
        self._wake = asyncio.Event()
        self._in_flight: set[str] = set()

    def notify(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        semaphore = asyncio.Semaphore(self._settings.delivery_concurrency)
        tasks: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            due = self._due(limit=self._settings.delivery_concurrency * 2)
            for row in due:
                if row.message_id in self._in_flight:
                    continue
                self._in_flight.add(row.message_id)
                task = asyncio.create_task(self._attempt(row, semaphore))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.5 if not due else 0.05)
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def _due(self, *, limit: int) -> list[Row[Any]]:
        now = self._clock()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(store.deliveries)
                .where(store.deliveries.c.status == "pending", store.deliveries.c.next_attempt_at <= now)
                .order_by(store.deliveries.c.next_attempt_at)
                .limit(limit)
            ).all()
            pending = connection.execute(
                select(func.count()).select_from(store.deliveries).where(store.deliveries.c.status == "pending")
            ).scalar_one()
        self._metrics.pending.set(pending)
        return list(rows)

    async def _attempt(self, row: Row[Any], semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            try:
                await self._attempt_once(row)
            except Exception:
                log.exception("delivery %s crashed; it stays queued", row.message_id)
            finally:
                self._in_flight.discard(row.message_id)

    async def _attempt_once(self, row: Row[Any]) -> None:
        message_id: str = row.message_id
        channel = self._channels.get(row.channel)
        if channel is None:
            log.warning(
                "delivery %s is for channel %s, which is not configured; it stays queued", message_id, row.channel
            )
            return
        attempt = row.attempts + 1
        delivery = Delivery(
            message_id=message_id,
            alert_id=row.alert_id,
            target=row.target,
            body=row.body.encode(),
            attempt=attempt,
        )
        try:
            await channel.send(delivery)
        except DeliveryError as exc:
            self._failed(delivery, channel.name, exc)
            return
        now = self._clock()
        with self._engine.begin() as connection:
            connection.execute(
                update(store.deliveries)
                .where(store.deliveries.c.message_id == message_id, store.deliveries.c.status == "pending")
                .values(status="delivered", attempts=attempt, updated_at=now, last_error=None)
            )
            alert = self._alert(connection, delivery.alert_id)
            if alert is not None and channel.name != "feed":
                outbox.add(
                    connection,
                    AlertSent(
                        alert_id=alert["alert_id"],
                        deviation_id=alert["deviation_id"],
                        supervisor_id=alert["supervisor_id"],
                        group_id=alert["group_id"],
                        rule=alert["rule"],
                        severity=alert["severity"],
                        escalation_level=alert["escalation_level"],
                        channel="email" if channel.name == "email" else "webhook",
                        channel_name=channel.name,
                        message_id=message_id,
                        attempts=attempt,
                        sent_at=now,
                        detected_at=_utc(alert["detected_at"]),
                    ),
                    source=self._settings.source,
                    now=now,
                )
        self._metrics.deliveries.labels(channel.name, "delivered").inc()
        if channel.name == "feed":
            return
        self._on_event()
        if alert is not None:
            self._metrics.delivery_seconds.labels(channel.name).observe(
                max(0.0, (now - _utc(alert["detected_at"])).total_seconds())
            )
        log.info(
            "delivered %s (%s) for %s on %s after %d attempt(s)",
            message_id,
            row.kind or "alert.opened",
            delivery.alert_id,
            channel.name,
            attempt,
        )

    @staticmethod
    def _alert(connection: Connection, alert_id: str) -> Any:
        """The alert (or incident, alert-shaped) a delivery is for; None for a digest (which covers many)."""
        alert = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().first()
        if alert is not None:
            return alert
        incident = (
            connection.execute(select(store.incidents).where(store.incidents.c.incident_id == alert_id))
            .mappings()
            .first()
        )
        return None if incident is None else {**incident, "alert_id": incident["incident_id"]}

    def _failed(self, delivery: Delivery, channel: str, error: DeliveryError) -> None:
        now = self._clock()
        give_up = not error.retryable or delivery.attempt >= self._settings.webhook_max_attempts
        delay = next_retry_delay(
            delivery.attempt,
            initial_seconds=self._settings.retry_initial_seconds,
            max_seconds=self._settings.retry_max_seconds,
            jitter=self._jitter(),
        )
        with self._engine.begin() as connection:
            connection.execute(
                update(store.deliveries)
                .where(store.deliveries.c.message_id == delivery.message_id, store.deliveries.c.status == "pending")
                .values(
                    status="failed" if give_up else "pending",
                    attempts=delivery.attempt,
                    next_attempt_at=now + delay,
                    last_error=error.reason[:500],
                    updated_at=now,
                )
            )
            alert = self._alert(connection, delivery.alert_id)
            if give_up and alert is not None:
                outbox.add(
                    connection,
                    DeliveryFailed(
                        alert_id=alert["alert_id"],
                        deviation_id=alert["deviation_id"],
                        supervisor_id=alert["supervisor_id"],
                        group_id=alert["group_id"],
                        rule=alert["rule"],
                        severity=alert["severity"],
                        escalation_level=alert["escalation_level"],
                        channel="email" if channel == "email" else "webhook",
                        channel_name=channel,
                        message_id=delivery.message_id,
                        attempts=delivery.attempt,
                        last_error=error.reason[:500],
                        failed_at=now,
                    ),
                    source=self._settings.source,
                    now=now,
                )
        self._metrics.deliveries.labels(channel, "gave_up" if give_up else "retry").inc()
        if not give_up:
            log.info(
                "delivery %s attempt %d failed (%s); next in %.1fs",
                delivery.message_id,
                delivery.attempt,
                error.reason,
                delay.total_seconds(),
            )
            return
        self._on_event()
        log.warning(
            "delivery %s gave up after %d attempt(s): %s (in the delivery log; replay it with "
            "POST /api/v1/deliveries/%s/replay)",
            delivery.message_id,
            delivery.attempt,
            error.reason,
            delivery.message_id,
        )
