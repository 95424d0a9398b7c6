"""Pantau's Kafka topics as declared in ``deploy/kafka/topics.yaml``, and how to create them.

The broker's auto-create is off, so these functions are the only way topics come to exist (in
tests, locally and in deployments). ``python -m tools.topics --help`` for the CLI.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shared import kafka_admin
from shared.kafka_admin import TopicError, TopicSpec, list_topics
from tools.kafka_broker import default_bootstrap

__all__ = ["TopicError", "TopicSpec", "create_topics", "list_topics", "load_topic_specs"]

logger = logging.getLogger("tools.topics")  # not "__main__" under python -m

REPO_ROOT = Path(__file__).resolve().parents[1]
TOPICS_YAML = REPO_ROOT / "deploy" / "kafka" / "topics.yaml"


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


def create_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    specs: list[TopicSpec] | None = None,
    timeout_s: float = 30,
) -> list[str]:
    """Create the topics of ``deploy/kafka/topics.yaml`` (or ``specs``) as ``prefix + name``; idempotent."""
    return kafka_admin.create_topics(
        bootstrap_servers, prefix=prefix, specs=load_topic_specs() if specs is None else specs, timeout_s=timeout_s
    )


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
