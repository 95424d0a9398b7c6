"""Retry back-off (pure)."""

from __future__ import annotations

from datetime import timedelta


def next_retry_delay(attempt: int, *, initial_seconds: float, max_seconds: float, jitter: float) -> timedelta:
    """Exponential back-off with jitter: attempt 1 waits ~initial, each further one twice as long.

    `jitter` in [0, 1) comes from the caller's random source, so this stays pure and testable.
    """
    # Capping the exponent keeps huge attempt numbers from overflowing before the ceiling applies.
    doublings = min(max(0, attempt - 1), 64)
    base = min(max_seconds, initial_seconds * 2.0**doublings)
    return timedelta(seconds=base * (0.5 + 0.5 * jitter))
