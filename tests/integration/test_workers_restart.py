"""Monitoring survives `kill -9` and redelivery: after a crash, the same meetings again and a restart,
exactly the deviations the oracle expects have been published (duplicates of an id are allowed:
delivery is at-least-once; a deviation the oracle does not expect is not)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from services.monitoring.rules.decisions import deviation_id
from shared import serde, topics
from shared.events import MeetingRecorded
from tests.fixtures.reading import from_beginning
from tests.integration.test_meetings_outbox import wait_for
from tools.stack import REPO_ROOT, ServiceProcess, Stack, free_port

pytestmark = pytest.mark.integration

RULE = "meeting.facilitator_absent"
# Recent, full, two-hour meetings, fixed once so that a redelivery carries the same facts: only
# `meeting.facilitator_absent` has a reason to fire (each group has its own facilitator, so
# `facilitator.many_groups_deviating` has none either).
AT = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def start_service(stack: Stack, name: str) -> ServiceProcess:
    """Start (or restart) one service of `stack` exactly as `Stack.start` does: same command, same
    environment, same data directory and log (appended)."""
    stack.workdir.mkdir(parents=True, exist_ok=True)
    port = stack.ports.get(name) or free_port()
    stack.ports[name] = port
    log_path = stack.workdir / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=REPO_ROOT,
            env=stack.env_for(name, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.processes[name] = ServiceProcess(name, port, log_path, process)
    return stack.processes[name]


def kill_hard(stack: Stack, name: str) -> None:
    """`kill -9` the service's whole process group: no shutdown hook, no final commit."""
    process = stack.processes[name].process
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def agent_crashes(stack: Stack, name: str) -> list[str]:
    """Lines where Faust reports that an agent crashed (its supervisor may restart it, or give up)."""
    text = stack.processes[name].log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "Crashed reason=" in line]


def meeting(index: int) -> MeetingRecorded:
    return MeetingRecorded(
        group_id=f"KLP-R{index:03d}",
        report_id=f"r-restart-{index:03d}",
        programme="pkh-p2k2",
        facilitator_id=f"PDP-{index:04d}",
        region_code="18.71.01.1001",
        started_at=AT,
        ended_at=AT + timedelta(hours=2),
        facilitator_present=False,
        led_by="chair",
        module="Kesehatan dan Gizi",
        topic="Gizi ibu hamil",
        attendance=tuple({"member_ref": f"kpm-{ref}", "status": "present"} for ref in "abc"),
        member_count=3,
        device_id="hp-1",
        recorded_at=AT + timedelta(hours=2),
        received_at=AT + timedelta(hours=2, minutes=5),
    )


def produce_meetings(producer: KafkaProducer, topic: str, indices: range) -> None:
    """Each call gives every meeting a fresh envelope id (a redelivery, not a byte-identical copy)."""
    for index in indices:
        event = meeting(index)
        envelope = serde.envelope_for(event, source="/pantau/meetings", time=datetime.now(UTC))
        producer.send(
            topic, key=event.kafka_key().encode(), value=serde.encode(envelope), headers=serde.kafka_headers(envelope)
        )
    producer.flush()


