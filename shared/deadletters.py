"""The headers a dead-letter record carries: why it was refused and where it came from.

Every worker sends a refused record on unchanged, to its service's dead-letter topic, with these
headers (`headers_for` builds them from the record read and logs the refusal the same way in every
worker; `dead_letter_headers` is the list itself, for a record known only by its coordinates).
"""

from __future__ import annotations

import logging
from typing import Any

from shared import topics

log = logging.getLogger(__name__)


def record_headers(record: Any) -> list[tuple[str, bytes]]:
    """A record's headers as a list of (name, bytes): an aiokafka `ConsumerRecord`'s (a sequence of
    pairs) or a Faust message's (a sequence or a dict)."""
    headers = record.headers or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(name), bytes(value)) for name, value in items]


def headers_for(record: Any, *, service: str, reason: str, detail: str) -> list[tuple[str, bytes]]:
    """The dead-letter headers of `record` (anything with Kafka's `topic`, `partition`, `offset` and
    `headers`: an aiokafka record, a Faust message), its own headers kept first. Logs the refusal."""
    log.warning("dead letter from %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
    return dead_letter_headers(
        service=service,
        reason=reason,
        detail=detail,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        original_headers=record_headers(record),
    )


def dead_letter_headers(
    *,
    service: str,
    reason: str,
    detail: str,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    original_headers: list[tuple[str, bytes]] | None = None,
) -> list[tuple[str, bytes]]:
    """Original headers first, then Pantau's `pantau-dlq-*` headers (reason is a stable token)."""
    return [
        *(original_headers or []),
        (topics.DLQ_SERVICE_HEADER, service.encode()),
        (topics.DLQ_REASON_HEADER, reason.encode()),
        (topics.DLQ_DETAIL_HEADER, detail[:500].encode()),
        (topics.DLQ_SOURCE_TOPIC_HEADER, source_topic.encode()),
        (topics.DLQ_SOURCE_PARTITION_HEADER, str(source_partition).encode()),
        (topics.DLQ_SOURCE_OFFSET_HEADER, str(source_offset).encode()),
    ]
