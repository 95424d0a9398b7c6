"""`python -m tools.generator`: generate a synthetic national programme and drive it into Pantau.

    uv run python -m tools.generator summary --scale 0.01 --months 3
    uv run python -m tools.generator oracle --scale 0.001 --out var/oracle.jsonl
    uv run python -m tools.generator accuracy --scale 0.003 --months 3   # engine vs oracle, no Kafka
    uv run python -m tools.generator kafka --bootstrap 127.0.0.1:9092 --scale 0.01
    uv run python -m tools.generator http --url http://127.0.0.1:8001 --webhook-url http://127.0.0.1:9999/

The same `--seed`, `--scale`, `--start` and `--months` always give the same programme, history and
oracle. `--rate NAME=VALUE` changes an injected deviation's rate (see `Rates`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import resource
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from services.monitoring.programmes import load_programmes
from shared.logs import configure_logging
from shared.settings import KafkaSettings
from tools.generator.behaviour import Rates, simulate
from tools.generator.oracle import OracleResult, expected_deviations
from tools.generator.programme import Programme, Shape

log = logging.getLogger("pantau.generator")


def _rates(values: list[str]) -> Rates:
    changes: dict[str, float] = {}
    for item in values:
        name, _, value = item.partition("=")
        if name not in Rates.__dataclass_fields__:
            raise SystemExit(f"unknown rate {name!r}; known: {', '.join(Rates.__dataclass_fields__)}")
        changes[name] = float(value)
    return dataclasses.replace(Rates(), **changes)


def _shape(args: argparse.Namespace, *, in_the_past: bool = False) -> Shape:
    if args.start is None and in_the_past:
        return Shape.ending_before(datetime.now(UTC), scale=args.scale, seed=args.seed, months=args.months)
    start = date.fromisoformat(f"{args.start or '2026-01'}-01")
    return Shape(scale=args.scale, seed=args.seed, start=start, months=args.months)


def build_parser() -> argparse.ArgumentParser:
    """The CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.generator",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--scale", type=float, default=0.001, help="share of the national programme (default 0.001)")
    common.add_argument("--seed", type=int, default=7, help="random world (default 7)")
    common.add_argument("--start", help="first period YYYY-MM (default 2026-01; for http: ends before now)")
    common.add_argument("--months", type=int, default=1, help="periods to simulate (default 1)")
    common.add_argument("--rate", action="append", default=[], metavar="NAME=VALUE", help="override a deviation rate")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("summary", parents=[common], help="count what would be generated and the oracle per rule")
    oracle = commands.add_parser("oracle", parents=[common], help="write the oracle as JSON lines")
    oracle.add_argument("--out", type=Path, required=True, help="file to write")
    commands.add_parser(
        "accuracy",
        parents=[common],
        help="fold the monitoring engine over the history in receipt order; precision and recall per rule",
    )
    kafka = commands.add_parser("kafka", parents=[common], help="replay straight onto Kafka topics")
    kafka.add_argument("--bootstrap", default=KafkaSettings().bootstrap_servers, help="broker host:port")
    kafka.add_argument("--prefix", default="", help="topic prefix of the deployment")
    kafka.add_argument("--webhook-url", help="supervisors' webhook URL in the registry events")
    http = commands.add_parser("http", parents=[common], help="drive through the public HTTP API")
    http.add_argument("--url", default="http://127.0.0.1:8001", help="meetings service base URL")
    http.add_argument("--webhook-url", help="supervisors' webhook URL")
    http.add_argument("--concurrency", type=int, default=8, help="field apps sending at once (default 8)")
    return parser


