"""Drive a generated programme straight onto Kafka, as the meetings service's outbox would have
published it, for replay benchmarks (monitoring with `PANTAU_MONITORING_CLOCK=event`).

Records go out in the order of their receipt time across the whole programme, so a replay's
event-time watermark moves as it did live. To do that in bounded memory at any scale, generation
spills each record into a per-day file (one pass over the facilitators), and each day is then sorted
in memory and produced. Sends are batched by aiokafka and awaited in chunks, never one by one.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from tqdm import tqdm

from services.monitoring.programmes import ProgrammeConfig, load_programmes
from shared.settings import KafkaSettings
from tools.generator.behaviour import Rates, simulate
from tools.generator.events import Publication, history_publications, registry_publications, topic_of
from tools.generator.oracle import OracleResult, expected_deviations
from tools.generator.programme import Programme, Shape

log = logging.getLogger(__name__)

_AWAIT_EVERY = 20_000


@dataclass
class Spooled:
    """What a generation pass wrote: record counts, the oracle and where the day files are."""

    directory: Path
    records: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    oracle: OracleResult = field(default_factory=OracleResult)
    facilitators: int = 0
    groups: int = 0
    last_event_at: datetime | None = None


class DaySpool:
    """Records spilled into one file per UTC day, read back day by day in time order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: dict[str, IO[bytes]] = {}
        self._sequence = 0

    def add(self, publication: Publication) -> tuple[str, str]:
        """Spill one record; returns its topic and type."""
        key, value, _headers = publication.encode()
        topic = topic_of(publication.event)
        day = publication.published_at.strftime("%Y%m%d")
        handle = self._files.get(day)
        if handle is None:
            handle = self._files[day] = (self.directory / f"{day}.tsv").open("ab")
        stamp = int(publication.published_at.timestamp() * 1_000_000)
        self._sequence += 1
        # orjson never writes a raw tab or newline, and keys are ids: a TSV line is safe.
        event_type = publication.event.event_type
        handle.write(
            b"%d\t%d\t%s\t%s\t%s\t%s\n"
            % (stamp, self._sequence, topic.encode(), key.encode(), event_type.encode(), value)
        )
        return topic, event_type

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def records(self) -> Iterator[tuple[str, str, bytes, str]]:
        """(topic, key, value, event type) in time order (generation order within the same instant)."""
        self.close()
        for path in sorted(self.directory.glob("*.tsv")):
            lines = path.read_bytes().splitlines()
            rows = [line.split(b"\t", 5) for line in lines]
            rows.sort(key=lambda row: (int(row[0]), int(row[1])))
            for _stamp, _sequence, topic, key, event_type, value in rows:
                yield topic.decode(), key.decode(), value, event_type.decode()


def spool_programme(
    shape: Shape,
    rates: Rates,
    directory: Path,
    *,
    programmes: dict[str, ProgrammeConfig] | None = None,
    webhook_url: str | None = None,
    include_registry: bool = True,
    show_progress: bool = True,
) -> tuple[DaySpool, Spooled]:
    """Generate the programme and its history into a day spool, computing the oracle on the way."""
    programmes = programmes if programmes is not None else load_programmes()
    programme = Programme(shape)
    spool = DaySpool(directory)
    spooled = Spooled(directory)
    if include_registry:
        for publication in registry_publications(
            programme, at=shape.started_at - timedelta(days=2), webhook_url=webhook_url
        ):
            _count(spooled, *spool.add(publication))
    bar = tqdm(total=shape.facilitator_count, desc="generate", unit="fac", disable=not show_progress, leave=False)
    for facilitator in programme.facilitators():
        history = simulate(facilitator, shape, rates)
        spooled.facilitators += 1
        spooled.groups += len(facilitator.groups)
        spooled.injected.update(history.injected)
        spooled.oracle.update(expected_deviations(history, programmes))
        for publication in history_publications(history):
            _count(spooled, *spool.add(publication))
            if spooled.last_event_at is None or publication.time > spooled.last_event_at:
                spooled.last_event_at = publication.time
        bar.update()
    bar.close()
    spool.close()
    return spool, spooled


def _count(spooled: Spooled, topic: str, event_type: str) -> None:
    spooled.records += 1
    spooled.by_topic[topic] += 1
    spooled.by_type[event_type] += 1


@dataclass(frozen=True)
class ProduceStats:
    """How producing went."""

    records: int
    seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


START_ATTEMPTS = 6  # a producer's bootstrap tried this many times, 1, 2, 4, 8 and 16 s apart


async def _started_producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    """A started producer. A bootstrap that fails (a broker still starting, a link that resets, as
    the fault runs' proxy does every few seconds) is tried again with a fresh producer: one whose
    start failed cannot be started again. Nothing has been sent then, so nothing is sent twice."""
    for attempt in range(1, START_ATTEMPTS + 1):
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers,
            acks="all",
            linger_ms=20,
            max_batch_size=512 * 1024,
            client_id="pantau-generator",
        )
        try:
            await producer.start()
            return producer
        except (TimeoutError, KafkaError, OSError) as exc:
            await producer.stop()
            if attempt == START_ATTEMPTS:
                raise
            wait = 2.0 ** (attempt - 1)
            log.warning("producer: broker not reachable (%s), trying again in %.0f s", exc, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


async def produce(
    spool: DaySpool, *, kafka: KafkaSettings, total: int | None = None, show_progress: bool = True
) -> ProduceStats:
    """Send every spooled record in time order; batched, awaited every few thousand sends."""
    producer = await _started_producer(kafka)
    started = time.perf_counter()
    sent = 0
    pending: list[asyncio.Future[object]] = []
    bar = tqdm(total=total, desc="produce", unit="rec", disable=not show_progress, leave=False, unit_scale=True)
    try:
        for topic, key, value, event_type in spool.records():
            headers = [("content-type", b"application/cloudevents+json"), ("ce_type", event_type.encode())]
            pending.append(await producer.send(kafka.topic(topic), value, key=key.encode(), headers=headers))
            sent += 1
            if len(pending) >= _AWAIT_EVERY:
                await asyncio.gather(*pending)
                bar.update(len(pending))
                pending.clear()
        await producer.flush()
        await asyncio.gather(*pending)
        bar.update(len(pending))
    finally:
        bar.close()
        await producer.stop()
    return ProduceStats(sent, time.perf_counter() - started)


def replay(
    shape: Shape,
    rates: Rates,
    *,
    kafka: KafkaSettings,
    webhook_url: str | None = None,
    show_progress: bool = True,
) -> tuple[Spooled, ProduceStats]:
    """Generate, spool and produce a whole programme; returns what was sent and the oracle."""
    with tempfile.TemporaryDirectory(prefix="pantau-generator-") as directory:
        started = time.perf_counter()
        spool, spooled = spool_programme(
            shape, rates, Path(directory), webhook_url=webhook_url, show_progress=show_progress
        )
        log.info(
            "generated %d records for %d facilitators and %d groups in %.1f s",
            spooled.records,
            spooled.facilitators,
            spooled.groups,
            time.perf_counter() - started,
        )
        stats = asyncio.run(produce(spool, kafka=kafka, total=spooled.records, show_progress=show_progress))
    log.info("produced %d records in %.1f s (%.0f/s)", stats.records, stats.seconds, stats.records_per_second)
    return spooled, stats
