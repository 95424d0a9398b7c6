"""Meetings processes on one database and one broker, a load that follows each group's reports in
order, and what reached `meetings.events`: for the scale-out test (several processes on PostgreSQL)
and the fault matrix's `meetings-kill` (one process on SQLite, killed and restarted)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from kafka import KafkaConsumer, TopicPartition

from shared.auth import mint_token
from shared.settings import AuthSettings
from tools.stack import REPO_ROOT, free_port

ADMIN = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin-1', role='admin', scope='*')}"}
VILLAGE = "18.71.01.1001"
FACILITATOR = "PDP-0001"
MEMBERS = ["m-01", "m-02", "m-03"]
# Meetings long past on any day the test runs: nothing here depends on today's date.
FIRST_MEETING = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass
class MeetingsProcess:
    """One `python -m services.meetings` host process (with its uvicorn workers, if several)."""

    index: int
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill_9(self) -> None:
        """SIGKILL the process group: no shutdown hook runs, the database session just ends."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class MeetingsProcesses:
    """Meetings hosts started at once (they race to migrate the same database); host ``i`` runs
    ``workers[i]`` uvicorn worker processes (`PANTAU_MEETINGS_WORKERS`)."""

    database_url: str
    bootstrap: str
    topic_prefix: str
    workdir: Path
    workers: tuple[int, ...] = (1, 1, 1)
    processes: list[MeetingsProcess] = field(default_factory=list)

    def start(self, timeout: float = 90) -> None:
        for index, workers in enumerate(self.workers):
            self.processes.append(self._launch(index, workers, free_port()))
        self.wait_ready(timeout)

    def restart(self, index: int, timeout: float = 90) -> MeetingsProcess:
        """Start host `index` again on its port and database (after `kill_9`), and wait until ready."""
        old = self.processes[index]
        self.processes[index] = self._launch(index, self.workers[index], old.port)
        self.wait_ready(timeout)
        return self.processes[index]

    def _launch(self, index: int, workers: int, port: int) -> MeetingsProcess:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PANTAU_ENVIRONMENT": "development",
            "PANTAU_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PANTAU_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "PANTAU_MEETINGS_PORT": str(port),
            "PANTAU_MEETINGS_DATABASE_URL": self.database_url,
            "PANTAU_MEETINGS_OUTBOX_POLL_SECONDS": "0.1",
            "PANTAU_MEETINGS_PROJECT_DEVIATIONS": "false",
            "PANTAU_LOG_LEVEL": "INFO",
            "PANTAU_MEETINGS_WORKERS": str(workers),
        }
        log_path = self.workdir / f"meetings-{index}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.meetings"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return MeetingsProcess(index, port, log_path, process)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as client:
            for service in self.processes:
                if service.process.poll() is not None and service.process.returncode == -signal.SIGKILL:
                    continue  # killed on purpose
                while True:
                    if service.process.poll() is not None:
                        raise RuntimeError(f"meetings-{service.index} exited:\n{service.log()[-3000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{service.url}/readyz").status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"meetings-{service.index} not ready:\n{service.log()[-3000:]}")
                    time.sleep(0.2)

    def relay_holder(self, timeout: float = 20) -> MeetingsProcess:
        """The live process whose log says it took the outbox relay's lease most recently."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            holders = [
                p for p in self.processes if p.process.poll() is None and "took the outbox-relay lease" in p.log()
            ]
            if holders:
                return holders[0]
            time.sleep(0.2)
        raise AssertionError("no process took the outbox relay's lease")

    def stop(self) -> None:
        for service in self.processes:
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGTERM)
        for service in self.processes:
            try:
                service.process.wait(20)
            except subprocess.TimeoutExpired:
                service.kill_9()


def seed_registry(url: str, groups: list[str]) -> None:
    """Regions, a supervisor, a facilitator and the groups (with a monthly schedule), as an admin."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        for code, name in (("18", "Lampung"), ("18.71", "Kota Bandar Lampung"), ("18.71.01", "Kedaton")):
            client.put(f"/api/v1/regions/{code}", json={"name": name}).raise_for_status()
        client.put(f"/api/v1/regions/{VILLAGE}", json={"name": "Pesawahan"}).raise_for_status()
        supervisor = {"name": "Budi", "level": "kabupaten", "region_code": "18.71"}
        client.put("/api/v1/supervisors/SUP-1871", json=supervisor).raise_for_status()
        facilitator = {"name": "Siti", "programme": "pkh-p2k2", "region_code": "18.71"}
        client.put(f"/api/v1/facilitators/{FACILITATOR}", json=facilitator).raise_for_status()
        for group_id in groups:
            group = {
                "name": f"Kelompok {group_id}",
                "programme": "pkh-p2k2",
                "facilitator_id": FACILITATOR,
                "region_code": VILLAGE,
                "members": MEMBERS,
                "chair_member_ref": MEMBERS[0],
                "schedule": {"cadence": "monthly", "day_of_month": 10},
            }
            client.put(f"/api/v1/groups/{group_id}", json=group).raise_for_status()


def meeting(report_id: str, group_id: str, index: int) -> dict[str, Any]:
    """A valid report, one day after the group's previous one."""
    start = FIRST_MEETING + timedelta(days=index)
    return {
        "report_id": report_id,
        "group_id": group_id,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=100)).isoformat(),
        "facilitator_present": True,
        "led_by": "facilitator",
        "module": f"Modul {index % 7}",
        "attendance": [{"member_ref": ref, "status": "present"} for ref in MEMBERS],
        "recorded_at": (start + timedelta(minutes=110)).isoformat(),
        "device_id": f"dev-{group_id}",
    }


