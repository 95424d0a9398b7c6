"""A paused worker's stale transaction is refused: each batch's offsets are committed with the
worker's consumer-group membership (Kafka's KIP-447), so the broker rejects them once the group has
moved on, and the whole transaction (deviations, changelog writes, offsets) is aborted.

Why: the loop worker commits each batch as one transaction on a producer of its own
(`<group>-<worker id>`). Nobody else ever starts that transactional id, so nothing fences it. A worker
that stops long enough for the group to give its partitions away (a `SIGSTOP`, a frozen VM, a
long collector pause) holds a batch it fetched before; when it wakes it would commit that batch for
partitions now another worker's: older states written to the changelog after the new owner's, and
the group's offsets moved back. A later restore of those partitions would then start from stale
states (records after them never folded in) or fold records again.

Kafka's answer is a `TxnOffsetCommit` request that carries the member id and generation of the
consumer whose offsets it commits; the group coordinator answers `ILLEGAL_GENERATION` or
`UNKNOWN_MEMBER_ID` when they are not current. aiokafka 0.14 sends only version 0 of that request,
without them (`send_offsets_to_transaction(offsets, group_id)`), so this module sends version 3
(Kafka 2.5 or later) for the producer it is given, with the membership read from the consumer at the
moment the request is built. A worker that is not a member at all (generation -1: its consumer
already knows the group moved on) does not ask the broker, which accepts membership-less
transactional commits: the transaction fails at once. Either way `send_offsets_to_transaction`
raises `StaleMembership` and the producer is failed for good (`fatal_error`): the worker starts
another with the same transactional id, and the broker aborts the open transaction when it does
(`loop.LoopWorker._process`, `_renew_producer`), then the batch is read again after the rebalance.
Not an abortable error: aiokafka forgets the transaction's partitions when it records one, so its
abort sends nothing, the broker's transaction stays open, and the next commit of the same producer
made the refused batch's writes visible with its own (seen in the test).

This reaches into aiokafka's sender (`_do_txn_offset_commit`); aiokafka is pinned in
`pyproject.toml`, and `tests/integration/test_monitoring_fencing.py` checks it against a real broker.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.client import ConnectionGroup, CoordinationType
from aiokafka.producer.sender import TxnOffsetCommitHandler
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactString, Int16, Int32, Int64, Schema, TaggedFields

log = logging.getLogger(__name__)

NO_GENERATION = -1  # aiokafka's generation while its consumer is not a member of the group


class Membership(NamedTuple):
    """A consumer's place in its group, as the group coordinator checks it."""

    generation: int
    member_id: str

    @property
    def is_member(self) -> bool:
        return self.generation != NO_GENERATION and bool(self.member_id)


class StaleMembership(kafka_errors.KafkaError):
    """The group moved on: this worker's offsets (and the transaction carrying them) are refused."""

    retriable = False


def membership_of(consumer: AIOKafkaConsumer) -> Membership:
    """The consumer's current generation and member id (aiokafka keeps them on its coordinator)."""
    coordinator: Any = getattr(consumer, "_coordinator", None)
    if coordinator is None:
        return Membership(NO_GENERATION, "")
    return Membership(int(coordinator.generation), str(coordinator.member_id or ""))


