"""The console's work queue over the real store (SQLite) on a simulated clock: snoozing and closing
incidents, and the facts beside them — device syncs (data freshness) and meeting attendance (trend,
compliance) projected from `meetings.events`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifications import incident_shell, projection, work_queue
from shared.events import Attendance, DeviceSynced, MeetingRecorded
from tests.integration.notifications_support import Store, incidents, opened, pushed, settings_for

pytestmark = pytest.mark.integration

# Wednesday 11 November 2026, 10:00 WITA: working hours in Makassar.
MORNING_WITA = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Store]:
    world = Store(tmp_path, settings_for(tmp_path))
    yield world
    world.engine.dispose()


def _told(world: Store) -> str:
    world.intake(opened("dev-a"), MORNING_WITA)
    world.incident_ticks(MORNING_WITA + 6 * MINUTE)
    [row] = incidents(world.engine)
    return str(row["incident_id"])


def test_a_snoozed_incident_climbs_only_a_deadline_after_its_expiry(world: Store) -> None:
    incident_id = _told(world)
    until = MORNING_WITA + 3 * DAY
    with world.engine.begin() as connection:
        assert incident_shell.snooze(
            connection, incident_id, by="SUP-7371", until=until, reason="kunjungan Jumat",
            policy=world.policy, now=MORNING_WITA + HOUR,
        )  # fmt: skip
    [row] = incidents(world.engine)
    assert (row["snoozed_until"], row["snooze_reason"]) == (until, "kunjungan Jumat")
    world.incident_ticks(MORNING_WITA + 3 * DAY + 23 * HOUR)
    assert [r["supervisor_id"] for r in pushed(world.engine)] == ["SUP-7371"]
    world.incident_ticks(MORNING_WITA + 4 * DAY + HOUR)
    assert [r["supervisor_id"] for r in pushed(world.engine)] == ["SUP-7371", "SUP-73"]


def test_a_closed_incident_leaves_the_queue_with_its_outcome_and_never_climbs(world: Store) -> None:
    incident_id = _told(world)
    with world.engine.begin() as connection:
        assert incident_shell.close(
            connection, incident_id, by="SUP-7371", outcome="resolved_in_field", note="sudah dikunjungi",
            policy=world.policy, now=MORNING_WITA + HOUR,
        )  # fmt: skip
        assert not incident_shell.close(
            connection, incident_id, by="SUP-7371", outcome="data_error", note=None, policy=world.policy,
            now=MORNING_WITA + 2 * HOUR,
        )  # fmt: skip
    [row] = incidents(world.engine)
    assert (row["status"], row["outcome"], row["note"]) == ("closed", "resolved_in_field", "sudah dikunjungi")
    world.incident_ticks(MORNING_WITA + 10 * DAY)
    assert len(pushed(world.engine)) == 1
    with world.engine.connect() as connection:
        assert work_queue.groups_needing_attention(connection, MORNING_WITA + HOUR) == set()


def _meeting(report_id: str, started_at: datetime, present: int, members: int = 10) -> MeetingRecorded:
    attendance = tuple(
        Attendance(member_ref=f"kpm-{n}", status="present" if n < present else "absent") for n in range(members)
    )
    return MeetingRecorded(
        group_id="KLP-WITA", report_id=report_id, facilitator_id="PDP-0007", region_code="73.71.01.1001",
        programme="pkh-p2k2",
        started_at=started_at, ended_at=started_at + HOUR, facilitator_present=True, led_by="facilitator",
        attendance=attendance, member_count=members, device_id="hp-andi", recorded_at=started_at + HOUR,
        received_at=started_at + 2 * HOUR,
    )  # fmt: skip


def test_the_latest_sync_of_each_device_says_what_is_still_on_the_phones(world: Store) -> None:
    first = DeviceSynced(
        group_id="KLP-WITA", facilitator_id="PDP-0007", device_id="hp-andi",
        synced_through=MORNING_WITA - DAY, received_at=MORNING_WITA - DAY + MINUTE, pending_count=5,
    )  # fmt: skip
    later = first.model_copy(update={"received_at": MORNING_WITA - HOUR, "pending_count": 3})
    tablet = first.model_copy(update={"device_id": "tab-andi", "pending_count": 1})
    old_app = first.model_copy(update={"device_id": "hp-lama", "pending_count": None})
    with world.engine.begin() as connection:
        for fact in (first, later, tablet, old_app):
            assert projection.project_field_activity(connection, fact)
        assert not projection.project_field_activity(connection, first)  # read late: the count stays 3
    with world.engine.connect() as connection:
        fresh = work_queue.freshness(connection, ["PDP-0007"])["PDP-0007"]
    assert fresh["devices"] == 3
    assert fresh["pending_count"] == 4  # 3 on the phone, 1 on the tablet; the old app said nothing
    assert fresh["last_sync_at"] == MORNING_WITA - HOUR

    emptied = later.model_copy(update={"received_at": MORNING_WITA, "pending_count": 0})
    with world.engine.begin() as connection:
        assert projection.project_field_activity(connection, emptied)
    with world.engine.connect() as connection:
        assert work_queue.freshness(connection, ["PDP-0007"])["PDP-0007"]["pending_count"] == 1


def test_syncs_and_meetings_give_freshness_trend_and_compliance(world: Store) -> None:
    late = DeviceSynced(
        group_id="KLP-WITA", facilitator_id="PDP-0007", device_id="hp-andi",
        synced_through=MORNING_WITA - DAY, received_at=MORNING_WITA - DAY + MINUTE,
    )  # fmt: skip
    early = late.model_copy(update={"received_at": MORNING_WITA - 3 * DAY, "synced_through": MORNING_WITA - 3 * DAY})
    with world.engine.begin() as connection:
        assert projection.project_field_activity(connection, late)
        assert not projection.project_field_activity(connection, late)  # the same sync for another group
        assert not projection.project_field_activity(connection, early)  # read late: never moves back
        for index, present in enumerate((9, 8, 6, 5, 4)):
            meeting = _meeting(f"r-{index}", MORNING_WITA - (50 - 10 * index) * DAY, present)
            assert projection.project_field_activity(connection, meeting)
    with world.engine.connect() as connection:
        fresh = work_queue.freshness(connection, ["PDP-0007", "PDP-none"])
        assert fresh == {
            "PDP-0007": {
                "last_sync_at": MORNING_WITA - DAY + MINUTE,
                "synced_through": MORNING_WITA - DAY,
                "devices": 1,
                "pending_count": None,  # this sync did not say
            }
        }
        assert work_queue.attendance_trend(connection, ["KLP-WITA"]) == {"KLP-WITA": [0.8, 0.6, 0.5, 0.4]}
        groups = work_queue.groups_under(connection, region="73", facilitator=None)
        assert sorted(group.group_id for group in groups) == ["KLP-MAROS", "KLP-WITA"]
        assert work_queue.reporting_groups(connection, ["KLP-WITA", "KLP-MAROS"], MORNING_WITA) == {"KLP-WITA"}