@dataclass
class Load:
    """Each group's reports sent one after the other (a phone waits for each answer), spread over
    the processes round-robin; a failed attempt (a killed process, a refused connection) is sent
    again to the next process with the same body, which is always safe."""

    urls: list[str]
    groups: list[str]
    reports_per_group: int
    accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    attempts_failed: int = 0
    retry_for_s: float = 120.0  # how long a phone keeps sending a report that was not accepted
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted_count(self) -> int:
        with self._lock:
            return sum(len(ids) for ids in self.accepted.values())

    def _send_group(self, group_index: int, group_id: str) -> None:
        with httpx.Client(headers=ADMIN, timeout=10) as client:
            for index in range(self.reports_per_group):
                report_id = f"R-{group_id}-{index:03d}"
                body = meeting(report_id, group_id, index)
                target = group_index + index
                deadline = time.monotonic() + self.retry_for_s
                attempt = 0
                while True:
                    url = self.urls[(target + attempt) % len(self.urls)]
                    try:
                        response = client.post(f"{url}/api/v1/meetings", json=body)
                    except httpx.HTTPError:
                        response = None
                    if response is not None and response.status_code in (200, 201):
                        with self._lock:
                            self.accepted[group_id].append(report_id)
                        break
                    with self._lock:
                        self.attempts_failed += 1
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{report_id} was never accepted")
                    attempt += 1
                    time.sleep(min(0.05 * 2**attempt, 1.0))  # a phone backs off, up to a second

    def run(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._send_group, args=(i, group_id), daemon=True)
            for i, group_id in enumerate(self.groups)
        ]
        for thread in threads:
            thread.start()
        return threads


@dataclass(frozen=True)
class Published:
    """One record of `meetings.events`."""

    partition: int
    offset: int
    key: str
    event_id: str
    event_type: str
    data: dict[str, Any]


def read_topic(bootstrap: str, topic: str, *, until: int, event_type: str, timeout: float = 60) -> list[Published]:
    """Every record of the topic from the beginning, once at least `until` distinct events of
    `event_type` are there and the topic is read to its end (or the timeout passed), in partition order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        assigned = [TopicPartition(topic, partition) for partition in partitions]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[Published] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    envelope = orjson.loads(message.value)
                    records.append(
                        Published(
                            message.partition,
                            message.offset,
                            message.key.decode(),
                            envelope["id"],
                            envelope["type"],
                            envelope["data"],
                        )
                    )
            if distinct_events(records, event_type) >= until:
                ends = consumer.end_offsets(assigned)
                if all(consumer.position(tp) >= ends[tp] for tp in assigned):
                    break
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def distinct_events(records: Iterable[Published], event_type: str) -> int:
    """How many events of `event_type` the records hold, a re-published one (same event id) once.
    Counted as records, a kill's re-publications made up for reports still waiting in the restarted
    process's outbox: the reader stopped at the topic's end before they came, and a CI run counted 6
    accepted reports as lost that were only late."""
    return len({record.event_id for record in records if record.event_type == event_type})


def first_occurrences(records: list[Published]) -> Iterator[Published]:
    """Records in order with a re-published event id (same id again) left out."""
    seen: set[str] = set()
    for record in records:
        if record.event_id not in seen:
            seen.add(record.event_id)
            yield record


RECORDED = "meetings.meeting_recorded.v1"
SCHEDULED = "meetings.meeting_scheduled.v1"


@dataclass(frozen=True)
class Judgement:
    """What reached `meetings.events` against what the phones had accepted."""

    lost: int  # accepted reports with no `meeting_recorded` record
    # A report under two event ids or never accepted, a group out of order, a meeting scheduled twice.
    extra: int
    republished: int  # the same event id again (a relay killed between Kafka's ack and deleting its rows)
    detail: str


def judge(accepted: Mapping[str, list[str]], records: Iterable[Published]) -> Judgement:
    """Compare each group's accepted reports (in the order accepted) with the published records."""
    records = list(records)
    recorded = [r for r in records if r.event_type == RECORDED]
    ids_per_report: dict[str, set[str]] = defaultdict(set)
    for record in recorded:
        ids_per_report[record.data["report_id"]].add(record.event_id)
    wanted = {report for reports in accepted.values() for report in reports}
    lost = wanted - set(ids_per_report)
    invented = set(ids_per_report) - wanted
    split = {report for report, ids in ids_per_report.items() if len(ids) > 1}
    out_of_order = []
    for group_id, reports in accepted.items():
        # Each report where it first appeared (a second identity is counted as `split` already).
        seen = list(dict.fromkeys(r.data["report_id"] for r in recorded if r.key == group_id))
        if [report for report in seen if report in reports] != [report for report in reports if report in seen]:
            out_of_order.append(group_id)
    scheduled: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for record in records:
        if record.event_type == SCHEDULED:
            scheduled[(record.key, record.data["period"], record.data["due_at"])].add(record.event_id)
    twice = [key for key, ids in scheduled.items() if len(ids) > 1]
    republished = len(recorded) - sum(len(ids) for ids in ids_per_report.values())
    detail = f"{len(wanted)} reports accepted, {len(recorded)} meeting_recorded records"
    for label, items in (
        ("lost", sorted(lost)),
        ("not accepted", sorted(invented)),
        ("under two ids", sorted(split)),
        ("out of order", sorted(out_of_order)),
        ("scheduled twice", [str(key) for key in sorted(twice)]),
    ):
        if items:
            detail += f"; {label}: {len(items)} (e.g. {', '.join(items[:3])})"
    return Judgement(
        lost=len(lost),
        extra=len(invented) + len(split) + len(out_of_order) + len(twice),
        republished=republished,
        detail=detail,
    )
