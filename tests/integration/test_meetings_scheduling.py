"""Which periods the meetings service holds a group to, on a real SQLite store at fixed instants: the
current and next period when a group is registered; a past period once there is evidence the group
was due in it — a meeting recorded in it (staged after that meeting, once) or the group's agreed plan
covering it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.meetings import db
from services.meetings.app import create_app
from services.meetings.scheduling import periods_to_schedule
from services.meetings.settings import MeetingsSettings
from shared.auth import mint_token
from shared.regions import WIB, WIT
from shared.settings import AuthSettings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 2 December, 08.00 WIB: November's due time has passed
ADMIN = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin', role='admin', scope='*')}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = MeetingsSettings(database_url=f"sqlite:///{tmp_path / 'meetings.db'}", publish_events=False)
    with TestClient(create_app(settings, clock=lambda: NOW)) as test_client:
        yield test_client


def register(client: TestClient, group_id: str, cadence: str = "monthly", village: str = "18.71.01.1001") -> None:
    facilitator = {"name": "Siti Rahmawati", "programme": "pkh-p2k2", "region_code": village[:8]}
    assert client.put("/api/v1/facilitators/PDP-1", json=facilitator, headers=ADMIN).status_code in (200, 201)
    group = {
        "name": f"Kelompok {group_id}",
        "programme": "pkh-p2k2" if cadence == "monthly" else "kkbpk-kemitraan",
        "facilitator_id": "PDP-1",
        "region_code": village,
        "members": ["kpm-a", "kpm-b"],
        "schedule": {"cadence": cadence, "day_of_month": 10},
    }
    if cadence != "monthly":
        facilitator["programme"] = "kkbpk-kemitraan"
        client.put("/api/v1/facilitators/PDP-1", json=facilitator, headers=ADMIN)
    assert client.put(f"/api/v1/groups/{group_id}", json=group, headers=ADMIN).status_code == 201


def report(client: TestClient, report_id: str, group_id: str, started_at: str) -> None:
    body = {
        "report_id": report_id,
        "group_id": group_id,
        "started_at": started_at,
        "ended_at": started_at.replace("T02:00", "T04:00").replace("T17:30", "T19:30"),
        "facilitator_present": True,
        "led_by": "facilitator",
        "attendance": [{"member_ref": "kpm-a", "status": "present"}],
        "recorded_at": started_at.replace("T02:00", "T05:00").replace("T17:30", "T20:00"),
        "device_id": "hp-1",
    }
    assert client.post("/api/v1/meetings", json=body, headers=ADMIN).status_code == 201


def staged(client: TestClient) -> list[tuple[str, dict[str, Any]]]:
    """(event type, data) of every staged meetings event, in outbox order."""
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(select(db.outbox.c.message_value).order_by(db.outbox.c.id)).scalars().all()
    documents = [orjson.loads(row) for row in rows]
    return [(doc["type"], doc["data"]) for doc in documents if doc["type"].startswith("meetings.meeting_")]


def scheduled(client: TestClient) -> dict[str, str]:
    return {data["period"]: data["due_at"] for kind, data in staged(client) if kind.endswith("scheduled.v1")}


@pytest.mark.parametrize(
    ("cadence", "time_zone", "now", "expected"),
    [
        ("monthly", WIB, NOW, ["2026-12", "2027-01"]),
        ("monthly", WIB, datetime(2026, 12, 31, 17, 0, tzinfo=UTC), ["2027-01", "2027-02"]),  # 00.00 WIB
        ("monthly", WIT, datetime(2026, 12, 31, 14, 59, tzinfo=UTC), ["2026-12", "2027-01"]),  # 23.59 WIT
        ("quarterly", WIB, NOW, ["2026-10", "2027-01"]),
        ("quarterly", WIB, datetime(2026, 1, 5, tzinfo=UTC), ["2026-01", "2026-04"]),
    ],
)
def test_periods_to_schedule_are_the_current_and_next(
    cadence: str, time_zone: str, now: datetime, expected: list[str]
) -> None:
    assert periods_to_schedule(now, cadence=cadence, time_zone=time_zone) == expected


def test_a_new_group_is_held_to_this_month_and_next_not_to_months_before_it_was_known(client: TestClient) -> None:
    register(client, "KLP-1")
    assert scheduled(client) == {"2026-12": "2026-12-10T16:59:59Z", "2027-01": "2027-01-10T16:59:59Z"}


def test_a_quarterly_group_is_due_in_the_last_month_of_each_quarter(client: TestClient) -> None:
    register(client, "KLP-Q", cadence="quarterly")
    assert scheduled(client) == {"2026-10": "2026-12-10T16:59:59Z", "2027-01": "2027-03-10T16:59:59Z"}


def test_an_agreed_plan_schedules_the_past_months_it_covers(client: TestClient) -> None:
    """A plan from 1 October: October and November were due (history, counted), September was not."""
    register(client, "KLP-1")
    plan = {
        "group_id": "KLP-1",
        "title": "Rencana Kelompok 1",
        "starts_on": "2026-10-01",
        "ends_on": "2027-02-28",
        "agreed_by": ["PDP-1", "kpm-a"],
        "activities": [
            {
                "id": "act-1",
                "title": "Pemetaan sosial",
                "stage": "discovery",
                "due_on": "2026-11-30",
                "responsible": "group",
            }
        ],
    }
    assert client.put("/api/v1/plans/plan-1", json=plan, headers=ADMIN).status_code == 201
    assert sorted(scheduled(client)) == ["2026-10", "2026-11", "2026-12", "2027-01"]
    # A revision changes nothing already scheduled; a plan starting after a due day does not cover it.
    revised = {**plan, "starts_on": "2026-11-11", "title": "Rencana Kelompok 1 (revisi)"}
    assert client.put("/api/v1/plans/plan-1", json=revised, headers=ADMIN).status_code == 200
    assert len([kind for kind, _ in staged(client) if kind.endswith("scheduled.v1")]) == 4


def test_imported_history_schedules_its_own_periods_once_after_their_first_meeting(client: TestClient) -> None:
    register(client, "KLP-1")
    report(client, "r-march-1", "KLP-1", "2026-03-09T02:00:00Z")
    report(client, "r-march-2", "KLP-1", "2026-03-20T02:00:00Z")
    report(client, "r-november", "KLP-1", "2026-11-09T02:00:00Z")  # past due when registered: now it counts
    report(client, "r-may", "KLP-1", "2026-05-31T17:30:00Z")  # 1 June 00.30 WIB: June, not May
    kinds = [(kind.split(".")[1], data.get("period") or data["report_id"]) for kind, data in staged(client)]
    assert kinds[2:] == [
        ("meeting_recorded", "r-march-1"),
        ("meeting_scheduled", "2026-03"),
        ("meeting_recorded", "r-march-2"),
        ("meeting_recorded", "r-november"),
        ("meeting_scheduled", "2026-11"),
        ("meeting_recorded", "r-may"),
        ("meeting_scheduled", "2026-06"),
    ]
    assert scheduled(client)["2026-03"] == "2026-03-10T16:59:59Z"
