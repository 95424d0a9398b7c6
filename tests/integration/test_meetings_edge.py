"""The meetings service at its edge, against a real SQLite file: a batch answers item by item and
moves the device's watermark only as far as is true; a device belongs to the facilitator who first
synced it; what the API accepts is exactly what the event contract accepts; no national ID passes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from shared import serde
from shared.events import DeviceSynced
from tests.integration.edge_support import ADMIN, NOW, PDP_1, PDP_2, meeting, registry_client

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from registry_client(tmp_path / "meetings.db")


def stored_reports(client: TestClient) -> set[str]:
    with client.app.state.context.engine.connect() as connection:  # type: ignore[attr-defined]
        return set(connection.execute(text("SELECT report_id FROM meetings")).scalars())


def watermark(client: TestClient, device_id: str) -> datetime | None:
    with client.app.state.context.engine.connect() as connection:  # type: ignore[attr-defined]
        value = connection.execute(
            text("SELECT synced_through FROM device_syncs WHERE device_id = :d"), {"d": device_id}
        ).scalar_one_or_none()
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def batch(client: TestClient, reports: list[Any], *, device: str = "hp-1", headers: dict[str, str] = PDP_1) -> Any:
    body = {"device_id": device, "synced_through": NOW.isoformat(), "reports": reports}
    return client.post("/api/v1/meetings/batch", json=body, headers=headers)


# ---------- batches item by item ----------


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        (None, "reports[1]"),
        ("a report", "reports[1]"),
        (17, "reports[1]"),
        ([], "reports[1]"),
        (meeting("r-bad", led_by="nobody"), "reports[1].led_by"),
        (meeting("r-bad", facilitator_present="perhaps"), "reports[1].facilitator_present"),
        (meeting("r-bad", attendance=[None]), "reports[1].attendance[0]"),
        (meeting("r-bad", group_id="KLP-NONE"), "reports[1].group_id"),
        (meeting("r-bad", started_at="0001-01-01T00:00:00+07:00"), "reports[1].started_at"),
    ],
    ids=["null", "string", "number", "list", "bad enum", "wrong type", "null attendance", "unknown group", "year 1"],
)
def test_a_malformed_item_is_rejected_and_the_rest_are_stored(client: TestClient, broken: Any, field: str) -> None:
    response = batch(client, [meeting("r-1"), broken, meeting("r-3", days_ago=1)])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [item["outcome"] for item in answer["results"]] == ["created", "rejected", "created"]
    rejected = answer["results"][1]
    assert rejected["index"] == 1
    assert field in [error["field"] for error in rejected["problem"]["errors"]], rejected
    assert answer["counts"] == {"created": 2, "duplicate": 0, "rejected": 1}
    assert stored_reports(client) == {"r-1", "r-3"}


def test_the_watermark_stops_just_before_the_earliest_rejected_item(client: TestClient) -> None:
    rejected_start = NOW - timedelta(days=3)
    broken = meeting("r-bad", days_ago=3, led_by="nobody")
    response = batch(client, [meeting("r-1", days_ago=5), broken, meeting("r-3", days_ago=1)])
    answer = response.json()
    held = rejected_start - timedelta(microseconds=1)
    assert datetime.fromisoformat(answer["watermark_through"]) == held
    assert answer["watermark_advanced"] is True
    assert watermark(client, "hp-1") == held

    # Once the item is fixed and synced, the watermark moves on to the claim.
    fixed = batch(client, [meeting("r-bad", days_ago=3)])
    assert fixed.json()["results"][0]["outcome"] == "created"
    assert watermark(client, "hp-1") == NOW


def test_a_rejected_item_without_a_readable_time_holds_the_watermark(client: TestClient) -> None:
    first = batch(client, [meeting("r-1")])
    assert watermark(client, "hp-1") == NOW
    # A later claim with an unreadable rejected item does not move it, nor move it back.
    body = {"device_id": "hp-1", "synced_through": NOW.isoformat(), "reports": [None, meeting("r-2", days_ago=1)]}
    later = client.post("/api/v1/meetings/batch", json=body, headers=PDP_1)
    assert later.json()["watermark_advanced"] is False
    assert first.json()["watermark_through"] == later.json()["watermark_through"]
    assert stored_reports(client) == {"r-1", "r-2"}

    other = batch(client, [None], device="hp-2")
    assert other.json()["watermark_advanced"] is False
    assert other.json()["watermark_through"] is None
    assert watermark(client, "hp-2") is None


def test_a_clean_batch_moves_the_watermark_to_the_claim(client: TestClient) -> None:
    answer = batch(client, [meeting("r-1"), meeting("r-1")]).json()
    assert [item["outcome"] for item in answer["results"]] == ["created", "duplicate"]
    assert datetime.fromisoformat(answer["watermark_through"]) == NOW


# ---------- devices belong to facilitators ----------


def test_another_facilitators_device_is_refused_and_nothing_moves(client: TestClient) -> None:
    assert batch(client, [meeting("r-1")], device="hp-siti").status_code == 200
    foreign = batch(client, [meeting("r-2", group_id="KLP-2")], device="hp-siti", headers=PDP_2)
    assert foreign.status_code == 409, foreign.text
    assert foreign.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in foreign.json()["errors"]] == ["device_id"]
    assert stored_reports(client) == {"r-1"}
    # An admin syncing on another facilitator's behalf meets the same rule.
    on_behalf = {"device_id": "hp-siti", "synced_through": NOW.isoformat(), "facilitator_id": "PDP-2", "reports": []}
    assert client.post("/api/v1/meetings/batch", json=on_behalf, headers=ADMIN).status_code == 409
    # A single report naming that device for another facilitator's group is refused too.
    single = client.post("/api/v1/meetings", json=meeting("r-3", group_id="KLP-2", device_id="hp-siti"), headers=PDP_2)
    assert single.status_code == 409
    assert single.json()["errors"][0]["field"] == "device_id"
    # The owner keeps syncing.
    assert batch(client, [meeting("r-4", days_ago=1, device_id="hp-siti")], device="hp-siti").status_code == 200
    assert stored_reports(client) == {"r-1", "r-4"}


# ---------- one validation at the edge ----------

PLAN = {
    "group_id": "KLP-1",
    "title": "Rencana",
    "starts_on": "2026-01-01",
    "ends_on": "2026-06-30",
    "agreed_by": ["PDP-1", "kpm-a"],
    "activities": [
        {
            "id": "A-1",
            "title": "FGD",
            "stage": "dialogue",
            "due_on": "2026-03-31",
            "responsible": "group",
            "indicator": {"name": "KPM hadir", "unit": "keluarga", "baseline": 0, "target": 20},
        }
    ],
}


def plan_with(path: str, value: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(PLAN))
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return document


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "PUT",
            "/api/v1/plans/P-1",
            plan_with("activities.0.indicator.target", math.inf),
            "activities[0].indicator.target",
        ),
        (
            "PUT",
            "/api/v1/plans/P-1",
            plan_with("activities.0.indicator.baseline", math.nan),
            "activities[0].indicator.baseline",
        ),
        ("PUT", "/api/v1/plans/P-1", plan_with("starts_on", "0001-01-01"), "starts_on"),
        ("PUT", "/api/v1/plans/P-1", plan_with("agreed_by", ["PDP-1", "kpm a"]), "agreed_by[1]"),
        ("PUT", "/api/v1/plans/P-1", plan_with("agreed_by", ["PDP-1", "kpm-😀"]), "agreed_by[1]"),
        ("POST", "/api/v1/meetings", meeting("r-x", started_at="0001-01-01T00:00:00+00:00"), "started_at"),
        ("POST", "/api/v1/meetings", meeting("r-x", started_at="0001-01-01T00:00:00+07:00"), "started_at"),
        ("POST", "/api/v1/meetings", meeting("r-x", recorded_at="9999-12-31T23:00:00-05:00"), "recorded_at"),
        (
            "POST",
            "/api/v1/meetings/batch",
            {"device_id": "hp-1", "synced_through": "9999-12-31T23:59:59-12:00", "reports": []},
            "synced_through",
        ),
        (
            "POST",
            "/api/v1/meetings",
            meeting("r-x", attendance=[{"member_ref": "kpm a", "status": "present"}]),
            "attendance[0].member_ref",
        ),
        ("POST", "/api/v1/meetings", meeting("r-x", device_id="hp 1"), "device_id"),
        ("POST", "/api/v1/meetings", meeting("r/x"), "report_id"),
        (
            "PUT",
            "/api/v1/groups/KLP-9",
            {
                "name": "G",
                "programme": "pkh-p2k2",
                "facilitator_id": "PDP-1",
                "region_code": "18.71.01.1001",
                "members": ["kpm 1"],
            },
            "members[0]",
        ),
        (
            "POST",
            "/api/v1/activities/A-1/progress",
            {
                "progress_id": "p-1",
                "reported_on": "2026-02-01",
                "status": "done",
                "indicator_value": -math.inf,
                "recorded_at": NOW.isoformat(),
            },
            "indicator_value",
        ),
        (
            "POST",
            "/api/v1/evaluations",
            {
                "evaluation_id": "ev-1",
                "group_id": "KLP-1",
                "facilitator_id": "PDP-1",
                "direction": "group_rates_facilitator",
                "period": "0001-11",
                "scores": {"kehadiran": 4},
                "recorded_at": NOW.isoformat(),
            },
            "period",
        ),
    ],
)
def test_what_the_contract_refuses_is_a_4xx_naming_the_field(
    client: TestClient, method: str, path: str, body: Any, field: str
) -> None:
    content = json.dumps(body, allow_nan=True)  # NaN and Infinity as a careless client sends them
    response = client.request(method, path, content=content, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]], response.json()


def test_1e999_is_refused_not_stored_as_null(client: TestClient) -> None:
    content = json.dumps(PLAN).replace('"target": 20', '"target": 1e999')
    response = client.put("/api/v1/plans/P-1", content=content, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "activities[0].indicator.target"


# ---------- no national ID passes the edge ----------

NIK = "1871015501800002"


@pytest.mark.parametrize("written", [NIK, "1871 0155 0180 0002", "18.71.01.550180.0002", "1871-0155-0180-0002"])
def test_a_nik_where_a_member_is_expected_becomes_a_pseudonym(client: TestClient, written: str) -> None:
    group = {
        "name": "Kelompok Mawar",
        "programme": "pkh-p2k2",
        "facilitator_id": "PDP-1",
        "region_code": "18.71.01.1001",
        "members": ["kpm-a", written, {"nik": written, "display_name": "Ibu Yuli"}],
    }
    response = client.put("/api/v1/groups/KLP-9", json=group, headers=ADMIN)
    # The same person twice (once bare, once with a name): one pseudonym, listed twice.
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "members[2]"
    group["members"] = ["kpm-a", written]
    assert client.put("/api/v1/groups/KLP-9", json=group, headers=ADMIN).status_code == 201
    with client.app.state.context.engine.connect() as connection:  # type: ignore[attr-defined]
        refs = connection.execute(text("SELECT member_refs FROM groups WHERE id = 'KLP-9'")).scalar_one()
    assert NIK not in str(refs)
    assert "kpm-" in str(refs)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/meetings", meeting("r-x", topic="KPM 1871 0155 0180 0002 hadir"), "topic"),
        ("POST", "/api/v1/meetings", meeting("r-x", device_id=NIK), "device_id"),
        ("POST", "/api/v1/meetings", meeting(NIK), "report_id"),
        (
            "POST",
            "/api/v1/meetings",
            meeting("r-x", attendance=[{"member_ref": f"kpm-{NIK}", "status": "present"}]),
            "attendance[0].member_ref",
        ),
        ("POST", "/api/v1/meetings", {**meeting("r-x"), NIK: 1}, "(body)"),
        (
            "PUT",
            "/api/v1/plans/P-1",
            plan_with("activities.0.indicator.target", int(NIK)),
            "activities[0].indicator.target",
        ),
        ("PUT", "/api/v1/plans/P-1", plan_with("title", "18.71.01.550180.0002"), "title"),
        ("PUT", f"/api/v1/groups/{NIK}", {"name": "G"}, "group_id"),
        ("GET", f"/api/v1/groups/{NIK}", None, "group_id"),
        ("GET", "/api/v1/groups/KLP-1?x=1871-0155-0180-0002", None, "x"),
        (
            "PUT",
            "/api/v1/facilitators/PDP-9",
            {"name": f"Siti {NIK}", "programme": "pkh-p2k2", "region_code": "18.71.01"},
            "name",
        ),
        (
            "POST",
            "/api/v1/meetings/batch",
            {"device_id": "1871.0155.0180.0002", "synced_through": NOW.isoformat(), "reports": []},
            "device_id",
        ),
    ],
)
def test_a_nik_anywhere_else_is_refused_naming_the_field_never_echoed(
    client: TestClient, caplog: pytest.LogCaptureFixture, method: str, path: str, body: Any, field: str
) -> None:
    response = client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "https://pantau.id/problems/personal-data"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert "0155" not in response.text
    assert NIK not in response.text
    assert "0155" not in caplog.text
    assert NIK not in caplog.text
    assert stored_reports(client) == set()


def test_a_nik_in_a_batch_item_rejects_that_item_only(client: TestClient) -> None:
    reports = [meeting("r-1", module=f"Modul {NIK}"), meeting(NIK), meeting("r-3", days_ago=1)]
    response = batch(client, reports)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [item["outcome"] for item in results] == ["rejected", "rejected", "created"]
    assert results[0]["problem"]["type"] == "https://pantau.id/problems/personal-data"
    assert results[0]["problem"]["errors"][0]["field"] == "reports[0].module"
    assert results[1]["problem"]["errors"][0]["field"] == "reports[1].report_id"
    assert results[1]["report_id"] is None
    assert NIK not in response.text
    assert stored_reports(client) == {"r-3"}


# ---------- what stays on the phone ----------


def device_row(client: TestClient, device_id: str) -> Any:
    with client.app.state.context.engine.connect() as connection:  # type: ignore[attr-defined]
        return connection.execute(
            text("SELECT pending_count, received_at FROM device_syncs WHERE device_id = :d"), {"d": device_id}
        ).first()


def synced_events(client: TestClient) -> list[DeviceSynced]:
    with client.app.state.context.engine.connect() as connection:  # type: ignore[attr-defined]
        values = connection.execute(text("SELECT message_value FROM outbox ORDER BY id")).scalars().all()
    events = [serde.decode(bytes(value)).event for value in values]
    return [event for event in events if isinstance(event, DeviceSynced)]


def test_the_pending_count_is_kept_with_the_sync_and_carried_on_the_event(client: TestClient) -> None:
    body = {"device_id": "hp-1", "synced_through": NOW.isoformat(), "pending_count": 2, "reports": [meeting("r-1")]}
    answer = client.post("/api/v1/meetings/batch", json=body, headers=PDP_1).json()
    assert answer["pending_count"] == 2
    assert device_row(client, "hp-1").pending_count == 2
    assert [(event.group_id, event.pending_count) for event in synced_events(client)] == [("KLP-1", 2)]

    # This batch's rejected report stays on the phone too: the count the supervisors see includes it.
    # The watermark cannot move (the same claim), yet the new count is still told.
    body = {**body, "pending_count": 0, "reports": [meeting("r-2", led_by="nobody")]}
    answer = client.post("/api/v1/meetings/batch", json=body, headers=PDP_1).json()
    assert answer["watermark_advanced"] is False
    assert answer["pending_count"] == 1
    assert device_row(client, "hp-1").pending_count == 1
    assert [event.pending_count for event in synced_events(client)] == [2, 1]
    assert synced_events(client)[-1].synced_through == synced_events(client)[0].synced_through

    # The same count again with nothing new to claim tells nobody twice.
    client.post("/api/v1/meetings/batch", json=body, headers=PDP_1)
    assert len(synced_events(client)) == 2


def test_a_sync_that_does_not_say_keeps_no_count(client: TestClient) -> None:
    # An older field app sends no count: "unknown", never a count of its rejections alone.
    answer = batch(client, [meeting("r-1"), meeting("r-2", led_by="nobody", days_ago=1)]).json()
    assert answer["pending_count"] is None
    assert device_row(client, "hp-1").pending_count is None
    assert [event.pending_count for event in synced_events(client)] == [None]


@pytest.mark.parametrize(
    "value",
    [-1, 1.5, "3", True, None, 1_000_001],
    ids=["negative", "fraction", "text", "boolean", "null", "implausible"],
)
def test_an_invalid_pending_count_is_a_problem_naming_the_field(client: TestClient, value: Any) -> None:
    body = {"device_id": "hp-1", "synced_through": NOW.isoformat(), "pending_count": value, "reports": [meeting("r-1")]}
    response = client.post("/api/v1/meetings/batch", json=body, headers=PDP_1)
    if value is None:  # `null` is the same as leaving it out
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["pending_count"]
    assert stored_reports(client) == set()
    assert device_row(client, "hp-1") is None
