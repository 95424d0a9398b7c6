"""The meetings service's composition root: settings, store, outbox relay and routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from services.meetings import db
from services.meetings.deps import MeetingsContext, MeetingsMetrics
from services.meetings.deviation_projection import DeviationProjection
from services.meetings.edge import screen_request
from services.meetings.evaluations.views import router as evaluations_router
from services.meetings.field_app.shell import AppShell
from services.meetings.field_app.views import router as field_app_router
from services.meetings.field_app.views import shell_router
from services.meetings.groups.views import router as groups_router
from services.meetings.leases import Lease
from services.meetings.meeting_reports.views import router as meetings_router
from services.meetings.outbox import OutboxMetrics, OutboxRelay
from services.meetings.plans.views import router as plans_router
from services.meetings.registry.views import router as registry_router
from services.meetings.scheduling import Scheduler
from services.meetings.settings import MeetingsSettings
from shared.web import (
    BodySizeLimit,
    bearer_principal,
    install_health_routes,
    install_problem_handlers,
    install_problem_openapi,
)

log = logging.getLogger(__name__)


def create_app(
    settings: MeetingsSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts."""
    settings = settings or MeetingsSettings()
    registry = CollectorRegistry()
    # One clock for the whole service (requests and the scheduler), so a test fixes "now" once.
    now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.build_engine(settings.database_url)
        await asyncio.to_thread(db.migrate, engine)
        relay = None
        if settings.publish_events:
            relay = OutboxRelay(
                engine,
                kafka=settings.kafka,
                metrics=OutboxMetrics(registry),
                poll_seconds=settings.outbox_poll_seconds,
                batch_size=settings.outbox_batch_size,
                lease=Lease(engine, "outbox-relay"),
            )
            relay.start()
        scheduler = Scheduler(
            engine,
            settings=settings,
            on_staged=lambda: relay.notify() if relay else None,
            clock=now,
            interval_seconds=settings.schedule_interval_seconds,
            lease=Lease(engine, "meeting-scheduler"),
        )
        scheduler.start()
        projection = None
        if settings.publish_events and settings.project_deviations:
            projection = DeviationProjection(engine, kafka=settings.kafka, registry=registry)
            projection.start()
        app.state.context = MeetingsContext(
            settings=settings,
            engine=engine,
            relay=relay,
            registry=registry,
            metrics=MeetingsMetrics(registry),
            clock=now,
            authenticate=bearer_principal(settings.auth),
        )
        log.info(
            "meetings service ready (store %s, broker %s)",
            engine.url.render_as_string(),
            settings.kafka.bootstrap_servers,
        )
        try:
            yield
        finally:
            await asyncio.to_thread(scheduler.stop)
            if relay is not None:
                await asyncio.to_thread(relay.stop)
            if projection is not None:
                await asyncio.to_thread(projection.stop)
            engine.dispose()
            log.info("meetings service stopped")

    app = FastAPI(
        title="Pantau meetings service",
        version="1.0.0",
        description=(
            "Registry, plans, meeting reports with attendance, progress and evaluations of community "
            "facilitation programmes. Errors are RFC 9457 problem details naming the offending field."
        ),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    install_problem_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    async def readiness() -> dict[str, bool]:
        context: MeetingsContext = app.state.context
        return {
            "database": await asyncio.to_thread(_database_answers, context),
            "kafka": context.relay.broker_reachable if context.relay is not None else True,
        }

    install_health_routes(app, registry=registry, readiness=readiness)
    # Every API route passes the one edge first: no NIK-shaped value goes further (`edge.py`).
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(screen_request)])
    api.include_router(registry_router)
    api.include_router(meetings_router)
    api.include_router(plans_router)
    api.include_router(evaluations_router)
    api.include_router(groups_router)
    api.include_router(field_app_router)
    app.include_router(api)
    app.include_router(shell_router(AppShell(settings.field_app_dir)))
    return app


def _database_answers(context: MeetingsContext) -> bool:
    try:
        with context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        log.warning("database check failed", exc_info=True)
        return False
