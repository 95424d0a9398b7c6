"""The moving parts of a fault run: a generated load on its own topic prefix, service processes that
can be `kill -9`'d and restarted, and readers of what came out (committed offsets, deviations,
metrics, webhooks). Used by the fault cases (`tools.faults.cases`), the fault command and
`tests/faults/`. Nothing here reads the wall clock for a result: time is only used to bound waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from aiokafka import ConsumerRecord, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from shared import serde, topics
from shared.events import DeviationOpened
from shared.kafka_admin import admin_client_config
from shared.settings import KafkaSettings
from tools.generator.behaviour import Rates
from tools.generator.kafka_driver import DaySpool, Spooled, produce, spool_programme
from tools.generator.oracle import Expected
from tools.generator.programme import Shape
from tools.stack import REPO_ROOT, free_port
from tools.topics import create_topics

log = logging.getLogger(__name__)

# Monitoring reads these; analytics also reads the deviations monitoring publishes.
MONITORING_SOURCES = (topics.MEETINGS_EVENTS, topics.PLANS_EVENTS, topics.EVALUATIONS_EVENTS)
ANALYTICS_SOURCES = (topics.MEETINGS_EVENTS, topics.EVALUATIONS_EVENTS, topics.MONITORING_DEVIATIONS)
# The generated world: one month, a small share of the nation (a few hundred groups).
DEFAULT_SHAPE = Shape(scale=0.001, seed=7, start=date(2026, 1, 1), months=1)


def new_prefix(tag: str) -> str:
    """A topic prefix (and consumer group prefix) of its own for one run."""
    return f"f{tag}{uuid4().hex[:6]}."


# ------------------------------------------------------------------------------------------------ load


@dataclass
class Load:
    """A generated programme spooled once to disk, produced onto as many prefixes as runs need."""

    shape: Shape
    spool: DaySpool
    spooled: Spooled
    webhook_url: str | None
    directory: tempfile.TemporaryDirectory[str]

    @classmethod
    def generate(cls, shape: Shape = DEFAULT_SHAPE, *, webhook_url: str | None = None) -> Load:
        directory = tempfile.TemporaryDirectory(prefix="pantau-faults-")
        spool, spooled = spool_programme(
            shape, Rates(), Path(directory.name), webhook_url=webhook_url, show_progress=False
        )
        return cls(shape, spool, spooled, webhook_url, directory)

    def produce(self, bootstrap: str, prefix: str) -> None:
        """Every record onto `prefix`'s topics, in receipt order, acknowledged by the broker."""
        kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
        asyncio.run(produce(self.spool, kafka=kafka, total=self.spooled.records, show_progress=False))

    def oracle_ids(self) -> tuple[set[Expected], set[Expected]]:
        """(certain, ambiguous) deviations the generator's oracle expects."""
        return set(self.spooled.oracle.certain), set(self.spooled.oracle.ambiguous)

    def close(self) -> None:
        self.directory.cleanup()


def prepare_topics(bootstrap: str, prefix: str) -> None:
    """The contract's topics under `prefix`. Through the flaky link a reset can end a creation half
    way (a failed run of the link case that said nothing about the worker): try again, creation is
    idempotent."""
    for attempt in range(5):
        try:
            create_topics(bootstrap, prefix=prefix)
            return
        except Exception as exc:
            if attempt == 4:
                raise
            log.warning("creating the topics of %s failed (%r); trying again", prefix, exc)
            time.sleep(1.0)


# ------------------------------------------------------------------------------------------- processes


