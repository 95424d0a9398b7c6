"""Faust plumbing shared by the stream workers: the app with Pantau's settings (and Kafka clients
that wait for an unreachable broker at start-up: `shared.faust_start`), raw-bytes topics (decoded
through `shared.serde`), dead-lettering, and the `/healthz`, `/readyz`, `/metrics` pages."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faust
from faust.types import AppT, EventT
from faust.types.tuples import FutureMessage
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from shared import faust_start
from shared.deadletters import headers_for
from shared.faust_sends import OrderedProducerBuffer
from shared.kafka_admin import TopicSpec, create_topics
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


class DurableTable(faust.Table):
    """A table whose changelog writes can be awaited: `await table.changelog_delivered()`.

    Faust buffers each table write for a background task and commits source offsets on a timer.
    Before a commit it flushes that buffer, but the flush gives up after 0.1 s without a send
    (`ProducerBuffer.flush_atmost`), so on a busy machine offsets were committed while the matching
    state writes still sat in the buffer. A `kill -9` then lost state the committed offsets said was
    kept: a restarted or rebalanced worker resumed after those records with older state (monitoring
    published deviations twice under new conditions or never; analytics lost counts). An agent that
    awaits `changelog_delivered()` before its records are acknowledged makes the order hold:
    state on the broker first, offsets after.
    """

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> FutureMessage:
        fut: FutureMessage = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        pending = self.__dict__.setdefault("_pantau_pending", {})
        pending[fut] = (partition, key, value, key_serializer, value_serializer)
        fut.add_done_callback(_forget_when_delivered(pending))
        return fut

    async def changelog_sent(self) -> None:
        """Hand every changelog write buffered so far to the producer (`send_buffered`), without
        waiting for the broker: what `changelog_delivered` does first, separately timed."""
        await send_buffered(self.app)

    async def changelog_delivered(self) -> None:
        """Return once every changelog write made so far is acknowledged by the broker; a write that
        failed is sent again with its key's current value (the producer already retried it; the
        broker may have been away)."""
        pending: dict[FutureMessage, tuple[Any, ...]] = self.__dict__.setdefault("_pantau_pending", {})
        if pending:
            await send_buffered(self.app)
        delay = 0.5
        while pending:
            waiting = dict(pending)
            gathered = asyncio.gather(*waiting, return_exceptions=True)
            done, _ = await asyncio.wait([gathered], timeout=30)
            if not done:
                unsent = [fut.message.partition or 0 for fut in waiting if not fut.done()]
                log.warning(
                    "%s: %d changelog writes not acknowledged after 30 s (partitions %s); still waiting",
                    self.name,
                    len(unsent),
                    sorted(set(unsent)),
                )
            results = await gathered
            for fut, result in zip(waiting, results, strict=True):
                if isinstance(result, BaseException):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    pending.pop(fut, None)
                    log.warning("changelog write of %s failed (%r); sending it again", self.name, result)
                    # The key's current value, not the failed one: a newer write of the key may be
                    # on the broker already, and the older value after it would end the changelog
                    # on stale state (the order `shared.faust_sends` keeps).
                    partition, key, _failed, key_serializer, value_serializer = waiting[fut]
                    self.send_changelog(partition, key, self.data.get(key), key_serializer, value_serializer)
            if pending and any(isinstance(result, BaseException) for result in results):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


async def send_buffered(app: AppT) -> None:
    """Hand every buffered write to the producer now, in order, instead of waiting for Faust's
    background task. That task sends one buffered write per turn of the event loop, and while more
    than 100 wait the consumer stops delivering records to the agents ("producer buffer full"):
    a batch of a few hundred state writes then stalled the worker for tens of milliseconds. The
    buffer keeps one order for both drainers (`shared.faust_sends`)."""
    buffer: Any = app.producer.buffer
    if isinstance(buffer, OrderedProducerBuffer):
        await buffer.send_all()
    else:  # a producer not built by `build_app`: Faust's own pace
        await buffer.flush()


def _forget_when_delivered(pending: dict[FutureMessage, Any]) -> Callable[[Any], None]:
    def forget(fut: Any) -> None:
        if not fut.cancelled() and fut.exception() is None:
            pending.pop(fut, None)

    return forget


async def tables_delivered(*tables: Any) -> None:
    """Wait until every changelog write of these tables reached the broker (see `DurableTable`)."""
    for table in tables:
        await table.changelog_delivered()


def build_app(
    app_id: str,
    *,
    kafka: KafkaSettings,
    web_host: str,
    web_port: int,
    data_dir: Path,
    partitions: int,
    store: str = "memory://",
) -> faust.App:
    """A Faust app that binds its web server where told and never creates topics by accident.

    `store` is where tables live between restarts: `memory://` reads every table's changelog again
    at start; `rocksdb://` keeps them on disk under `data_dir` (with rocksdict), so a restarted
    worker reads only the changelog written since its last commit."""
    app = faust.App(
        kafka.group_id(app_id),
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        datadir=str(data_dir),
        store=store,
        topic_partitions=partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_host=web_host,
        web_port=web_port,
        web_bind=web_host,
        web_in_thread=False,
        producer_acks=-1,
        # Every table can say when its changelog writes reached the broker (see `DurableTable`).
        Table=DurableTable,
        # A worker killed without leaving the group holds its partitions until the session times out:
        # keep that short so a restarted or surviving worker takes over within seconds.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    # Clients that wait for an unreachable broker at start-up instead of exiting (`faust_start`).
    faust_start.install(app, timeout_s=kafka.start_timeout_seconds)
    app.pantau_recovered_rebalance = -1  # type: ignore[attr-defined]
    app.on_rebalance_complete.connect(_note_recovered)
    return app


async def _note_recovered(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
    # Sent by Faust's recovery once the tables hold every partition of the latest assignment.
    sender.pantau_recovered_rebalance = sender.rebalancing_count


def recovered(app: faust.App) -> bool:
    """Whether the tables hold every partition this worker was last given: not rebalancing, and the
    recovery that followed the latest rebalance has finished.

    Faust's own `recovery.completed` is set after the first recovery and never cleared: after a
    second rebalance (a restarted worker joins beside its dead self, whose session then expires) it
    said "recovered" while the new partitions' changelogs were still being read, and the monitoring
    timer would rebuild its wake-up index from those half-read tables: the groups missing from it
    never wake. The likely cause of 78 of 291 deviations of absence (meetings and activities overdue,
    at risk) not published in one restart run of nine on 2026-12-04 (7 of 12 partitions)."""
    if app.rebalancing:
        return False
    recovery = getattr(app.tables, "recovery", None)
    if recovery is None:
        return True
    latest = getattr(app, "pantau_recovered_rebalance", None)
    if latest is None:  # an app not built by `build_app`: Faust's own flag
        return bool(recovery.completed.is_set())
    return bool(recovery.completed.is_set()) and latest == app.rebalancing_count


def raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    """A topic read and written as bytes; values go through `shared.serde`, keys are UTF-8 ids."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=False,
    )


