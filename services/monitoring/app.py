"""The monitoring worker's composition root: a Faust app with its topics, tables and timer; the
agents' work on each batch is in `agents.py`, the rules' in `engine.py`.

- topics: every group-keyed source (meetings, plans, evaluations) and the worker's own ticks topic
  feed one agent (`watch-groups`), so a group's state is only ever changed by one stream, in order;
  the facilitator-signals topic feeds `watch-facilitators`.
- tables: keyed by group id (or facilitator id), with the same partition count as the streams that
  change them (co-partitioning), so state lives where its events arrive.
- the timer pops due instants from the wake index and hands them to `watch-groups` as ticks.
"""

from __future__ import annotations

import logging

import faust
import orjson
from faust.types import TP
from prometheus_client import CollectorRegistry, Gauge

from services.monitoring.agents import Agents
from services.monitoring.clock import RuleClock
from services.monitoring.folding import Outgoing
from services.monitoring.metrics import MonitoringMetrics
from services.monitoring.programmes import load_programmes
from services.monitoring.settings import MonitoringSettings
from services.monitoring.stored_state import stored_schedule
from services.monitoring.wake_index import WakeIndex
from shared import topics
from shared.faust_app import (
    build_app,
    health_openapi,
    install_web_pages,
    raw_topic,
    recovered,
)
from shared.faust_offsets import install_offset_guard

log = logging.getLogger(__name__)

GROUP_SOURCES = (topics.MEETINGS_EVENTS, topics.PLANS_EVENTS, topics.EVALUATIONS_EVENTS)
OPENAPI_TITLE = "Pantau monitoring service"
OPENAPI_DESCRIPTION = (
    "A stream worker: the deviation rules publish to `monitoring.deviations`; over HTTP it answers "
    "only whether it is alive and ready, and its Prometheus metrics."
)


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
        store=settings.store,
    )
    app_id = app.conf.id
    ticks_name = f"{app_id}-ticks"
    signals_name = f"{app_id}-facilitator-signals"
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
    # States as compact bytes (stored_state.py); a changelog written as JSON before still reads.
    group_state = app.Table("group-state", default=None, partitions=settings.partitions, value_type=bytes)
    facilitator_state = app.Table("facilitator-state", default=None, partitions=settings.partitions)

    agents = Agents(
        app=app,
        settings=settings,
        programmes=programmes,
        metrics=metrics,
        clock=clock,
        wake=wake,
        group_state=group_state,
        facilitator_state=facilitator_state,
        source_names=source_names,
        ticks_name=ticks_name,
        signals_name=signals_name,
        deviations_name=kafka.topic(topics.MONITORING_DEVIATIONS),
        dead_letters_name=kafka.topic(topics.MONITORING_DLQ),
    )
    app.agent(group_stream, name="watch-groups")(agents.watch_groups)
    app.agent(signals_topic, name="watch-facilitators")(agents.watch_facilitators)

    rebuilt = {"generation": -1}

    @app.timer(interval=settings.tick_seconds)
    async def hand_out_ticks() -> None:
        if not recovered(app):  # the latest assignment's tables still being read
            return
        if rebuilt["generation"] != app.rebalancing_count:
            rebuilt["generation"] = app.rebalancing_count
            # Read the stored wake-up instants alone: no full decode of 400,000 states.
            # Only partitions this worker owns: the table also holds standby copies of other workers'
            # partitions, and a tick handed out on this worker's clock for a group it does not own
            # would tell the owner that time has passed which its own records have not reached.
            active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in source_names}
            entries = []
            for group_id, value in group_state.items():
                schedule = stored_schedule(value)
                if schedule is None or schedule[0] not in active:
                    continue
                partition, wake_at, clock_at = schedule
                if wake_at is not None:
                    entries.append((group_id, partition, wake_at))
                if settings.clock == "event" and clock_at is not None:
                    clock.restore(partition, clock_at)
            wake.rebuild(entries)
            log.info("wake index rebuilt: %d groups waiting", len(wake))
        due = wake.pop_due(clock.now)
        if not due:
            return
        await agents.publish(
            [
                Outgoing(ticks_name, group_id.encode(), orjson.dumps({"at": at.isoformat()}), [], partition)
                for group_id, partition, at in due
            ]
        )

    # A partition sought back is read again from there: the clock must not count it as read beyond.
    install_offset_guard(app, registry=registry, on_seek=lambda tp: clock.forget(tp.topic, tp.partition))
    install_web_pages(
        app,
        registry=registry,
        openapi=health_openapi(OPENAPI_TITLE, OPENAPI_DESCRIPTION),
    )
    return app
