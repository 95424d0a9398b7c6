"""The offset guard's judgement (`shared.faust_offsets.review`): when Faust's bookkeeping of a
partition can no longer commit by itself, and only then; and the guarded consumer's fetch loop:
records it drops are always read again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from shared.faust_offsets import (
    PATIENCE_S,
    Book,
    GuardedConsumer,
    OffsetGuard,
    Standstill,
    _ReadOffsets,
    review,
    review_standstill,
)


def test_nothing_to_judge_without_a_committed_offset_or_acknowledgements() -> None:
    assert review(Book(None, (5, 6), ()), now=0, hole_since=None).hole is None
    assert review(Book(10, (), ()), now=0, hole_since=None).hole is None


def test_a_contiguous_run_from_the_committed_offset_is_healthy() -> None:
    verdict = review(Book(10, (12, 10, 11), ()), now=0, hole_since=None)
    assert verdict.hole is None
    assert verdict.stale == ()
    assert not verdict.rewind


def test_the_record_at_the_committed_offset_itself_may_be_missing() -> None:
    # Faust lets one offset go (the committed position), so this commits by itself.
    assert review(Book(10, (11, 12), ()), now=0, hole_since=None).hole is None


def test_acknowledgements_below_the_committed_offset_are_stale() -> None:
    verdict = review(Book(209, (208, 209, 210), ()), now=0, hole_since=None)
    assert verdict.stale == (208,)
    assert verdict.hole is None


def test_only_stale_acknowledgements_left() -> None:
    verdict = review(Book(300, (207, 208), ()), now=0, hole_since=None)
    assert verdict.stale == (207, 208)
    assert verdict.hole is None


def test_a_hole_is_noticed_then_rewound_once_it_outlasts_the_patience() -> None:
    book = Book(234, (238, 239, 240), ())
    first = review(book, now=100.0, hole_since=None, patience=10)
    assert first.hole == (234, 237)
    assert first.hole_since == 100.0
    assert not first.rewind
    later = review(book, now=109.9, hole_since=first.hole_since, patience=10)
    assert not later.rewind
    assert review(book, now=110.0, hole_since=first.hole_since, patience=10).rewind


def test_a_hole_still_in_a_stream_is_not_a_hole() -> None:
    # Offset 236 was delivered and is being processed (a take buffer): wait for it.
    verdict = review(Book(234, (238,), (236,)), now=100, hole_since=50, patience=10)
    assert verdict.hole is None
    assert not verdict.rewind


def test_in_flight_records_outside_the_hole_do_not_hide_it() -> None:
    verdict = review(Book(234, (238,), (239, 240)), now=100, hole_since=50, patience=10)
    assert verdict.hole == (234, 237)
    assert verdict.rewind


def test_offsets_without_records_are_not_a_hole() -> None:
    # 235-237 are transaction markers or compacted away: Faust merges them in at the next commit.
    assert review(Book(234, (238,), (), gaps=((235, 238),)), now=100, hole_since=50).hole is None
    # A gap covering only part of the hole leaves the rest a hole.
    assert review(Book(234, (238,), (), gaps=((236, 238),)), now=100, hole_since=50).hole == (234, 237)
    # Two gaps that together cover it.
    assert review(Book(234, (240,), (), gaps=((237, 240), (235, 237))), now=0, hole_since=None).hole is None


def test_stale_acknowledgements_and_a_hole_together() -> None:
    verdict = review(Book(234, (230, 231, 238), ()), now=0, hole_since=None)
    assert verdict.stale == (230, 231)
    assert verdict.hole == (234, 237)


def test_offsets_acknowledged_twice_are_kept_once() -> None:
    # Faust commits the first run of consecutive offsets; a repeat ends the run after one offset.
    verdict = review(Book(148, (147, 148, 148, 149, 149, 150), ()), now=0, hole_since=None)
    assert verdict.repeated
    assert verdict.stale == (147,)
    assert verdict.hole is None
    assert not review(Book(148, (148, 149), ()), now=0, hole_since=None).repeated


# -- the guarded consumer's fetch loop (`GuardedConsumer.getmany`) -------------------------------


class _Thread:
    """The consumer thread's seeks, recorded: where aiokafka's fetch position was sent."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.seeks.extend(partitions.items())


def _consumer() -> GuardedConsumer:
    """A `GuardedConsumer` without Faust's service machinery: only what `getmany` and `seek` use."""
    consumer = object.__new__(GuardedConsumer)
    consumer.__dict__.update(
        _epochs=defaultdict(int),
        _delivering=0,
        _read_offset=_ReadOffsets(),
        _fetched_under={},
        _sought_to={},
        _sought_again=set(),
        _deliver=None,
        _thread=_Thread(),
        app=SimpleNamespace(pantau_on_seek=None),
        log=MagicMock(),
    )
    return consumer


def _records(tp: TP, offsets: range) -> list[tuple[TP, Any]]:
    return [(tp, SimpleNamespace(tp=tp, offset=offset)) for offset in offsets]


