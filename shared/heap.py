"""The garbage collector set for a long-running stream worker.

A worker allocates a great many short-lived objects per record (decoded events, states, decisions),
nearly all freed at once by reference counting, and holds many long-lived ones (the groups' states).
CPython's default collects its youngest generation every 700 net allocations, so a worker ran a
collection every few records and, every so often, walked the long-lived states again for cycles
that are not there. Measured on the monitoring replay (`make bench`, two alternating pairs of runs
on 2026-12-03): 2,158 → 2,357 events/s (+9 %) with the settings below, the same in both pairs.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # allocations between collections of the youngest generation (default 700)


def settle_for_streaming() -> None:
    """Freeze what start-up built (modules, the app: never collectable) out of the collector's
    sight, and collect the youngest generation every `YOUNG_THRESHOLD` allocations instead of 700.
    Cycles are still collected, only less often: memory held by garbage cycles stays bounded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
