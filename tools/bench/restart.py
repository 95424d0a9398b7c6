"""How long a monitoring worker holding many groups' state takes to be ready again.

`python -m tools.bench.restart` folds a generated programme through the rules (no Kafka), copies
the resulting per-group states under new group ids up to `--groups` (default 100,000), writes them
to the worker's `group-state` changelog exactly as the worker's table would (same key and value
serializers, the partition the key's records would have), and then times, on a local broker:

- a worker started over an empty changelog (the baseline of the same run: start-up alone);
- a worker started over the full changelog (a new machine: everything is read from the broker);
- the same worker after `kill -9` and a restart (the dead member holds its partitions until the
  session timeout, so the restart includes the rebalance a crash really costs).

"Ready" is the worker's `/readyz` (started, not rebalancing, tables recovered); with no new records
on the sources, ready is caught up. Figures go to `docs/benchmarks-restart.md` and, as numbers,
`docs/benchmarks.json` (`restart_to_caught_up_s_100k_groups`, scaled linearly when `--groups` is not
100,000, and the worker's resident memory per 100,000 groups).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from services.monitoring import engine
from services.monitoring.app import create_app
from services.monitoring.loop import LoopWorker
from services.monitoring.programmes import load_programmes, programme_config
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import MonitoringSettings
from services.monitoring.stored_state import encode_state
from shared import facts, topics
from shared.faust_app import ensure_changelog_topics
from shared.logs import configure_logging
from shared.settings import KafkaSettings
from tools.bench.measure import rss_mib, start_services
from tools.figures import write_figures
from tools.generator.behaviour import Rates
from tools.generator.kafka_driver import spool_programme
from tools.generator.programme import Shape
from tools.kafka_broker import LocalKafkaBroker, ensure_jars
from tools.stack import REPO_ROOT, Stack
from tools.topics import create_topics

log = logging.getLogger("pantau.bench.restart")
SOURCES = {topics.MEETINGS_EVENTS, topics.PLANS_EVENTS, topics.EVALUATIONS_EVENTS}
OUT = REPO_ROOT / "docs" / "benchmarks-restart.md"


def folded_states(shape: Shape) -> list[GroupState]:
    """Every group's state after its generated history, folded as the worker folds it."""
    programmes = load_programmes()
    states: dict[str, GroupState] = {}
    with tempfile.TemporaryDirectory(prefix="pantau-restart-") as directory:
        spool, _ = spool_programme(shape, Rates(), Path(directory), show_progress=False)
        for topic, key, value, _type in spool.records():
            if topic not in SOURCES:
                continue
            decoded = facts.decode(value, key=key.encode())
            now = decoded.received_at
            group_id = decoded.subject
            state = states.get(group_id) or GroupState()
            name = state.context.programme if state.context else getattr(decoded.event, "programme", "default")
            outcome = engine.step(
                state, decoded.event, now, programme_config(programmes, name), group_id=group_id, received_at=now
            )
            states[group_id] = outcome.state
    return [state for state in states.values() if state.context is not None]


def copies(states: list[GroupState], count: int, partitions: int) -> Iterator[tuple[str, int, GroupState]]:
    """`count` groups (id, partition, state), cycling through the folded states; each copy's context
    names the partition its id hashes to, as the worker's own states do."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    for index in range(count):
        state = states[index % len(states)]
        group_id = f"bench-group-{index:07d}"
        partition = partitioner(group_id.encode(), every, every)
        assert state.context is not None
        yield group_id, partition, replace(state, context=replace(state.context, partition=partition))


async def write_changelog(bootstrap: str, name: str, records: Iterator[tuple[bytes, bytes, int]]) -> tuple[int, int]:
    """Produce (key, value, partition) records; returns (records, value bytes)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks="all")
    await producer.start()
    count = size = 0
    try:
        pending = []
        for key, value, partition in records:
            pending.append(await producer.send(name, value=value, key=key, partition=partition))
            count += 1
            size += len(value)
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count, size


@dataclass
class Start:
    """One worker start: seconds until `/readyz`, resident memory then, groups it holds a wake-up for."""

    seconds: float
    rss_mib: float
    waiting: int


