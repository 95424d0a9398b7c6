"""A small registry on a real SQLite file (no broker) and request builders, for the meetings
service's edge tests: batches item by item, devices bound to facilitators, one validation, NIKs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.auth import Role, mint_token
from shared.settings import AuthSettings, KafkaSettings

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def token(role: Role, subject: str, scope: str = "*") -> dict[str, str]:
    """Authorization headers for a locally minted token."""
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), subject=subject, role=role, scope=scope)}"}


ADMIN = token("admin", "admin-1")
PDP_1 = token("facilitator", "PDP-1", "PDP-1")
PDP_2 = token("facilitator", "PDP-2", "PDP-2")


def meeting(report_id: str, *, group_id: str = "KLP-1", days_ago: float = 2, **changes: Any) -> dict[str, Any]:
    """A valid report of a two-hour meeting `days_ago` before NOW."""
    started = NOW - timedelta(days=days_ago)
    return {
        "report_id": report_id,
        "group_id": group_id,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=2)).isoformat(),
        "facilitator_present": True,
        "led_by": "facilitator",
        "attendance": [{"member_ref": "kpm-a", "status": "present"}],
        "recorded_at": (started + timedelta(hours=2)).isoformat(),
        **changes,
    }


def registry_client(database: Path, settings: MeetingsSettings | None = None) -> Iterator[TestClient]:
    """A meetings service on `database` with two facilitators, each with a group (KLP-1, KLP-2)."""
    settings = settings or MeetingsSettings(
        database_url=f"sqlite:///{database}",
        publish_events=False,
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unused."),
    )
    with TestClient(create_app(settings, clock=lambda: NOW), raise_server_exceptions=False) as client:
        for path, body in (
            ("/regions/18.71.01.1001", {"name": "Kelurahan Pesawahan"}),
            ("/facilitators/PDP-1", {"name": "Siti", "programme": "pkh-p2k2", "region_code": "18.71.01"}),
            ("/facilitators/PDP-2", {"name": "Budi", "programme": "pkh-p2k2", "region_code": "18.71.01"}),
            (
                "/groups/KLP-1",
                {
                    "name": "Mawar",
                    "programme": "pkh-p2k2",
                    "facilitator_id": "PDP-1",
                    "region_code": "18.71.01.1001",
                    "members": ["kpm-a", "kpm-b"],
                },
            ),
            (
                "/groups/KLP-2",
                {
                    "name": "Melati",
                    "programme": "pkh-p2k2",
                    "facilitator_id": "PDP-2",
                    "region_code": "18.71.01.1001",
                    "members": ["kpm-c"],
                },
            ),
        ):
            response = client.put(f"/api/v1{path}", json=body, headers=ADMIN)
            assert response.is_success, response.text
        yield client
