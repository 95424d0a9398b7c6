"""The monitoring worker's composition root: a Faust app with its topics, tables, agents and web views.

Records are read as raw bytes and decoded through `shared.serde`; every rule is a pure function in
`rules/`, folded by `engine.py`. Tables are keyed by group id and have the same partition count as
the group-keyed source topics (co-partitioning), so a group's state lives where its events arrive.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import EventT, StreamT
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.monitoring import engine
from services.monitoring.clock import RuleClock
from services.monitoring.metrics import SERVICE, MonitoringMetrics
from services.monitoring.programmes import load_programmes, programme_config
from services.monitoring.publishing import deviation_event
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import MonitoringSettings
from shared import serde, topics
from shared.deadletters import dead_letter_headers
from shared.events import DeviceSynced, MeetingRecorded, MeetingScheduled

log = logging.getLogger(__name__)


def _raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=False,
    )


def _headers(message: Any) -> list[tuple[str, bytes]]:
    headers = message.headers or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(name), bytes(value)) for name, value in items]


def create_app(settings: MonitoringSettings | None = None, *, clock: RuleClock | None = None) -> faust.App:
    """Build the worker; it connects only when started (`app.main()` / `worker`)."""
    settings = settings or MonitoringSettings()
    kafka = settings.kafka
    clock = clock or RuleClock(settings.clock)
    programmes = load_programmes(settings.programmes_dir)
    registry = CollectorRegistry()
    metrics = MonitoringMetrics(registry)

    app = faust.App(
        kafka.group_id(settings.app_id),
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        datadir=str(settings.data_dir),
        store="memory://",
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_in_thread=False,
        producer_acks=-1,
    )

    meetings_topic = _raw_topic(app, kafka.topic(topics.MEETINGS_EVENTS), settings.partitions)
    deviations_topic = _raw_topic(app, kafka.topic(topics.MONITORING_DEVIATIONS), settings.partitions)
    dead_letter_topic = _raw_topic(app, kafka.topic(topics.MONITORING_DLQ), 3)
    group_state = app.Table("group-state", default=None, partitions=settings.partitions)

    async def to_dead_letters(event: EventT, reason: str, detail: str) -> None:
        message = event.message
        log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        metrics.dead_letters.labels(SERVICE, reason).inc()
        await dead_letter_topic.send(
            key=event.key,
            value=event.value if event.value is not None else b"",
            headers=dead_letter_headers(
                service=SERVICE,
                reason=reason,
                detail=detail,
                source_topic=message.topic,
                source_partition=message.partition,
                source_offset=message.offset,
                original_headers=_headers(message),
            ),
        )

    async def on_meeting_recorded(meeting: MeetingRecorded) -> None:
        state = GroupState.from_json(group_state.get(meeting.group_id))
        outcome = engine.on_meeting_recorded(state, meeting, programme_config(programmes, meeting.programme))
        now = clock.now()
        for decision in outcome.decisions:
            deviation = deviation_event(
                decision,
                group_id=meeting.group_id,
                programme=meeting.programme,
                facilitator_id=meeting.facilitator_id,
                region_code=meeting.region_code,
                now=now,
            )
            envelope = serde.envelope_for(deviation, source=settings.source, time=now)
            await deviations_topic.send(
                key=deviation.kafka_key().encode(),
                value=serde.encode(envelope),
                headers=serde.kafka_headers(envelope),
            )
            change = type(decision).__name__.lower()
            metrics.deviations.labels(decision.rule, decision.severity, change).inc()
            if settings.clock == "wall" and change == "open":
                latency = (datetime.now(UTC) - meeting.received_at).total_seconds()
                metrics.detection_latency.labels(decision.rule).observe(max(0.0, latency))
            log.info("%s %s %s for group %s", change, decision.rule, decision.severity, meeting.group_id)
        if outcome.state != state:
            group_state[meeting.group_id] = outcome.state.to_json()

    @app.agent(meetings_topic, name="watch-meetings")
    async def watch_meetings(stream: StreamT) -> None:
        async for event in stream.events():
            metrics.processed.labels(SERVICE, topics.MEETINGS_EVENTS).inc()
            try:
                decoded = serde.decode(event.value, key=event.key)
            except serde.DecodeError as exc:
                if exc.reason == "unknown_type":
                    metrics.skipped_unknown.labels(SERVICE, topics.MEETINGS_EVENTS).inc()
                    continue
                await to_dead_letters(event, exc.reason, exc.detail)
                continue
            clock.observe(decoded.envelope.time)
            fact = decoded.event
            if isinstance(fact, MeetingRecorded):
                await on_meeting_recorded(fact)
            elif isinstance(fact, MeetingScheduled | DeviceSynced):
                pass  # inputs of `meeting.overdue`, which reads them once it is built
            else:
                await to_dead_letters(event, "unexpected_type", f"{decoded.envelope.type} on {topics.MEETINGS_EVENTS}")

    started = {"value": False}

    @app.task
    async def mark_started() -> None:
        started["value"] = True

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        checks = {"kafka": bool(started["value"]) and not app.rebalancing, "tables_recovered": _recovered(app)}
        ready = all(checks.values())
        return web.json({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    app.pantau_registry = registry  # type: ignore[attr-defined]
    return app


def _recovered(app: faust.App) -> bool:
    try:
        return bool(app.tables.recovery.completed.is_set())
    except AttributeError:
        return True
