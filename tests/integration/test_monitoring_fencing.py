"""A worker's transaction carries its group membership (`services/monitoring/fencing.py`): once the
group has moved on, the broker refuses its offsets and nothing of the transaction becomes visible.
Against a real broker: the request is built by hand (aiokafka sends only the membership-less version)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.monitoring.fencing import Membership, StaleMembership, commit_offsets_as_member, membership_of
from shared.kafka_admin import TopicSpec, create_topics

pytestmark = pytest.mark.integration


async def _until(
    condition: Callable[[], bool], what: str, consumers: tuple[AIOKafkaConsumer, ...], within: float = 60.0
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        for consumer in consumers:  # keeps their group work moving
            await consumer.getmany(timeout_ms=100)
        await asyncio.sleep(0.05)


async def _committed_offset(consumer: AIOKafkaConsumer, tp: TopicPartition, expected: int) -> int | None:
    """The group's committed offset once it is `expected` (the transaction's marker reaches the
    offsets a moment after the commit returns), or what it still is after a few seconds."""
    committed = None
    for _ in range(50):
        committed = await consumer.committed(tp)
        if committed == expected:
            break
        await asyncio.sleep(0.1)
    return committed


async def _commit(producer: AIOKafkaProducer, topic: str, value: bytes, group: str, offsets: dict) -> None:  # type: ignore[type-arg]
    """One transaction: a write and the group's offsets."""
    async with producer.transaction():
        await producer.send(topic, value)
        await producer.send_offsets_to_transaction(offsets, group)


async def _renewed(producer: AIOKafkaProducer, bootstrap: str, run: str) -> AIOKafkaProducer:
    await producer.stop()
    renewed = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"fencing-{run}")
    await renewed.start()
    return renewed


async def _read_committed(bootstrap: str, topic: str) -> list[bytes]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, isolation_level="read_committed", auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        values: list[bytes] = []
        for _ in range(20):
            batch = await reader.getmany(timeout_ms=250)
            values += [record.value for records in batch.values() for record in records if record.value is not None]
        return values
    finally:
        await reader.stop()


async def test_offsets_of_a_member_the_group_moved_past_are_refused_with_their_whole_transaction(
    kafka_bootstrap: str,
) -> None:
    run = uuid.uuid4().hex[:8]
    source, out, group = f"fencing-source-{run}", f"fencing-out-{run}", f"fencing-group-{run}"
    await asyncio.to_thread(
        create_topics,
        kafka_bootstrap,
        specs=[TopicSpec(source, 2, 1, {}, "test"), TopicSpec(out, 1, 1, {}, "test")],
        timeout_s=30,
    )
    tp = TopicPartition(source, 0)
    settings = {"bootstrap_servers": kafka_bootstrap, "group_id": group, "enable_auto_commit": False}
    first = AIOKafkaConsumer(source, **settings, session_timeout_ms=10_000, heartbeat_interval_ms=500)
    await first.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"fencing-{run}", acks="all")
    await producer.start()
    second: AIOKafkaConsumer | None = None
    asked: list[Membership] = []
    try:
        await _until(lambda: membership_of(first).is_member, "the first consumer to join", (first,))
        before = membership_of(first)
        current = before

        def membership() -> Membership:
            asked.append(current)
            return current

        commit_offsets_as_member(producer, membership)

        # A current member commits: the write and the offset become visible together.
        await _commit(producer, out, b"as a member", group, {tp: 5})
        assert await _committed_offset(first, tp, 5) == 5
        assert asked == [before]

        # The group moves on: a second consumer joins, the first one gets a new generation.
        second = AIOKafkaConsumer(source, **settings, session_timeout_ms=10_000, heartbeat_interval_ms=500)
        await second.start()
        await _until(
            lambda: (
                membership_of(first).generation > before.generation
                and membership_of(second).generation == membership_of(first).generation
            ),
            "the rebalance",
            (first, second),
        )

        # The stale membership (a worker that slept through the rebalance) is refused by the broker.
        with pytest.raises(StaleMembership, match=r"IllegalGeneration|UnknownMemberId|RebalanceInProgress"):
            await _commit(producer, out, b"stale", group, {tp: 9})
        assert await _committed_offset(first, tp, 9) == 5
        # As the worker does: a producer of the same transactional id, and the broker aborts what was left open.
        producer = await _renewed(producer, kafka_bootstrap, run)
        commit_offsets_as_member(producer, membership)

        # Not a member at all (its consumer already left the group): refused before asking the broker.
        current = Membership(-1, "")
        with pytest.raises(StaleMembership, match="not a member"):
            await _commit(producer, out, b"no member", group, {tp: 11})
        producer = await _renewed(producer, kafka_bootstrap, run)
        commit_offsets_as_member(producer, membership)

        # The same producer goes on with the current membership.
        current = membership_of(first)
        await _commit(producer, out, b"member again", group, {tp: 7})
        assert await _committed_offset(first, tp, 7) == 7

        assert await _read_committed(kafka_bootstrap, out) == [b"as a member", b"member again"]
    finally:
        await producer.stop()
        await first.stop()
        if second is not None:
            await second.stop()
