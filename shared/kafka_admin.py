"""Topic administration over kafka-python: create topics with their partition counts and configs,
idempotently, and wait until the broker's metadata shows them. Used by `tools.topics` (the contract's
topics) and by the stream workers (their tables' changelog topics, created before the worker starts
so that no agent ever meets a table whose changelog the broker does not know yet)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


def admin_client_config(bootstrap_servers: str, client_id: str, timeout_s: float) -> dict[str, Any]:
    """``KafkaAdminClient`` settings that fail within about ``timeout_s`` if nothing answers.

    kafka-python 3 bounds the initial connection with ``bootstrap_timeout_ms``, 2.x with
    ``api_version_auto_timeout_ms``; both are allowed by pyproject, and each rejects the other's key.
    """
    from kafka import KafkaAdminClient

    timeout_ms = max(int(timeout_s * 1000), 500)
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id,
        "request_timeout_ms": timeout_ms,
        "reconnect_backoff_max_ms": 500,
    }
    known = KafkaAdminClient.DEFAULT_CONFIG
    for key in ("bootstrap_timeout_ms", "api_version_auto_timeout_ms"):
        if key in known:
            config[key] = timeout_ms
    return config


class TopicError(RuntimeError):
    """Topics could not be created, or an existing topic contradicts topics.yaml."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract: its name, partitioning, configs and what its records are keyed by."""

    name: str
    partitions: int
    replication_factor: int
    # Excluded from the hash (a dict is unhashable) so specs can still live in sets and dict keys.
    config: dict[str, str] = field(hash=False)
    key: str


def _topic_name(info: Mapping[str, Any]) -> str | None:
    # kafka-python 3 says 'name', 2.x said 'topic'; pyproject allows both.
    name = info.get("name", info.get("topic"))
    return str(name) if name is not None else None


def _partition_state(info: Mapping[str, Any]) -> tuple[int, bool]:
    """(partition count, every partition has a leader and no error) from a describe_topics entry."""
    partitions = info.get("partitions") or []
    healthy = all(p.get("error_code", 0) == 0 and p.get("leader_id", p.get("leader", -1)) >= 0 for p in partitions)
    return len(partitions), healthy


def _describe(admin: Any, names: list[str]) -> dict[str, Mapping[str, Any]]:
    """Topics among ``names`` that exist (error_code 0), by name."""
    result: dict[str, Mapping[str, Any]] = {}
    for info in admin.describe_topics(names):
        name = _topic_name(info)
        if name is not None and info.get("error_code", 0) == 0:
            result[name] = info
    return result


def create_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    specs: list[TopicSpec],
    timeout_s: float = 30,
) -> list[str]:
    """Create every topic of ``specs`` as ``prefix + name``; idempotent.

    Topics that already exist are accepted when their partition count matches the spec. Returns once
    metadata shows every topic with the right partition count and a leader for each partition, so
    producers and consumers can use them straight away.

    Returns:
        The full topic names, in spec order.

    Raises:
        TopicError: an existing topic has a different partition count, the broker rejected a topic,
            or the topics were not ready within ``timeout_s``.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = {prefix + spec.name: spec for spec in specs}
    names = list(wanted)
    if not names:
        return []
    deadline = time.monotonic() + timeout_s

    admin = KafkaAdminClient(**admin_client_config(bootstrap_servers, "pantau-topics", min(timeout_s, 30)))
    try:
        existing = _describe(admin, names)
        _check_partition_counts(existing, wanted)
        missing = [name for name in names if name not in existing]
        if missing:
            # NewTopic works across the whole kafka-python range pyproject allows (2.2 to 3.0).
            new_topics = [
                NewTopic(
                    name=name,
                    num_partitions=wanted[name].partitions,
                    replication_factor=wanted[name].replication_factor,
                    topic_configs=dict(wanted[name].config),
                )
                for name in missing
            ]
            logger.info("Creating %d topics on %s: %s", len(missing), bootstrap_servers, ", ".join(missing))
            try:
                admin.create_topics(new_topics, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                # Someone else created some of them between our describe and create: verified below.
                logger.info("Some topics appeared concurrently; verifying their partition counts")
            except KafkaError as exc:
                raise TopicError(f"Kafka on {bootstrap_servers} refused to create {missing}: {exc!r}") from exc
        _wait_for_topics(admin, wanted, deadline)
    finally:
        admin.close()
    return names


def _check_partition_counts(existing: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, TopicSpec]) -> None:
    mismatched = []
    for name, info in existing.items():
        count, _ = _partition_state(info)
        if count and count != wanted[name].partitions:
            mismatched.append(f"{name} has {count} partitions, topics.yaml says {wanted[name].partitions}")
    if mismatched:
        raise TopicError(
            "Existing topics contradict deploy/kafka/topics.yaml (changing a partition count re-keys data; "
            "plan a migration instead): " + "; ".join(mismatched)
        )


def _wait_for_topics(admin: Any, wanted: Mapping[str, TopicSpec], deadline: float) -> None:
    names = list(wanted)
    while True:
        pending: dict[str, str] = {}
        try:
            existing = _describe(admin, names)
        except Exception as exc:  # a transient metadata error just means "look again"
            existing = {}
            pending["*"] = repr(exc)
        _check_partition_counts(existing, wanted)
        for name in names:
            if name not in existing:
                pending[name] = "not in metadata yet"
                continue
            count, healthy = _partition_state(existing[name])
            if count != wanted[name].partitions or not healthy:
                pending[name] = f"{count}/{wanted[name].partitions} partitions, leaders ready: {healthy}"
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TopicError(f"Topics not ready in time: {pending}")
        time.sleep(0.1)


def list_topics(bootstrap_servers: str, *, timeout_s: float = 10) -> dict[str, int]:
    """All topics on the cluster (internal ones included) with their partition counts, sorted by name."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**admin_client_config(bootstrap_servers, "pantau-topics", timeout_s))
    try:
        infos = admin.describe_topics()
    finally:
        admin.close()
    counts = {}
    for info in infos:
        name = _topic_name(info)
        if name is not None:
            counts[name] = _partition_state(info)[0]
    return dict(sorted(counts.items()))
