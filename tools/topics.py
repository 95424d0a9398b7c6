"""Pantau's Kafka topics as declared in ``deploy/kafka/topics.yaml``, and how to create them.

The broker's auto-create is off, so these functions are the only way topics come to exist (in
tests, locally and in deployments). ``python -m tools.topics --help`` for the CLI.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.kafka_broker import admin_client_config, default_bootstrap

logger = logging.getLogger("tools.topics")  # not "__main__" under python -m

REPO_ROOT = Path(__file__).resolve().parents[1]
TOPICS_YAML = REPO_ROOT / "deploy" / "kafka" / "topics.yaml"


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


def _config_value(value: Any) -> str:
    # YAML turns `true` into a Python bool; Kafka wants "true", not "True".
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def load_topic_specs(path: Path | None = None) -> list[TopicSpec]:
    """Read the topic specs from ``deploy/kafka/topics.yaml`` (or ``path``), in file order.

    ``defaults`` (``replication_factor``, and optionally ``partitions`` and ``config``) apply to every
    topic that does not set them itself.

    Raises:
        ValueError: the file is malformed (missing fields, bad numbers, duplicate names).
    """
    path = path or TOPICS_YAML
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, Mapping) or not isinstance(document.get("topics"), list):
        raise ValueError(f"{path}: expected a mapping with a 'topics' list")
    defaults = document.get("defaults") or {}
    default_config = {str(k): _config_value(v) for k, v in (defaults.get("config") or {}).items()}

    specs: list[TopicSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["topics"]):
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise ValueError(f"{path}: topics[{index}] needs a 'name'")
        name = str(entry["name"])
        if name in seen:
            raise ValueError(f"{path}: topic {name!r} is declared twice")
        seen.add(name)
        where = f"{path}: topic {name!r}"
        config = dict(default_config)
        config.update({str(k): _config_value(v) for k, v in (entry.get("config") or {}).items()})
        specs.append(
            TopicSpec(
                name=name,
                partitions=_positive_int(entry.get("partitions", defaults.get("partitions")), f"{where} partitions"),
                replication_factor=_positive_int(
                    entry.get("replication_factor", defaults.get("replication_factor", 1)),
                    f"{where} replication_factor",
                ),
                config=config,
                key=str(entry.get("key", "")),
            )
        )
    return specs


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
    specs: list[TopicSpec] | None = None,
    timeout_s: float = 30,
) -> list[str]:
    """Create every topic of ``specs`` (default: topics.yaml) as ``prefix + name``; idempotent.

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

    specs = load_topic_specs() if specs is None else specs
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


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.topics`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.topics",
        description="Create or list Pantau's Kafka topics (declared in deploy/kafka/topics.yaml).",
    )
    bootstrap_help = "HOST:PORT (default: $PANTAU_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)"
    sub = parser.add_subparsers(dest="command", required=True, metavar="{create,list}")
    create = sub.add_parser("create", help="create every topic of topics.yaml (idempotent)")
    create.add_argument("--bootstrap", default=default_bootstrap(), help=bootstrap_help)
    create.add_argument("--prefix", default="", help="prefix for every topic name (e.g. for a test run)")
    create.add_argument("--timeout", type=float, default=30, help="seconds (default: 30)")
    listing = sub.add_parser("list", help="print every topic on the cluster with its partition count")
    listing.add_argument("--bootstrap", default=default_bootstrap(), help=bootstrap_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python reports every refused connection loudly; the CLI reports the outcome itself.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        if args.command == "create":
            names = create_topics(args.bootstrap, prefix=args.prefix, timeout_s=args.timeout)
            counts = list_topics(args.bootstrap)
            for name in names:
                print(f"{name}\t{counts.get(name, '?')}")
        else:
            for name, partitions in list_topics(args.bootstrap).items():
                print(f"{name}\t{partitions}")
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
