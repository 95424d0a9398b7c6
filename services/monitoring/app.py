"""The monitoring worker's composition root: a Faust app with its topics, tables, agents and timer.

- `watch-groups`: one agent over every group-keyed source (meetings, plans, evaluations) and the
  worker's own ticks topic, so a group's state is only ever changed by one stream, in order. It
  works in batches: fold every record through the pure engine, publish the resulting deviation
  events and facilitator signals, wait for the broker's acknowledgement, then store the new
  states and wait until the broker has those too; only then are the batch's records acknowledged
  (so their offsets can be committed). A crash can therefore repeat a publication (same derived
  deviation id) but never lose one, and never resume after records whose state it lost.
- `watch-facilitators`: the facilitator-level rule over a stream re-keyed by facilitator id.
- a timer that pops due instants from the wake index and hands them to `watch-groups` as ticks.

Tables are keyed by group id (or facilitator id) and have the same partition count as the streams
that change them (co-partitioning), so state lives where its events arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import TP, EventT
from prometheus_client import CollectorRegistry, Gauge

from services.monitoring import engine
from services.monitoring.clock import RuleClock
from services.monitoring.metrics import SERVICE, MonitoringMetrics
from services.monitoring.programmes import ProgrammeConfig, load_programmes, programme_config
from services.monitoring.publishing import deviation_event
from services.monitoring.rules import many_groups
from services.monitoring.rules.decisions import Decision, Open
from services.monitoring.rules.many_groups import FacilitatorState, GroupSignal
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import MonitoringSettings
from services.monitoring.wake_index import WakeIndex
from shared import serde, topics
from shared.deadletters import dead_letter_headers
from shared.events.base import EventData
from shared.faust_app import (
    build_app,
    health_openapi,
    in_event_context,
    install_web_pages,
    message_headers,
    raw_topic,
    tables_delivered,
)

log = logging.getLogger(__name__)

GROUP_SOURCES = (topics.MEETINGS_EVENTS, topics.PLANS_EVENTS, topics.EVALUATIONS_EVENTS)


@dataclass(frozen=True)
class Outgoing:
    """A record to publish before the batch's states are stored."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None = None


