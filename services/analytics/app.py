"""The analytics worker's composition root: a Faust app aggregating meetings and deviations per group
(table keyed by group id, co-partitioned with both source topics) and serving them as metrics."""

from __future__ import annotations

import logging

import faust
from faust.types import StreamT
from prometheus_client import CollectorRegistry, Counter

from services.analytics import aggregates
from services.analytics.aggregates import GroupFacts
from services.analytics.collector import AggregatesCollector
from services.analytics.settings import AnalyticsSettings
from shared import serde, topics
from shared.events import DeviationOpened, DeviationResolved, MeetingRecorded
from shared.faust_app import DeadLetters, build_app, install_web_pages, raw_topic

log = logging.getLogger(__name__)

SERVICE = "analytics"


def create_app(settings: AnalyticsSettings | None = None) -> faust.App:
    """Build the worker; it connects only when started."""
    settings = settings or AnalyticsSettings()
    kafka = settings.kafka
    registry = CollectorRegistry()
    processed = Counter(
        "pantau_events_processed_total", "Events read by the service.", ["service", "topic"], registry=registry
    )
    skipped = Counter(
        "pantau_events_unknown_type_total",
        "Events of a type this build does not know: counted and skipped.",
        ["service", "topic"],
        registry=registry,
    )
    dead_letter_count = Counter(
        "pantau_dead_letters_total", "Records sent to a dead-letter topic.", ["service", "reason"], registry=registry
    )

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
    dead_letters = DeadLetters(
        raw_topic(app, kafka.topic(topics.ANALYTICS_DLQ), 3), service=SERVICE, counter=dead_letter_count
    )
    group_facts = app.Table("group-facts", default=None, partitions=settings.partitions)

    def all_groups() -> list[GroupFacts]:
        return [GroupFacts.from_json(value) for value in group_facts.values()]

    registry.register(AggregatesCollector(all_groups))

    async def consume(stream: StreamT, topic: str) -> None:
        async for event in stream.events():
            processed.labels(SERVICE, topic).inc()
            try:
                decoded = serde.decode(event.value, key=event.key)
            except serde.DecodeError as exc:
                if exc.reason == "unknown_type":
                    skipped.labels(SERVICE, topic).inc()
                else:
                    await dead_letters.send(event, exc.reason, exc.detail)
                continue
            try:
                fold(decoded.event, decoded.envelope.subject)
            except Exception as exc:  # a bug must cost one record (kept in the DLQ), not the agent
                log.exception("aggregating %s failed", decoded.envelope.type)
                await dead_letters.send(event, "processing_error", f"{type(exc).__name__}: {exc}"[:300])

    def fold(fact: object, group_id: str) -> None:
        facts = GroupFacts.from_json(group_facts.get(group_id))
        if isinstance(fact, MeetingRecorded):
            changed = aggregates.on_meeting(facts, fact)
        elif isinstance(fact, DeviationOpened):
            changed = aggregates.on_deviation_opened(facts, fact)
        elif isinstance(fact, DeviationResolved):
            changed = aggregates.on_deviation_resolved(facts, fact)
        else:
            changed = False  # other facts feed aggregates that are not built yet
        if changed:
            group_facts[group_id] = facts.to_json()

    @app.agent(meetings_topic, name="aggregate-meetings")
    async def aggregate_meetings(stream: StreamT) -> None:
        await consume(stream, topics.MEETINGS_EVENTS)

    @app.agent(deviations_topic, name="aggregate-deviations")
    async def aggregate_deviations(stream: StreamT) -> None:
        await consume(stream, topics.MONITORING_DEVIATIONS)

    install_web_pages(app, registry=registry)
    return app