@contextmanager
def in_event_context(event: EventT) -> Iterator[None]:
    """Make `event` Faust's current event while writing tables after a batch (`take_events`).

    A table write goes to the changelog partition of the current event; outside per-record
    iteration there is none and Faust refuses the write. Writing a group's state in the context of
    that group's last event keeps the changelog partition equal to the group's source partition.
    This sets the same context variable Faust's own stream iteration sets (`faust.streams`).
    """
    from faust import streams

    token = streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        streams._current_event.reset(token)


def write_row(table: Any, key: Any, value: Any, event: EventT) -> None:
    """`table[key] = value` for a plain (unwindowed) table written after a batch, in the context of
    `event` (the key's last record: its partition is the changelog's and, on RocksDB, the store's).

    What `in_event_context` and Faust's `__setitem__` do, without the context manager's generator
    and the current-event lookups behind `__setitem__`: together more than a twentieth of the
    monitoring worker's time, once per group per batch (py-spy, 2026-12-03)."""
    from faust import streams

    token = streams._current_event.set(weakref.ref(event))
    try:
        table.send_changelog(event.message.partition, key, value)
        table.data[key] = value  # RocksDB's store reads the current event's partition
        table._sensor_on_set(table, key, value)
    finally:
        streams._current_event.reset(token)


class DeadLetters:
    """Sends a refused record, unchanged, to the service's dead-letter topic with the reason."""

    def __init__(self, topic: Any, *, service: str, counter: Counter) -> None:
        self._topic = topic
        self._service = service
        self._counter = counter

    async def send(self, event: EventT, reason: str, detail: str) -> None:
        self._counter.labels(self._service, reason).inc()
        await self._topic.send(
            key=event.key,
            value=event.value if event.value is not None else b"",
            headers=headers_for(event.message, service=self._service, reason=reason, detail=detail),
        )


