"""Offline sync as field apps do it (issue acceptance): the same batch of reports is sent three times
with different chunking, with the broker stopped for part of it. Exactly one stored record and one
event per client id, every event published once the broker is back, per-group order kept."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from shared import serde
from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.integration.test_meetings_outbox import app_client, consume, own_broker, wait_for
from tools.topics import create_topics

pytestmark = pytest.mark.e2e

__all__ = ["own_broker"]  # the fixture, re-used from the outbox tests

ADMIN = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin', role='admin', scope='*')}"}
FACILITATOR = {
    "Authorization": f"Bearer {mint_token(AuthSettings(), subject='PDP-9', role='facilitator', scope='PDP-9')}"
}
GROUPS = ("KLP-A", "KLP-B")


def _reports(count: int) -> list[dict[str, Any]]:
    first = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    reports = []
    for index in range(count):
        group = GROUPS[index % 2]
        started = first + timedelta(days=index)
        reports.append(
            {
                "report_id": f"offline-{index:03d}",
                "group_id": group,
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(hours=2)).isoformat(),
                "facilitator_present": True,
                "led_by": "facilitator",
                "attendance": [{"member_ref": f"{group}-m1", "status": "present"}],
                "recorded_at": (started + timedelta(hours=2, minutes=5)).isoformat(),
                "device_id": "hp-pdp-9",
            }
        )
    return reports


def _sync(client: Any, reports: list[dict[str, Any]], chunk: int, synced_through: str) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for start in range(0, len(reports), chunk):
        body = {"device_id": "hp-pdp-9", "synced_through": synced_through, "reports": reports[start : start + chunk]}
        response = client.post("/api/v1/meetings/batch", json=body, headers=FACILITATOR)
        assert response.status_code == 200, response.text
        outcomes.update(item["outcome"] for item in response.json()["results"])
    return outcomes


def test_the_same_offline_batch_three_times_with_the_broker_down_for_part_of_it(
    tmp_path: Path, own_broker: Any, topic_prefix: str
) -> None:
    bootstrap = own_broker.bootstrap_servers
    create_topics(bootstrap, prefix=topic_prefix)
    reports = _reports(40)
    database = tmp_path / "meetings.db"
    with app_client(database, bootstrap, topic_prefix) as client:
        facilitator = {"name": "Dewi", "programme": "pkh-p2k2", "region_code": "18.71.01"}
        assert client.put("/api/v1/facilitators/PDP-9", json=facilitator, headers=ADMIN).is_success
        for group in GROUPS:
            body = {
                "name": group,
                "programme": "pkh-p2k2",
                "facilitator_id": "PDP-9",
                "region_code": "18.71.01.1001",
                "members": [f"{group}-m1", f"{group}-m2"],
            }
            assert client.put(f"/api/v1/groups/{group}", json=body, headers=ADMIN).is_success
        relay = client.app.state.context.relay  # type: ignore[attr-defined]
        assert relay.wait_until_drained(60)

        # First sync: one chunk of 15 while the broker is up, then the broker goes away mid-sync.
        first = _sync(client, reports[:15], 15, "2026-11-20T00:00:00Z")
        assert relay.wait_until_drained(60)
        own_broker.stop()
        first += _sync(client, reports[15:], 25, "2026-11-20T00:00:00Z")
        assert first == Counter({"created": 40})
        # The phone did not get the answers and sends everything again in chunks of 7, broker still down.
        assert _sync(client, reports, 7, "2026-11-20T00:00:00Z") == Counter({"duplicate": 40})
        own_broker.start()
        # And once more in chunks of 13, after the broker is back.
        assert _sync(client, reports, 13, "2026-11-21T00:00:00Z") == Counter({"duplicate": 40})
        wait_for(lambda: relay.wait_until_drained(1), 90, "the outbox to drain after the broker came back")

    with create_engine(f"sqlite:///{database}").connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM meetings")).scalar_one() == 40

    topic = f"{topic_prefix}meetings.events"

    def recorded(records: list[Any]) -> list[tuple[str, str]]:
        found = []
        for key, value, _message in records:
            decoded = serde.decode(value, key=key.encode())
            if decoded.envelope.type == "meetings.meeting_recorded.v1":
                found.append((key, decoded.event.report_id))  # type: ignore[attr-defined]
        return found

    records = consume(bootstrap, topic, lambda rs: len(set(recorded(rs))) >= 40, timeout=60)
    events = recorded(records)
    per_id = Counter(report_id for _key, report_id in events)
    assert set(per_id) == {report["report_id"] for report in reports}
    assert max(per_id.values()) == 1, f"published more than once: {[i for i, n in per_id.items() if n > 1]}"
    order: dict[str, list[str]] = defaultdict(list)
    for key, report_id in events:
        order[key].append(report_id)
    for group in GROUPS:
        assert order[group] == [r["report_id"] for r in reports if r["group_id"] == group], f"order of {group}"
    synced = [
        serde.decode(value).event
        for _key, value, _message in records
        if serde.decode_envelope(value).type == "meetings.device_synced.v1"
    ]
    # Two distinct watermarks, each fanned out to both groups of the facilitator.
    assert sorted({(e.group_id, e.synced_through.isoformat()) for e in synced}) == sorted(  # type: ignore[attr-defined]
        (group, moment) for group in GROUPS for moment in ("2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00")
    )
