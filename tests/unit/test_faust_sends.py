"""Buffered table writes reach the producer in the order they were made, with Faust's background
task and `send_buffered` draining the buffer at once (shared/faust_sends.py).

The producer here stands in for aiokafka's accumulator with the one behaviour that matters: a send
to a full batch suspends until the batch drains, and the sends that resume after the drain append to
a fresh batch. Last, a failed write is sent again with its key's current value
(`shared.faust_app.DurableTable.changelog_delivered`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from shared.faust_sends import OrderedProducerBuffer

BATCH = 3


@dataclass
class Accumulator:
    """One partition's batches: full at `BATCH` records; draining hands the batch to the log."""

    log: list[int] = field(default_factory=list)
    batch: list[int] = field(default_factory=list)
    drained: asyncio.Future[None] | None = None

    async def add(self, record: int) -> None:
        while len(self.batch) >= BATCH:
            if self.drained is None:
                self.drained = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_soon(self._drain)
            await asyncio.wait([self.drained])
        self.batch.append(record)

    def _drain(self) -> None:
        self.log.extend(self.batch)
        self.batch = []
        drained, self.drained = self.drained, None
        assert drained is not None
        drained.set_result(None)

    def written(self) -> list[int]:
        return [*self.log, *self.batch]


def _write(number: int, accumulator: Accumulator) -> Any:
    async def publish_message(fut: Any, wait: bool = False) -> None:
        await accumulator.add(fut.message.key)

    return SimpleNamespace(
        message=SimpleNamespace(key=number, channel=SimpleNamespace(publish_message=publish_message))
    )


async def _background(buffer: Any) -> None:
    """Faust's `ProducerBuffer._handle_pending`, step for step."""
    while True:
        fut = await buffer.pending.get()
        await buffer._send_pending(fut)
        buffer.message_sent.set()


async def _old_send_buffered(buffer: Any) -> None:
    """What `send_buffered` did before: drain the queue beside the background task."""
    while not buffer.pending.empty():
        fut = buffer.pending.get_nowait()
        await fut.message.channel.publish_message(fut, wait=False)


async def _agent_writes(
    buffer: Any, send: Any, accumulator: Accumulator, *, batches: int, per_batch: int, first: int = 0
) -> None:
    """An agent's loop: a batch of table writes, then wait for them to be handed over."""
    background = asyncio.create_task(_background(buffer))
    number = first
    for _ in range(batches):
        for _ in range(per_batch):
            buffer.put(_write(number, accumulator))
            number += 1
        await send(buffer)
        await asyncio.sleep(0)
    while len(accumulator.written()) < number:  # noqa: ASYNC110 (the stand-in producer has no event)
        await asyncio.sleep(0)
    background.cancel()


def _buffer(kind: type[ProducerBuffer]) -> Any:
    buffer: Any = kind()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    return buffer


async def test_two_drainers_of_faust_buffer_swap_writes() -> None:
    """The race the ordered buffer exists for: with Faust's buffer, the background task and an
    eager drain interleave at a full batch and a later write overtakes an earlier one."""
    accumulator = Accumulator()
    await _agent_writes(_buffer(ProducerBuffer), _old_send_buffered, accumulator, batches=20, per_batch=7)
    written = accumulator.written()
    assert sorted(written) == list(range(140))
    assert written != sorted(written)


async def test_ordered_buffer_hands_writes_over_in_the_order_made() -> None:
    accumulator = Accumulator()

    async def send(buffer: Any) -> None:
        await buffer.send_all()

    await _agent_writes(_buffer(OrderedProducerBuffer), send, accumulator, batches=20, per_batch=7)
    assert accumulator.written() == list(range(140))


async def test_ordered_buffer_background_task_alone_keeps_the_order_and_counts_taken_writes() -> None:
    accumulator = Accumulator()
    buffer = _buffer(OrderedProducerBuffer)
    for number in range(10):
        buffer.put(_write(number, accumulator))
    buffer.take()
    assert buffer.size == 10  # taken but not handed over: a flush still waits for them

    async def nothing(buffer: Any) -> None:
        return None

    await _agent_writes(buffer, nothing, accumulator, batches=3, per_batch=4, first=10)
    assert accumulator.written() == list(range(22))
    assert buffer.size == 0


