"""The notifications service's composition root: store, Kafka clients, channels, intake, delivery
worker, scheduler, outbox publisher, API and console."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from services.notifications import store
from services.notifications.api import console_router, router
from services.notifications.channels.base import Channel
from services.notifications.channels.feed import FeedHub
from services.notifications.channels.registry import build_channels
from services.notifications.consumer import CONSUMED_TOPICS, AlertIntake
from services.notifications.delivery import DeliveryWorker
from services.notifications.deps import NotificationsContext
from services.notifications.metrics import NotificationsMetrics
from services.notifications.outbox import OutboxPublisher
from services.notifications.scheduler import Scheduler
from services.notifications.settings import NotificationsSettings
from services.notifications.timing import Policy
from shared.kafka import build_consumer, build_producer, start_with_retry
from shared.web import bearer_principal, install_health_routes, install_problem_handlers, install_problem_openapi

log = logging.getLogger(__name__)


def create_app(
    settings: NotificationsSettings | None = None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FastAPI:
    """Build the app; Kafka and the store are reached only when the lifespan starts. `clock` is the
    time of requests, the intake, the delivery worker and the scheduler (tests inject their own)."""
    settings = settings or NotificationsSettings()
    registry = CollectorRegistry()
    metrics = NotificationsMetrics(registry)
    state: dict[str, bool] = {"kafka": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = store.build_engine(settings.database_url)
        producer = build_producer(settings.kafka, client_id="pantau-notifications")
        consumer = build_consumer(
            settings.kafka, topics=CONSUMED_TOPICS, group=settings.consumer_group, client_id="pantau-notifications"
        )
        policy = Policy.from_settings(settings)
        hub = FeedHub()
        channels: dict[str, Channel] = build_channels(settings, hub)
        publisher = OutboxPublisher(engine, producer=producer, topic_for=settings.kafka.topic)
        worker = DeliveryWorker(
            engine, channels=channels, settings=settings, metrics=metrics, on_event=publisher.notify, clock=clock
        )
        scheduler = Scheduler(engine, policy=policy, clock=clock, on_queued=worker.notify, on_event=publisher.notify)
        stop = asyncio.Event()
        context = NotificationsContext(
            settings=settings,
            engine=engine,
            policy=policy,
            metrics=metrics,
            feed=hub,
            clock=clock,
            authenticate=bearer_principal(settings.auth),
            wake_outbox=publisher.notify,
            wake_delivery=worker.notify,
        )
        app.state.context = context
        log.info(
            "notifications: channels %s; quiet hours %s; ack deadlines critical %.0fs, warning %.0fs",
            ", ".join(sorted(channels)),
            "on" if policy.calendar.enabled else "off",
            settings.ack_deadline_critical_seconds,
            settings.ack_deadline_warning_seconds,
        )

        async def local_loops() -> None:
            # Delivery and scheduling need only the store: they run even while Kafka is unreachable.
            await asyncio.gather(worker.run(stop), scheduler.run(stop))

        async def run() -> None:
            if not await start_with_retry(producer, what="notifications producer", stop=stop):
                return
            if not await start_with_retry(consumer, what="notifications consumer", stop=stop):
                return
            state["kafka"] = True
            intake = AlertIntake(
                engine,
                consumer=consumer,
                producer=producer,
                settings=settings,
                metrics=metrics,
                on_queued=worker.notify,
                policy=policy,
                clock=clock,
            )
            log.info("notifications consuming %s", ", ".join(settings.kafka.topic(t) for t in CONSUMED_TOPICS))
            await asyncio.gather(intake.run(stop), publisher.run(stop))

        task = asyncio.create_task(run(), name="notifications")
        task.add_done_callback(_log_crash)
        local = asyncio.create_task(local_loops(), name="notifications-delivery")
        local.add_done_callback(_log_crash)
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(task, local), timeout=15)
            state["kafka"] = False
            for client in (consumer, producer):
                with contextlib.suppress(Exception):
                    await client.stop()
            for channel in channels.values():
                await channel.close()
            engine.dispose()
            log.info("notifications service stopped")

    app = FastAPI(
        title="Pantau notifications service",
        version="1.0.0",
        description="Routes deviations to the right supervisor and delivers signed alerts.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    # The document names every refusal as meetings' does (a 400 for a body that is not JSON included).
    install_problem_openapi(app)

    async def readiness() -> dict[str, bool]:
        return {"kafka": state["kafka"], "database": await asyncio.to_thread(_database_answers, app)}

    install_health_routes(app, registry=registry, readiness=readiness)
    app.include_router(router)
    app.include_router(console_router)
    return app


def _database_answers(app: FastAPI) -> bool:
    try:
        with app.state.context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        log.warning("database check failed", exc_info=True)
        return False


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("notifications loop stopped", exc_info=task.exception())