@dataclass
class RestartResult:
    store: str
    groups: int
    folded: int
    value_bytes: int
    empty: list[Start] = field(default_factory=list)
    cold: list[Start] = field(default_factory=list)
    restarted: list[Start] = field(default_factory=list)


LOOP = "loop"  # `--store loop`: the loop consumer instead of Faust's tables


def _waiting(url: str) -> int:
    """The worker's wake index size: how many groups' states it read back (those waiting for a time)."""
    with contextlib.suppress(httpx.HTTPError):
        for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
            if line.startswith("pantau_monitoring_wake_index_entries "):
                return int(float(line.split()[1]))
    return -1


def timed_start(stack: Stack, timeout: float, *, holds_state: bool = True) -> Start:
    began = time.monotonic()
    start_services(stack, ("monitoring",), timeout=timeout)
    seconds = time.monotonic() - began
    service = stack.processes["monitoring"]
    # The wake index is rebuilt by the first tick after recovery; give it that tick.
    deadline = time.monotonic() + (30 if holds_state else 0)
    waiting = _waiting(service.base_url)
    while waiting <= 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        waiting = _waiting(service.base_url)
    return Start(seconds, rss_mib(service.process.pid), waiting)


def kill_9(stack: Stack) -> None:
    service = stack.processes.pop("monitoring")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(10)


def measure_store(
    bootstrap: str, workdir: Path, states: list[GroupState], *, store: str, groups: int, repeats: int, timeout: float
) -> RestartResult:
    """Write `groups` states into a changelog of their own, then time the starts of a worker whose
    tables live in `store` (each store gets its own topics, so no run sees another's writes)."""
    tag = store.split(":", 1)[0]
    prefix = f"bench-restart-{tag}."
    create_topics(bootstrap, prefix=prefix)
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    settings = MonitoringSettings(kafka=kafka)
    env = {
        "PANTAU_MONITORING_CLOCK": "event",
        "PANTAU_MONITORING_LOG_LEVEL": "warn",
        "PANTAU_MONITORING_STORE": store,
        "PANTAU_MONITORING_CONSUMER": "faust",  # a table store is the Faust worker's
    }
    if store == LOOP:
        # The loop consumer (`services/monitoring/loop.py`): its own changelog, raw keys and values.
        env = {**env, "PANTAU_MONITORING_STORE": "memory://", "PANTAU_MONITORING_CONSUMER": "loop"}
        worker = LoopWorker(settings, worker_id="bench")  # only to learn its topics: it never starts here
        create_topics(bootstrap, specs=worker.topic_specs())
        changelog = worker.names.group_state

        def key_value(group_id: str, stored: bytes) -> tuple[bytes, bytes]:
            return group_id.encode(), stored
    else:
        app = create_app(settings)  # only to learn the table's topic names and serializers: it never starts here
        table: Any = app.tables["group-state"]
        ensure_changelog_topics(app, kafka)
        changelog = table.changelog_topic.get_topic_name()

        def key_value(group_id: str, stored: bytes) -> tuple[bytes, bytes]:
            key = app.serializers.dumps_key(table.key_type, group_id, serializer=table.key_serializer)
            value = app.serializers.dumps_value(table.value_type, stored, serializer=table.value_serializer)
            assert key is not None
            assert value is not None
            return key, value

    result = RestartResult(store=store, groups=groups, folded=len(states), value_bytes=0)

    # Baseline of the same run: a worker over an empty changelog, under its own consumer group.
    for attempt in range(repeats):
        empty_prefix = f"bench-empty-{tag}-{attempt}."
        empty = Stack(bootstrap, workdir / tag / f"empty-{attempt}", topic_prefix=empty_prefix, extra_env=env)
        create_topics(bootstrap, prefix=empty_prefix)
        try:
            result.empty.append(timed_start(empty, timeout, holds_state=False))
        finally:
            empty.stop()
        log.info("%s, empty changelog: ready in %.1f s", store, result.empty[-1].seconds)

    def encoded() -> Iterator[tuple[bytes, bytes, int]]:
        for group_id, partition, state in copies(states, groups, settings.partitions):
            key, value = key_value(group_id, encode_state(state))  # what the worker writes into its table
            yield key, value, partition

    log.info("writing %d groups' state to %s", groups, changelog)
    began = time.monotonic()
    written, result.value_bytes = asyncio.run(write_changelog(bootstrap, changelog, encoded()))
    log.info("wrote %d states (%.0f MiB) in %.0f s", written, result.value_bytes / 2**20, time.monotonic() - began)

    stack = Stack(bootstrap, workdir / tag / "full", topic_prefix=prefix, extra_env=env)
    try:
        for attempt in range(repeats):
            # A new machine each time: no local data directory survives.
            shutil.rmtree(workdir / tag / "full" / "monitoring", ignore_errors=True)
            result.cold.append(timed_start(stack, timeout))
            log.info(
                "%s, new machine %d: ready in %.1f s, RSS %.0f MiB, %d groups waiting",
                store,
                attempt + 1,
                result.cold[-1].seconds,
                result.cold[-1].rss_mib,
                result.cold[-1].waiting,
            )
            kill_9(stack)
            result.restarted.append(timed_start(stack, timeout))
            log.info(
                "%s, after kill -9: ready in %.1f s, RSS %.0f MiB, %d groups waiting",
                store,
                result.restarted[-1].seconds,
                result.restarted[-1].rss_mib,
                result.restarted[-1].waiting,
            )
            stack.stop()  # leaves the group: the next new machine does not wait out a dead member
    finally:
        stack.stop()
    return result


