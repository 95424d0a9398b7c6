"""The monitoring worker on a consumer loop of its own (`PANTAU_MONITORING_CONSUMER=loop`, the default): the same
rules and the same batch fold as the Faust worker (`folding.GroupFolding`), without Faust.

Why: Faust hands a stream its records one at a time (a queue, an `Event`, an acknowledgement each);
on this project's 2-core machine an agent that only counts reaches about 12,000 records/s, so no
Faust worker can replay at the 30,000 events/s issue 14 asks for. Here one aiokafka consumer reads
batches (`getmany`) and every batch is one Kafka transaction:

    fold the batch (pure: `GroupFolding.read_groups`, `fold_some` a slice at a time, `finish`; `fold_signals`)
    begin; send the deviations, the facilitator signals, the dead letters and every changed state
    (to this worker's compacted changelogs); send the batch's offsets; commit

so publications, state and offsets become visible together or not at all (read_committed), and a
`kill -9` at any point resumes from the last committed batch with exactly its state. What was
delicate in the Faust worker (acknowledging only after the state writes, the order of two writes of
one key, the offset guard) has no equivalent here.

- **Partitions** (`RangePartitionAssignor`): every topic read here has the same partition count, so
  a range assignment gives a worker the same partition numbers of every topic: a group's meetings,
  plans, evaluations and state, and a facilitator's signals and state, live on one worker.
- **Rebalances**: the consumer revokes partitions only once the batch in flight has committed
  (`_batch` lock); a worker then keeps the states of partitions it still owns and nobody else wrote
  (it was assigned them in the generation just before: one the group dropped comes back in a later
  one and reads them all again), and reads the others' states from their changelogs
  (read_committed: a killed worker's open transaction is aborted, never read). It reads them in its
  consume loop once the rebalance callback has returned, not in it: aiokafka sends no heartbeat
  until the callback returns, and a large changelog outlasted the session timeout.
- **Time**: the same `RuleClock`; the due-time index is popped every `tick_seconds` and its groups
  are folded as ticks at the head of the next batch (no ticks topic: the loop owns its batches).
- **State**: per partition in memory (the compact stored bytes, `stored_state.py`; the most recent
  decoded states kept beside them), rebuilt from the changelogs at start.
- **Web**: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/debug/partitions`, `/debug/tasks`
  (aiohttp), as the Faust worker serves.

It became the default once its fault record was better than the Faust worker's (`app.py`,
`PANTAU_MONITORING_CONSUMER=faust`; `docs/reliability.md`). They do not share state: this one uses a
consumer group, changelogs and a signals topic of its own (`<group>-loop…`), so switching runtimes
replays the sources from the start (publishing the same deviation ids again, which consumers
de-duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from services.monitoring.agents import PhaseClock
from services.monitoring.app import GROUP_SOURCES, OPENAPI_DESCRIPTION, OPENAPI_TITLE
from services.monitoring.clock import RuleClock
from services.monitoring.fencing import StaleMembership, commit_offsets_as_member, membership_of
from services.monitoring.folding import GroupFolding, Outgoing
from services.monitoring.metrics import MonitoringMetrics
from services.monitoring.programmes import load_programmes
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import MonitoringSettings
from services.monitoring.stored_state import decode_state, encode_state, stored_schedule
from services.monitoring.wake_index import WakeIndex
from shared import faust_start, topics
from shared.faust_app import coroutine_report, health_openapi
from shared.heap import BatchCollector
from shared.kafka_admin import TopicSpec, create_topics

log = logging.getLogger(__name__)

# A transaction left open by a killed worker holds back what read_committed readers see of its
# partitions (the survivor's restore among them) until the broker aborts it: keep that short.
TRANSACTION_TIMEOUT_MS = 15_000
FETCH_BYTES_PER_PARTITION = 256 * 1024
FOLD_SLICE_RECORDS = 2_000  # folded between two turns of the event loop (about 40-100 ms)


class Delivery(NamedTuple):
    """An aiokafka record as `GroupFolding` reads one (a Faust event's `key`, `value`, `message`)."""

    key: bytes | None
    value: bytes | None
    message: Any  # ConsumerRecord, or a `Tick` for the due-time index's ticks


class Tick(NamedTuple):
    """Where a tick "was read": the fold only looks at its topic and partition."""

    topic: str
    partition: int
    offset: int = -1
    headers: tuple[Any, ...] = ()


@dataclass(frozen=True)
class LoopNames:
    """The loop runtime's consumer group and internal topics (its own: see the module docstring)."""

    group: str
    group_state: str
    facilitator_state: str
    signals: str
    ticks: str  # never a topic: the name ticks carry through the fold

    @classmethod
    def of(cls, settings: MonitoringSettings) -> LoopNames:
        group = settings.kafka.group_id(settings.app_id) + "-loop"
        return cls(
            group=group,
            group_state=f"{group}-group-state-changelog",
            facilitator_state=f"{group}-facilitator-state-changelog",
            signals=f"{group}-facilitator-signals",
            ticks=f"{group}-ticks",
        )


@dataclass
class LocalState:
    """One kind of state (groups or facilitators) of the partitions this worker owns: stored bytes by
    key, and the keys of each partition."""

    rows: dict[str, bytes] = field(default_factory=dict)
    keys: dict[int, set[str]] = field(default_factory=dict)

    def put(self, key: str, partition: int, value: bytes) -> None:
        self.rows[key] = value
        self.keys.setdefault(partition, set()).add(key)

    def drop(self, partition: int) -> None:
        for key in self.keys.pop(partition, set()):
            self.rows.pop(key, None)


def partitions_kept(before: set[int], now: set[int], last_generation: int | None, generation: int) -> set[int]:
    """The partitions whose states a worker keeps through a rebalance: those it owned before and owns
    now, when it was assigned them in the group generation just before this one. Every member of a
    group joins every generation, so a worker that was not in one (the group dropped it: paused or cut
    off past its session timeout) missed a time when others owned and folded its partitions."""
    if last_generation is None or generation != last_generation + 1:
        return set()
    return before & now


class WriteRetries(logging.Filter):
    """aiokafka warns once per partition for every write the broker asks it to retry. Since Kafka 3.6
    the broker checks a transaction's first write to a partition with the transaction coordinator,
    and while the previous transaction's commit is still being completed it answers
    NOT_ENOUGH_REPLICAS, its retriable stand-in for CONCURRENT_TRANSACTIONS (KAFKA-15459); the retry
    lands. A worker committing a transaction per batch meets this every few batches, a dozen warnings
    each time, which would bury real trouble. So each retry is counted
    (`pantau_monitoring_write_retries_total{error}`) and one warning a minute sums them up; a real
    shortage of in-sync replicas shows in the same count, and as batches not committed."""

    def __init__(self, counter: Counter, *, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.counter, self.every_s, self.clock = counter, every_s, clock
        self.since: float | None = None
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Got error produce response on topic-partition"):
            return True
        error = record.args[-1] if isinstance(record.args, tuple) and record.args else None
        name = getattr(error, "__name__", type(error).__name__)
        self.counter.labels(error=name).inc()
        now = self.clock()
        if self.since is not None and now - self.since < self.every_s:
            self.held += 1
            return False
        held, self.held, self.since = self.held, 0, now
        record.msg = (
            "the broker asked to retry a write of this batch's transaction (%s on %s; %d more in the "
            "last minute). Usually its check of a transaction's first write while the previous commit "
            "completes; retrying (counted in pantau_monitoring_write_retries_total)"
        )
        record.args = (name, record.args[0] if isinstance(record.args, tuple) and record.args else "?", held)
        return True


class LoopWorker:
    """One monitoring worker process on the loop runtime (`run` until SIGTERM)."""

    def __init__(self, settings: MonitoringSettings, *, worker_id: str | None = None) -> None:
        self.settings = settings
        self.kafka = settings.kafka
        self.names = LoopNames.of(settings)
        self.worker_id = worker_id or f"{socket.gethostname()}-{settings.web_port}"
        self.registry = CollectorRegistry()
        self.metrics = MonitoringMetrics(self.registry)
        self.write_retries = WriteRetries(
            Counter(
                "pantau_monitoring_write_retries_total",
                "Writes of a batch's transaction the broker asked to retry, by its error.",
                ["error"],
                registry=self.registry,
            )
        )
        self.wake = WakeIndex()
        # The states out of the collector's sight (shared/heap.py).
        self.collector = BatchCollector(every_s=settings.full_collection_seconds)
        Gauge(
            "pantau_monitoring_wake_index_entries", "Groups waiting for a due instant.", registry=self.registry
        ).set_function(lambda: len(self.wake))
        self.sources = {self.kafka.topic(name): name for name in GROUP_SOURCES}
        self.clock = RuleClock(settings.clock, sources=list(self.sources), caught_up=self._caught_up)
        self.folding = GroupFolding(
            settings=settings,
            programmes=load_programmes(settings.programmes_dir),
            metrics=self.metrics,
            clock=self.clock,
            source_names=self.sources,
            ticks_name=self.names.ticks,
            signals_name=self.names.signals,
            deviations_name=self.kafka.topic(topics.MONITORING_DEVIATIONS),
            dead_letters_name=self.kafka.topic(topics.MONITORING_DLQ),
        )
        self.groups = LocalState()
        self.facilitators = LocalState()
        self.decoded: dict[str, tuple[bytes, GroupState]] = {}  # recency order; valid while rows hold the bytes
        self.owned: set[int] = set()
        self.member_generation: int | None = None  # the group generation `owned` was assigned in
        self.committed: dict[TopicPartition, int | None] = {}  # source positions when the partition came
        self.committed_here: dict[TopicPartition, int] = {}  # what this worker committed since then
        self._tps: dict[tuple[str, int], TopicPartition] = {}
        self._highwaters: dict[TopicPartition, int | None] | None = None  # while a batch is folded
        self.ticks: list[Delivery] = []
        self.generation = 0
        self.ready = False
        self.assigned: set[TopicPartition] | None = None  # handed over by a rebalance, states not read yet
        self._batch = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.runner: web.AppRunner | None = None

    # -- start and stop -----------------------------------------------------------------------------

    def topic_specs(self) -> list[TopicSpec]:
        partitions = self.settings.partitions
        compact = {"cleanup.policy": "compact"}
        week = {"retention.ms": str(7 * 24 * 3600 * 1000)}
        return [
            TopicSpec(self.names.group_state, partitions, 1, compact, "group id"),
            TopicSpec(self.names.facilitator_state, partitions, 1, compact, "facilitator id"),
            TopicSpec(self.names.signals, partitions, 1, week, "facilitator id"),
        ]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # A worker still waiting for an unreachable broker stops when asked (it waited out its whole
        # start timeout, 300 s, and a Ctrl-C or a pod's SIGTERM did nothing meanwhile).
        stop_waiting = threading.Event()

        def stop() -> None:
            self._stopping.set()
            stop_waiting.set()

        def wait_unless_stopped(seconds: float) -> None:
            if stop_waiting.wait(seconds):
                raise _StoppedWaiting

        async def sleep_unless_stopped(seconds: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
            if self._stopping.is_set():
                raise _StoppedWaiting

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            await self._start(sleep_unless_stopped, wait_unless_stopped)
        except _StoppedWaiting:
            log.info("monitoring (loop runtime) stopped while waiting for the broker")
            return
        assert self.consumer is not None
        assert self.producer is not None
        timer = asyncio.create_task(self._hand_out_ticks())
        sender_log = logging.getLogger("aiokafka.producer.sender")
        sender_log.addFilter(self.write_retries)
        try:
            await self._consume()
        finally:
            timer.cancel()
            self.ready = False
            await self.consumer.stop()  # leaves the group: the others take over at once
            await self.producer.stop()
            if self.runner is not None:
                await self.runner.cleanup()
            sender_log.removeFilter(self.write_retries)
            log.info("monitoring (loop runtime) stopped")

    async def _start(self, sleep: Callable[[float], Awaitable[None]], wait: Callable[[float], None]) -> None:
        """The worker's topics, its web server, its producer and its consumer, each retried while the
        broker is unreachable (`sleep` and `wait` raise once the worker is asked to stop)."""
        loop = asyncio.get_running_loop()
        timeout = self.kafka.start_timeout_seconds
        await loop.run_in_executor(
            None,
            lambda: faust_start.wait_for_broker(
                # Each attempt bounded to 10 s: a stop asked meanwhile waits for the attempt to end.
                lambda: create_topics(self.kafka.bootstrap_servers, specs=self.topic_specs(), timeout_s=10),
                what="creating the worker's topics",
                timeout_s=timeout,
                sleep=wait,
            ),
        )
        self.runner = await self._serve_web()
        bootstrap = self.kafka.bootstrap_servers
        self.producer = self._transactional_producer()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=self.names.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            # A replay's batch of 20,000 records is several fetches: at 64 KiB a partition it waited
            # about 0.19 s on them for every 0.6 s of folding, at 256 KiB about 0.12 (measured over
            # the bench's replay, 2026-12-05; 1 MiB gained nothing more, and a whole response must
            # arrive before any of it is read).
            max_partition_fetch_bytes=FETCH_BYTES_PER_PARTITION,
        )
        producer, consumer = self.producer, self.consumer
        try:
            await faust_start.start_retrying(
                producer.start, what="starting the producer", timeout_s=timeout, sleep=sleep
            )
            consumer.subscribe([*self.sources, self.names.signals], listener=_Rebalance(self))
            await faust_start.start_retrying(
                consumer.start, what="starting the consumer", timeout_s=timeout, sleep=sleep
            )
        except BaseException:
            await producer.stop()
            await consumer.stop()
            await self.runner.cleanup()
            raise
        log.info("monitoring (loop runtime) started: group %s, worker %s", self.names.group, self.worker_id)

    # -- the loop -----------------------------------------------------------------------------------

    async def _consume(self) -> None:
        assert self.consumer is not None
        stopping = asyncio.ensure_future(self._stopping.wait())
        while not self._stopping.is_set():
            if self.assigned is not None:
                await self._take_over_assigned()
            generation = self.generation
            fetch = asyncio.ensure_future(self._next_batch())
            await asyncio.wait([fetch, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()
                break
            batch = fetch.result()
            async with self._batch:
                if generation != self.generation or not self.ready:
                    # A rebalance came in between (or is under way): the states these records would
                    # fold into may have been read again or dropped meanwhile. Read them again.
                    self._read_later(batch)
                    continue
                await self._process(batch)

    async def _next_batch(self) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """Up to `batch_size` records within `batch_seconds`, as Faust's `take_events` gathers them: a
        fetch hands over what it brought (a little of each partition), so a batch is several fetches."""
        assert self.consumer is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.batch_seconds
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        count = 0
        while count < self.settings.batch_size and self.assigned is None:  # a take-over first
            left_ms = int((deadline - loop.time()) * 1000)
            if left_ms <= 0:
                break
            if not count and self.ticks and await self._read_to_the_end():
                break  # time has come for some groups and nothing is left to read: fold the ticks now
            # In short waits, so that ticks handed out meanwhile are not held for a replay's whole window.
            fetched = await self.consumer.getmany(
                timeout_ms=min(left_ms, 100), max_records=self.settings.batch_size - count
            )
            for tp, records in fetched.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
            if count and await self._read_to_the_end():
                break  # nothing more to wait for: the end of a replay folded at once, not a batch window later
            if not fetched and (count or self.ticks):
                break  # nothing came for a while (or only a transaction's commit marker): fold what there is
        return batch

    async def _read_to_the_end(self) -> bool:
        """Every assigned topic-partition handed out up to where the last fetch said its readable
        records end (the last stable offset: read_committed reads no further)."""
        consumer = self.consumer
        assert consumer is not None
        for tp in consumer.assignment():
            end = consumer.last_stable_offset(tp)
            if end is None or end < 0:
                end = consumer.highwater(tp)
            if end is None or await consumer.position(tp) < end:
                return False
        return True

    def _read_later(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """Put the consumer back at the first record of each dropped batch's partitions that are still
        assigned here (never before what this worker already committed of them)."""
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if records and tp in assigned:
                self.consumer.seek(tp, max(records[0].offset, self.committed_here.get(tp, 0)))

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        assert self.producer is not None
        ticks, self.ticks = self.ticks, []
        groups: list[Delivery] = list(ticks)
        signals: list[Delivery] = []
        for tp, records in batch.items():
            into = signals if tp.topic == self.names.signals else groups
            into.extend(Delivery(record.key, record.value, record) for record in records)
        moved = await self._positions_moved()
        if not groups and not signals and not moved:
            return
        # Every transaction carries offsets, even a batch of ticks alone: they are what the broker
        # checks this worker's group membership on (`fencing.py`), so a worker the group moved past
        # while it slept commits none of its writes.
        offsets = moved or await self._positions_moved(unmoved=True)
        began = time.perf_counter()
        phases = PhaseClock(self.metrics)
        # The fold does not yield to the event loop, so no fetch moves a high watermark meanwhile: the
        # rule clock asks for them once per batch, not for every source of every record.
        with self.collector.folding():
            self._highwaters = {}
            try:
                reading = self.folding.read_groups(groups)
            finally:
                self._highwaters = None
            # A replay's batch folds for seconds: folded a slice of groups at a time, the event loop
            # goes on between two slices, so the consumer's heartbeats go on (a batch folded in one go
            # longer than the session timeout would cost the worker its partitions) and its fetcher
            # brings the next batch's records meanwhile. Nothing else touches the states while the
            # batch holds `_batch`; the rule clock was read in the first pass.
            done = False
            while not done:
                done = self.folding.fold_some(reading, self._load_group, FOLD_SLICE_RECORDS)
                await asyncio.sleep(0)
            folded = self.folding.finish(reading)
            changed = folded.changed()
            stored = {group_id: encode_state(state) for group_id, state in changed.items()}
            news = self.folding.fold_signals(signals, self._load_facilitator)
        phases.done("rules")
        producer = self.producer
        try:
            async with producer.transaction():
                for record in (*folded.outgoing, *news.outgoing):
                    await producer.send(
                        record.topic, record.value, key=record.key, partition=record.partition, headers=record.headers
                    )
                await self._send_states(producer, stored, folded.partitions)
                for facilitator_id, row in news.states.items():
                    partition = signals[news.last_index[facilitator_id]].message.partition
                    await producer.send(
                        self.names.facilitator_state,
                        orjson.dumps(row),
                        key=facilitator_id.encode(),
                        partition=partition,
                    )
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self.names.group)
        except KafkaError as exc:
            # Nothing of the batch counts: read it again from the committed offsets, on the states
            # as they were (they change only after a commit), with a new producer: a transaction that
            # outlived the broker's patience (a broker away longer than `TRANSACTION_TIMEOUT_MS`) was
            # aborted and its producer fenced (`ProducerFenced`), a failed abort leaves the old one
            # unable to begin another, and a refused membership (`StaleMembership`) leaves its
            # transaction open until a producer of the same transactional id starts.
            self.metrics.publish_retries.inc()
            if isinstance(exc, StaleMembership):
                self.metrics.stale_batches.inc()
                log.warning(
                    "the group moved on while this worker held a batch of %d records (it was paused or cut "
                    "off longer than the session timeout): the broker refused its offsets (%s) and nothing of "
                    "it was committed; the partitions' new owner folds these records",
                    len(groups),
                    exc,
                )
            else:
                fenced = " (its transaction was aborted by the broker)" if isinstance(exc, ProducerFenced) else ""
                log.warning(
                    "a batch of %d records was not committed%s (%r): reading it again with a new producer",
                    len(groups),
                    fenced,
                    exc,
                )
            # A dropped batch is handed to the collector like any (`shared/heap.py`): before, a worker
            # refusing batch after batch never reached its bookkeeping.
            self.collector.after_batch()
            await self._renew_producer()
            await self._read_again()
            return
        phases.done("commit")
        self.committed_here.update(offsets)
        for group_id, value in stored.items():
            partition = folded.partitions[group_id]
            self.groups.put(group_id, partition, value)
            self.decoded.pop(group_id, None)  # re-inserted last: the dict's order is recency
            self.decoded[group_id] = (value, changed[group_id])
        while len(self.decoded) > self.settings.decoded_states_kept:
            del self.decoded[next(iter(self.decoded))]
        for group_id, state in folded.states.items():
            if state.context is not None:
                self.wake.schedule(group_id, folded.partitions[group_id], state.wake_at)
        for facilitator_id, row in news.states.items():
            partition = signals[news.last_index[facilitator_id]].message.partition
            self.facilitators.put(facilitator_id, partition, orjson.dumps(row))
        self.folding.observe_published([*folded.published, *news.published])
        phases.done("store")
        self.metrics.batch_records.observe(len(groups) + len(signals))
        self.metrics.batch_seconds.observe(time.perf_counter() - began)
        self.collector.after_batch()

    async def _send_states(
        self, producer: AIOKafkaProducer, stored: dict[str, bytes], partitions: dict[str, int]
    ) -> None:
        """The batch's state writes, handed to the producer a record batch per partition
        (`send_batch`), in the transaction under way. Why not `send` for each: a future and a
        look-up of the event loop per record (a system call each) were 5 % of the worker's time."""
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for group_id, value in stored.items():
            by_partition.setdefault(partitions[group_id], []).append((group_id.encode(), value))
        topic = self.names.group_state
        for partition, rows in by_partition.items():
            builder = producer.create_batch()
            for key, value in rows:
                if builder.append(key=key, value=value, timestamp=None) is not None:
                    continue
                if builder.record_count():  # full: send it, start another
                    await producer.send_batch(builder, topic, partition=partition)
                    builder = producer.create_batch()
                    if builder.append(key=key, value=value, timestamp=None) is not None:
                        continue
                # Larger than a whole batch (never seen: a state is a few KB): on its own, as ever.
                await producer.send(topic, value, key=key, partition=partition)
            if builder.record_count():
                await producer.send_batch(builder, topic, partition=partition)

    async def _positions_moved(self, *, unmoved: bool = False) -> dict[TopicPartition, int]:
        """Every owned topic-partition whose read position moved since this worker last committed it
        (with `unmoved`, every owned one). The position, not the last record's offset + 1: a
        transaction's commit marker takes an offset of its own (on the signals topic, written here in
        transactions), and a group whose committed offset stopped before it would never look caught up."""
        assert self.consumer is not None
        moved: dict[TopicPartition, int] = {}
        for tp in self.consumer.assignment():
            try:
                position = await self.consumer.position(tp)
            except KafkaError:  # not fetchable now (being reassigned): the next batch commits it
                continue
            if unmoved or position > self.committed_here.get(tp, -1):
                moved[tp] = position
        return moved

    def _transactional_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            transactional_id=f"{self.names.group}-{self.worker_id}",
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            enable_idempotence=True,
            acks="all",
            max_batch_size=512 * 1024,  # a batch's state writes to one partition in one request
            linger_ms=0,
        )
        # Its transactions' offsets carry the consumer's membership: refused once the group moved on.
        commit_offsets_as_member(producer, lambda: membership_of(self.consumer))
        return producer

    async def _renew_producer(self) -> None:
        """Stop the producer (whatever state its transaction is in) and start another with the same
        transactional id: starting fences the old one and aborts what it left open."""
        if self.producer is not None:
            with contextlib.suppress(Exception):  # it may be fenced or unable to reach the broker
                await self.producer.stop()
        self.producer = self._transactional_producer()
        await faust_start.start_retrying(
            self.producer.start, what="starting the producer again", timeout_s=self.kafka.start_timeout_seconds
        )

    async def _read_again(self) -> None:
        assert self.consumer is not None
        self.generation += 1
        self.ticks = []
        for tp in self.consumer.assignment():
            self.clock.forget(tp.topic, tp.partition)
        try:
            await self.consumer.seek_to_committed()
        except KafkaError as exc:  # the broker is away: the next fetch fails the same way and waits
            log.warning("could not go back to the committed offsets yet (%r)", exc)
        self._restore_floors()
        await asyncio.sleep(1.0)

    def _load_group(self, group_id: str) -> GroupState:
        raw = self.groups.rows.get(group_id)
        cached = self.decoded.get(group_id)
        if cached is not None and raw is not None and cached[0] is raw:
            return cached[1]
        return decode_state(raw)

    def _load_facilitator(self, facilitator_id: str) -> Any:
        raw = self.facilitators.rows.get(facilitator_id)
        return None if raw is None else orjson.loads(raw)

    # -- time ---------------------------------------------------------------------------------------

    async def _hand_out_ticks(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_seconds)
            if not self.ready:
                continue
            for group_id, partition, at in self.wake.pop_due(self.clock.now):
                if partition in self.owned:
                    value = orjson.dumps({"at": at.isoformat()})
                    self.ticks.append(Delivery(group_id.encode(), value, Tick(self.names.ticks, partition)))

    def _caught_up(self, topic: str, partition: int, last_offset: int | None) -> bool:
        """Nothing left to read on this topic-partition (as far as the last fetch knows)."""
        if self.consumer is None:
            return False
        tp = self._tps.get((topic, partition))  # asked for each source of each record's partition
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        cache = self._highwaters
        if cache is not None and tp in cache:
            highwater = cache[tp]
        else:
            try:
                highwater = self.consumer.highwater(tp)
            except Exception:  # not assigned here
                highwater = None
            if cache is not None:
                cache[tp] = highwater
        if highwater is None:
            return False
        if last_offset is None:
            # Nothing read since this worker got the partition: caught up when the group's committed
            # position is at the end already (a topic with nothing new must not hold the clock back).
            position = self.committed.get(tp)
            return highwater == 0 or (position is not None and position >= highwater)
        return last_offset + 1 >= highwater

    def _restore_floors(self) -> None:
        """The wake index and the partitions' clock floors from the stored states of owned partitions
        (read alone, without decoding the states)."""
        entries = []
        for group_id, value in self.groups.rows.items():
            schedule = stored_schedule(value)
            if schedule is None or schedule[0] not in self.owned:
                continue
            partition, wake_at, clock_at = schedule
            if wake_at is not None:
                entries.append((group_id, partition, wake_at))
            if self.settings.clock == "event" and clock_at is not None:
                self.clock.restore(partition, clock_at)
        self.wake.rebuild(entries)
        log.info("wake index rebuilt: %d groups waiting", len(self.wake))

    # -- rebalances ---------------------------------------------------------------------------------

    async def on_revoked(self) -> None:
        async with self._batch:  # the batch in flight commits first
            self.generation += 1
            self.ready = False
            self.ticks = []
            self.assigned = None  # not to be taken over any more: the next assignment says what is

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # Only noted here: the states are read by the consume loop (`_take_over_assigned`). Why:
        # aiokafka sends no heartbeat until this callback returns (its rejoin stops them and starts
        # them again after), and reading a large changelog took longer than the 10 s session timeout:
        # the broker dropped the member it had just admitted, the worker rejoined and read them all
        # again, and so on (a replay over 40,000 groups, 2026-12-05, `docs/reliability.md`).
        async with self._batch:
            self.assigned = set(assigned)
            self.generation += 1
            self.ready = False

    async def _take_over_assigned(self) -> None:
        # aiokafka's fetcher reads the new assignment meanwhile: no batch is processed until the
        # states are in place, and a batch fetched meanwhile is read again (`_consume`).
        async with self._batch:
            assigned, self.assigned = self.assigned, None
            if assigned is None:  # taken over already, or revoked since
                return
            try:
                await self._take_over(assigned)
            except KafkaError as exc:  # the broker is away: try again at the next turn of the loop
                log.warning("could not read the assigned partitions' states yet (%r): trying again", exc)
                self.assigned = assigned
                await asyncio.sleep(1.0)
                return
            self.generation += 1
            self.ready = True

    async def _take_over(self, assigned: set[TopicPartition]) -> None:
        assert self.consumer is not None
        owned = {tp.partition for tp in assigned}
        began = time.monotonic()
        # A partition owned in the generation before and in this one was nobody else's in between
        # (ownership changes only at a rebalance): its states here are what its changelog says. Any
        # other is read from its changelog. "The generation before" is the one this worker was last
        # assigned in only if the group's generations followed on: a worker the group dropped (paused
        # or cut off past its session timeout) comes back in a later generation, and meanwhile
        # others folded its partitions. It kept its own older states, skipped to their committed
        # offsets and judged its groups without what the others had read (a woken worker opened
        # `meeting.overdue` for reports read while it slept): it reads them all again.
        generation = membership_of(self.consumer).generation
        kept = partitions_kept(self.owned, owned, self.member_generation, generation)
        if self.owned and not kept and self.owned & owned:
            log.info(
                "assigned in generation %d, last in %s: the group went on without this worker; "
                "its states are read again from the changelogs",
                generation,
                self.member_generation,
            )
        self.member_generation = generation
        for partition in set(self.groups.keys) | set(self.facilitators.keys):
            if partition not in kept:
                self.groups.drop(partition)
                self.facilitators.drop(partition)
        for topic in self.sources:
            for partition in self.owned - kept:
                self.clock.forget(topic, partition)
        self.decoded = {key: value for key, value in self.decoded.items() if key in self.groups.rows}
        self.owned = owned
        restored = await self._restore(owned - kept)
        self.committed = {}
        self.committed_here = {}
        for tp in assigned:
            # Asked now, after the states: the consumer may have asked before the last transaction's
            # marker reached the offsets, and would then read again what the states already hold.
            committed = await self.consumer.committed(tp)
            self.committed[tp] = committed
            if committed is not None:
                self.committed_here[tp] = committed
                self.consumer.seek(tp, committed)
        self._restore_floors()
        log.info(
            "partitions %s assigned; %d group states read from the changelog in %.1f s",
            sorted(owned),
            restored,
            time.monotonic() - began,
        )

    async def _restore(self, partitions: set[int]) -> int:
        """Read these partitions' states from their changelogs (what was committed). Returns the
        records read."""
        if not partitions:
            return 0
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        read = 0
        try:
            for local, name in (
                (self.groups, self.names.group_state),
                (self.facilitators, self.names.facilitator_state),
            ):
                tps = [TopicPartition(name, partition) for partition in sorted(partitions)]
                ends = await self._settled_ends(consumer, tps)
                stale = [tp for tp in tps if ends[tp] > 0]
                if not stale:
                    continue
                consumer.assign(stale)
                await consumer.seek_to_beginning(*stale)
                left = {tp: ends[tp] for tp in stale}
                while left:
                    batch = await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)
                    for tp, records in batch.items():
                        for record in records:
                            if record.offset >= left.get(tp, 0):
                                continue
                            key = (record.key or b"").decode()
                            if record.value is None:
                                local.rows.pop(key, None)
                            else:
                                local.put(key, tp.partition, record.value)
                            read += 1
                    for tp in list(left):
                        if await consumer.position(tp) >= left[tp]:
                            del left[tp]
        finally:
            await consumer.stop()
        return read

    async def _settled_ends(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where to read a changelog to: its last stable offset once no transaction is pending on it.

        A transaction is committed before its commit markers reach the partitions, and until then a
        read_committed reader stops before the transaction's writes. The worker that handed these
        partitions over committed its last batch before the rebalance ended, but read at once, its
        states could end before that batch while the group's offsets (marked apart, on
        `__consumer_offsets`) already count it: its records would never be folded here. So wait
        until the stable offset is the end. A transaction a killed worker left open holds it until
        the broker aborts it (`TRANSACTION_TIMEOUT_MS`, then the broker's clean-up round): wait that
        long at most, then read what is stable (the killed worker's offsets were not committed
        either)."""
        latest = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False, isolation_level="read_uncommitted"
        )
        await latest.start()
        try:
            deadline = time.monotonic() + TRANSACTION_TIMEOUT_MS / 1000 + 15
            while True:
                stable = await consumer.end_offsets(tps)  # read_committed: the last stable offsets
                ends = await latest.end_offsets(tps)
                pending = sorted(tp.partition for tp in tps if stable[tp] < ends[tp])
                if not pending:
                    return stable
                if time.monotonic() > deadline:
                    log.warning(
                        "%s: transactions still open on partitions %s; reading what is stable", tps[0].topic, pending
                    )
                    return stable
                await asyncio.sleep(0.1)
        finally:
            await latest.stop()

    # -- web ----------------------------------------------------------------------------------------

    async def partition_report(self) -> dict[str, Any]:
        """This worker's view of its partitions, in the shape of the Faust workers'
        (`shared.faust_app.partition_report`): where it reads and what it committed."""
        consumer = self.consumer
        rows = []
        for tp in sorted(consumer.assignment() if consumer is not None else ()):
            assert consumer is not None
            try:
                position: int | None = await consumer.position(tp)
            except KafkaError:
                position = None
            rows.append(
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "active": True,
                    "read": position,
                    "committed": self.committed_here.get(tp),
                    "highwater": consumer.highwater(tp),
                }
            )
        return {"rebalancing": not self.ready, "generation": self.generation, "partitions": rows}

    async def _serve_web(self) -> web.AppRunner:
        openapi = health_openapi(OPENAPI_TITLE, OPENAPI_DESCRIPTION)

        async def healthz(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(request: web.Request) -> web.Response:
            checks = {"kafka": self.ready, "tables_recovered": self.ready}
            ready = all(checks.values())
            body = {"status": "ready" if ready else "not_ready", "checks": checks}
            return web.json_response(body, status=200 if ready else 503)

        async def metrics(request: web.Request) -> web.Response:
            response = web.Response(body=generate_latest(self.registry))
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        async def openapi_document(request: web.Request) -> web.Response:
            return web.json_response(openapi)

        async def partitions(request: web.Request) -> web.Response:
            return web.json_response(await self.partition_report())

        async def tasks(request: web.Request) -> web.Response:
            # Where each coroutine waits: the first place to look when a worker is alive and idle.
            return web.json_response(coroutine_report({"main": asyncio.get_running_loop()}))

        app = web.Application()
        app.router.add_get("/debug/partitions", partitions)
        app.router.add_get("/debug/tasks", tasks)
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/openapi.json", openapi_document)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.settings.web_host, self.settings.web_port).start()
        return runner


class _StoppedWaiting(Exception):
    """Asked to stop while waiting for the broker at start."""


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: LoopWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.worker.on_revoked()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.worker.on_assigned(assigned)


__all__ = ["Delivery", "LoopNames", "LoopWorker", "Outgoing", "Tick"]
