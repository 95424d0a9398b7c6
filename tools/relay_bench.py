"""How fast one outbox relay publishes, on SQLite and PostgreSQL: is one relay for all meetings
processes enough? (Several processes share one relay under a lease; docs/scaling.md.)

Starts a local Kafka broker and a throwaway PostgreSQL server, stages ``--events`` realistic
``meeting_recorded`` envelopes in each database's outbox (as requests would, in transactions of
``--per-transaction``), then times the relay (`services.meetings.outbox.OutboxRelay.publish_pending`)
draining them onto the topic: rounds of ``outbox_batch_size``, each flushed with ``acks=all`` and
then deleted. Baseline in the same run: the same records produced straight from memory by the same
kafka-python producer settings, no database. Median of ``--repeats``. Writes
``docs/benchmarks-outbox.md``.

    uv run python -m tools.relay_bench
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from services.meetings import db, outbox
from services.meetings.outbox import OutboxMetrics, OutboxRelay
from shared import serde, topics
from shared.envelope import Envelope
from shared.events import MeetingRecorded
from shared.events.meetings import Attendance
from shared.settings import KafkaSettings
from tools.kafka_broker import LocalKafkaBroker, ensure_jars, free_port
from tools.topics import create_topics

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = REPO_ROOT / "docs" / "benchmarks-outbox.md"
AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@contextlib.contextmanager
def local_postgres(workdir: Path, *, settings: tuple[str, ...] = ()) -> Iterator[str]:
    """A PostgreSQL server for the run (Debian's binaries, as the tests use), its URL; `settings`
    are extra server settings (`max_connections=300`)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise SystemExit("PostgreSQL server binaries are not installed; run scripts/bootstrap.sh")
    bin_dir = Path(candidates[-1]).parent
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="pantau-relay-bench-", dir=workdir))
    data, sockets = root / "data", root / "sockets"
    for path in (data, sockets):
        path.mkdir()
    if os.geteuid() == 0:
        for path in (root, data, sockets):
            shutil.chown(path, "postgres")
    port = free_port()
    subprocess.run(
        [*as_server, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = " ".join([f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", *(f"-c {item}" for item in settings)])
    subprocess.run(
        [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def envelopes(count: int, *, groups: int = 400) -> list[Envelope]:
    """Realistic `meeting_recorded` envelopes over `groups` groups."""
    result = []
    for index in range(count):
        start = AT + timedelta(minutes=index)
        event = MeetingRecorded(
            group_id=f"GRP-{index % groups:05d}",
            report_id=f"R-{index:07d}",
            programme="pkh-p2k2",
            facilitator_id="PDP-0001",
            region_code="18.71.01.1001",
            started_at=start,
            ended_at=start + timedelta(minutes=110),
            facilitator_present=True,
            led_by="facilitator",
            module="Modul 3",
            attendance=tuple(Attendance(member_ref=f"kpm-{n:02d}", status="present") for n in range(15)),
            member_count=15,
            device_id="dev-0001",
            recorded_at=start + timedelta(minutes=115),
            received_at=start + timedelta(minutes=120),
        )
        result.append(serde.envelope_for(event, source="/pantau/meetings", time=start))
    return result


def stage(engine: Engine, staged: list[Envelope], kafka: KafkaSettings, per_transaction: int) -> None:
    for start in range(0, len(staged), per_transaction):
        with engine.begin() as connection:
            outbox.append(
                connection, staged[start : start + per_transaction], kafka=kafka, topic=topics.MEETINGS_EVENTS
            )


def drain_seconds(database_url: str, kafka: KafkaSettings, staged: list[Envelope], per_transaction: int) -> float:
    """Stage the events, then time one relay publishing and deleting all of them."""
    engine = db.build_engine(database_url)
    try:
        db.migrate(engine)
        with engine.begin() as connection:
            connection.execute(db.outbox.delete())
        stage(engine, staged, kafka, per_transaction)
        relay = OutboxRelay(engine, kafka=kafka, metrics=OutboxMetrics(CollectorRegistry()))
        relay.publish_pending()  # connect the producer outside the clock (and publish a first round)
        started = time.perf_counter()
        while relay.publish_pending():
            pass
        elapsed = time.perf_counter() - started
        relay.stop()
        return elapsed
    finally:
        engine.dispose()


def baseline_seconds(kafka: KafkaSettings, staged: list[Envelope]) -> float:
    """The same records from memory through a producer with the relay's settings."""
    records = [(e.subject.encode(), serde.encode(e), serde.kafka_headers(e)) for e in staged]
    producer = KafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type="gzip",
        max_in_flight_requests_per_connection=5,
    )
    try:
        topic = kafka.topic(topics.MEETINGS_EVENTS)
        producer.send(topic, key=records[0][0], value=records[0][1]).get(timeout=30)
        started = time.perf_counter()
        for start in range(0, len(records), 500):  # the relay's round size, flushed each round
            for key, value, headers in records[start : start + 500]:
                producer.send(topic, key=key, value=value, headers=headers)
            producer.flush(timeout=60)
        return time.perf_counter() - started
    finally:
        producer.close(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.relay_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--per-transaction", type=int, default=1, help="events staged per transaction (1 = single reports)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "var" / "relay-bench")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    staged = envelopes(args.events)
    load = os.getloadavg()[0]  # other work on the machine lowers every figure: say how busy it was
    broker = LocalKafkaBroker(args.workdir / "kafka", heap="512m", libs_dir=ensure_jars())
    rates: dict[str, float] = {}
    try:
        broker.start()
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_prefix="bench.")
        create_topics(broker.bootstrap_servers, prefix="bench.")
        with local_postgres(args.workdir) as postgres_url:
            targets = {"SQLite": f"sqlite:///{args.workdir / 'meetings.db'}", "PostgreSQL": postgres_url}
            for name, url in targets.items():
                runs = [drain_seconds(url, kafka, staged, args.per_transaction) for _ in range(args.repeats)]
                rates[name] = args.events / statistics.median(runs)
                print(f"relay on {name}: {rates[name]:,.0f} events/s", flush=True)
        runs = [baseline_seconds(kafka, staged) for _ in range(args.repeats)]
        rates["baseline"] = args.events / statistics.median(runs)
        print(f"producer from memory (baseline): {rates['baseline']:,.0f} events/s", flush=True)
    finally:
        broker.stop()
    size = len(serde.encode(staged[0]))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    baseline = rates["baseline"]
    rows = "\n".join(
        f"| one relay, {name} | {rates[name]:,.0f} events/s | {baseline:,.0f} events/s | {rates[name] / baseline:.2f} |"
        for name in ("SQLite", "PostgreSQL")
    )
    args.out.write_text(
        f"""# Outbox relay

Measured by `uv run python -m tools.relay_bench` on {when}, {os.cpu_count()} cores (load average
{load:.1f} when it started), median of {args.repeats}:
{args.events:,} `meeting_recorded` events (~{size} bytes each, 400 groups) staged {args.per_transaction} per
transaction, then drained by one relay (rounds of 500: read in id order, send, flush with `acks=all`,
delete) onto a local single-node Kafka broker. Baseline: the same records produced from memory in
rounds of 500 with the relay's producer settings, no database. Re-run the command to refresh this page.

| what | drain rate | baseline (same run) | ratio |
|---|---|---|---|
{rows}

Several meetings processes share one relay (the holder of the `outbox-relay` lease), so this rate is
the ceiling of what all of them together can publish; docs/scaling.md sets it against the load.
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