def _fetched(consumer: GuardedConsumer, fetch: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """One `getmany` over Faust's fetch loop replaced by `fetch` (an async generator that plays the
    records in hand and whatever happens while they are delivered)."""
    monkeypatch.setattr(FaustConsumer, "getmany", fetch)
    return consumer.getmany(1.0)


async def _delivered(consumer: GuardedConsumer, fetch: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return [message.offset async for _, message in _fetched(consumer, fetch, monkeypatch)]


async def test_records_of_a_partition_sought_after_they_were_fetched_are_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rebalance's `seek_to_committed` moved aiokafka's position of partition 3 to its committed
    # offset 178 while asking the broker for the other partitions' offsets; meanwhile a fetch brought
    # 178-625, the partition's last records, and the seek was counted only then. Dropped as stale
    # and never sought again, they were never read: aiokafka's position stood at the end, nothing
    # came after them, and the partition stopped committing for good.
    consumer = _consumer()
    tp = TP("plans.events", 3)

    async def fetch(self: GuardedConsumer, _timeout: float) -> Any:
        self._fetched_under = {tp: self._epochs[tp]}  # what `_wait_next_records` records
        self._sought(tp, 178)  # the seek is counted with the records already in hand
        for item in _records(tp, range(178, 626)):
            yield item

    assert await _delivered(consumer, fetch, monkeypatch) == []
    assert consumer._thread.seeks == [(tp, 178)]  # read again from the first of them


async def test_a_seek_in_the_middle_of_a_batch_reads_again_from_the_earlier_of_its_target_and_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = _consumer()
    tp, other = TP("meetings.events", 1), TP("meetings.events", 7)

    async def fetch(self: GuardedConsumer, _timeout: float) -> Any:
        self._fetched_under = {tp: self._epochs[tp], other: self._epochs[other]}
        for item in _records(tp, range(200, 203)):
            yield item
        self._sought(tp, 150)  # sought back past what was already delivered
        for item in _records(tp, range(203, 206)) + _records(other, range(40, 42)):
            yield item

    assert await _delivered(consumer, fetch, monkeypatch) == [200, 201, 202, 40, 41]
    assert consumer._thread.seeks == [(tp, 150)]  # once per batch; the other partition untouched


async def test_records_fetched_after_the_seek_was_counted_are_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = _consumer()
    tp = TP("plans.events", 0)
    consumer._sought(tp, 178)

    async def fetch(self: GuardedConsumer, _timeout: float) -> Any:
        self._fetched_under = {tp: self._epochs[tp]}
        for item in _records(tp, range(178, 181)):
            yield item

    assert await _delivered(consumer, fetch, monkeypatch) == [178, 179, 180]
    assert consumer._thread.seeks == []


async def test_a_commit_made_while_the_rebalance_seeks_is_not_taken_back() -> None:
    # `seek_to_committed` reads the committed offsets partition after partition while the streams go
    # on: plans.events[9] was read to its end (140) and committed after the seek had read 100. Faust
    # stored 100, the partition looked unread for good and the monitoring clock stopped there.
    consumer = _consumer()
    consumer.__dict__["_committed_offset"] = defaultdict(lambda: None)
    plans, meetings, fresh = TP("plans.events", 9), TP("meetings.events", 9), TP("evaluations.events", 9)

    async def seek_to_committed() -> dict[TP, int | None]:
        consumer._committed_offset[plans] = 140  # the worker's own commit, during the seek
        return {plans: 100, meetings: 57, fresh: None}

    consumer.__dict__["seek_to_committed"] = seek_to_committed
    await consumer.perform_seek()
    assert consumer._committed_offset[plans] == 140
    assert consumer._committed_offset[meetings] == 57
    assert consumer._committed_offset[fresh] is None
    # Read positions are the seek's: what lies between is read again, idempotently.
    assert consumer._read_offset[plans] == 100


async def test_a_record_sought_between_its_batch_and_its_delivery_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fetch loop can wait (a commit, a yield to the loop) between taking a record from the batch
    # and handing it to the streams; a seek counted in between drops it there. Were it the last
    # record of its partition in the batch, nothing else would send the partition back.
    consumer = _consumer()
    tp = TP("evaluations.events", 4)
    handed: list[int] = []

    async def deliver(message: Any) -> None:
        handed.append(message.offset)

    consumer._deliver = deliver

    async def fetch(self: GuardedConsumer, _timeout: float) -> Any:
        self._fetched_under = {tp: self._epochs[tp]}
        for item in _records(tp, range(77, 79)):
            yield item

    async for _, message in _fetched(consumer, fetch, monkeypatch):
        if message.offset == 78:
            consumer._sought(tp, 55)  # counted after `getmany` let 78 through, before its delivery
        await consumer._guarded(message)
        consumer._read_offset[tp] = message.offset  # what Faust's fetch loop does next

    assert handed == [77]
    assert consumer._thread.seeks == [(tp, 55)]
    assert consumer._read_offset[tp] == 55  # not moved past the records that come again


# -- a partition that stopped (`review_standstill`, `OffsetGuard`) -----------------------------------


def test_a_partition_with_nothing_waiting_has_not_stopped() -> None:
    assert review_standstill(551, 552, busy=False, now=0, previous=None) == (None, False)
    assert review_standstill(None, 690, busy=False, now=0, previous=None) == (None, False)
    assert review_standstill(551, None, busy=False, now=0, previous=None) == (None, False)


def test_records_waiting_and_nothing_moving_is_read_again_after_the_patience() -> None:
    first, reread = review_standstill(551, 690, busy=False, now=100.0, previous=None)
    assert first == Standstill(551, 100.0)
    assert not reread
    later, reread = review_standstill(551, 690, busy=False, now=100.0 + PATIENCE_S - 1, previous=first)
    assert later == first
    assert not reread
    assert review_standstill(551, 690, busy=False, now=100.0 + PATIENCE_S, previous=first) == (None, True)


def test_a_partition_being_processed_or_moving_has_not_stopped() -> None:
    first, _ = review_standstill(551, 690, busy=False, now=0.0, previous=None)
    assert review_standstill(551, 690, busy=True, now=PATIENCE_S * 2, previous=first) == (None, False)
    moved, reread = review_standstill(600, 690, busy=False, now=PATIENCE_S * 2, previous=first)
    assert moved == Standstill(600, PATIENCE_S * 2)
    assert not reread


def _guard_over(consumer: Any, clock: list[float]) -> OffsetGuard:
    app = SimpleNamespace(
        consumer=consumer,
        rebalancing=False,
        tables=SimpleNamespace(recovery=None),
        topics=SimpleNamespace(acks_enabled_for=lambda topic: not topic.endswith("-changelog")),
    )
    return OffsetGuard(app, clock=lambda: clock[0])


class _StoppedConsumer:
    """What the guard reads of a consumer whose partition stopped: committed 551, the broker at 690,
    nothing acknowledged or in a stream; a changelog partition beside it, never read by a stream."""

    def __init__(self) -> None:
        self.stream_tp = TP("meetings.events", 1)
        self.changelog_tp = TP("group-state-changelog", 1)
        self._committed_offset = {self.stream_tp: 551, self.changelog_tp: 3}
        self._acked: dict[TP, list[int]] = {self.stream_tp: []}
        self._unacked_messages: list[Any] = []  # Faust's is a set of messages
        self.seeks: list[tuple[TP, int]] = []

    def assignment(self) -> set[TP]:
        return {self.stream_tp, self.changelog_tp}

    def highwater(self, tp: TP) -> int:
        return 690 if tp == self.stream_tp else 900

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


async def test_the_guard_reads_a_stopped_stream_partition_again_from_its_committed_offset() -> None:
    consumer = _StoppedConsumer()
    clock = [0.0]
    guard = _guard_over(consumer, clock)
    await guard.check()
    clock[0] = PATIENCE_S / 2
    await guard.check()
    assert consumer.seeks == []
    clock[0] = PATIENCE_S
    await guard.check()
    assert consumer.seeks == [(consumer.stream_tp, 551)]


def _in_a_stream(consumer: _StoppedConsumer) -> None:
    consumer._unacked_messages.append(SimpleNamespace(tp=consumer.stream_tp, offset=552))


def _held_on_purpose(consumer: _StoppedConsumer) -> None:
    consumer._paused_partitions = {consumer.stream_tp}  # type: ignore[attr-defined]


@pytest.mark.parametrize("situation", [_in_a_stream, _held_on_purpose])
async def test_the_guard_leaves_a_partition_in_a_stream_or_held_on_purpose(
    situation: Callable[[_StoppedConsumer], None],
) -> None:
    consumer = _StoppedConsumer()
    situation(consumer)
    clock = [0.0]
    guard = _guard_over(consumer, clock)
    for moment in (0.0, PATIENCE_S, PATIENCE_S * 3):
        clock[0] = moment
        await guard.check()
    assert consumer.seeks == []


def test_a_guarded_worker_still_waits_for_the_broker_at_start_up() -> None:
    """The offset guard replaces the transport's consumer; the one it puts there must keep the
    retrying start (`shared.faust_start`), or a link reset during bootstrap ends the worker."""
    from prometheus_client import CollectorRegistry

    from shared.faust_offsets import install_offset_guard
    from shared.faust_start import RetryingConsumer
    from tests.unit.test_faust_support import unstarted_app

    app = unstarted_app("pantau-test-guarded")
    install_offset_guard(app, registry=CollectorRegistry())
    consumer_class = app.transport.Consumer
    assert issubclass(consumer_class, GuardedConsumer)
    assert issubclass(consumer_class, RetryingConsumer)
    assert consumer_class._new_consumer_thread is RetryingConsumer._new_consumer_thread
