"""The meetings service's side of the field app, against a real SQLite file (no broker): enrolment
links and their expiry, the worklist's scope, members' display names that never reach an event, the
heartbeat sync with nothing to send, and the shell served with its version."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.auth import Role, mint_token
from shared.settings import AuthSettings, KafkaSettings

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
NIK = "1871015501800002"


def token(role: Role, subject: str, scope: str = "*") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), subject=subject, role=role, scope=scope)}"}


ADMIN = token("admin", "admin-1")


class Clock:
    """The service's injected clock; a test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    settings = MeetingsSettings(
        database_url=f"sqlite:///{tmp_path / 'meetings.db'}",
        publish_events=False,
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unused."),
    )
    with TestClient(create_app(settings, clock=clock)) as client:
        for path, body in (
            ("/regions/18.71.01.1001", {"name": "Kelurahan Pesawahan"}),
            ("/facilitators/PDP-1", {"name": "Siti Rahmawati", "programme": "pkh-p2k2", "region_code": "18.71.01"}),
            ("/facilitators/PDP-2", {"name": "Agus Santoso", "programme": "pkh-p2k2", "region_code": "18.71.01"}),
            (
                "/groups/G-1",
                {
                    "name": "Kelompok Mawar",
                    "programme": "pkh-p2k2",
                    "facilitator_id": "PDP-1",
                    "region_code": "18.71.01.1001",
                    "members": [
                        {"member_ref": "m-1", "display_name": "Ibu Sari"},
                        {"nik": NIK, "display_name": "Ibu Yuli (RT 03)"},
                        "m-3",
                    ],
                    "chair_member_ref": "m-1",
                    "schedule": {"cadence": "monthly", "day_of_month": 10},
                },
            ),
        ):
            response = client.put(f"/api/v1{path}", json=body, headers=ADMIN)
            assert response.is_success, response.text
        yield client


def _enrol(client: TestClient, **body: Any) -> Any:
    return client.post("/api/v1/facilitators/PDP-1/enrolments", json=body, headers=ADMIN)


def test_an_admin_link_signs_one_facilitator_in_until_it_expires(client: TestClient, clock: Clock) -> None:
    link = _enrol(client, valid_hours=2)
    assert link.status_code == 201, link.text
    document = link.json()
    assert document["url"].startswith("http://testserver/app/#masuk=")
    assert document["expires_at"] == "2026-11-03T03:00:00Z"
    exchanged = client.post("/api/v1/enrolments/exchange", json={"code": document["code"]})
    assert exchanged.status_code == 200, exchanged.text
    session = exchanged.json()
    assert (session["facilitator_id"], session["facilitator_name"]) == ("PDP-1", "Siti Rahmawati")
    assert session["expires_at"] == "2026-12-08T01:00:00Z"  # 35 days: a month offline
    # The device token is the facilitator's own (read without the library's wall-clock expiry check).
    claims = jwt.decode(
        session["token"],
        AuthSettings().jwt_secret,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_aud": False},
    )
    assert (claims["sub"], claims["role"], claims["scope"]) == ("PDP-1", "facilitator", "PDP-1")
    assert claims["exp"] == int(datetime(2026, 12, 8, 1, 0, tzinfo=UTC).timestamp())
    # The code is not a bearer token.
    assert (
        client.get(
            "/api/v1/facilitators/PDP-1/worklist", headers={"Authorization": f"Bearer {document['code']}"}
        ).status_code
        == 401
    )

    clock.now = START + timedelta(hours=2, seconds=1)
    expired = client.post("/api/v1/enrolments/exchange", json={"code": document["code"]})
    assert expired.status_code == 401
    assert expired.json()["errors"] == [{"field": "code", "message": "code expired"}]
    forged = client.post("/api/v1/enrolments/exchange", json={"code": document["code"][:-4] + "AAAA"})
    assert forged.status_code == 401


def test_only_an_admin_mints_links_and_only_for_a_known_facilitator(client: TestClient) -> None:
    facilitator = token("facilitator", "PDP-1", "PDP-1")
    assert client.post("/api/v1/facilitators/PDP-1/enrolments", json={}, headers=facilitator).status_code == 403
    unknown = client.post("/api/v1/facilitators/PDP-9/enrolments", json={}, headers=ADMIN)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "facilitator_id"


