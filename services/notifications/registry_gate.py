"""Deviations wait until the registry projection has read what the registry topic held when the
consumer was given its partitions (pure; `consumer.AlertIntake` does the Kafka side).

Routing reads the projection: a deviation read before its district's supervisors are projected
climbs to the province (or, for a group not known yet, waits in parking and may be resolved there
unheard). The consumer fetches `registry.events` and `monitoring.deviations` side by side, in an
order nobody controls, so two starts over the same topics could route the same deviation to
different supervisors (the `notifications-kill` fault case saw 16 to 158 deliveries differ from the
run without the kill). Holding the deviation partitions back until every assigned registry
partition has been read up to the end it had at assignment makes routing depend on the records
only: whatever was registered before the notifier started is known before any deviation is
routed. Registry changes that arrive later are read as they come, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from aiokafka import TopicPartition


class _Positioned(Protocol):
    @property
    def offset(self) -> int: ...


Record = TypeVar("Record", bound=_Positioned)


@dataclass
class RegistryGate(Generic[Record]):
    """Closed from an assignment until every registry partition in it reached its end offset as of
    that assignment; while closed, records of `held_topic` are given back (not handled, their
    partition read again from the first of them once the gate opens)."""

    registry_topic: str
    held_topic: str
    assignment: frozenset[TopicPartition] = frozenset()
    # Registry partitions still short of the end they had at assignment → that end.
    behind: dict[TopicPartition, int] = field(default_factory=dict)
    # False from a new assignment until `close` got its ends (reading them can fail: asked again).
    ends_known: bool = True

    @property
    def is_open(self) -> bool:
        return self.ends_known and not self.behind

    def reassigned(self, assignment: Iterable[TopicPartition]) -> list[TopicPartition] | None:
        """None if the assignment is the one the gate already knows the ends for; else the registry
        partitions whose end offsets the caller must fetch and pass to `close` (until then, the gate
        holds)."""
        assignment = frozenset(assignment)
        if assignment == self.assignment and self.ends_known:
            return None
        self.assignment = assignment
        self.behind = {}
        self.ends_known = False
        return sorted(tp for tp in assignment if tp.topic == self.registry_topic)

    def close(self, ends: Mapping[TopicPartition, int], positions: Mapping[TopicPartition, int]) -> None:
        """Hold deviations until each registry partition's position reaches its end (an empty
        partition, or one already read to its end, holds nothing)."""
        self.ends_known = True
        self.behind = {tp: int(end) for tp, end in ends.items() if tp in self.assignment and end > 0}
        self.advance(positions)

    def advance(self, positions: Mapping[TopicPartition, int]) -> bool:
        """Forget the registry partitions read up to their end; True if that opened the gate."""
        was_open = self.is_open
        for tp, position in positions.items():
            if tp in self.behind and position >= self.behind[tp]:
                del self.behind[tp]
        return self.is_open and not was_open

    def held(self) -> list[TopicPartition]:
        """The assigned partitions to pause while the gate is closed (none once it is open)."""
        if self.is_open:
            return []
        return sorted(tp for tp in self.assignment if tp.topic == self.held_topic)

    def split(
        self, batches: Mapping[TopicPartition, Sequence[Record]]
    ) -> tuple[dict[TopicPartition, Sequence[Record]], dict[TopicPartition, int]]:
        """(the records to handle now, {held partition: the offset to read it again from}): while
        the gate is closed, a held partition's records are given back from the first of them."""
        if self.is_open:
            return dict(batches), {}
        passed = {tp: records for tp, records in batches.items() if tp.topic != self.held_topic}
        rewind = {tp: records[0].offset for tp, records in batches.items() if tp.topic == self.held_topic and records}
        return passed, rewind
