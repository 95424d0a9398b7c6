"""The monitoring worker's composition root: a Faust app with its topics, tables, agents and web views.

Records are read as raw bytes and decoded through `shared.serde`; every rule is a pure function in
`rules/`, folded by `engine.py`. Tables are keyed by group id and have the same partition count as
the group-keyed source topics (co-partitioning), so a group's state lives where its events arrive.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust
from faust.types import StreamT
from prometheus_client import CollectorRegistry

from services.monitoring import engine
from services.monitoring.clock import RuleClock
from services.monitoring.metrics import SERVICE, MonitoringMetrics
from services.monitoring.programmes import load_programmes, programme_config
from services.monitoring.publishing import deviation_event
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import MonitoringSettings
from shared import serde, topics
from shared.events import DeviceSynced, MeetingRecorded, MeetingScheduled
from shared.faust_app import DeadLetters, build_app, install_web_pages, raw_topic

log = logging.getLogger(__name__)


def create_app(settings: MonitoringSettings | None = None, *, clock: RuleClock | None = None) -> faust.App:
    """Build the worker; it connects only when started (`app.main()` / `worker`)."""
    settings = settings or MonitoringSettings()
    kafka = settings.kafka
    clock = clock or RuleClock(settings.clock)
    programmes = load_programmes(settings.programmes_dir)
    registry = CollectorRegistry()
    metrics = MonitoringMetrics(registry)

    app = build_app(
        settings.app_id,
        kafka=kafka,
        web_host=settings.web_host,
        web_port=settings.web_port,
        data_dir=settings.data_dir,
        partitions=settings.partitions,
    )

    meetings_topic = raw_topic(app, kafka.topic(topics.MEETINGS_EVENTS), settings.partitions)
    deviations_topic = raw_topic(app, kafka.topic(topics.MONITORING_DEVIATIONS), settings.partitions)
    dead_letter_topic = raw_topic(app, kafka.topic(topics.MONITORING_DLQ), 3)
    group_state = app.Table("group-state", default=None, partitions=settings.partitions)

    dead_letters = DeadLetters(dead_letter_topic, service=SERVICE, counter=metrics.dead_letters)

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
                await dead_letters.send(event, exc.reason, exc.detail)
                continue
            clock.observe(decoded.envelope.time)
            fact = decoded.event
            try:
                if isinstance(fact, MeetingRecorded):
                    await on_meeting_recorded(fact)
                elif isinstance(fact, MeetingScheduled | DeviceSynced):
                    pass  # inputs of `meeting.overdue`, which reads them once it is built
                else:
                    detail = f"{decoded.envelope.type} on {topics.MEETINGS_EVENTS}"
                    await dead_letters.send(event, "unexpected_type", detail)
            except Exception as exc:  # a bug must cost one record (kept in the DLQ), not the agent
                log.exception("processing %s failed", decoded.envelope.type)
                await dead_letters.send(event, "processing_error", f"{type(exc).__name__}: {exc}"[:300])

    install_web_pages(app, registry=registry)
    return app