async def test_a_failed_changelog_write_is_sent_again_with_the_keys_current_value() -> None:
    """A write that failed after a newer write of the same key was made: sending the failed value
    again would land after the newer one and end the changelog on stale state."""
    from shared.faust_app import DurableTable

    loop = asyncio.get_running_loop()
    failed: asyncio.Future[Any] = loop.create_future()
    failed.set_exception(ConnectionError("broker away"))
    sent: list[tuple[Any, ...]] = []

    def send_changelog(partition: Any, key: Any, value: Any, key_serializer: Any, value_serializer: Any) -> Any:
        sent.append((partition, key, value))
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result(None)
        return done

    async def flush() -> None:
        return None

    table = SimpleNamespace(
        name="group-state",
        app=SimpleNamespace(producer=SimpleNamespace(buffer=SimpleNamespace(flush=flush))),
        data={"G-1": b"state after the newer write"},
        send_changelog=send_changelog,
    )
    table.__dict__["_pantau_pending"] = {failed: (3, "G-1", b"state of the failed write", "raw", "raw")}
    await DurableTable.changelog_delivered(table)  # type: ignore[arg-type]
    assert sent == [(3, "G-1", b"state after the newer write")]


class _Event:
    def __init__(self, message: Any) -> None:
        self.message = message  # all a table write reads of its event


def test_write_row_writes_what_setitem_writes_to_the_partition_given() -> None:
    """`write_row` (a table write after a batch) stores the value and queues the same changelog
    write as `table[key] = value` in the context of an event of that partition."""
    from shared.faust_app import in_event_context, write_row
    from tests.unit.test_faust_support import unstarted_app

    async def writes() -> list[tuple[Any, ...]]:
        app = unstarted_app("pantau-test-rows")
        table = app.Table("rows", default=None, partitions=12, value_type=bytes)  # as monitoring declares it
        event = _Event(SimpleNamespace(partition=7, topic="groups"))
        table._verify_source_topic_partitions = lambda topic: None  # no source topic in this app
        with in_event_context(event):  # type: ignore[arg-type]
            table["g-1"] = b"by setitem"
        write_row(table, "g-2", b"by write_row", event)  # type: ignore[arg-type]
        queued = []
        while not app.producer.buffer.pending.empty():
            fut = app.producer.buffer.pending.get_nowait()
            queued.append((fut.message.partition, fut.message.key, fut.message.value, fut.message.callback))
        assert dict(table.data) == {"g-1": b"by setitem", "g-2": b"by write_row"}
        return queued

    (first, second) = asyncio.run(writes())
    assert first[0] == second[0] == 7
    assert (first[1], first[2]) == (b'"g-1"', b"by setitem")  # keys serialized as the table does
    assert (second[1], second[2]) == (b'"g-2"', b"by write_row")
    assert first[3] == second[3]  # both confirmed the same way (RocksDB keeps the offset)


def test_write_row_makes_the_event_current_for_the_store() -> None:
    """RocksDB's store picks its database by the current event's partition (and asserts there is
    one): the write happens in the event's context, which is gone afterwards."""
    from faust.streams import current_event

    from shared.faust_app import write_row

    seen: list[int] = []

    class Store(dict[str, bytes]):
        def __setitem__(self, key: str, value: bytes) -> None:
            event = current_event()
            assert event is not None
            seen.append(event.message.partition)
            super().__setitem__(key, value)

    sent: list[tuple[Any, ...]] = []
    table = SimpleNamespace(
        data=Store(), send_changelog=lambda *args: sent.append(args), _sensor_on_set=lambda *args: None
    )
    write_row(table, "g-1", b"state", _Event(SimpleNamespace(partition=5)))  # type: ignore[arg-type]
    assert seen == [5]
    assert sent == [(5, "g-1", b"state")]
    assert current_event() is None
