"""The headers a dead-letter record carries: why it was refused and where it came from."""

from __future__ import annotations

from shared import topics


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