def _median(starts: list[Start], attribute: str) -> float:
    return statistics.median(getattr(start, attribute) for start in starts)


def figures(result: RestartResult, *, headline: bool = True) -> dict[str, float]:
    """Per 100,000 groups, under keys naming the store (`..._rocksdb`); with `headline`, also under
    the issue's keys. Measured at another size, the start-up of the empty worker (the same run's
    baseline) is kept and only what the state added is scaled linearly."""
    scale = 100_000 / result.groups
    empty = _median(result.empty, "seconds")

    def scaled(seconds: float) -> float:
        return round(empty + max(0.0, seconds - empty) * scale, 1)

    extra_rss = _median(result.cold, "rss_mib") - _median(result.empty, "rss_mib")
    numbers = {
        "restart_to_caught_up_s_100k_groups": scaled(_median(result.restarted, "seconds")),
        "cold_start_to_caught_up_s_100k_groups": scaled(_median(result.cold, "seconds")),
        "worker_rss_mib_per_100k_groups": round(extra_rss * scale, 1),
        "changelog_mib_per_100k_groups": round(result.value_bytes / 2**20 * scale, 1),
    }
    tag = result.store.split(":", 1)[0]
    named = {f"{key}_{tag}": value for key, value in numbers.items()}
    return {**named, **numbers} if headline else named


