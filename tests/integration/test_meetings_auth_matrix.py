"""Who may do what: a generated role × endpoint × own/foreign-object matrix over the whole API.

Each cell runs against a freshly seeded store: two facilitators in two kabupaten, each with a group
and a plan. The expected answer for every cell is written down once, in `EXPECTED`; a cell that is
not allowed must be 401 (no token) or 403, and one that is allowed must succeed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.auth import mint_token
from shared.settings import AuthSettings

pytestmark = pytest.mark.integration

AUTH = AuthSettings()
PRINCIPALS: dict[str, dict[str, str]] = {
    "anonymous": {},
    "admin": {"sub": "admin", "role": "admin", "scope": "*"},
    "facilitator": {"sub": "PDP-OWN", "role": "facilitator", "scope": "PDP-OWN"},
    "supervisor": {"sub": "SUP-1871", "role": "supervisor", "scope": "18.71"},
}
# Objects: "own" belongs to PDP-OWN in 18.71 (the supervisor's kabupaten); "foreign" to PDP-OTHER in 18.01.
OBJECTS = ("own", "foreign")
GROUP = {"own": "KLP-OWN", "foreign": "KLP-OTHER"}
FACILITATOR = {"own": "PDP-OWN", "foreign": "PDP-OTHER"}
VILLAGE = {"own": "18.71.01.1001", "foreign": "18.01.05.2001"}


def _meeting(obj: str, report_id: str) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "group_id": GROUP[obj],
        "started_at": "2026-11-10T02:00:00Z",
        "ended_at": "2026-11-10T04:00:00Z",
        "facilitator_present": True,
        "led_by": "facilitator",
        "attendance": [{"member_ref": f"{GROUP[obj]}-m1", "status": "present"}],
        "recorded_at": "2026-11-10T04:05:00Z",
    }


def _evaluation(obj: str, direction: str) -> dict[str, Any]:
    return {
        "evaluation_id": f"ev-{obj}-{direction}",
        "group_id": GROUP[obj],
        "facilitator_id": FACILITATOR[obj],
        "direction": direction,
        "period": "2026-11",
        "scores": {"kehadiran": 4},
        "recorded_at": "2026-11-10T04:05:00Z",
    }


def _plan(obj: str) -> dict[str, Any]:
    return {
        "group_id": GROUP[obj],
        "title": "Rencana",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "agreed_by": [FACILITATOR[obj], f"{GROUP[obj]}-m1"],
        "activities": [
            {
                "id": f"A-{obj}-2",
                "title": "Kegiatan",
                "stage": "dialogue",
                "due_on": "2026-06-30",
                "responsible": "group",
            }
        ],
    }


# endpoint name -> (method, path, body) for an object
ENDPOINTS: dict[str, Any] = {
    "put_region": lambda o: ("PUT", f"/api/v1/regions/{VILLAGE[o]}", {"name": "Desa"}),
    "put_supervisor": lambda o: (
        "PUT",
        "/api/v1/supervisors/SUP-X",
        {"name": "S", "level": "kabupaten", "region_code": "18.71"},
    ),
    "put_facilitator": lambda o: (
        "PUT",
        f"/api/v1/facilitators/{FACILITATOR[o]}",
        {"name": "F", "programme": "pkh-p2k2", "region_code": VILLAGE[o][:8]},
    ),
    "put_group": lambda o: (
        "PUT",
        f"/api/v1/groups/{GROUP[o]}",
        {
            "name": "G2",
            "programme": "pkh-p2k2",
            "facilitator_id": FACILITATOR[o],
            "region_code": VILLAGE[o],
            "members": [f"{GROUP[o]}-m1", f"{GROUP[o]}-m2"],
        },
    ),
    "put_plan": lambda o: ("PUT", f"/api/v1/plans/P-{o}", _plan(o)),
    "post_progress": lambda o: (
        "POST",
        f"/api/v1/activities/A-{o}-1/progress",
        {
            "progress_id": f"pr-{o}",
            "reported_on": "2026-03-01",
            "status": "in_progress",
            "recorded_at": "2026-03-01T03:00:00Z",
        },
    ),
    "post_meeting": lambda o: ("POST", "/api/v1/meetings", _meeting(o, f"r-{o}")),
    "post_batch": lambda o: (
        "POST",
        "/api/v1/meetings/batch",
        {
            "device_id": f"hp-{o}",
            "synced_through": "2026-11-11T00:00:00Z",
            "facilitator_id": FACILITATOR[o],
            "reports": [_meeting(o, f"rb-{o}")],
        },
    ),
    "post_evaluation_by_facilitator": lambda o: (
        "POST",
        "/api/v1/evaluations",
        _evaluation(o, "facilitator_rates_group"),
    ),
    "post_evaluation_of_facilitator": lambda o: (
        "POST",
        "/api/v1/evaluations",
        _evaluation(o, "group_rates_facilitator"),
    ),
    "post_evaluation_by_supervisor": lambda o: (
        "POST",
        "/api/v1/evaluations",
        _evaluation(o, "supervisor_rates_facilitator"),
    ),
    "get_group": lambda o: ("GET", f"/api/v1/groups/{GROUP[o]}", None),
}

ALLOWED = "allowed"
DENIED = "denied"
# (endpoint, principal, object) -> allowed? Everything not listed for a principal is denied.
EXPECTED: dict[tuple[str, str, str], str] = {}
for endpoint, obj in itertools.product(ENDPOINTS, OBJECTS):
    EXPECTED[(endpoint, "admin", obj)] = ALLOWED
for endpoint in (
    "put_plan",
    "post_progress",
    "post_meeting",
    "post_batch",
    "post_evaluation_by_facilitator",
    "post_evaluation_of_facilitator",
    "get_group",
):
    EXPECTED[(endpoint, "facilitator", "own")] = ALLOWED
for endpoint in ("post_evaluation_by_supervisor", "get_group"):
    EXPECTED[(endpoint, "supervisor", "own")] = ALLOWED  # own = within the supervisor's kabupaten


def _token(principal: str) -> dict[str, str]:
    claims = PRINCIPALS[principal]
    if not claims:
        return {}
    token = mint_token(AUTH, subject=claims["sub"], role=claims["role"], scope=claims["scope"])  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(tmp_path: Any) -> Iterator[TestClient]:
    app = create_app(MeetingsSettings(database_url=f"sqlite:///{tmp_path / 'm.db'}", publish_events=False))
    admin = _token("admin")
    with TestClient(app) as test_client:
        for obj in OBJECTS:
            kabupaten = VILLAGE[obj][:5]
            facilitator = {"name": "F", "programme": "pkh-p2k2", "region_code": VILLAGE[obj][:8]}
            assert test_client.put(
                f"/api/v1/facilitators/{FACILITATOR[obj]}", json=facilitator, headers=admin
            ).is_success
            group = {
                "name": "G",
                "programme": "pkh-p2k2",
                "facilitator_id": FACILITATOR[obj],
                "region_code": VILLAGE[obj],
                "members": [f"{GROUP[obj]}-m1", f"{GROUP[obj]}-m2"],
            }
            assert test_client.put(f"/api/v1/groups/{GROUP[obj]}", json=group, headers=admin).is_success
            plan = {**_plan(obj), "activities": [{**_plan(obj)["activities"][0], "id": f"A-{obj}-1"}]}
            assert test_client.put(f"/api/v1/plans/P0-{obj}", json=plan, headers=admin).is_success, kabupaten
        yield test_client


CELLS = list(itertools.product(ENDPOINTS, PRINCIPALS, OBJECTS))


@pytest.mark.parametrize(("endpoint", "principal", "obj"), CELLS, ids=["-".join(cell) for cell in CELLS])
def test_matrix_cell(client: TestClient, endpoint: str, principal: str, obj: str) -> None:
    method, path, body = ENDPOINTS[endpoint](obj)
    response = client.request(method, path, json=body, headers=_token(principal))
    expected = EXPECTED.get((endpoint, principal, obj), DENIED)
    if principal == "anonymous":
        assert response.status_code == 401, response.text
        return
    if expected == ALLOWED:
        assert response.is_success, f"{endpoint} by {principal} on {obj}: {response.status_code} {response.text}"
        if endpoint == "post_batch":
            assert response.json()["counts"]["created"] == 1, response.text
        return
    if endpoint == "post_batch" and response.status_code == 200:
        # The batch endpoint answers per item: a foreign report is rejected with its own 403 problem.
        items = response.json()["results"]
        assert [item["outcome"] for item in items] == ["rejected"]
        assert items[0]["problem"]["status"] == 403
        return
    assert response.status_code in (403, 422), (
        f"{endpoint} by {principal} on {obj}: {response.status_code} {response.text}"
    )
    if response.status_code == 422:
        # Only where the body itself names another principal's object (a facilitator syncing as another).
        assert endpoint == "post_batch", response.text


def test_matrix_is_complete() -> None:
    assert len(CELLS) == len(ENDPOINTS) * len(PRINCIPALS) * len(OBJECTS)
    assert {key for key in EXPECTED if EXPECTED[key] == ALLOWED} <= set(CELLS)
