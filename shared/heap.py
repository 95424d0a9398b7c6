"""The garbage collector set for a long-running stream worker.

A worker allocates a great many short-lived objects per record (decoded events, states, decisions),
nearly all freed at once by reference counting, and holds many long-lived ones (the groups' states).
CPython's default collects its youngest generation every 700 net allocations, so a worker ran a
collection every few records and, every so often, walked the long-lived states again for cycles
that are not there. Measured on the monitoring replay (`make bench`, two alternating pairs of runs
on 2026-12-03): 2,158 → 2,357 events/s (+9 %) with the settings below, the same in both pairs.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator

YOUNG_THRESHOLD = 50_000  # allocations between collections of the youngest generation (default 700)
FULL_COLLECTION_EVERY_S = 120.0  # `BatchCollector`: how often the frozen objects are looked at again
PAUSE_WORTH_LOGGING_S = 0.5  # a full collection at least this long is logged at INFO
# `BatchCollector`: no full collection with more objects than this frozen. A full collection walks
# every object, about 1-4 µs each on this project's 2-core machine, with the event loop standing
# still: over a national tenth (39,972 groups, about 2.5 million objects in the bare fold, more in the
# worker) one took 3 to 10 s, the loop worker sent no heartbeat meanwhile, its consumer group dropped
# it after the 10 s session timeout, and the batch it held was folded again (2026-12-05).
FULL_COLLECTION_MAX_FROZEN = 1_000_000

log = logging.getLogger(__name__)


def settle_for_streaming() -> None:
    """Freeze what start-up built (modules, the app: never collectable) out of the collector's
    sight, and collect the youngest generation every `YOUNG_THRESHOLD` allocations instead of 700.
    Cycles are still collected, only less often: memory held by garbage cycles stays bounded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)


class BatchCollector:
    """Keeps what outlived a batch out of the collector's sight until the next full collection.

    Why: a replay grows the worker's heap by every group it meets (a national tenth: 0.1 → 1.3 GiB).
    CPython runs a full collection each time the objects that outlived the young generations grow by
    a quarter, so a growing heap is walked again and again for cycles that are not there: 21 % of
    the loop worker's time in a national tenth (py-spy, 2026-12-03). Frozen after each batch (a
    constant-time move to the permanent generation), the states are never walked; every
    `every_s` seconds one full collection looks at everything again, so cyclic garbage that was
    frozen with them (asyncio's and the Kafka client's) is freed within that time. Objects are still
    freed by reference counting the moment nothing holds them: only cycles wait.
    Measured with one loop worker over a generated month of 19,973 groups (738,341 records; two
    alternating pairs of runs, 2026-12-03): 6,381 and 6,789 → 7,171 and 7,175 events/s frozen after
    every batch; 7,063 and 6,877 with the full collection every 2 minutes as well (RSS at the end
    725 and 801 MiB against 735 and 732: nothing piles up).

    Past `max_frozen` frozen objects no full collection runs (it would stop the event loop for
    seconds): the cycles frozen meanwhile stay. They are few: the fold makes none (an activity kept
    its progress windows, itself among them, until 2026-12-05: 56,023 unreachable objects in one
    full collection over 8,000 groups; since, 380 to 840 in each of five collections 6 s apart, start-up's
    Kafka clients and closures of the event loop's)."""

    def __init__(
        self,
        *,
        every_s: float = FULL_COLLECTION_EVERY_S,
        max_frozen: int = FULL_COLLECTION_MAX_FROZEN,
        clock: Callable[[], float] = time.monotonic,
        frozen: Callable[[], int] = gc.get_freeze_count,
        freeze: Callable[[], None] = gc.freeze,
        unfreeze: Callable[[], None] = gc.unfreeze,
        collect: Callable[[], int] = gc.collect,
        enabled: Callable[[], bool] = gc.isenabled,
        disable: Callable[[], None] = gc.disable,
        enable: Callable[[], None] = gc.enable,
    ) -> None:
        self.every_s, self.max_frozen, self.clock, self._frozen = every_s, max_frozen, clock, frozen
        self._freeze, self._unfreeze, self._collect = freeze, unfreeze, collect
        self._enabled, self._disable, self._enable = enabled, disable, enable
        self.last_full = clock()
        self.skipped = 0  # full collections skipped for the frozen objects' number

    @contextlib.contextmanager
    def folding(self) -> Iterator[None]:
        """No collection while a batch is folded (pure, synchronous work that makes new states and
        drops old ones, freed by reference counting). Why: the young generation was still collected
        every 50,000 allocations within a batch, each time walking the states the batch had made so
        far: 6.7 % of the loop worker's time over 12,018 groups in batches of 20,000 records (py-spy,
        2026-12-04). What outlived the fold is then frozen, as `after_batch` does: cycles made meanwhile
        wait for the next full collection."""
        was_enabled = self._enabled()
        self._disable()
        try:
            yield
        finally:
            # Frozen before the collector comes back: the first allocation after would otherwise
            # walk everything the batch made at once (as much as the collections it skipped).
            self._freeze()
            if was_enabled:
                self._enable()

    def after_batch(self) -> None:
        """Call between batches, when the batch's own objects are mostly gone."""
        now = self.clock()
        if now - self.last_full < self.every_s:
            self._freeze()
            return
        frozen = self._frozen()
        if frozen > self.max_frozen:
            log.log(
                logging.DEBUG if self.skipped else logging.INFO,  # said once, not every few minutes
                "full collections skipped from now on: %d objects frozen (more than %d) would stop the event "
                "loop for seconds",
                frozen,
                self.max_frozen,
            )
            self.skipped += 1
            self.last_full = now
        else:
            self._unfreeze()
            began = self.clock()
            found = self._collect()
            took = self.clock() - began
            # The event loop stood still meanwhile (no heartbeat to the consumer group): worth seeing.
            log.log(
                logging.INFO if took >= PAUSE_WORTH_LOGGING_S else logging.DEBUG,
                "full collection: %d unreachable objects freed in %.2f s",
                found,
                took,
            )
            self.last_full = began + took
        self._freeze()
