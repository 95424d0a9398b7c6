"""The meetings store on both backends (SQLite, PostgreSQL): migrations, the whole write surface,
idempotency under concurrency, outbox atomicity, and no national ID at rest."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from services.meetings import db
from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.auth import mint_token
from shared.settings import AuthSettings

pytestmark = pytest.mark.integration

NIK = "1871014405870003"
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin', role='admin', scope='*')}"}
FACILITATOR = {
    "Authorization": f"Bearer {mint_token(AuthSettings(), subject='PDP-1', role='facilitator', scope='PDP-1')}"
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    # A fixed "now" after the reports' meeting day, so scheduling stages exactly the same periods
    # (December ahead; November for its meetings; January to October for the plan), whatever the day.
    app = create_app(MeetingsSettings(database_url=database_url, publish_events=False), clock=lambda: NOW)
    with TestClient(app) as test_client:
        yield test_client


def _seed(client: TestClient) -> None:
    assert client.put("/api/v1/regions/18.71", json={"name": "Kota Bandar Lampung"}, headers=ADMIN).status_code == 201
    facilitator = {"name": "Siti", "programme": "pkh-p2k2", "region_code": "18.71.01", "phone": "+62 812 1234 5678"}
    assert client.put("/api/v1/facilitators/PDP-1", json=facilitator, headers=ADMIN).status_code == 201
    group = {
        "name": "Kelompok Mawar",
        "programme": "pkh-p2k2",
        "facilitator_id": "PDP-1",
        "region_code": "18.71.01.1001",
        "members": ["kpm-a", "kpm-b", {"nik": NIK}],
        "chair_member_ref": "kpm-a",
        "schedule": {"cadence": "monthly", "day_of_month": 10},
    }
    assert client.put("/api/v1/groups/KLP-1", json=group, headers=ADMIN).status_code == 201


def _report(report_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "group_id": "KLP-1",
        "started_at": "2026-11-10T02:00:00Z",
        "ended_at": "2026-11-10T04:00:00Z",
        "facilitator_present": True,
        "led_by": "facilitator",
        "attendance": [{"member_ref": "kpm-a", "status": "present"}, {"member_ref": {"nik": NIK}, "status": "present"}],
        "recorded_at": "2026-11-10T04:05:00Z",
        "device_id": "hp-1",
        **changes,
    }


def _outbox_types(client: TestClient) -> Counter[str]:
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(select(db.outbox.c.headers)).scalars().all()
    return Counter(dict(headers)["ce_type"] for headers in rows)


def test_migrations_build_exactly_the_schema_the_code_describes(client: TestClient) -> None:
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    db.migrate(engine)  # a second run changes nothing
    inspector = inspect(engine)
    for table in db.metadata.sorted_tables:
        columns = {column["name"]: column for column in inspector.get_columns(table.name)}
        assert set(columns) == {column.name for column in table.columns}, table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, f"{table.name}.{column.name}"


def test_the_whole_write_surface_on_this_backend(client: TestClient) -> None:
    _seed(client)
    first = client.post("/api/v1/meetings", json=_report("r-1"), headers=FACILITATOR)
    assert first.status_code == 201, first.text
    assert client.post("/api/v1/meetings", json=_report("r-1"), headers=FACILITATOR).json() == first.json()
    conflict = client.post("/api/v1/meetings", json=_report("r-1", led_by="chair"), headers=FACILITATOR)
    assert conflict.status_code == 422
    assert conflict.json()["errors"][0]["field"] == "report_id"

    batch = client.post(
        "/api/v1/meetings/batch",
        json={
            "device_id": "hp-1",
            "synced_through": "2026-11-12T00:00:00Z",
            "reports": [
                _report("r-2"),
                _report("r-1"),
                _report("r-3", attendance=[{"member_ref": "x", "status": "present"}]),
            ],
        },
        headers=FACILITATOR,
    )
    assert batch.status_code == 200, batch.text
    assert [item["outcome"] for item in batch.json()["results"]] == ["created", "duplicate", "rejected"]
    assert batch.json()["results"][2]["problem"]["errors"][0]["field"] == "reports[2].attendance[0].member_ref"

    plan = {
        "group_id": "KLP-1",
        "title": "Rencana pendampingan 2026",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "agreed_by": ["PDP-1", "kpm-a"],
        "activities": [
            {
                "id": "A-1",
                "title": "Diskusi kebutuhan",
                "stage": "dialogue",
                "due_on": "2026-03-31",
                "responsible": "facilitator",
            }
        ],
    }
    assert client.put("/api/v1/plans/P-1", json=plan, headers=FACILITATOR).status_code == 201
    plan["activities"].append(  # type: ignore[attr-defined]
        {"id": "A-2", "title": "Pemetaan sosial", "stage": "discovery", "due_on": "2026-06-30", "responsible": "group"}
    )
    revised = client.put("/api/v1/plans/P-1", json=plan, headers=FACILITATOR)
    assert revised.json() == {"plan_id": "P-1", "revision": 2, "outcome": "revised"}
    progress = {
        "progress_id": "pr-1",
        "reported_on": "2026-05-01",
        "status": "in_progress",
        "recorded_at": "2026-05-01T03:00:00Z",
    }
    assert client.post("/api/v1/activities/A-2/progress", json=progress, headers=FACILITATOR).status_code == 201
    assert client.post("/api/v1/activities/A-2/progress", json=progress, headers=FACILITATOR).status_code == 200
    evaluation = {
        "evaluation_id": "ev-1",
        "group_id": "KLP-1",
        "facilitator_id": "PDP-1",
        "direction": "group_rates_facilitator",
        "period": "2026-11",
        "scores": {"kehadiran": 4, "komunikasi": 5},
        "recorded_at": "2026-11-10T04:05:00Z",
    }
    assert client.post("/api/v1/evaluations", json=evaluation, headers=FACILITATOR).json()["mean_score"] == 4.5

    view = client.get("/api/v1/groups/KLP-1", headers=FACILITATOR).json()
    assert [meeting["report_id"] for meeting in view["recent_meetings"]] == ["r-2", "r-1"] or {
        meeting["report_id"] for meeting in view["recent_meetings"]
    } == {"r-1", "r-2"}
    assert _outbox_types(client) == Counter(
        {
            "meetings.region_upserted.v1": 1,
            "meetings.facilitator_upserted.v1": 1,
            "meetings.group_upserted.v1": 1,
            "meetings.meeting_recorded.v1": 2,
            "meetings.device_synced.v1": 1,
            "meetings.meeting_scheduled.v1": 12,  # December; November (its meetings); January-October (the plan)
            "meetings.plan_agreed.v1": 1,
            "meetings.plan_revised.v1": 1,
            "meetings.activity_progressed.v1": 1,
            "meetings.evaluation_submitted.v1": 1,
        }
    )


def test_concurrent_duplicates_have_one_effect(client: TestClient) -> None:
    _seed(client)

    def post(_: int) -> int:
        return client.post("/api/v1/meetings", json=_report("r-same"), headers=FACILITATOR).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(post, range(24)))
    assert statuses == Counter({201: 1, 200: 23})
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM meetings")).scalar_one() == 1
    assert _outbox_types(client)["meetings.meeting_recorded.v1"] == 1


def test_no_national_id_is_stored(client: TestClient) -> None:
    _seed(client)
    assert client.post("/api/v1/meetings", json=_report("r-1"), headers=FACILITATOR).status_code == 201
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    sixteen_digits = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
    with engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(select(table)).all():
                text_of_row = " ".join(
                    value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value) for value in row
                )
                assert NIK not in text_of_row, table.name
                assert not sixteen_digits.search(text_of_row), table.name


def _outbox_rows(client: TestClient) -> list[tuple[str, str]]:
    """(event type, key) of every staged event, in outbox id order (the order the relay publishes)."""
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(select(db.outbox.c.headers, db.outbox.c.message_key).order_by(db.outbox.c.id)).all()
    return [(dict(headers)["ce_type"], key) for headers, key in rows]


def test_a_batch_is_stored_in_one_pass_with_each_meeting_before_the_period_it_schedules(client: TestClient) -> None:
    _seed(client)
    # An earlier report, a new one in October (a period never scheduled), a bad item between them,
    # and one in November: one multi-row insert per table, and the outbox keeps the item order.
    assert client.post("/api/v1/meetings", json=_report("r-old"), headers=FACILITATOR).status_code == 201
    before = len(_outbox_rows(client))
    october = {"started_at": "2026-10-10T02:00:00Z", "ended_at": "2026-10-10T04:00:00Z"}
    batch = client.post(
        "/api/v1/meetings/batch",
        json={
            "device_id": "hp-1",
            "synced_through": "2026-11-12T00:00:00Z",
            "reports": [
                _report("r-oct", **october, recorded_at="2026-10-10T04:05:00Z"),
                _report("r-old"),
                _report("r-bad", attendance=[{"member_ref": "kpm-zz", "status": "present"}]),
                _report("r-nov"),
            ],
        },
        headers=FACILITATOR,
    )
    assert batch.status_code == 200, batch.text
    assert [item["outcome"] for item in batch.json()["results"]] == ["created", "duplicate", "rejected", "created"]
    assert [item["index"] for item in batch.json()["results"]] == [0, 1, 2, 3]
    assert batch.json()["results"][2]["problem"]["errors"][0]["field"] == "reports[2].attendance[0].member_ref"
    staged = [event for event, _ in _outbox_rows(client)[before:]]
    assert staged == [
        "meetings.meeting_recorded.v1",  # r-oct
        "meetings.meeting_scheduled.v1",  # October, staged right after its first meeting
        "meetings.meeting_recorded.v1",  # r-nov (November was scheduled by r-old)
        "meetings.device_synced.v1",
    ]


def test_a_batch_naming_one_report_twice_answers_the_repeat_as_a_second_request_would(client: TestClient) -> None:
    _seed(client)
    batch = client.post(
        "/api/v1/meetings/batch",
        json={
            "device_id": "hp-1",
            "synced_through": "2026-11-12T00:00:00Z",
            "reports": [_report("r-1"), _report("r-1"), _report("r-1", led_by="chair"), _report("r-2")],
        },
        headers=FACILITATOR,
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [item["outcome"] for item in results] == ["created", "duplicate", "rejected", "created"]
    assert results[1]["result"] == results[0]["result"]
    assert results[2]["problem"]["errors"][0]["field"] == "reports[2].report_id"
    assert _outbox_types(client)["meetings.meeting_recorded.v1"] == 2


def test_concurrent_batches_with_overlapping_reports_have_one_effect_each(client: TestClient) -> None:
    _seed(client)
    # Reports over several months, so the batches also race for the same periods to schedule.
    reports = [
        _report(
            f"r-{month}-{day}",
            started_at=f"2026-{month:02d}-{day:02d}T02:00:00Z",
            ended_at=f"2026-{month:02d}-{day:02d}T04:00:00Z",
            recorded_at=f"2026-{month:02d}-{day:02d}T04:05:00Z",
        )
        for month in (7, 8, 9, 10, 11)
        for day in (3, 4, 5, 6)
    ]

    def sync(number: int) -> list[str]:
        # Each batch holds the same reports in its own order.
        mine = reports[number:] + reports[:number]
        body = {"device_id": "hp-1", "synced_through": "2026-11-07T00:00:00Z", "reports": mine}
        response = client.post("/api/v1/meetings/batch", json=body, headers=FACILITATOR)
        assert response.status_code == 200, response.text
        return [item["outcome"] for item in response.json()["results"]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = Counter(outcome for result in pool.map(sync, range(6)) for outcome in result)
    assert outcomes == Counter({"created": len(reports), "duplicate": 5 * len(reports)})
    types = _outbox_types(client)
    assert types["meetings.meeting_recorded.v1"] == len(reports)
    # Every period (July to November from the meetings, December ahead) staged once, by one batch.
    engine = client.app.state.context.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        periods = connection.execute(text("SELECT count(*) FROM scheduled_meetings")).scalar_one()
    assert types["meetings.meeting_scheduled.v1"] == periods
