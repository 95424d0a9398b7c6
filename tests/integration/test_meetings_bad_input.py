"""The issue's bad-input list, each case asserting the status and the named field: a clear problem,
never a 500, and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.auth import mint_token
from shared.settings import AuthSettings

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin', role='admin', scope='*')}"}
NOW = datetime.now(UTC).replace(microsecond=0)


def meeting(**changes: Any) -> dict[str, Any]:
    started = NOW - timedelta(days=1)
    return {
        "report_id": "bad-1",
        "group_id": "KLP-1",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=2)).isoformat(),
        "facilitator_present": True,
        "led_by": "facilitator",
        "attendance": [{"member_ref": "kpm-a", "status": "present"}],
        "recorded_at": (started + timedelta(hours=2)).isoformat(),
        **changes,
    }


def plan(**changes: Any) -> dict[str, Any]:
    return {
        "group_id": "KLP-1",
        "title": "Rencana",
        "starts_on": "2026-01-01",
        "ends_on": "2026-06-30",
        "agreed_by": ["PDP-1", "kpm-a"],
        "activities": [
            {"id": "A-9", "title": "FGD", "stage": "dialogue", "due_on": "2026-03-31", "responsible": "group"}
        ],
        **changes,
    }


def evaluation(**changes: Any) -> dict[str, Any]:
    return {
        "evaluation_id": "ev-bad",
        "group_id": "KLP-1",
        "facilitator_id": "PDP-1",
        "direction": "group_rates_facilitator",
        "period": "2026-11",
        "scores": {"kehadiran": 4},
        "recorded_at": NOW.isoformat(),
        **changes,
    }


# (case, method, path, body, status, field)
CASES: list[tuple[str, str, str, Any, int, str]] = [
    ("unknown group", "POST", "/api/v1/meetings", meeting(group_id="KLP-NONE"), 422, "group_id"),
    (
        "unknown facilitator of a group",
        "PUT",
        "/api/v1/groups/KLP-2",
        {"name": "G", "programme": "pkh-p2k2", "facilitator_id": "PDP-NONE", "region_code": "18.71.01.1001"},
        422,
        "facilitator_id",
    ),
    (
        "unknown facilitator of an evaluation",
        "POST",
        "/api/v1/evaluations",
        evaluation(facilitator_id="PDP-NONE"),
        422,
        "facilitator_id",
    ),
    (
        "attendance member not in the group",
        "POST",
        "/api/v1/meetings",
        meeting(attendance=[{"member_ref": "stranger", "status": "present"}]),
        422,
        "attendance[0].member_ref",
    ),
    (
        "meeting ends before it starts",
        "POST",
        "/api/v1/meetings",
        meeting(ended_at=(NOW - timedelta(days=2)).isoformat()),
        422,
        "ended_at",
    ),
    (
        "meeting in the future beyond clock skew",
        "POST",
        "/api/v1/meetings",
        meeting(
            started_at=(NOW + timedelta(hours=3)).isoformat(),
            ended_at=(NOW + timedelta(hours=5)).isoformat(),
            recorded_at=(NOW + timedelta(hours=5)).isoformat(),
        ),
        422,
        "started_at",
    ),
    ("score above 5", "POST", "/api/v1/evaluations", evaluation(scores={"kehadiran": 6}), 422, "scores.kehadiran"),
    ("score below 1", "POST", "/api/v1/evaluations", evaluation(scores={"komunikasi": 0}), 422, "scores.komunikasi"),
    (
        "activity due outside its plan",
        "PUT",
        "/api/v1/plans/P-9",
        plan(
            activities=[
                {"id": "A-9", "title": "FGD", "stage": "dialogue", "due_on": "2026-08-01", "responsible": "group"}
            ]
        ),
        422,
        "activities[0].due_on",
    ),
    ("plan ending before it starts", "PUT", "/api/v1/plans/P-9", plan(ends_on="2025-12-31"), 422, "ends_on"),
    ("malformed region code in the path", "PUT", "/api/v1/regions/18.7", {"name": "X"}, 422, "code"),
    ("malformed region code of a village", "PUT", "/api/v1/regions/18.71.01.12", {"name": "X"}, 422, "code"),
    (
        "malformed region code in a body",
        "PUT",
        "/api/v1/facilitators/PDP-3",
        {"name": "F", "programme": "pkh-p2k2", "region_code": "18-71"},
        422,
        "region_code",
    ),
    ("unknown province", "PUT", "/api/v1/regions/99.01", {"name": "X"}, 422, "code"),
    (
        "group outside a village",
        "PUT",
        "/api/v1/groups/KLP-3",
        {"name": "G", "programme": "pkh-p2k2", "facilitator_id": "PDP-1", "region_code": "18.71"},
        422,
        "region_code",
    ),
    (
        "progress for an unknown activity",
        "POST",
        "/api/v1/activities/A-NONE/progress",
        {"progress_id": "p-x", "reported_on": "2026-02-01", "status": "done", "recorded_at": NOW.isoformat()},
        404,
        "activity_id",
    ),
    (
        "invalid progress status",
        "POST",
        "/api/v1/activities/A-1/progress",
        {"progress_id": "p-y", "reported_on": "2026-02-01", "status": "finished", "recorded_at": NOW.isoformat()},
        422,
        "status",
    ),
    (
        "batch over 500",
        "POST",
        "/api/v1/meetings/batch",
        {"device_id": "hp", "synced_through": NOW.isoformat(), "facilitator_id": "PDP-1", "reports": [meeting()] * 501},
        422,
        "reports",
    ),
    (
        "sync watermark in the future",
        "POST",
        "/api/v1/meetings/batch",
        {
            "device_id": "hp",
            "synced_through": (NOW + timedelta(days=1)).isoformat(),
            "facilitator_id": "PDP-1",
            "reports": [],
        },
        422,
        "synced_through",
    ),
    ("unexpected field", "POST", "/api/v1/meetings", {**meeting(), "nik_ketua": "x"}, 422, "nik_ketua"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("bad") / "m.db"
    app = create_app(MeetingsSettings(database_url=f"sqlite:///{path}", publish_events=False, max_body_bytes=400_000))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        facilitator = {"name": "F", "programme": "pkh-p2k2", "region_code": "18.71.01"}
        assert test_client.put("/api/v1/facilitators/PDP-1", json=facilitator, headers=ADMIN).is_success
        group = {
            "name": "G",
            "programme": "pkh-p2k2",
            "facilitator_id": "PDP-1",
            "region_code": "18.71.01.1001",
            "members": ["kpm-a", "kpm-b"],
        }
        assert test_client.put("/api/v1/groups/KLP-1", json=group, headers=ADMIN).is_success
        base_plan = plan(
            activities=[
                {"id": "A-1", "title": "FGD", "stage": "dialogue", "due_on": "2026-03-31", "responsible": "group"}
            ]
        )
        assert test_client.put("/api/v1/plans/P-1", json=base_plan, headers=ADMIN).is_success
        yield test_client


@pytest.mark.parametrize(("case", "method", "path", "body", "status", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_field(
    client: TestClient, case: str, method: str, path: str, body: Any, status: int, field: str
) -> None:
    response = client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert field in [error["field"] for error in problem.get("errors", [])], problem


def test_a_body_over_the_size_limit_is_413(client: TestClient) -> None:
    response = client.post(
        "/api/v1/meetings", content=b"{" + b" " * 400_001 + b"}", headers={**ADMIN, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_nothing_was_stored_by_bad_input(client: TestClient) -> None:
    with client.app.state.context.engine.connect() as connection:  # type: ignore[attr-defined]
        assert connection.execute(text("SELECT count(*) FROM meetings")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM evaluations")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM progress_reports")).scalar_one() == 0
