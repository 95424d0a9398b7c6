"""The worker's collector settings (shared/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.heap import YOUNG_THRESHOLD, BatchCollector, settle_for_streaming

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


def test_a_batch_collector_freezes_after_each_batch_and_collects_everything_now_and_then() -> None:
    calls: list[str] = []
    now = [0.0]
    collector = BatchCollector(
        every_s=120,
        clock=lambda: now[0],
        frozen=lambda: 0,
        freeze=lambda: calls.append("freeze"),
        unfreeze=lambda: calls.append("unfreeze"),
        collect=lambda: calls.append("collect") or 0,
    )
    for at in (1.0, 60.0, 119.9):
        now[0] = at
        collector.after_batch()
    assert calls == ["freeze"] * 3
    calls.clear()
    now[0] = 120.0
    collector.after_batch()
    assert calls == ["unfreeze", "collect", "freeze"]
    calls.clear()
    now[0] = 200.0  # the next full collection counts from the last one
    collector.after_batch()
    assert calls == ["freeze"]
    now[0] = 240.0
    collector.after_batch()
    assert calls == ["freeze", "unfreeze", "collect", "freeze"]


def test_a_long_full_collection_is_logged_for_the_operator(caplog: pytest.LogCaptureFixture) -> None:
    # The event loop stands still while it runs: a pause of seconds is worth an INFO line.
    now = [0.0]

    def collect(seconds: float) -> int:
        now[0] += seconds
        return 7

    took = [0.1]
    collector = BatchCollector(
        every_s=10,
        clock=lambda: now[0],
        frozen=lambda: 0,
        freeze=lambda: None,
        unfreeze=lambda: None,
        collect=lambda: collect(took[0]),
    )
    caplog.set_level("INFO", logger="shared.heap")
    now[0] = 10.0
    collector.after_batch()
    assert not caplog.records  # 0.1 s: not worth a line
    took[0] = 2.5
    now[0] = 30.0
    collector.after_batch()
    assert [record.getMessage() for record in caplog.records] == [
        "full collection: 7 unreachable objects freed in 2.50 s"
    ]
    assert collector.last_full == 32.5


def test_no_full_collection_with_too_many_objects_frozen_said_once(caplog: pytest.LogCaptureFixture) -> None:
    # Walking millions of objects stops the event loop for seconds: past its consumer group's session
    # timeout, the worker loses its partitions. The frozen objects stay frozen.
    calls: list[str] = []
    now, frozen = [0.0], [2_000_000]
    collector = BatchCollector(
        every_s=120,
        max_frozen=1_000_000,
        clock=lambda: now[0],
        frozen=lambda: frozen[0],
        freeze=lambda: calls.append("freeze"),
        unfreeze=lambda: calls.append("unfreeze"),
        collect=lambda: calls.append("collect") or 0,
    )
    caplog.set_level("INFO", logger="shared.heap")
    for at in (120.0, 240.0, 360.0):
        now[0] = at
        collector.after_batch()
    assert calls == ["freeze"] * 3
    assert collector.skipped == 3
    assert [record.getMessage() for record in caplog.records] == [
        "full collections skipped from now on: 2000000 objects frozen (more than 1000000) would stop the event "
        "loop for seconds"
    ]
    calls.clear()
    frozen[0] = 900_000  # fewer again (groups moved to another worker): collected as before
    now[0] = 480.0
    collector.after_batch()
    assert calls == ["unfreeze", "collect", "freeze"]


def test_nothing_is_collected_while_a_batch_is_folded_and_the_collector_comes_back_after() -> None:
    calls: list[str] = []
    enabled = [True]

    def disable() -> None:
        calls.append("disable")
        enabled[0] = False

    def enable() -> None:
        calls.append("enable")
        enabled[0] = True

    collector = BatchCollector(
        enabled=lambda: enabled[0], disable=disable, enable=enable, freeze=lambda: calls.append("freeze")
    )
    with collector.folding():
        assert enabled == [False]
    assert calls == ["disable", "freeze", "enable"]  # what the fold made is frozen before any collection
    with pytest.raises(ValueError, match="a bad record"), collector.folding():
        raise ValueError("a bad record")
    assert enabled == [True]  # even when the fold raised
    calls.clear()
    enabled[0] = False  # a collector someone else turned off stays off
    with collector.folding():
        pass
    assert calls == ["disable", "freeze"]
    assert enabled == [False]


@pytest.mark.usefixtures("restored_collector")
def test_a_cycle_frozen_with_a_batch_is_freed_by_the_next_full_collection() -> None:
    now = [0.0]
    found: list[int] = []

    def collect() -> int:
        found.append(gc.collect())
        return found[-1]

    # Real freezing and collecting; how many objects the test session has frozen is not the point here.
    collector = BatchCollector(every_s=10, clock=lambda: now[0], frozen=lambda: 0, collect=collect)

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    collector.after_batch()  # frozen with the batch: out of the collector's sight
    assert gc.collect() == 0
    now[0] = 10.0
    collector.after_batch()  # the full collection looks at everything again
    assert len(found) == 1
    assert found[0] >= 2
