"""Helpers of the console's browser tests: a simulated clock shared by the service and the page, the
field history that gives the work queue its freshness and trends, and the service's settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notifications.settings import NotificationsSettings
from shared.events import Attendance, DeviationOpened, DeviceSynced, FacilitatorUpserted, GroupUpserted, MeetingRecorded
from shared.events.base import EventData
from shared.settings import AuthSettings, KafkaSettings
from tests.integration.test_notifications_delivery import GROUP_ID, VILLAGE, World, deviation

# Friday 20 November 2026, 10.00 WIB.
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


class SimulatedClock:
    """Starts at `start` and runs at the real pace (so group_wait and retries still pass)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._began = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._began)


def work_queue_settings(world: World) -> NotificationsSettings:
    """Incidents on, a one-second group_wait, retries quick."""
    return NotificationsSettings(
        database_url=f"sqlite:///{world.tmp_path / 'notifications.db'}",
        kafka=KafkaSettings(bootstrap_servers=world.bootstrap, topic_prefix=world.prefix),
        auth=AuthSettings(),
        retry_initial_seconds=0.2,
        retry_max_seconds=1,
        quiet_hours_enabled=False,
        incidents_enabled=True,
        incident_group_wait_seconds=1,
    )


def field_history() -> list[EventData]:
    """Four meetings of Kelompok Mawar (3 members; attendance falling) and the phone's last sync,
    Wednesday 18 November 2026, 16.00 WIB."""
    events: list[EventData] = []
    for index, present in enumerate((3, 2, 2, 1)):
        started = NOW - timedelta(days=40 - 10 * index)
        attendance = tuple(
            Attendance(member_ref=ref, status="present" if n < present else "absent")
            for n, ref in enumerate(("kpm-a", "kpm-b", "kpm-c"))
        )
        events.append(
            MeetingRecorded(
                group_id=GROUP_ID,
                report_id=f"r-mawar-{index}",
                facilitator_id="PDP-0001",
                region_code=VILLAGE,
                programme="pkh-p2k2",
                started_at=started,
                ended_at=started + timedelta(hours=2),
                facilitator_present=True,
                led_by="facilitator",
                attendance=attendance,
                member_count=3,
                device_id="hp-siti",
                recorded_at=started + timedelta(hours=2),
                received_at=started + timedelta(days=1),
            )
        )
    synced = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    events.append(
        DeviceSynced(
            group_id=GROUP_ID,
            facilitator_id="PDP-0001",
            device_id="hp-siti",
            synced_through=synced,
            received_at=synced,
            pending_count=3,  # three records still waiting on Siti's phone after that sync
        )
    )
    return events


OTHER_GROUP_ID = "KLP-18710110010002"


def another_facilitator() -> list[EventData]:
    """Budi Santoso and his Kelompok Melati, in the same village as Siti's group."""
    return [
        FacilitatorUpserted(
            facilitator_id="PDP-0002", name="Budi Santoso", programme="pkh-p2k2", region_code="18.71.01"
        ),
        GroupUpserted(
            group_id=OTHER_GROUP_ID,
            name="Kelompok Melati",
            programme="pkh-p2k2",
            facilitator_id="PDP-0002",
            region_code=VILLAGE,
            member_refs=("kpm-x", "kpm-y", "kpm-z"),
            chair_member_ref="kpm-x",
            schedule={"cadence": "monthly", "day_of_month": 12},
            time_zone="Asia/Jakarta",
        ),
    ]


def single_warning() -> DeviationOpened:
    """One low-attendance meeting of Budi's group: his to follow up, for the supervisor's information."""
    return deviation(group_id=OTHER_GROUP_ID).model_copy(
        update={
            "facilitator_id": "PDP-0002",
            "rule": "meeting.low_attendance",
            "details": {
                "present": 2,
                "members": 3,
                "attendance_ratio": 0.67,
                "threshold_ratio": 0.75,
                "meeting_started_at": "2026-11-12T02:00:00+00:00",
            },
        }
    )


def wait_for_drill(page: Any, level: str) -> None:
    """Until the drill-down shows `level` (nasional, provinsi, kabupaten, facilitator)."""
    page.wait_for_selector(f"#drill[data-level='{level}'] table", timeout=10_000)