def render(results: list[RestartResult], shape: Shape, repeats: int, headline: str) -> str:
    first = results[0]
    stores = " ".join(f"--store {result.store}" for result in results)
    lines = [
        "# Monitoring restart with national-scale state",
        "",
        f"Regenerated by `uv run python -m tools.bench.restart --groups {first.groups} {stores}`. States: the "
        f"rules' state of {first.folded:,} generated groups (scale {shape.scale}, {shape.months} months), copied "
        f"under new ids to {first.groups:,} groups and written to the worker's `group-state` changelog as its "
        f"table writes them ({first.value_bytes / 2**20:,.0f} MiB of values). Each store is measured beside "
        "a worker with an empty changelog started in the same run (the baseline: start-up alone). Measured on "
        f"{platform.machine()} with {os.cpu_count()} cores shared with other work, on "
        f"{date.today():%Y-%m-%d}; median of {repeats}.",
        "",
        "| store | start | ready (s) | resident memory (MiB) | groups read back (waiting for a time) |",
        "|---|---|---:|---:|---:|",
    ]
    for result in results:
        rows = [
            ("empty changelog (baseline)", result.empty),
            (f"{result.groups:,} groups, a new machine (changelog read from the broker)", result.cold),
            (f"{result.groups:,} groups, `kill -9` and restart on the same disk", result.restarted),
        ]
        for label, starts in rows:
            lines.append(
                f"| `{result.store}` | {label} | {_median(starts, 'seconds'):.1f} | "
                f"{_median(starts, 'rss_mib'):.0f} | {int(_median(starts, 'waiting')):,} |"
            )
    lines += ["", "Per 100,000 groups (aim: restart to caught up ≤ 60 s):", ""]
    for result in results:
        numbers = figures(result, headline=False)
        tag = result.store.split(":", 1)[0]
        marker = " — the worker as it runs by default, the headline figures" if result.store == headline else ""
        lines.append(
            f"- `{result.store}`{marker}: restart after `kill -9` "
            f"{numbers[f'restart_to_caught_up_s_100k_groups_{tag}']:.1f} s, a new machine "
            f"{numbers[f'cold_start_to_caught_up_s_100k_groups_{tag}']:.1f} s, resident memory "
            f"{numbers[f'worker_rss_mib_per_100k_groups_{tag}']:.0f} MiB above the empty worker, changelog "
            f"{numbers[f'changelog_mib_per_100k_groups_{tag}']:.0f} MiB."
        )
    lines += [
        "",
        "- *Ready* is `/readyz`: started, not rebalancing, every table recovered. Nothing new waits on the "
        "sources, so ready is caught up; a real restart also reads what arrived while it was down, at the "
        "worker's replay rate (`docs/benchmarks.md`).",
        "- The restart after `kill -9` includes the session timeout (10 s) in which the dead member still "
        "holds its partitions, and the rebalance after it.",
        "- `memory://` keeps nothing on disk: a restart reads the whole changelog again and costs what a new "
        "machine costs, and every state is held in memory (as its stored bytes). `rocksdb://` keeps the tables "
        "on disk under the worker's data directory: a restart on the same disk reads only the changelog "
        "written since its last commit, and memory holds RocksDB's caches, not the states.",
        f"- `{LOOP}` (the default consumer) holds every state in memory as its stored bytes and reads its own "
        "changelog at start with one aiokafka consumer (read_committed), not Faust's per-record recovery: "
        "its restart after `kill -9` is mostly the session timeout.",
        "- The changelog is compacted: one record per group once the broker has cleaned it.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.restart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=100_000, help="groups of state (default 100,000)")
    parser.add_argument(
        "--scale", type=float, default=0.003, help="generator scale of the folded states (default 0.003)"
    )
    parser.add_argument("--months", type=int, default=3, help="months of history per group (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="starts of each kind; the median is kept (default 3)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a start may take (default 900)")
    parser.add_argument(
        "--store",
        choices=("memory://", "rocksdb://", LOOP),
        action="append",
        help=f"what to measure (repeatable; default all three): `{LOOP}`, the worker's default consumer "
        "(PANTAU_MONITORING_CONSUMER=loop: its states in memory, read from its own changelog), or one of the "
        "Faust worker's table stores",
    )
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument(
        "--workdir", type=Path, default=REPO_ROOT / "var" / "bench-restart", help="broker and worker data"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"page to write (default {OUT.relative_to(REPO_ROOT)})")
    parser.add_argument("--no-figures", action="store_true", help="do not write docs/benchmarks.json")
    args = parser.parse_args(argv)
    configure_logging("bench", "INFO")
    for noisy in ("aiokafka", "kafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    shape = Shape(scale=args.scale, seed=7, start=date(2026, 1, 1), months=args.months)
    stores = args.store or [LOOP, "memory://", "rocksdb://"]
    # The keys hold the worker as it runs by default: the loop consumer, else the default store.
    default_consumer = MonitoringSettings.model_fields["consumer"].default
    headline = LOOP if default_consumer == LOOP else str(MonitoringSettings.model_fields["store"].default)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    log.info("folding a generated programme (scale %s, %d month(s)) through the rules", shape.scale, shape.months)
    states = folded_states(shape)
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = LocalKafkaBroker(args.workdir / "kafka", heap="1g", libs_dir=ensure_jars())
        broker.start()
        bootstrap = broker.bootstrap_servers
    try:
        results = [
            measure_store(
                bootstrap,
                args.workdir,
                states,
                store=store,
                groups=args.groups,
                repeats=args.repeats,
                timeout=args.timeout,
            )
            for store in stores
        ]
    finally:
        if broker is not None:
            broker.stop()
    text = render(results, shape, args.repeats, headline)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    if not args.no_figures:
        numbers: dict[str, float] = {}
        for result in results:
            numbers.update(figures(result, headline=result.store == headline))
        write_figures(numbers)
        print(f"wrote docs/benchmarks.json: {numbers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
