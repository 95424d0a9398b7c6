"""One way in for every consumer: count the record, decode it, and say what becomes of it.

Every worker (monitoring, analytics, notifications) reads raw records and must treat them alike:
`pantau_events_processed_total` for each, unknown event types counted and skipped
(`pantau_events_unknown_type_total`: a newer producer is not an error), anything else undecodable
dead-lettered with its reason (`pantau_dead_letters_total`). Then a consumer dispatches the decoded
event through its own `{event type: handler}` table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter

from shared import serde

D = TypeVar("D")


class IntakeMetrics:
    """The three counters every consumer keeps (bounded labels: service, topic, reason)."""

    def __init__(self, registry: CollectorRegistry, *, service: str) -> None:
        self.service = service
        self.processed = Counter(
            "pantau_events_processed_total", "Events read by the service.", ["service", "topic"], registry=registry
        )
        self.skipped_unknown = Counter(
            "pantau_events_unknown_type_total",
            "Events of a type this build does not know: counted and skipped.",
            ["service", "topic"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "pantau_dead_letters_total",
            "Records sent to a dead-letter topic.",
            ["service", "reason"],
            registry=registry,
        )

        self._processed: dict[str, Any] = {}

    def count_processed(self, topic: str, count: int = 1) -> None:
        # One labelled child per topic, looked up once: `labels()` per record was a measurable share
        # of the monitoring worker's time (a lock and a tuple lookup each).
        child = self._processed.get(topic)
        if child is None:
            child = self._processed[topic] = self.processed.labels(self.service, topic)
        child.inc(count)

    def dead_lettered(self, reason: str) -> None:
        self.dead_letters.labels(self.service, reason).inc()


@dataclass(frozen=True)
class Refused:
    """A record that goes to the dead-letter topic, and why."""

    reason: str
    detail: str


def take_in(
    value: bytes | None,
    key: bytes | None,
    *,
    topic: str,
    metrics: IntakeMetrics,
    decode: Callable[..., D] = serde.decode,  # type: ignore[assignment]
    counted: bool = False,
) -> D | Refused | None:
    """Count and decode one record: the decoded event, a refusal (dead-letter it), or None for an
    event type this build does not know (counted, skipped). `decode` is `serde.decode` (the contract's
    models), or a reader that raises the same `serde.DecodeError`s (the monitoring's `shared.facts`).
    `counted`: the caller counts what it reads itself (`count_processed(topic, n)` once a batch)."""
    if not counted:
        metrics.count_processed(topic)
    try:
        return decode(value, key=key)
    except serde.DecodeError as exc:
        if exc.reason == "unknown_type":
            metrics.skipped_unknown.labels(metrics.service, topic).inc()
            return None
        return Refused(exc.reason, exc.detail)
