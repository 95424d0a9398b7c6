"""The worker's collector settings (shared/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.heap import YOUNG_THRESHOLD, settle_for_streaming

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_freezes_start_up_and_collects_the_young_less_often() -> None:
    settle_for_streaming()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_collector")
def test_cycles_are_still_collected() -> None:
    settle_for_streaming()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