@dataclass
class ServiceRun:
    """One service process (`python -m services.<name>`), restartable with the same settings."""

    name: str
    bootstrap: str
    prefix: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def environment(self) -> dict[str, str]:
        data = self.workdir
        upper = self.name.upper()
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PANTAU_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PANTAU_KAFKA_TOPIC_PREFIX": self.prefix,
            f"PANTAU_{upper}_PORT": str(self.port),
            f"PANTAU_{upper}_WEB_PORT": str(self.port),
            f"PANTAU_{upper}_DATA_DIR": str(data),
            # Quiet by default; PANTAU_FAULTS_LOG_LEVEL=info keeps the workers' rebalance and
            # recovery story in the evidence of a failed run.
            f"PANTAU_{upper}_LOG_LEVEL": os.environ.get("PANTAU_FAULTS_LOG_LEVEL", "warn"),
            f"PANTAU_{upper}_DATABASE_URL": f"sqlite:///{data / (self.name + '.db')}",
            "PANTAU_NOTIFICATIONS_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
            **self.env,
        }

    def start(self) -> ServiceRun:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=REPO_ROOT,
                env=self.environment(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    def wait_ready(self, timeout: float = 180) -> float:
        """Seconds until `/readyz` answered 200; raises with the log's tail if it never does."""
        began = time.monotonic()
        deadline = began + timeout
        with httpx.Client(timeout=2) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return time.monotonic() - began
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")
                time.sleep(0.25)

    def kill9(self) -> None:
        """`kill -9` of the process group: no shutdown hook, no final commit, no flush."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def pause(self) -> None:
        """`SIGSTOP` of the process group: alive, holding what it holds, answering nothing (a frozen
        VM, a laptop lid closed, a collector pause longer than the session timeout)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def crashes(self) -> list[str]:
        """Lines where an agent crashed or a traceback was logged."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in text if "Crashed reason=" in line or line.startswith("Traceback")]


# ----------------------------------------------------------------------------------------------- reads


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(**admin_client_config(bootstrap, "pantau-faults", 10))


def end_offsets(bootstrap: str, names: Iterable[str]) -> dict[TopicPartition, int]:
    """Log end offsets of every partition of the given (qualified) topic names."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="pantau-faults-ends", enable_auto_commit=False)
    try:
        partitions = []
        for name in names:
            for partition in consumer.partitions_for_topic(name) or set():
                partitions.append(TopicPartition(name, partition))
        ends = consumer.end_offsets(partitions)
        return {TopicPartition(tp.topic, tp.partition): int(end) for tp, end in ends.items()}
    finally:
        consumer.close()


def committed(client: KafkaAdminClient, group: str, names: Iterable[str]) -> dict[TopicPartition, int]:
    """A consumer group's committed offsets on the given topics (absent = nothing committed)."""
    wanted = set(names)
    try:
        offsets = client.list_group_offsets({group: None}).get(group, {})
    except Exception as exc:  # the group does not exist before its first join
        log.debug("no offsets for %s yet: %r", group, exc)
        return {}
    return {
        TopicPartition(tp.topic, tp.partition): int(meta.offset)
        for tp, meta in offsets.items()
        if tp.topic in wanted and meta.offset >= 0
    }


class OffsetWatch:
    """Samples a consumer group's committed offsets in a thread of its own and keeps every step
    backwards: a group's committed offsets only ever move forward unless a worker the group moved
    past commits what it fetched before (a zombie)."""

    def __init__(self, bootstrap: str, group: str, names: Iterable[str], every_s: float = 0.2) -> None:
        self.bootstrap, self.group, self.names, self.every_s = bootstrap, group, list(names), every_s
        self.backwards: list[tuple[TopicPartition, int, int]] = []  # (partition, highest seen, then)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"offsets-{group}", daemon=True)

    def __enter__(self) -> OffsetWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        client = admin(self.bootstrap)
        highest: dict[TopicPartition, int] = {}
        try:
            while not self._stop.wait(self.every_s):
                try:
                    now = committed(client, self.group, self.names)
                except Exception as exc:  # the broker is busy: ask again
                    log.debug("offsets of %s unknown: %r", self.group, exc)
                    continue
                for tp, offset in now.items():
                    if offset < highest.get(tp, -1):
                        self.backwards.append((tp, highest[tp], offset))
                        log.warning("%s: offset of %s went back: %d → %d", self.group, tp, highest[tp], offset)
                    highest[tp] = max(offset, highest.get(tp, -1))
        finally:
            client.close()


def progress(bootstrap: str, client: KafkaAdminClient, group: str, names: Iterable[str]) -> tuple[int, int]:
    """(records committed by the group, records on the topics) over the given topics."""
    names = list(names)
    ends = end_offsets(bootstrap, names)
    done = committed(client, group, names)
    return sum(min(done.get(tp, 0), end) for tp, end in ends.items()), sum(ends.values())


class Stalled(TimeoutError):
    """The group's committed offsets stopped moving short of the end."""

    def __init__(self, group: str, done: int, total: int, behind: dict[TopicPartition, tuple[int, int]]) -> None:
        self.behind = behind
        where = ", ".join(f"{tp.topic}[{tp.partition}] {c}/{e}" for tp, (c, e) in sorted(behind.items())[:6])
        super().__init__(f"{group} stopped committing at {done} of {total} records ({where})")


def wait_caught_up(
    bootstrap: str,
    group: str,
    names: Iterable[str],
    *,
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    settle: float = 0.0,
    stall: float | None = None,
) -> float:
    """Seconds until `group` committed everything on `names` (and the ends stayed put for `settle`
    seconds); raises `Stalled` if nothing more was committed for `stall` seconds, TimeoutError with
    the figures if it does not catch up within `timeout`."""
    names = list(names)
    began = time.monotonic()
    client = admin(bootstrap)
    try:
        done_since: float | None = None
        last_total = -1
        last_done, moved_at = -1, began
        while True:
            try:
                done, total = progress(bootstrap, client, group, names)
            except Exception as exc:  # the broker may be away or the link cut: ask again
                log.debug("progress of %s unknown: %r", group, exc)
                time.sleep(1)
                if time.monotonic() - began > timeout:
                    raise
                continue
            now = time.monotonic()
            if done != last_done:
                last_done, moved_at = done, now
            elif stall is not None and done < total and now - moved_at > stall:
                ends = end_offsets(bootstrap, names)
                offsets = committed(client, group, names)
                behind = {tp: (offsets.get(tp, 0), end) for tp, end in ends.items() if offsets.get(tp, 0) < end}
                raise Stalled(group, done, total, behind)
            if done >= total and total == last_total:
                done_since = done_since if done_since is not None else now
                if now - done_since >= settle:
                    return now - began
            else:
                done_since = None
            last_total = total
            if not alive():
                raise RuntimeError(f"{group}: every worker died at {done}/{total}")
            if now - began > timeout:
                raise TimeoutError(f"{group} committed {done} of {total} records after {timeout:.0f}s")
            time.sleep(0.5)
    finally:
        client.close()


def wait_progress(bootstrap: str, group: str, names: Iterable[str], share: float, *, timeout: float) -> tuple[int, int]:
    """Block until `group` committed at least `share` of the records on `names`; returns (done, total)."""
    names = list(names)
    deadline = time.monotonic() + timeout
    client = admin(bootstrap)
    # The load is on the topics already: read their ends once, then only the commits (a fresh
    # consumer per poll is slow enough on a busy machine for a small load to finish unseen).
    ends = end_offsets(bootstrap, names)
    total = sum(ends.values())
    try:
        while True:
            offsets = committed(client, group, names)
            done = sum(min(offsets.get(tp, 0), end) for tp, end in ends.items())
            if total and done >= share * total:
                return done, total
            if time.monotonic() > deadline:
                raise TimeoutError(f"{group} committed {done} of {total}; wanted {share:.0%}")
            time.sleep(0.05)
    finally:
        client.close()


def read_all(bootstrap: str, name: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of one topic, from the beginning to its current end."""
    ends = end_offsets(bootstrap, [name])
    remaining = {tp: end for tp, end in ends.items() if end > 0}
    records: list[Any] = []
    if not remaining:
        return records
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    try:
        consumer.assign([tp for tp in remaining])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 120
        while remaining and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                records.extend(batch)
                key = TopicPartition(tp.topic, tp.partition)
                if batch and batch[-1].offset + 1 >= remaining.get(key, 0):
                    remaining.pop(key, None)
            # A partition written in transactions (the loop consumer's) ends with a commit marker,
            # which no record reaches: the read position does.
            for key in list(remaining):
                if consumer.position(KafkaTopicPartition(key.topic, key.partition)) >= remaining[key]:
                    remaining.pop(key, None)
        if remaining:
            raise TimeoutError(f"could not read {name} to its end: {remaining}")
        return records
    finally:
        consumer.close()


@dataclass
class Deviations:
    """What monitoring published: opened ids (with how often each was published) and other changes."""

    opened: Counter[Expected] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)  # event type → records
    # where each id was first published and when it says it was detected: the evidence a failed
    # run keeps (`cases.keep_evidence`)
    first: dict[Expected, dict[str, Any]] = field(default_factory=dict)

    @property
    def distinct(self) -> set[Expected]:
        return set(self.opened)

    @property
    def republished(self) -> int:
        """Publications of an id beyond its first (allowed: at-least-once with derived ids)."""
        return sum(count - 1 for count in self.opened.values())


def read_deviations(bootstrap: str, prefix: str) -> Deviations:
    found = Deviations()
    for record in read_all(bootstrap, f"{prefix}{topics.MONITORING_DEVIATIONS}"):
        decoded = serde.decode(record.value)
        found.changes[decoded.envelope.type] += 1
        if isinstance(decoded.event, DeviationOpened):
            event = decoded.event
            item = Expected(event.rule, event.group_id, event.occurrence)
            found.opened[item] += 1
            found.first.setdefault(
                item,
                {
                    "partition": record.partition,
                    "offset": record.offset,
                    "detected_at": event.detected_at.isoformat(),
                    "evidence_at": event.evidence_at.isoformat(),
                },
            )
    return found


# Series that say how a process ran rather than what it computed: they differ between any two runs.
_RUN_SERIES = (
    "pantau_events_processed_total",
    "pantau_events_unknown_type_total",
    "pantau_dead_letters_total",
    "pantau_consumer_lag_messages",
    "pantau_partition_rewinds_total",
)


def business_metrics(text: str) -> dict[str, float]:
    """Analytics' `/metrics` reduced to what it computed from the events: `pantau_*` samples only,
    without the pipeline's own counters and without `_created` timestamps."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("pantau_") or line.startswith(_RUN_SERIES):
            continue
        name, _, value = line.rpartition(" ")
        if "_created" in name.split("{", 1)[0]:
            continue
        values[name] = float(value)
    return values


def metrics_of(url: str) -> dict[str, float]:
    return business_metrics(httpx.get(f"{url}/metrics", timeout=10).text)


def metrics_difference(expected: dict[str, float], got: dict[str, float]) -> tuple[int, int, list[str]]:
    """(series lower or missing, series higher or extra, a few examples) between two metric readings."""
    lower = higher = 0
    examples: list[str] = []
    for name in sorted(set(expected) | set(got)):
        want, have = expected.get(name, 0.0), got.get(name, 0.0)
        if abs(want - have) <= 1e-9:
            continue
        if have < want:
            lower += 1
        else:
            higher += 1
        if len(examples) < 5:
            examples.append(f"{name}: {want:g} → {have:g}")
    return lower, higher, examples
