"""The meetings service at its edge, against a real SQLite file: a batch answers item by item and
moves the device's watermark only as far as is true; a device belongs to the facilitator who first
synced it; what the API accepts is exactly what the event contract accepts; no national ID passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.integration.edge_support import NOW, PDP_1, meeting, registry_client

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
    ],
    ids=["null", "string", "number", "list", "bad enum", "wrong type", "null attendance", "unknown group"],
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