def create_app(settings: MonitoringSettings | None = None, *, clock: RuleClock | None = None) -> faust.App:
    """Build the worker; it connects only when started (`app.main()` / `worker`)."""
    settings = settings or MonitoringSettings()
    kafka = settings.kafka
    programmes = load_programmes(settings.programmes_dir)
    registry = CollectorRegistry()
    metrics = MonitoringMetrics(registry)
    wake = WakeIndex()
    Gauge("pantau_monitoring_wake_index_entries", "Groups waiting for a due instant.", registry=registry).set_function(
        lambda: len(wake)
    )

    app = build_app(
        settings.app_id,
        kafka=kafka,
        web_host=settings.web_host,
        web_port=settings.web_port,
        data_dir=settings.data_dir,
        partitions=settings.partitions,
    )
    app_id = app.conf.id
    ticks_name = f"{app_id}-ticks"
    signals_name = f"{app_id}-facilitator-signals"
    deviations_name = kafka.topic(topics.MONITORING_DEVIATIONS)
    dead_letters_name = kafka.topic(topics.MONITORING_DLQ)
    source_names = {kafka.topic(name): name for name in GROUP_SOURCES}

    def caught_up(topic: str, partition: int, last_offset: int | None) -> bool:
        """Nothing left to read on this topic-partition (as far as the last fetch knows)."""
        tp = TP(topic, partition)
        try:
            highwater = app.consumer.highwater(tp)
        except Exception:  # not assigned here, or no fetch yet
            return False
        if highwater is None:
            return False
        if last_offset is None:
            # Nothing read since this worker got the partition: caught up if the group's committed
            # position is already at the end (after a restart, a topic with nothing new must not
            # hold the partition's clock back forever). Faust keeps that position privately.
            position = getattr(app.consumer, "_committed_offset", {}).get(tp)
            return highwater == 0 or (position is not None and position >= highwater)
        return last_offset + 1 >= highwater

    clock = clock or RuleClock(settings.clock, sources=list(source_names), caught_up=caught_up)

    group_stream = app.topic(
        *source_names,
        ticks_name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    signals_topic = raw_topic(app, signals_name, settings.partitions)
    app.pantau_internal_topics = [(ticks_name, settings.partitions), (signals_name, settings.partitions)]  # type: ignore[attr-defined]
    group_state = app.Table("group-state", default=None, partitions=settings.partitions)
    facilitator_state = app.Table("facilitator-state", default=None, partitions=settings.partitions)

    def programme_of(state: GroupState, fact: EventData | None) -> ProgrammeConfig:
        name = getattr(fact, "programme", None) or (state.context.programme if state.context else "")
        return programme_config(programmes, name)

    def deviation_record(
        decision: Decision, *, group_id: str, programme: str, facilitator_id: str, region_code: str
    ) -> Outgoing:
        at = decision.at or clock.now()
        event = deviation_event(
            decision,
            group_id=group_id,
            programme=programme,
            facilitator_id=facilitator_id,
            region_code=region_code,
            now=at,
        )
        envelope = serde.envelope_for(event, source=settings.source, time=at)
        return Outgoing(deviations_name, group_id.encode(), serde.encode(envelope), serde.kafka_headers(envelope))

    def dead_letter(event: EventT, reason: str, detail: str) -> Outgoing:
        message = event.message
        log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        metrics.dead_letters.labels(SERVICE, reason).inc()
        return Outgoing(
            dead_letters_name,
            event.key or b"",
            event.value if event.value is not None else b"",
            dead_letter_headers(
                service=SERVICE,
                reason=reason,
                detail=detail,
                source_topic=message.topic,
                source_partition=message.partition,
                source_offset=message.offset,
                original_headers=message_headers(message),
            ),
        )

    async def publish(records: Sequence[Outgoing]) -> None:
        """Send everything, then wait for every acknowledgement (acks=all). Retries until it succeeds:
        an exception escaping here would crash the agent, and Faust's `take_events` acknowledges the
        batch on the way out, so records whose states were never stored would count as done.
        Re-sending after a partial failure only repeats events with the same derived ids."""
        if not records:
            return
        delay = 0.5
        while True:
            try:
                producer = app.producer
                pending = [
                    await producer.send(record.topic, record.key, record.value, record.partition, None, record.headers)
                    for record in records
                ]
                await asyncio.gather(*pending)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.publish_retries.inc()
                log.warning("publishing %d records failed (%s); retrying in %.1fs", len(records), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def observe_published(decisions: Sequence[Decision]) -> None:
        now = datetime.now(UTC)
        for decision in decisions:
            change = type(decision).__name__.lower()
            metrics.deviations.labels(decision.rule, decision.severity, change).inc()
            if change == "open" and settings.clock == "wall" and decision.at is not None:
                metrics.detection_latency.labels(decision.rule).observe(max(0.0, (now - decision.at).total_seconds()))

    # The last decoded state per group, valid while the table still holds the very same value object
    # (after a rebalance or recovery the table holds new objects, and the cache simply misses).
    decoded_cache: dict[str, tuple[Any, GroupState]] = {}

    def load_state(group_id: str) -> GroupState:
        raw = group_state.get(group_id)
        cached = decoded_cache.get(group_id)
        if cached is not None and raw is not None and cached[0] is raw:
            return cached[1]
        return GroupState.from_json(raw)

    async def process_groups(events: Sequence[EventT]) -> None:
        states: dict[str, GroupState] = {}
        loaded: dict[str, GroupState] = {}
        partitions: dict[str, int] = {}
        last_event: dict[str, EventT] = {}
        outgoing: list[Outgoing] = []
        published: list[Decision] = []
        for event in events:
            message = event.message
            partition = message.partition
            topic = source_names.get(message.topic, message.topic)
            metrics.processed.labels(SERVICE, topic if topic != ticks_name else "ticks").inc()
            fact: EventData | None = None
            received_at: datetime | None = None
            if message.topic == ticks_name:
                group_id = (event.key or b"").decode()
                tick_at = datetime.fromisoformat(orjson.loads(event.value or b"{}")["at"])
                now = tick_at if settings.clock == "event" else clock.now()
            else:
                try:
                    decoded = serde.decode(event.value, key=event.key)
                except serde.DecodeError as exc:
                    if exc.reason == "unknown_type":
                        metrics.skipped_unknown.labels(SERVICE, topic).inc()
                    else:
                        outgoing.append(dead_letter(event, exc.reason, exc.detail))
                    continue
                fact = decoded.event
                group_id = decoded.envelope.subject
                received_at = decoded.envelope.pantaureceivedat or decoded.envelope.time
                clock.observe(received_at, partition, message.topic, message.offset)
                now = clock.now(partition)  # wall clock, or the partition's safe watermark in replay
            if group_id not in states:
                loaded[group_id] = states[group_id] = load_state(group_id)
            state = states[group_id]
            if settings.clock == "event" and state.clock_at is not None and state.clock_at > now:
                now = state.clock_at  # a group's rule clock never goes back (watermarks can, when a topic wakes)
            try:
                programme = programme_of(state, fact)
                # Catch up with time first, so that the order of ticks and events never matters.
                if fact is None:  # a tick: time has come for this group
                    caught_up = engine.on_time_passing(state, now, programme, group_id=group_id)
                else:
                    caught_up = engine.catch_up(state, now, programme, group_id=group_id)
                if fact is not None:
                    outcome = engine.on_fact(
                        caught_up.state, fact, now, programme, partition=partition, received_at=received_at
                    )
                    decisions = caught_up.decisions + outcome.decisions
                    new_state = outcome.state
                else:
                    decisions, new_state = caught_up.decisions, caught_up.state
            except Exception as exc:  # a bug must cost one record (kept in the DLQ), not the agent
                log.exception("processing a record of group %s failed", group_id)
                outgoing.append(dead_letter(event, "processing_error", f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if settings.clock == "event" and (new_state.clock_at is None or now > new_state.clock_at):
                new_state = replace(new_state, clock_at=now)
            context = new_state.context
            if decisions and context is not None:
                for decision in decisions:
                    outgoing.append(
                        deviation_record(
                            decision,
                            group_id=group_id,
                            programme=context.programme,
                            facilitator_id=context.facilitator_id,
                            region_code=context.region_code,
                        )
                    )
                published += decisions
            signal = engine.facilitator_signal(
                state,
                new_state,
                programme.rules.facilitator_many_groups_deviating,
                group_id=group_id,
                at=max((d.at or now for d in decisions), default=now),
            )
            if signal is not None:
                key = signal.facilitator_id.encode()
                outgoing.append(Outgoing(signals_name, key, orjson.dumps(signal.to_json()), []))
            states[group_id] = new_state
            partitions[group_id] = partition
            last_event[group_id] = event
        await publish(outgoing)
        observe_published(published)
        for group_id, state in states.items():
            if state.context is not None:
                wake.schedule(group_id, partitions[group_id], state.wake_at)
            if state != loaded[group_id]:
                with in_event_context(last_event[group_id]):
                    group_state[group_id] = state.to_json()
                decoded_cache[group_id] = (group_state.get(group_id), state)
        # Only now may the batch's records be acknowledged (and their offsets committed).
        await tables_delivered(group_state)

    @app.agent(group_stream, name="watch-groups")
    async def watch_groups(stream: Any) -> None:  # a faust Stream (StreamT lacks take_events)
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            await process_groups(batch)

    @app.agent(signals_topic, name="watch-facilitators")
    async def watch_facilitators(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            states: dict[str, FacilitatorState] = {}
            last_event: dict[str, EventT] = {}
            outgoing: list[Outgoing] = []
            published: list[Decision] = []
            for event in batch:
                metrics.processed.labels(SERVICE, "facilitator-signals").inc()
                data: dict[str, Any] = orjson.loads(event.value or b"{}")
                signal = GroupSignal.from_json(data)
                key = signal.facilitator_id
                state = states.get(key) or FacilitatorState.from_json(facilitator_state.get(key))
                config = programme_config(programmes, signal.programme).rules.facilitator_many_groups_deviating
                open_place = state.place_of(state.open_group_id) if state.open_group_id else None
                state, decisions = many_groups.on_signal(state, signal, config)
                for group_id, decision in decisions:
                    region, programme = (
                        (signal.region_code, signal.programme)
                        if isinstance(decision, Open) or open_place is None
                        else open_place
                    )
                    outgoing.append(
                        deviation_record(
                            decision,
                            group_id=group_id,
                            programme=programme,
                            facilitator_id=signal.facilitator_id,
                            region_code=region,
                        )
                    )
                    published.append(decision)
                states[key] = state
                last_event[key] = event
            await publish(outgoing)
            observe_published(published)
            for key, state in states.items():
                with in_event_context(last_event[key]):
                    facilitator_state[key] = state.to_json()
            await tables_delivered(facilitator_state)

    rebuilt = {"generation": -1}

    @app.timer(interval=settings.tick_seconds)
    async def hand_out_ticks() -> None:
        recovery = getattr(app.tables, "recovery", None)
        if app.rebalancing or (recovery is not None and not recovery.completed.is_set()):
            return
        if rebuilt["generation"] != app.rebalancing_count:
            rebuilt["generation"] = app.rebalancing_count
            # Read the stored wake-up instants straight from the JSON: no full decode of 400,000 states.
            # Only partitions this worker owns: the table also holds standby copies of other workers'
            # partitions, and a tick handed out on this worker's clock for a group it does not own
            # would tell the owner that time has passed which its own records have not reached.
            active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in source_names}
            entries = []
            for group_id, value in group_state.items():
                context = value.get("context") if value else None
                if not context or context["partition"] not in active:
                    continue
                if value.get("wake_at"):
                    entries.append((group_id, context["partition"], datetime.fromisoformat(value["wake_at"])))
                if settings.clock == "event" and value.get("clock_at"):
                    clock.restore(context["partition"], datetime.fromisoformat(value["clock_at"]))
            wake.rebuild(entries)
            log.info("wake index rebuilt: %d groups waiting", len(wake))
        due = wake.pop_due(clock.now)
        if not due:
            return
        await publish(
            [
                Outgoing(ticks_name, group_id.encode(), orjson.dumps({"at": at.isoformat()}), [], partition)
                for group_id, partition, at in due
            ]
        )

    install_web_pages(
        app,
        registry=registry,
        openapi=health_openapi(
            "Pantau monitoring service",
            "A stream worker: the deviation rules publish to `monitoring.deviations`; over HTTP it answers "
            "only whether it is alive and ready, and its Prometheus metrics.",
        ),
    )
    return app
