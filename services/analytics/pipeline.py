"""Pipeline health readings that come from Kafka itself: consumer lag of Pantau's consumer groups (admin
API) and the reason a dead-letter record carries. Blocking kafka-python calls: the worker runs
`consumer_lag` in an executor on a timer, never at scrape time."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from shared import topics
from shared.kafka_admin import admin_client_config

log = logging.getLogger(__name__)

# Only these topics become `topic` label values (bounded); internal and changelog topics are skipped.
WATCHED_TOPICS = frozenset({*topics.CONTRACT_TOPICS, *topics.DEAD_LETTER_TOPICS})


def parse_consumer_groups(text: str) -> dict[str, str]:
    """`"monitoring=pantau-monitoring,notifications=pantau-notifications"` → service → group name."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {service.strip(): group.strip() for service, group in pairs}


def consumer_lag(
    bootstrap_servers: str, *, groups: Mapping[str, str], topic_prefix: str = "", timeout_s: float = 5
) -> dict[tuple[str, str], float]:
    """(service, contract topic) → records behind the log end, summed over partitions, for each group's
    committed offsets. A group that has committed nothing yet has no series (not a lag of zero)."""
    from kafka import KafkaAdminClient, KafkaConsumer

    lag: dict[tuple[str, str], float] = {}
    admin = KafkaAdminClient(**admin_client_config(bootstrap_servers, "pantau-analytics-lag", timeout_s))
    consumer: Any = None
    try:
        committed_by_service = {service: _committed(admin, group) for service, group in groups.items()}
        partitions = {tp for committed in committed_by_service.values() for tp in committed}
        if not partitions:
            return lag
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="pantau-analytics-lag",
            enable_auto_commit=False,
            request_timeout_ms=max(int(timeout_s * 1000), 1000),
        )
        ends = consumer.end_offsets(list(partitions))
        for service, committed in committed_by_service.items():
            for tp, meta in committed.items():
                topic = tp.topic[len(topic_prefix) :] if tp.topic.startswith(topic_prefix) else tp.topic
                if topic not in WATCHED_TOPICS or meta.offset < 0 or tp not in ends:
                    continue
                key = (service, topic)
                lag[key] = lag.get(key, 0.0) + max(0, ends[tp] - meta.offset)
    finally:
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close()
        with contextlib.suppress(Exception):
            admin.close()
    return lag


def _committed(admin: Any, group: str) -> dict[Any, Any]:
    """A group's committed offsets; kafka-python 3 renamed the call, and 2.x is still allowed."""
    try:
        if hasattr(admin, "list_group_offsets"):
            return dict(admin.list_group_offsets({group: None}).get(group, {}))
        return dict(admin.list_consumer_group_offsets(group))
    except Exception as exc:  # a group that has not committed yet is not an outage
        log.debug("no committed offsets for %s: %r", group, exc)
        return {}


def header(headers: Iterable[tuple[str, bytes]], name: str, default: str = "unknown") -> str:
    """A header's value as text (the last one wins, as dead-letter headers are appended)."""
    value = default
    for key, raw in headers:
        if key == name:
            value = raw.decode(errors="replace")
    return value
