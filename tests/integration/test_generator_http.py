"""A tiny generated programme driven over HTTP into the real stack: every `meeting.facilitator_absent`
the oracle expects is published on `monitoring.deviations`, and nothing else for that rule."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.structs import TopicPartition

from shared import serde, topics
from shared.events import DeviationOpened
from tools.bench.measure import _consume_all, end_offsets
from tools.generator.behaviour import Rates
from tools.generator.http_driver import drive_http
from tools.generator.oracle import FACILITATOR_ABSENT, Expected
from tools.generator.programme import Shape
from tools.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(bootstrap_servers=kafka_bootstrap, workdir=tmp_path / "stack", topic_prefix=kafka_topics)
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()


def _published_absences(bootstrap: str, topic: str) -> set[Expected]:
    ends = {TopicPartition(topic, partition): end for partition, end in end_offsets(bootstrap, topic).items()}
    found: set[Expected] = set()

    def collect(record: object) -> None:
        event = serde.decode(record.value).event  # type: ignore[attr-defined]
        if isinstance(event, DeviationOpened) and event.rule == FACILITATOR_ABSENT:
            found.add(Expected(event.rule, event.group_id, event.occurrence))

    if sum(ends.values()):
        asyncio.run(_consume_all(bootstrap, ends, collect))
    return found


def test_every_expected_facilitator_absence_is_published(stack: Stack, kafka_bootstrap: str, kafka_topics: str) -> None:
    shape = Shape.ending_before(datetime.now(UTC), scale=0.0001, seed=3, months=1)
    run = drive_http(
        shape,
        Rates(chair_led=0.3),
        base_url=stack.url("meetings"),
        concurrency=4,
        phases=("registry", "field_reports"),
        show_progress=False,
    )
    assert run.failed == 0, run.failures
    expected = run.oracle.restricted_to({FACILITATOR_ABSENT}).certain
    assert expected, "the tiny programme should contain chair-led meetings"
    assert not run.oracle.restricted_to({FACILITATOR_ABSENT}).ambiguous

    topic = f"{kafka_topics}{topics.MONITORING_DEVIATIONS}"
    deadline = time.monotonic() + 60
    published: set[Expected] = set()
    while time.monotonic() < deadline:
        published = _published_absences(kafka_bootstrap, topic)
        if published >= expected:
            break
        time.sleep(1)
    time.sleep(2)  # anything extra would arrive right behind
    published = _published_absences(kafka_bootstrap, topic)
    true_positives = published & expected
    recall = len(true_positives) / len(expected)
    precision = len(true_positives) / len(published) if published else 0.0
    assert (precision, recall) == (1.0, 1.0), (
        f"missing {sorted(expected - published)[:5]}, unexpected {sorted(published - expected)[:5]}\n"
        f"{stack.tail('monitoring')}"
    )
