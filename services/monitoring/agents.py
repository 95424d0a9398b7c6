"""The monitoring worker's agents: what happens to each batch of records (`app.py` owns the topics,
the tables and the timer, and hands them over here; the fold of a batch itself, decoding, rules and
what to publish and store, is `folding.GroupFolding`, shared with the loop worker).

- `watch_groups`: one agent over every group-keyed source (meetings, plans, evaluations) and the
  worker's own ticks topic, so a group's state is only ever changed by one stream, in order. It
  works in batches: each record goes through `engine.step`, the resulting deviation events and
  facilitator signals are published and acknowledged by the broker, then the new states are stored
  and acknowledged too; only then are the batch's records acknowledged (so their offsets can be
  committed). A crash can therefore repeat a publication (same derived deviation id) but never lose
  one, and never resume after records whose state it lost.
- `watch_facilitators`: the facilitator-level rule over a stream re-keyed by facilitator id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import EventT

from services.monitoring.folding import GroupFolding, Outgoing
from services.monitoring.metrics import MonitoringMetrics
from services.monitoring.rules.state import GroupState
from services.monitoring.stored_state import decode_state, encode_state
from services.monitoring.wake_index import WakeIndex
from shared.faust_app import in_event_context, tables_delivered, write_row
from shared.faust_offsets import overtaken, read_again

log = logging.getLogger(__name__)


class PhaseClock:
    """Adds the time since the previous phase ended to `pantau_monitoring_batch_phase_seconds`."""

    __slots__ = ("metrics", "since")

    def __init__(self, metrics: MonitoringMetrics) -> None:
        self.metrics = metrics
        self.since = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.metrics.batch_phase_seconds.labels(phase).inc(now - self.since)
        self.since = now


@dataclass(kw_only=True)
class Agents(GroupFolding):
    """The Faust shell: the agents, their tables and Faust's producer (given by `app.create_app`)."""

    app: faust.App
    wake: WakeIndex
    group_state: Any  # faust Table: group id -> the GroupState's stored bytes (stored_state.py)
    facilitator_state: Any  # faust Table: facilitator id -> FacilitatorState JSON
    # The last decoded state per group, valid while the table still holds the very same value object
    # (after a rebalance or recovery the table holds new objects, and the cache simply misses). Kept
    # for the groups stored most recently only (`decoded_states_kept`): a decoded state is about ten
    # times its stored bytes, so a worker holding all 400,000 groups must not keep every one; a miss
    # costs one msgspec decode.
    _decoded: dict[str, tuple[Any, GroupState]] = field(default_factory=dict)

    # -- the agents ---------------------------------------------------------------------------------

    async def watch_groups(self, stream: Any) -> None:  # a faust Stream (StreamT lacks take_events)
        async for batch in stream.take_events(self.settings.batch_size, within=self.settings.batch_seconds):
            began = time.perf_counter()
            await self.process_groups(batch)
            self.metrics.batch_records.observe(len(batch))
            self.metrics.batch_seconds.observe(time.perf_counter() - began)

    async def watch_facilitators(self, stream: Any) -> None:
        async for batch in stream.take_events(self.settings.batch_size, within=self.settings.batch_seconds):
            await self.process_signals(batch)

    # -- one batch ----------------------------------------------------------------------------------

    async def process_groups(self, events: Sequence[EventT]) -> None:
        phases = PhaseClock(self.metrics)
        folded = self.fold_groups(events, self.load_state)
        phases.done("rules")
        await self.publish(folded.outgoing)
        self.observe_published(folded.published)
        phases.done("publish")
        again = await self.overtaken(events)
        for group_id, state in folded.states.items():
            partition = folded.partitions[group_id]
            if partition in again:
                continue
            if state.context is not None:
                self.wake.schedule(group_id, partition, state.wake_at)
            if state != folded.loaded[group_id]:
                write_row(self.group_state, group_id, encode_state(state), events[folded.last_index[group_id]])
                self._decoded.pop(group_id, None)  # re-inserted last: the dict's order is recency
                self._decoded[group_id] = (self.group_state.get(group_id), state)
        while len(self._decoded) > self.settings.decoded_states_kept:
            del self._decoded[next(iter(self._decoded))]
        phases.done("store")
        await self.group_state.changelog_sent()
        phases.done("changelog_send")
        # Only now may the batch's records be acknowledged (and their offsets committed).
        await tables_delivered(self.group_state)
        phases.done("changelog_wait")

    async def process_signals(self, events: Sequence[EventT]) -> None:
        folded = self.fold_signals(events, self.facilitator_state.get)
        await self.publish(folded.outgoing)
        self.observe_published(folded.published)
        if overtaken(self.app, events):
            # A facilitator's state folds signals of every partition: read the whole batch again.
            await read_again(self.app, events)
            return
        for key, value in folded.states.items():
            with in_event_context(events[folded.last_index[key]]):
                self.facilitator_state[key] = value
        await tables_delivered(self.facilitator_state)

    # -- helpers ------------------------------------------------------------------------------------

    async def overtaken(self, events: Sequence[EventT]) -> set[int]:
        """The partitions of this batch that a rebalance overtook since their records were delivered.
        Their groups' states must then not be stored: the tables are being rebuilt from the changelog
        meanwhile, and a state written now can be overwritten by an older one from the rebuild (a
        survivor then folded new facts into a group's past and reported done activities as overdue).
        Nor are their records acknowledged: they are read again and decide the same deviation ids
        again. The other partitions' groups are stored as usual."""
        again = overtaken(self.app, events)
        if again:
            behind = [event for event in events if event.message.partition in again]
            log.info(
                "a rebalance overtook %d of a batch of %d records (partitions %s): they will be read again",
                len(behind),
                len(events),
                sorted(again),
            )
            await read_again(self.app, behind)
        return again

    def load_state(self, group_id: str) -> GroupState:
        raw = self.group_state.get(group_id)
        cached = self._decoded.get(group_id)
        if cached is not None and raw is not None and cached[0] is raw:
            return cached[1]
        return decode_state(raw)

    async def publish(self, records: Sequence[Outgoing]) -> None:
        """Send everything, then wait for every acknowledgement (acks=all). Retries until it succeeds:
        an exception escaping here would crash the agent, and Faust's `take_events` acknowledges the
        batch on the way out, so records whose states were never stored would count as done.
        Re-sending after a partial failure only repeats events with the same derived ids."""
        if not records:
            return
        delay = 0.5
        while True:
            try:
                producer = self.app.producer
                pending = [
                    await producer.send(record.topic, record.key, record.value, record.partition, None, record.headers)
                    for record in records
                ]
                await asyncio.gather(*pending)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.publish_retries.inc()
                log.warning("publishing %d records failed (%s); retrying in %.1fs", len(records), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