class DeviationReader:
    """Reads `monitoring.deviations` from the beginning; keeps every `deviation_opened` of the rule
    under test (`opened`, ids in publication order) and, apart, what other rules published."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = from_beginning(bootstrap, topic)
        self.opened: list[str] = []
        self.changes: list[str] = []  # escalations/resolutions of the rule under test
        self.other_rules: list[tuple[str, str, str]] = []  # (rule, group, deviation id) of any other rule

    def poll_until(self, distinct: int, *, timeout: float, settle: float = 0) -> list[str]:
        deadline = time.monotonic() + timeout
        settled_at: float | None = None
        while time.monotonic() < deadline:
            for batch in self._consumer.poll(timeout_ms=250).values():
                for record in batch:
                    document = orjson.loads(record.value)
                    assert document["subject"] == record.key.decode()
                    data = document["data"]
                    if data["rule"] != RULE:
                        self.other_rules.append((data["rule"], data["group_id"], data["deviation_id"]))
                    elif document["type"] == "monitoring.deviation_opened.v1":
                        self.opened.append(data["deviation_id"])
                    else:
                        self.changes.append(document["type"])
            if settled_at is None and len(set(self.opened)) >= distinct:
                settled_at = time.monotonic() + settle
            if settled_at is not None and time.monotonic() >= settled_at:
                break
        return self.opened

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def monitoring(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(bootstrap_servers=kafka_bootstrap, workdir=tmp_path / "stack", topic_prefix=kafka_topics)
    try:
        start_service(stack, "monitoring")
        stack.wait_ready(timeout=120)
        yield stack
    finally:
        stack.stop()


def test_kill_9_redelivery_and_restart_publish_exactly_the_expected_deviations(monitoring: Stack) -> None:
    bootstrap = monitoring.bootstrap_servers
    meetings_topic = topics.qualified(topics.MEETINGS_EVENTS, monitoring.topic_prefix)
    oracle_first = {deviation_id(RULE, meeting(i).group_id, meeting(i).report_id) for i in range(20)}
    oracle = {deviation_id(RULE, meeting(i).group_id, meeting(i).report_id) for i in range(25)}
    assert len(oracle) == 25

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    reader = DeviationReader(bootstrap, topics.qualified(topics.MONITORING_DEVIATIONS, monitoring.topic_prefix))
    try:
        produce_meetings(producer, meetings_topic, range(20))
        reader.poll_until(20, timeout=60)
        crashes = "\n".join(agent_crashes(monitoring, "monitoring"))
        assert set(reader.opened) == oracle_first, f"missing {oracle_first - set(reader.opened)}; crashes:\n{crashes}"
        reader.poll_until(20, timeout=5, settle=2)  # anything else the first 20 meetings made
        other_before = set(reader.other_rules)

        kill_hard(monitoring, "monitoring")
        produce_meetings(producer, meetings_topic, range(20))  # the same reports, redelivered
        produce_meetings(producer, meetings_topic, range(20, 25))  # and five new ones

        started = time.monotonic()
        start_service(monitoring, "monitoring")
        monitoring.wait_ready(timeout=180)
        print(f"monitoring ready again {time.monotonic() - started:.1f}s after the restart")

        # all 25, then a settle period for late duplicates or unexpected ids
        opened = reader.poll_until(25, timeout=180, settle=5)
    finally:
        reader.close()
        producer.close()

    counts = collections.Counter(opened)
    duplicates = {dev_id: count for dev_id, count in counts.items() if count > 1}
    print(f"deviation_opened records: {len(opened)}; distinct: {len(counts)}; duplicated ids: {len(duplicates)}")
    for dev_id, count in sorted(duplicates.items()):
        print(f"  {dev_id} published {count} times")

    unexpected = set(counts) - oracle
    missing = oracle - set(counts)
    crashes = "\n".join(agent_crashes(monitoring, "monitoring"))
    assert not unexpected, f"deviations the oracle does not expect: {unexpected}\n{monitoring.tail('monitoring', 80)}"
    assert not missing, f"expected deviations never published: {missing}; agent crashes:\n{crashes}"
    assert set(counts) == oracle
    # every meeting was chair-led and a first for its group: nothing escalates or resolves
    assert reader.changes == []
    # whatever other rules made of the first 20 meetings, their redelivery made nothing new
    first_groups = {meeting(i).group_id for i in range(20)}
    other_after = {item for item in reader.other_rules if item[1] in first_groups}
    assert other_after <= other_before, f"redelivery opened new deviations: {other_after - other_before}"
    if reader.other_rules:
        print(f"other rules published (not expected for these meetings): {collections.Counter(reader.other_rules)}")
    assert monitoring.processes["monitoring"].process.poll() is None
    assert crashes == "", crashes
    text = httpx.get(f"{monitoring.url('monitoring')}/metrics", timeout=5).text
    assert 'reason="processing_error"' not in text
    # What an operator reads when a restarted worker looks idle: where it reads and where it waits.
    base = monitoring.url("monitoring")

    def read_to_the_end() -> bool:
        rows = httpx.get(f"{base}/debug/partitions", timeout=5).json()["partitions"]
        mine = [row for row in rows if row["topic"] == meetings_topic]
        return sorted(row["partition"] for row in mine) == list(range(12)) and all(
            row["read"] is not None and row["read"] == row["highwater"] for row in mine
        )

    wait_for(read_to_the_end, 30, "every partition of meetings.events read to its end in /debug/partitions")
    tasks = httpx.get(f"{base}/debug/tasks", timeout=5).json()
    assert any("_consume@loop.py" in line for line in tasks["main"]), tasks