class TxnOffsetCommitResponse_v3(Response):  # Kafka's protocol names, as aiokafka's
    API_KEY = 28
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("partitions", CompactArray(("partition_index", Int32), ("error_code", Int16), ("tags", TaggedFields))),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class TxnOffsetCommitRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 28
    API_VERSION = 3
    RESPONSE_TYPE = TxnOffsetCommitResponse_v3
    SCHEMA = Schema(
        ("transactional_id", CompactString("utf-8")),
        ("group_id", CompactString("utf-8")),
        ("producer_id", Int64),
        ("producer_epoch", Int16),
        ("generation_id", Int32),
        ("member_id", CompactString("utf-8")),
        ("group_instance_id", CompactString("utf-8")),  # null: no static membership
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("committed_metadata", CompactString("utf-8")),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class MemberTxnOffsetCommitRequest(Request[TxnOffsetCommitRequest_v3]):
    """`TxnOffsetCommit` with the committing consumer's membership (version 3 only)."""

    API_KEY = 28

    def __init__(
        self,
        *,
        transactional_id: str,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        membership: Membership,
        topics: list[tuple[str, list[tuple[int, int, str]]]],
    ) -> None:
        self.fields = (transactional_id, group_id, producer_id, producer_epoch, membership, topics)

    def build(self, request_struct_class: type[TxnOffsetCommitRequest_v3]) -> TxnOffsetCommitRequest_v3:
        transactional_id, group_id, producer_id, producer_epoch, membership, topics = self.fields
        return request_struct_class(
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            membership.generation,
            membership.member_id,
            None,
            [
                (topic, [(partition, offset, -1, metadata, {}) for partition, offset, metadata in partitions], {})
                for topic, partitions in topics
            ],
            {},
        )


# The group coordinator's answers that mean "not a current member": the transaction must not commit.
STALE = (
    kafka_errors.IllegalGenerationError,
    kafka_errors.UnknownMemberIdError,
    kafka_errors.RebalanceInProgressError,
)


def _refuse(txn_manager: Any, refused: StaleMembership) -> None:
    """Fail the producer's transaction for good (see the module's docstring for why not abortably)."""
    txn_manager.fatal_error(refused)
    # `send_offsets_to_transaction` raises it; the transaction's own waiter is awaited by nobody now.
    txn_manager.wait_for_transaction_end().exception()


class _MemberOffsetCommit(TxnOffsetCommitHandler):
    """aiokafka's handler for the offsets of a transaction, sending the membership with them."""

    group = ConnectionGroup.COORDINATION

    def __init__(self, sender: Any, offsets: Any, group_id: str, membership: Membership) -> None:
        super().__init__(sender, offsets, group_id)
        self._membership = membership

    def create_request(self) -> MemberTxnOffsetCommitRequest:
        txn_manager = self._sender._txn_manager
        topics: dict[str, list[tuple[int, int, str]]] = collections.defaultdict(list)
        for tp, offset in sorted(self._offsets.items()):
            topics[tp.topic].append((tp.partition, offset.offset, offset.metadata))
        return MemberTxnOffsetCommitRequest(
            transactional_id=txn_manager.transactional_id,
            group_id=self._group_id,
            producer_id=txn_manager.producer_id,
            producer_epoch=txn_manager.producer_epoch,
            membership=self._membership,
            topics=list(topics.items()),
        )

    def handle_response(self, resp: Any) -> float | None:
        txn_manager = self._sender._txn_manager
        # Version 3 names its fields differently from version 0, which aiokafka's handler reads.
        for topic, partitions, _tags in resp.topics:
            for partition, error_code, _partition_tags in partitions:
                error_type = kafka_errors.for_code(error_code)
                if error_type in STALE:
                    refused = StaleMembership(
                        f"offsets of {topic}[{partition}] refused: {error_type.__name__} "
                        f"(generation {self._membership.generation}, member {self._membership.member_id})"
                    )
                    _refuse(txn_manager, refused)
                    return None
        legacy = collections.namedtuple("legacy", "errors")(
            [(topic, [(partition, code) for partition, code, _ in partitions]) for topic, partitions, _ in resp.topics]
        )
        result: float | None = super().handle_response(legacy)
        return result


def commit_offsets_as_member(producer: AIOKafkaProducer, membership: Callable[[], Membership]) -> None:
    """Make `producer` send its transactions' offsets with `membership()` (asked at each attempt)."""
    sender: Any = producer._sender

    async def send_with_membership(offsets: Any, group_id: str) -> None:
        if not offsets:
            return
        member = membership()
        if not member.is_member:
            refused = StaleMembership(f"not a member of {group_id} (generation {member.generation}): offsets not sent")
            _refuse(sender._txn_manager, refused)
            return
        node_id = await sender._find_coordinator(CoordinationType.GROUP, group_id)
        await _MemberOffsetCommit(sender, offsets, group_id, member).do(node_id)

    sender._do_txn_offset_commit = send_with_membership


__all__ = ["Membership", "StaleMembership", "commit_offsets_as_member", "membership_of"]
