"""No raw national ID (NIK) anywhere after a full run: not on any topic, not in any store, not in
any log line. NIKs enter only at the edge (the meetings API) and become pseudonyms there or are
refused; a NIK planted in every field of every request, whole or grouped, is found nowhere after."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.e2e.privacy_support import (
    SIXTEEN_DIGITS,
    all_records,
    database_rows,
    planted_found,
    planted_requests,
    setup_requests,
)
from tools.stack import Stack
from tools.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

NIKS = [f"18710{index:02d}50587000{index % 10}" for index in range(1, 9)]


@pytest.fixture
def stack(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(bootstrap_servers=kafka_bootstrap, workdir=tmp_path / "stack", topic_prefix=kafka_topics)
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()


def test_no_national_id_on_topics_in_stores_or_logs(stack: Stack, kafka_bootstrap: str, kafka_topics: str) -> None:
    receiver = WebhookReceiver().start()
    try:
        token = mint_token(AuthSettings(), subject="admin", role="admin", scope="*")
        api = httpx.Client(base_url=f"{stack.url('meetings')}/api/v1", headers={"Authorization": f"Bearer {token}"})
        supervisor = {"name": "S", "level": "kabupaten", "region_code": "18.71", "webhook_url": receiver.url}
        assert api.put("/supervisors/SUP-P", json=supervisor).is_success
        assert api.put(
            "/facilitators/PDP-P", json={"name": "F", "programme": "pkh-p2k2", "region_code": "18.71.01"}
        ).is_success
        members = [{"nik": nik} for nik in NIKS[:4]] + [NIKS[4]]  # as objects and as a bare 16-digit ref
        group = {
            "name": "Kelompok Privasi",
            "programme": "pkh-p2k2",
            "facilitator_id": "PDP-P",
            "region_code": "18.71.01.1001",
            "members": members,
            "chair_member_ref": {"nik": NIKS[0]},
        }
        assert api.put("/groups/KLP-P", json=group).is_success, "group"
        # "Now" as the stack's own clock says it (its answers' Date header), not the test's.
        server_now = parsedate_to_datetime(api.get("/facilitators/nobody").headers["date"]).astimezone(UTC)
        started = server_now - timedelta(hours=3)
        report = {
            "report_id": "privacy-1",
            "group_id": "KLP-P",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(minutes=30)).isoformat(),
            "facilitator_present": False,
            "led_by": "chair",
            "attendance": [
                {"member_ref": {"nik": NIKS[1]}, "status": "present"},
                {"member_ref": NIKS[4], "status": "absent"},
            ],
            "recorded_at": (started + timedelta(minutes=40)).isoformat(),
        }
        assert api.post("/meetings", json=report).status_code == 201
        # Bad input carrying NIKs must not leak them through error messages or logs either.
        assert (
            api.post("/meetings", json={**report, "report_id": "privacy-2", "topic": f"KPM {NIKS[5]}"}).status_code
            == 422
        )
        bad_member = {
            **report,
            "report_id": "privacy-3",
            "attendance": [{"member_ref": {"nik": NIKS[6]}, "status": "present"}],
        }
        response = api.post("/meetings", json=bad_member)
        assert response.status_code == 422
        assert NIKS[6] not in response.text
        # A fuzzing-style run: a NIK planted in every field of every request, whole or grouped.
        for method, path, body in setup_requests():
            assert api.request(method, path, json=body).is_success, path
        requests, planted = planted_requests(server_now)
        answers = Counter()
        for method, path, body in requests:
            response = api.request(method, path, json=body)
            assert response.status_code < 500, (method, path, response.text)
            assert not planted_found(response.content, planted), (method, path, response.text)
            answers[response.status_code] += 1
        assert answers[422] >= len(requests) // 2, answers  # most are refused; member fields are pseudonymised
        assert receiver.wait_for(1, timeout=60), "the chair-led meeting should have reached the supervisor"
        time.sleep(2)  # let analytics and the projections finish
    finally:
        receiver.stop()

    offenders: list[str] = []
    for record in all_records(kafka_bootstrap, kafka_topics):
        if SIXTEEN_DIGITS.search(record) or planted_found(record, planted):
            offenders.append(f"topic record: {record[:120]!r}")
    for where, text in database_rows(stack.workdir):
        if SIXTEEN_DIGITS.search(text) or planted_found(text, planted):
            offenders.append(f"{where}: {text[:120]!r}")
    for log in stack.workdir.rglob("*.log"):
        for line in log.read_bytes().splitlines():
            if any(nik.encode() in line for nik in NIKS) or planted_found(line, planted):
                offenders.append(f"{log.name}: {line[:160]!r}")
    assert offenders == []