def health_openapi(title: str, description: str, paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """A worker's OpenAPI document: its own `paths` plus `/healthz`, `/readyz`, `/metrics` and
    `/openapi.json`, as `install_web_pages` serves them."""
    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
    }
    health: dict[str, Any] = {
        "/healthz": {"get": {"summary": "The worker is alive", "responses": {"200": _json("Alive", status)}}},
        "/readyz": {
            "get": {
                "summary": "Started, not rebalancing, tables recovered",
                "responses": {"200": _json("Ready", status), "503": _json("Not ready: the checks say why", status)},
            }
        },
        "/metrics": {
            "get": {"summary": "Prometheus text format", "responses": {"200": {"description": "Metrics", **text}}}
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})}}
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "paths": {**(paths or {}), **health},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def install_web_pages(
    app: faust.App,
    *,
    registry: CollectorRegistry,
    extra_checks: Callable[[], dict[str, bool]] | None = None,
    openapi: dict[str, Any] | None = None,
) -> None:
    """`/healthz`, `/readyz` (started, not rebalancing, tables recovered), `/metrics` and, when given,
    the worker's OpenAPI document at `/openapi.json`."""
    started = {"value": False}

    @app.task
    async def _mark_started() -> None:
        started["value"] = True

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        checks = {"kafka": started["value"] and not app.rebalancing, "tables_recovered": recovered(app)}
        if extra_checks is not None:
            checks.update(extra_checks())
        ready = all(checks.values())
        return web.json({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)

    @app.page("/debug/partitions")
    async def partitions(web: Any, request: Any) -> Any:
        return web.json(partition_report(app))

    @app.page("/debug/tasks")
    async def tasks(web: Any, request: Any) -> Any:
        return web.json(task_report(app))

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside `content_type`; the full header goes in as a header.
        return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    if openapi is not None:

        @app.page("/openapi.json")
        async def openapi_document(web: Any, request: Any) -> Any:
            return web.json(openapi)


def partition_report(app: faust.App) -> dict[str, Any]:
    """What this worker believes about each partition it was assigned: whether it fetches it, the
    offset it last read, the offset it last committed and the acknowledged offsets still waiting
    for a commit. When a partition's commits stop, this tells which of those stopped moving."""
    consumer = app.consumer
    assignment = consumer.assignment()
    paused = set(getattr(consumer, "_paused_partitions", set()))
    active = set(getattr(consumer, "_active_partitions", None) or set())
    acked: dict[Any, list[int]] = getattr(consumer, "_acked", {})
    committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    read: dict[Any, int | None] = getattr(consumer, "_read_offset", {})
    rows = []
    for tp in sorted(assignment):
        waiting = acked.get(tp) or []
        rows.append(
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "active": tp in active,
                "paused": tp in paused,
                "read": read.get(tp),
                "committed": committed.get(tp),
                "acked_waiting": len(waiting),
                "acked_first": waiting[0] if waiting else None,
                "acked_last": waiting[-1] if waiting else None,
            }
        )
    recovery = getattr(app.tables, "recovery", None)
    buffer = getattr(app.producer, "buffer", None)
    return {
        "generation": app.consumer_generation_id,
        # A commit that never finishes holds every later one back (Faust commits one at a time).
        "commit_in_progress": getattr(consumer, "_commit_fut", None) is not None,
        "producer_buffered": buffer.size if buffer is not None else None,
        "rebalancing": bool(app.rebalancing),
        "flow_active": bool(getattr(consumer, "flow_active", True)),
        "in_recovery": bool(getattr(recovery, "in_recovery", False)),
        "recovery_completed": recovered(app),
        "partitions": rows,
    }


def task_report(app: faust.App) -> dict[str, list[str]]:
    """Where every coroutine of the worker waits (the main loop and the consumer's own thread):
    the one place to look when a worker is alive, idle and not moving."""
    loops = {"main": asyncio.get_running_loop()}
    thread = getattr(app.consumer, "_thread", None)
    thread_loop = getattr(thread, "thread_loop", None)
    if thread_loop is not None:
        loops["consumer"] = thread_loop
    return coroutine_report(loops)


def coroutine_report(loops: dict[str, asyncio.AbstractEventLoop]) -> dict[str, list[str]]:
    """Per event loop, each task's name and the chain of coroutines it waits in (`/debug/tasks` of
    both monitoring consumers)."""
    report: dict[str, list[str]] = {}
    for name, loop in loops.items():
        lines = []
        for task in asyncio.all_tasks(loop):
            lines.append(f"{task.get_name()}: {' -> '.join(_awaiting(task.get_coro()))}")
        report[name] = sorted(lines)
    return report


def _awaiting(coro: Any) -> list[str]:
    """The chain of coroutines (and generators) a task is suspended in, outermost first."""
    chain: list[str] = []
    while coro is not None and len(chain) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}@{Path(frame.f_code.co_filename).name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return chain


def ensure_changelog_topics(app: faust.App, kafka: KafkaSettings, *, timeout_s: float | None = None) -> list[str]:
    """Create every table's changelog topic (compacted, the table's partition count) and the app's
    own internal topics (`app.pantau_internal_topics`: (name, partitions) pairs) before the worker
    starts. Left to Faust, a changelog is created during start-up and an agent can reach the table
    before the broker's metadata shows it; the agent then crashes on that event. An unreachable
    broker is waited for (logged) up to `timeout_s` (default: `kafka.start_timeout_seconds`)."""
    specs = [
        TopicSpec(
            name=table.changelog_topic.get_topic_name(),
            partitions=table.partitions or app.conf.topic_partitions,
            replication_factor=app.conf.topic_replication_factor,
            config={"cleanup.policy": "compact"},
            key="table key",
        )
        for table in app.tables.values()
    ]
    specs += [
        TopicSpec(
            name=name,
            partitions=partitions,
            replication_factor=app.conf.topic_replication_factor,
            config={"retention.ms": str(7 * 24 * 3600 * 1000)},
            key="internal",
        )
        for name, partitions in getattr(app, "pantau_internal_topics", [])
    ]
    created: list[str] = faust_start.wait_for_broker(
        lambda: create_topics(kafka.bootstrap_servers, specs=specs, timeout_s=30),
        what="creating the worker's topics",
        timeout_s=kafka.start_timeout_seconds if timeout_s is None else timeout_s,
    )
    return created