def test_the_worklist_is_the_facilitators_own_with_names_and_modules(client: TestClient) -> None:
    own = client.get("/api/v1/facilitators/PDP-1/worklist", headers=token("facilitator", "PDP-1", "PDP-1"))
    assert own.status_code == 200, own.text
    worklist = own.json()
    assert worklist["time_zone"] == "Asia/Jakarta"
    assert "Kesehatan dan Gizi" in worklist["programmes"]["pkh-p2k2"]["modules"]
    (group,) = worklist["groups"]
    names = [(m["member_ref"][:4], m["display_name"]) for m in group["members"]]
    assert names == [("m-1", "Ibu Sari"), ("kpm-", "Ibu Yuli (RT 03)"), ("m-3", None)]
    assert NIK not in own.text
    assert [s["period"] for s in group["scheduled"]] == ["2026-11", "2026-12"]
    assert group["scheduled"][0]["due_at"] == "2026-11-10T16:59:59Z"
    for other in (token("facilitator", "PDP-2", "PDP-2"), token("supervisor", "SUP-1", "18.71")):
        assert client.get("/api/v1/facilitators/PDP-1/worklist", headers=other).status_code == 403
    assert client.get("/api/v1/facilitators/PDP-1/worklist", headers=ADMIN).status_code == 200


def test_display_names_stay_in_the_store_and_refuse_a_nik(client: TestClient, tmp_path: Path) -> None:
    with create_engine(f"sqlite:///{tmp_path / 'meetings.db'}").connect() as connection:
        events = connection.execute(text("SELECT message_value FROM outbox")).scalars().all()
    assert events
    assert not any(b"Ibu Sari" in value or b"Ibu Yuli" in value for value in events)
    refused = client.put(
        "/api/v1/groups/G-2",
        json={
            "name": "Kelompok Melati",
            "programme": "pkh-p2k2",
            "facilitator_id": "PDP-1",
            "region_code": "18.71.01.1001",
            "members": [{"member_ref": "m-9", "display_name": f"Ibu {NIK}"}],
        },
        headers=ADMIN,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "members[0].display_name"


def test_a_sync_with_nothing_to_send_is_a_heartbeat(client: TestClient, tmp_path: Path) -> None:
    body = {"device_id": "hp-1", "synced_through": "2026-11-03T00:59:00Z", "reports": []}
    response = client.post("/api/v1/meetings/batch", json=body, headers=token("facilitator", "PDP-1", "PDP-1"))
    assert response.status_code == 200, response.text
    assert response.json()["watermark_advanced"] is True
    assert response.json()["results"] == []
    with create_engine(f"sqlite:///{tmp_path / 'meetings.db'}").connect() as connection:
        stored = connection.execute(text("SELECT facilitator_id FROM device_syncs WHERE device_id = 'hp-1'")).all()
        values = connection.execute(text("SELECT message_value FROM outbox")).scalars().all()
    synced = sum(1 for value in values if b"meetings.device_synced.v1" in value)
    assert stored == [("PDP-1",)]
    assert synced == 1  # one per group of the facilitator


def test_the_shell_is_served_with_its_version(client: TestClient) -> None:
    worker = client.get("/app/sw.js", headers={"Accept-Encoding": "gzip"})
    assert worker.status_code == 200
    version = worker.headers["x-app-version"]
    assert f'const VERSION = "{version}"' in worker.text
    assert '"./js/main.js"' in worker.text
    page = client.get("/app/", headers={"Accept-Encoding": "identity"})
    assert f'content="{version}"' in page.text
    assert page.headers["content-type"].startswith("text/html")
    raw = client.get("/app/app.css", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert client.get("/app/manifest.webmanifest").headers["content-type"] == "application/manifest+json"
    assert client.get("/app/../services/meetings/settings.py").status_code == 404
    assert client.get("/app/nothing.js").status_code == 404
    assert len(gzip.compress(page.content)) < 150 * 1024
