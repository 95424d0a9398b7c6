"""The thin slice through all four services, each a real process on a real broker:

PUT registry → POST a chair-led meeting → monitoring opens `meeting.facilitator_absent` → the
notifier delivers a signed webhook to the supervisor's URL → analytics counts both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.auth import mint_token
from shared.settings import DEVELOPMENT_WEBHOOK_SECRET, AuthSettings
from tools.stack import Stack
from tools.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


def _recent_report() -> dict[str, object]:
    """A two-hour meeting that ended an hour ago, everyone present, led by the chair."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    return {
        "report_id": "3f0c9a57-5a3c-4d0e-9a38-0d5c1f3b7e21",
        "group_id": "KLP-18710110010001",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=115)).isoformat(),
        "facilitator_present": False,
        "led_by": "chair",
        "module": "Kesehatan dan Gizi",
        "topic": "Pentingnya gizi ibu hamil",
        "attendance": [{"member_ref": ref, "status": "present"} for ref in ("kpm-a", "kpm-b", "kpm-c", "kpm-d")],
        "recorded_at": (started + timedelta(minutes=120)).isoformat(),
        "device_id": "hp-pdp-0001",
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=DEVELOPMENT_WEBHOOK_SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def stack(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(
        bootstrap_servers=kafka_bootstrap,
        workdir=tmp_path / "stack",
        topic_prefix=kafka_topics,
        # The incident's group_wait is minutes in production; a second here keeps the latency visible.
        extra_env={"PANTAU_NOTIFICATIONS_INCIDENT_GROUP_WAIT_SECONDS": "1"},
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_chair_led_meeting_reaches_the_supervisor_and_the_metrics(stack: Stack, receiver: WebhookReceiver) -> None:
    token = mint_token(AuthSettings(), subject="admin-e2e", role="admin", scope="*")
    api = httpx.Client(base_url=f"{stack.url('meetings')}/api/v1", headers={"Authorization": f"Bearer {token}"})
    assert api.put("/regions/18.71", json={"name": "Kota Bandar Lampung"}).status_code == 201
    assert api.put("/regions/18.71.01.1001", json={"name": "Kelurahan Pesawahan"}).status_code == 201
    supervisor = {"name": "Koordinator Kota Bandar Lampung", "level": "kabupaten", "region_code": "18.71"}
    assert api.put("/supervisors/SUP-1871", json={**supervisor, "webhook_url": receiver.url}).status_code == 201
    facilitator = {"name": "Siti Rahmawati", "programme": "pkh-p2k2", "region_code": "18.71.01"}
    assert api.put("/facilitators/PDP-0001", json=facilitator).status_code == 201
    group = {
        "name": "Kelompok Mawar",
        "programme": "pkh-p2k2",
        "facilitator_id": "PDP-0001",
        "region_code": "18.71.01.1001",
        "members": ["kpm-a", "kpm-b", "kpm-c", "kpm-d"],
        "chair_member_ref": "kpm-a",
        "schedule": {"cadence": "monthly", "day_of_month": 10},
    }
    assert api.put("/groups/KLP-18710110010001", json=group).status_code == 201

    report = _recent_report()
    posted_at = time.time()
    first = api.post("/meetings", json=report)
    assert first.status_code == 201, first.text
    repeat = api.post("/meetings", json=report)
    assert repeat.status_code == 200
    assert repeat.json() == first.json()

    delivered = receiver.wait_for(1, timeout=60)
    assert delivered, f"no webhook arrived\n{stack.tail('monitoring')}\n{stack.tail('notifications')}"
    latency = delivered[0].received_at - posted_at
    print(f"report accepted → webhook delivered in {latency:.2f}s (contract: within 5 s when warm)")

    alert = delivered[0]
    assert alert.signature_valid
    assert alert.headers["webhook-id"].startswith("msg_")
    assert alert.headers["webhook-signature"].startswith("v1,")
    body = alert.body
    assert body["type"] == "alert.opened"
    assert body["rule"] == "meeting.facilitator_absent"
    assert body["severity"] == "warning"
    assert body["supervisor_id"] == "SUP-1871"
    assert body["escalation_level"] == "kabupaten"
    assert body["group"] == {"id": "KLP-18710110010001", "name": "Kelompok Mawar"}
    assert body["facilitator"] == {"id": "PDP-0001", "name": "Siti Rahmawati"}
    assert body["region"]["code"] == "18.71.01.1001"
    assert "Siti Rahmawati" in body["message"]["id"]
    assert "ketua kelompok" in body["message"]["id"]
    assert "without facilitator" in body["message"]["en"]
    assert body["ack_url"].endswith(f"/api/v1/alerts/{body['alert_id']}/ack")

    deadline = time.monotonic() + 30
    meetings = opened = None
    while time.monotonic() < deadline:
        text = httpx.get(f"{stack.url('analytics')}/metrics").text
        meetings = _metric(text, "pantau_meetings_recorded_total", programme="pkh-p2k2", province="18")
        opened = _metric(
            text, "pantau_deviations_opened_total", rule="meeting.facilitator_absent", severity="warning", province="18"
        )
        if meetings == 1 and opened == 1:
            break
        time.sleep(0.25)
    assert (meetings, opened) == (1, 1), f"{text}\n{stack.tail('analytics', 80)}"

    # The identical repeat changed nothing downstream: still one alert, one meeting counted.
    time.sleep(1)
    assert len(receiver.accepted) == 1
    for name in ("meetings", "monitoring", "notifications", "analytics"):
        for path in ("/healthz", "/readyz", "/metrics"):
            assert httpx.get(f"{stack.url(name)}{path}").status_code == 200, f"{name}{path}"
