"""The registry gate (pure): deviations wait until every assigned registry partition was read up to
the end it had at assignment, so routing does not depend on which partition was fetched first."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from services.notifications.registry_gate import RegistryGate

pytestmark = pytest.mark.unit

REGISTRY = "p.registry.events"
DEVIATIONS = "p.monitoring.deviations"
MEETINGS = "p.meetings.events"


@dataclass(frozen=True)
class Rec:
    offset: int


def tps(topic: str, count: int = 2) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for partition in range(count)]


def assignment() -> list[TopicPartition]:
    return [*tps(REGISTRY), *tps(DEVIATIONS), *tps(MEETINGS)]


def gate() -> RegistryGate[Rec]:
    return RegistryGate(registry_topic=REGISTRY, held_topic=DEVIATIONS)


def test_a_new_assignment_asks_for_the_registry_ends_once() -> None:
    g = gate()
    assert g.reassigned(assignment()) == tps(REGISTRY)
    g.close({tp: 3 for tp in tps(REGISTRY)}, {})
    assert g.reassigned(reversed(assignment())) is None  # the same partitions: nothing to ask


def test_deviations_are_held_and_given_back_until_the_registry_is_read_to_its_end() -> None:
    g = gate()
    g.reassigned(assignment())
    registry0, registry1 = tps(REGISTRY)
    g.close({registry0: 5, registry1: 3}, {registry0: 0, registry1: 0})
    assert not g.is_open
    assert g.held() == tps(DEVIATIONS)
    deviations0 = TopicPartition(DEVIATIONS, 0)
    meetings0 = TopicPartition(MEETINGS, 0)
    batches = {registry0: [Rec(0), Rec(1)], deviations0: [Rec(7), Rec(8)], meetings0: [Rec(4)]}
    passed, rewind = g.split(batches)
    assert passed == {registry0: [Rec(0), Rec(1)], meetings0: [Rec(4)]}  # the console's facts need no registry
    assert rewind == {deviations0: 7}  # read again from the first one held, nothing skipped
    assert g.advance({registry0: 5, registry1: 2}) is False
    assert g.behind == {registry1: 3}
    assert g.advance({registry1: 3}) is True
    assert g.is_open
    assert g.held() == []
    assert g.split(batches) == (batches, {})


def test_a_registry_already_read_to_its_end_holds_nothing() -> None:
    g = gate()
    g.reassigned(assignment())
    registry0, registry1 = tps(REGISTRY)
    g.close({registry0: 5, registry1: 0}, {registry0: 5})  # committed at the end; an empty partition
    assert g.is_open


def test_a_rebalance_closes_the_gate_again_for_the_partitions_it_brings() -> None:
    g = gate()
    g.reassigned(tps(REGISTRY, 1) + tps(DEVIATIONS, 1))
    g.close({TopicPartition(REGISTRY, 0): 2}, {TopicPartition(REGISTRY, 0): 2})
    assert g.is_open
    wider = tps(REGISTRY) + tps(DEVIATIONS)
    assert g.reassigned(wider) == tps(REGISTRY)
    g.close({TopicPartition(REGISTRY, 0): 2, TopicPartition(REGISTRY, 1): 9}, {TopicPartition(REGISTRY, 0): 2})
    assert g.behind == {TopicPartition(REGISTRY, 1): 9}
    assert g.held() == tps(DEVIATIONS)


def test_an_empty_assignment_holds_nothing() -> None:
    g = gate()
    g.reassigned(assignment())
    assert g.reassigned([]) == []
    g.close({}, {})
    assert g.is_open


def test_ends_of_partitions_no_longer_assigned_are_ignored() -> None:
    g = gate()
    g.reassigned(tps(REGISTRY, 1))
    g.close({TopicPartition(REGISTRY, 1): 4}, {})
    assert g.is_open


def test_ends_that_could_not_be_read_hold_deviations_and_are_asked_for_again() -> None:
    g = gate()
    assert g.reassigned(assignment()) == tps(REGISTRY)
    # The broker did not answer: `close` is never called.
    assert not g.is_open
    assert g.held() == tps(DEVIATIONS)
    assert g.reassigned(assignment()) == tps(REGISTRY)  # the same assignment, asked again
    g.close({tp: 0 for tp in tps(REGISTRY)}, {})
    assert g.is_open
    assert g.reassigned(assignment()) is None
