"""The analytics worker's composition root: a Faust app folding meetings, evaluations and deviations into
per-group facts (table keyed by group id, co-partitioned with those three topics), acknowledgements into
per-supervisor facts (table keyed like `notifications.alerts`), and dead letters into per-partition
counts; serving the sums as metrics and the reports API on the worker's web server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import EventT, StreamT
from prometheus_client import CollectorRegistry

from services.analytics import aggregates, pipeline
from services.analytics.aggregates import GroupFacts, SupervisorFacts
from services.analytics.collector import AggregatesCollector, PipelineHealth
from services.analytics.directory import Directory, registry_entry
from services.analytics.openapi import analytics_openapi
from services.analytics.settings import AnalyticsSettings
from services.analytics.state import AnalyticsState
from services.analytics.views import ReportViews, install_report_pages
from shared import topics
from shared.deadletters import record_headers
from shared.events import (
    ActivityProgressed,
    AlertAcknowledged,
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
    DeviceSynced,
    EvaluationSubmitted,
    EventData,
    MeetingRecorded,
    MeetingScheduled,
    PlanAgreed,
    PlanRevised,
)
from shared.faust_app import (
    DeadLetters,
    build_app,
    in_event_context,
    install_web_pages,
    raw_topic,
    tables_delivered,
)
from shared.faust_offsets import install_offset_guard, overtaken, read_again
from shared.intake import IntakeMetrics, Refused, take_in

log = logging.getLogger(__name__)

SERVICE = "analytics"
# Records folded together; their offsets are committed only after their table writes are stored.
BATCH_SIZE = 500
BATCH_SECONDS = 0.05

# How each fact changes a group's facts (True if anything changed).
GROUP_FOLDS: dict[type[EventData], Callable[[GroupFacts, Any], bool]] = {
    MeetingRecorded: aggregates.on_meeting,
    MeetingScheduled: aggregates.on_meeting_scheduled,
    DeviceSynced: aggregates.on_device_synced,
    PlanAgreed: aggregates.on_plan,
    PlanRevised: aggregates.on_plan,
    ActivityProgressed: aggregates.on_progress,
    EvaluationSubmitted: aggregates.on_evaluation,
    DeviationOpened: aggregates.on_deviation_opened,
    DeviationEscalated: aggregates.on_deviation_escalated,
    DeviationResolved: aggregates.on_deviation_resolved,
}


def create_app(settings: AnalyticsSettings | None = None, clock: Callable[[], datetime] | None = None) -> faust.App:
    """Build the worker; it connects only when started. `clock` is the "now" at which reports and
    scrapes judge whether a due time has passed (the wall clock unless a test fixes it)."""
    settings = settings or AnalyticsSettings()
    now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
    kafka = settings.kafka
    registry = CollectorRegistry()
    intake = IntakeMetrics(registry, service=SERVICE)

    app = build_app(
        settings.app_id,
        kafka=kafka,
        web_host=settings.web_host,
        web_port=settings.web_port,
        data_dir=settings.data_dir,
        partitions=settings.partitions,
    )
    meetings_name = kafka.topic(topics.MEETINGS_EVENTS)
    alerts_name = kafka.topic(topics.NOTIFICATIONS_ALERTS)
    meetings_topic = raw_topic(app, meetings_name, settings.partitions)
    evaluations_topic = raw_topic(app, kafka.topic(topics.EVALUATIONS_EVENTS), settings.partitions)
    plans_topic = raw_topic(app, kafka.topic(topics.PLANS_EVENTS), settings.partitions)
    deviations_topic = raw_topic(app, kafka.topic(topics.MONITORING_DEVIATIONS), settings.partitions)
    alerts_topic = raw_topic(app, alerts_name, settings.alerts_partitions)
    registry_topic = raw_topic(app, kafka.topic(topics.REGISTRY_EVENTS), settings.registry_partitions)
    dead_letters = DeadLetters(
        raw_topic(app, kafka.topic(topics.ANALYTICS_DLQ), settings.dead_letter_partitions),
        service=SERVICE,
        counter=intake.dead_letters,
    )
    group_facts = app.Table("group-facts", default=None, partitions=settings.partitions)
    supervisor_facts = app.Table("supervisor-acks", default=None, partitions=settings.alerts_partitions)
    # key "<kind>:<id>" as on registry.events → the names and schedule a report needs (directory.py)
    registry_names = app.Table("registry-names", default=None, partitions=settings.registry_partitions)
    # key "<dlq topic>|<partition>" → {"offset": last counted, "counts": {"service|reason": n}}: each key is
    # written only from its own partition, so counting stays exactly-once per record across restarts.
    dead_letter_counts = app.Table("dead-letter-counts", default=None, partitions=settings.dead_letter_partitions)

    state = AnalyticsState()
    lag_readings: dict[tuple[str, str], float] = {}

    def active_partitions(topic_name: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}

    def health() -> PipelineHealth:
        counts: dict[tuple[str, str], float] = {}
        for value in dead_letter_counts.values():
            for label, count in (value or {}).get("counts", {}).items():
                service, reason = label.split("|", 1)
                counts[(service, reason)] = counts.get((service, reason), 0.0) + count
        return PipelineHealth(consumer_lag=dict(lag_readings), dead_letters=counts)

    registry.register(AggregatesCollector(state.rollup, health, clock=now))

    @group_facts.on_recover
    async def rebuild_groups() -> None:
        active = active_partitions(meetings_name)
        state.rebuild_groups(((key, GroupFacts.from_json(value)) for key, value in group_facts.items()), active)
        log.info("rebuilt group aggregates for partitions %s (%d groups)", sorted(active), len(group_facts))

    @supervisor_facts.on_recover
    async def rebuild_supervisors() -> None:
        active = active_partitions(alerts_name)
        state.rebuild_supervisors((SupervisorFacts.from_json(value) for value in supervisor_facts.values()), active)

    def fold_group(fact: EventData, group_id: str, partition: int) -> None:
        fold = GROUP_FOLDS.get(type(fact))
        if fold is None:
            return  # e.g. device_synced: nothing analytics aggregates
        stored = group_facts.get(group_id)
        before = GroupFacts.from_json(stored) if stored else None
        facts = before.model_copy(deep=True) if before is not None else GroupFacts()
        if fold(facts, fact):
            facts.partition = partition
            group_facts[group_id] = facts.to_json()
            state.group_changed(group_id, before, facts)

    def fold_registry(fact: EventData, key: str, partition: int) -> None:
        entry = registry_entry(fact)
        if entry is not None and registry_names.get(entry[0]) != entry[1]:
            registry_names[entry[0]] = entry[1]

    def fold_supervisor(fact: EventData, supervisor_id: str, partition: int) -> None:
        if not isinstance(fact, AlertAcknowledged):
            return
        stored = supervisor_facts.get(supervisor_id)
        before = SupervisorFacts.from_json(stored) if stored else None
        facts = before.model_copy(deep=True) if before is not None else SupervisorFacts()
        if aggregates.on_alert_acknowledged(facts, fact):
            facts.partition = partition
            supervisor_facts[supervisor_id] = facts.to_json()
            state.supervisor_changed(before, facts)

    async def consume(stream: Any, topic: str, fold: Callable[[EventData, str, int], None]) -> None:
        # In batches: a batch's records are acknowledged (and their offsets become committable) only
        # after its table writes reached the broker, so a restart never resumes after a record
        # whose counts it lost.
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            # Partitions a rebalance overtook are having their tables rebuilt from the changelog:
            # a count written now could be overwritten by the rebuild. Their records are read again.
            again: set[int] = set()
            for event in batch:
                again |= overtaken(app, [event])  # judged as each comes: a rebalance can come mid-batch
                if event.message.partition not in again:
                    await fold_one(event, topic, fold)
            if again:
                await read_again(app, [event for event in batch if event.message.partition in again])
            await tables_delivered(group_facts, supervisor_facts)

    async def fold_one(event: EventT, topic: str, fold: Callable[[EventData, str, int], None]) -> None:
        decoded = take_in(event.value, event.key, topic=topic, metrics=intake)
        if decoded is None:
            return
        if isinstance(decoded, Refused):
            await dead_letters.send(event, decoded.reason, decoded.detail)
            return
        try:
            with in_event_context(event):
                fold(decoded.event, decoded.envelope.subject, event.message.partition)
        except Exception as exc:  # a bug must cost one record (kept in the DLQ), not the agent
            log.exception("aggregating %s failed", decoded.envelope.type)
            await dead_letters.send(event, "processing_error", f"{type(exc).__name__}: {exc}"[:300])

    def count_dead_letter(event: EventT, topic: str) -> None:
        message = event.message
        key = f"{topic}|{message.partition}"
        value = dict(dead_letter_counts.get(key) or {"offset": -1, "counts": {}})
        if message.offset <= value["offset"]:
            return  # redelivered after a restart: already counted
        headers = record_headers(message)
        service = pipeline.header(headers, topics.DLQ_SERVICE_HEADER)
        label = f"{service}|{pipeline.header(headers, topics.DLQ_REASON_HEADER)}"
        counts = dict(value["counts"])
        counts[label] = counts.get(label, 0) + 1
        dead_letter_counts[key] = {"offset": message.offset, "counts": counts}

    @app.agent(meetings_topic, name="aggregate-meetings")
    async def aggregate_meetings(stream: StreamT) -> None:
        await consume(stream, topics.MEETINGS_EVENTS, fold_group)

    @app.agent(evaluations_topic, name="aggregate-evaluations")
    async def aggregate_evaluations(stream: StreamT) -> None:
        await consume(stream, topics.EVALUATIONS_EVENTS, fold_group)

    @app.agent(plans_topic, name="aggregate-plans")
    async def aggregate_plans(stream: StreamT) -> None:
        await consume(stream, topics.PLANS_EVENTS, fold_group)

    @app.agent(deviations_topic, name="aggregate-deviations")
    async def aggregate_deviations(stream: StreamT) -> None:
        await consume(stream, topics.MONITORING_DEVIATIONS, fold_group)

    @app.agent(registry_topic, name="read-registry")
    async def read_registry(stream: StreamT) -> None:
        await consume(stream, topics.REGISTRY_EVENTS, fold_registry)

    @app.agent(alerts_topic, name="aggregate-acknowledgements")
    async def aggregate_acknowledgements(stream: StreamT) -> None:
        await consume(stream, topics.NOTIFICATIONS_ALERTS, fold_supervisor)

    def dead_letter_agent(dlq: str) -> None:
        source = raw_topic(app, kafka.topic(dlq), settings.dead_letter_partitions)

        async def count(stream: Any) -> None:
            async for batch in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
                for event in batch:
                    intake.processed.labels(SERVICE, dlq).inc()
                    with in_event_context(event):
                        count_dead_letter(event, dlq)
                await tables_delivered(dead_letter_counts)

        app.agent(source, name=f"count-{dlq.replace('.', '-')}")(count)

    for dlq in topics.DEAD_LETTER_TOPICS:
        dead_letter_agent(dlq)

    groups = pipeline.parse_consumer_groups(settings.consumer_groups)
    groups[SERVICE] = settings.app_id

    @app.timer(interval=settings.lag_interval_seconds)
    async def read_consumer_lag() -> None:
        try:
            readings = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: pipeline.consumer_lag(
                    kafka.bootstrap_servers,
                    groups={service: kafka.group_id(group) for service, group in groups.items()},
                    topic_prefix=kafka.topic_prefix,
                ),
            )
        except Exception as exc:  # the broker may be briefly away; keep the last readings
            log.warning("reading consumer lag failed: %r", exc)
            return
        lag_readings.clear()
        lag_readings.update(readings)

    def group_lookup(group_id: str) -> GroupFacts | None:
        stored = group_facts.get(group_id)
        return GroupFacts.from_json(stored) if stored else None

    def name_lookup(key: str) -> Mapping[str, Any] | None:
        value = registry_names.get(key)
        return value if isinstance(value, Mapping) else None

    install_offset_guard(app, registry=registry)
    install_web_pages(app, registry=registry, openapi=analytics_openapi())
    install_report_pages(
        app,
        ReportViews(
            state=state,
            group=group_lookup,
            auth=settings.auth,
            partitions=settings.partitions,
            directory=Directory(name_lookup),
            clock=now,
            chromium_path=settings.chromium_path,
        ),
    )
    return app
