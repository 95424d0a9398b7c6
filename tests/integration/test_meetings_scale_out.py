"""Three meetings hosts (four processes) on one PostgreSQL database and one real broker, the one
publishing the outbox killed with `kill -9` under load: every accepted report reaches `meetings.events` under one
event id, each group's reports in the order they were accepted, and no meeting is scheduled twice."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.meetings import db
from services.meetings.leases import Lease
from tools.faults.meetings import (
    Load,
    MeetingsProcesses,
    first_occurrences,
    read_topic,
    seed_registry,
)

pytestmark = pytest.mark.integration

GROUPS = [f"GRP-{n:02d}" for n in range(12)]
REPORTS_PER_GROUP = 12
RECORDED = "meetings.meeting_recorded.v1"
SCHEDULED = "meetings.meeting_scheduled.v1"


@pytest.fixture
def processes(
    postgres_database_url: str, kafka_bootstrap: str, kafka_topics: str, tmp_path: Path
) -> Iterator[MeetingsProcesses]:
    # Three hosts, the first with two worker processes (PANTAU_MEETINGS_WORKERS=2): four processes.
    group = MeetingsProcesses(postgres_database_url, kafka_bootstrap, kafka_topics, tmp_path, workers=(2, 1, 1))
    try:
        group.start()
        yield group
    finally:
        group.stop()


def test_three_processes_one_kill_9_publish_every_report_once_in_order(
    processes: MeetingsProcesses, kafka_bootstrap: str, kafka_topics: str
) -> None:
    urls = [p.url for p in processes.processes]
    seed_registry(urls[0], GROUPS)
    holder = processes.relay_holder()
    assert processes.processes[0].log().count("meetings service ready") == 2  # each worker its own app
    assert sum(p.log().count("took the outbox-relay lease") for p in processes.processes) == 1

    load = Load(urls, GROUPS, REPORTS_PER_GROUP)
    threads = load.run()
    total = len(GROUPS) * REPORTS_PER_GROUP
    deadline = time.monotonic() + 60
    while load.accepted_count < total // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    holder.kill_9()  # the process publishing the outbox, mid-load
    for thread in threads:
        thread.join(120)
    assert load.accepted_count == total

    records = read_topic(kafka_bootstrap, f"{kafka_topics}meetings.events", until=total, event_type=RECORDED)
    recorded = [r for r in records if r.event_type == RECORDED]

    # Every accepted report under exactly one event id: none missing, none invented, none split.
    ids_per_report: dict[str, set[str]] = defaultdict(set)
    for record in recorded:
        ids_per_report[record.data["report_id"]].add(record.event_id)
    accepted = {report for reports in load.accepted.values() for report in reports}
    assert set(ids_per_report) == accepted
    assert all(len(ids) == 1 for ids in ids_per_report.values())
    # A relay killed between Kafka's acknowledgement and deleting its rows has them re-published by
    # the next one, with the same event id (consumers de-duplicate on it): at most that last round,
    # a few rows under this load. Relays racing each other would re-publish most rows.
    republished = len(recorded) - len(ids_per_report)
    assert republished <= len(GROUPS) * 3, republished

    # Each group's reports in the order the group's phone had them accepted.
    for group_id, reports in load.accepted.items():
        seen = [r.data["report_id"] for r in first_occurrences(recorded) if r.key == group_id]
        assert seen == reports, group_id
    assert len({r.partition for r in recorded if r.key == GROUPS[0]}) == 1

    # No meeting scheduled twice: one event id per group, period and due time.
    scheduled: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for record in records:
        if record.event_type == SCHEDULED:
            scheduled[(record.key, record.data["period"], record.data["due_at"])].add(record.event_id)
    assert scheduled, "nothing was scheduled"
    assert {key: ids for key, ids in scheduled.items() if len(ids) > 1} == {}
    periods_per_group = Counter(group for group, _period, _due in scheduled)
    assert set(periods_per_group) == set(GROUPS)

    survivors = [p for p in processes.processes if p is not holder]
    assert any("took the outbox-relay lease" in p.log() for p in survivors), "no survivor took over"
    print(  # the figures of this run, for the record
        f"\n{total} reports accepted ({load.attempts_failed} attempts failed on the killed process), "
        f"{len(recorded)} meeting_recorded records ({republished} re-published), "
        f"{sum(len(ids) for ids in scheduled.values())} meeting_scheduled"
    )


def test_a_lease_is_held_by_one_process_and_freed_when_its_session_ends(postgres_database_url: str) -> None:
    first_engine = db.build_engine(postgres_database_url)
    second_engine = db.build_engine(postgres_database_url)
    try:
        first, second = Lease(first_engine, "outbox-relay"), Lease(second_engine, "outbox-relay")
        other = Lease(second_engine, "meeting-scheduler")
        assert first.held()
        assert not second.held()
        assert first.held()  # asking again while holding keeps it
        assert other.held()  # another job's lease is independent
        first.release()  # its session ends, as a killed process's does
        assert second.held()
        assert not Lease(first_engine, "outbox-relay").held()
    finally:
        first_engine.dispose()
        second_engine.dispose()