def _print_oracle(oracle: OracleResult) -> None:
    counts = oracle.count_by_rule()
    ambiguous = Counter(item.rule for item in oracle.ambiguous)
    print("oracle (certain / ambiguous):")
    for rule in sorted(set(counts) | set(ambiguous)):
        print(f"  {rule:34s} {counts.get(rule, 0):8d} {ambiguous.get(rule, 0):8d}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging("generator", "INFO")
    rates = _rates(args.rate)
    programmes = load_programmes()
    started = time.perf_counter()
    if args.command in ("summary", "oracle"):
        shape = _shape(args)
        oracle = OracleResult()
        injected: Counter[str] = Counter()
        facilitators = groups = meetings = 0
        for facilitator in Programme(shape).facilitators():
            history = simulate(facilitator, shape, rates)
            facilitators += 1
            groups += len(facilitator.groups)
            meetings += len(history.meetings)
            injected.update(history.injected)
            oracle.update(expected_deviations(history, programmes))
        if args.command == "oracle":
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("w") as handle:
                for item in sorted(oracle.certain):
                    handle.write(json.dumps({**dataclasses.asdict(item), "ambiguous": False}) + "\n")
                for item in sorted(oracle.ambiguous):
                    handle.write(json.dumps({**dataclasses.asdict(item), "ambiguous": True}) + "\n")
            print(f"wrote {len(oracle.certain)} + {len(oracle.ambiguous)} ambiguous to {args.out}")
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{facilitators} facilitators, {groups} groups, {meetings} meetings over {shape.periods()} "
            f"in {time.perf_counter() - started:.1f} s (peak RSS {peak_mib:.0f} MiB)"
        )
        print("injected:", dict(sorted(injected.items())))
        _print_oracle(oracle)
        return 0
    if args.command == "accuracy":
        from tools.generator.fold import accuracy, fold_programme
        from tools.generator.oracle import MANY_GROUPS

        shape = _shape(args)
        folded = fold_programme(shape, rates, programmes)
        print(
            f"{folded.facilitators} facilitators, {folded.groups} groups over {shape.periods()} folded in "
            f"{time.perf_counter() - started:.1f} s"
        )
        print(f"  {'rule':34s} {'oracle':>7s} {'opened':>7s} {'missed':>7s} {'extra':>7s} precision recall")
        for row in accuracy(folded):
            precision = "–" if row.precision is None else f"{row.precision:.3f}"
            recall = "–" if row.recall is None else f"{row.recall:.3f}"
            print(
                f"  {row.rule:34s} {row.expected:7d} {row.opened:7d} {len(row.missed):7d} {len(row.extra):7d} "
                f"{precision:>9s} {recall:>6s}"
            )
        estimated = {item.occurrence.split("#")[0] for item in folded.oracle.certain if item.rule == MANY_GROUPS}
        print(
            f"  {MANY_GROUPS}: {len(folded.facilitators_signalled)} of {folded.facilitators} facilitators "
            f"({folded.opened_by_rule[MANY_GROUPS]} episodes); the oracle's estimate: {len(estimated)}"
        )
        return 0 if all(not row.missed and not row.extra for row in accuracy(folded)) else 1
    if args.command == "kafka":
        from tools.generator.kafka_driver import replay

        shape = _shape(args)
        kafka = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=args.prefix)
        spooled, stats = replay(shape, rates, kafka=kafka, webhook_url=args.webhook_url, show_progress=not args.quiet)
        print(
            f"{stats.records} records in {stats.seconds:.1f} s ({stats.records_per_second:.0f}/s):",
            dict(spooled.by_type),
        )
        _print_oracle(spooled.oracle)
        return 0
    from tools.generator.http_driver import drive_http

    shape = _shape(args, in_the_past=True)
    run = drive_http(
        shape,
        rates,
        base_url=args.url,
        webhook_url=args.webhook_url,
        concurrency=args.concurrency,
        programmes=programmes,
        show_progress=not args.quiet,
    )
    print(f"{sum(run.requests.values())} requests in {run.seconds:.1f} s: {dict(sorted(run.requests.items()))}")
    for failure in run.failures[:5]:
        print("  failed:", failure)
    _print_oracle(run.oracle)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
