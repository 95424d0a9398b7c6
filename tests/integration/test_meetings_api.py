"""The meetings HTTP API against a real SQLite file (no broker: `publish_events=False`).

Registry upserts, `POST /api/v1/meetings` validation, idempotency, authorisation, problem details,
concurrency on one `report_id`, and the NIK never reaching the store.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.auth import Role, mint_token
from shared.settings import AuthSettings, KafkaSettings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
PROBLEM_JSON = "application/problem+json"
VILLAGE = "18.71.01.1001"
FACILITATOR = "PDP-0001"
OTHER_FACILITATOR = "PDP-0002"
GROUP = "G-MAWAR"
OTHER_GROUP = "G-MELATI"
MEMBERS = ["m-01", "m-02", "m-03", "m-04"]
NIK_MEMBER = "3171234567890123"
NIK_BARE = "1871011234567890"
NIK_ATTENDANCE_ONLY = "3201020304050607"  # not a member: used for a refused attendance entry
SIXTEEN_DIGITS = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")


def token(role: Role, subject: str = "tester", scope: str = "*") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), subject=subject, role=role, scope=scope)}"}


ADMIN = token("admin", "admin-1")


def settings_for(db_path: Path, **overrides: Any) -> MeetingsSettings:
    return MeetingsSettings(
        database_url=f"sqlite:///{db_path}",
        publish_events=False,
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unused."),
        **overrides,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "meetings.db"


@pytest.fixture
def make_client(db_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Builds clients on this test's SQLite file (optionally with a clock and setting overrides)."""
    opened: list[TestClient] = []

    def build(clock: Callable[[], datetime] | None = None, **overrides: Any) -> TestClient:
        app = create_app(settings_for(db_path, **overrides), clock=clock or (lambda: NOW))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with the status (and the named field among its errors)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    if field is not None:
        fields = [error["field"] for error in body.get("errors", [])]
        assert field in fields, body
    return body


def put(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> httpx.Response:
    return client.put(f"/api/v1{path}", json=body, headers=headers)


def seed_registry(client: TestClient) -> None:
    """Province → village, a kabupaten supervisor, two facilitators, two groups."""
    for code, name in (
        ("18", "Lampung"),
        ("18.71", "Kota Bandar Lampung"),
        ("18.71.01", "Kedaton"),
        (VILLAGE, "Pesawahan"),
    ):
        assert put(client, f"/regions/{code}", {"name": name}).status_code == 201
    supervisor = {"name": "Budi", "level": "kabupaten", "region_code": "18.71", "language": "id"}
    assert put(client, "/supervisors/SUP-1871", supervisor).status_code == 201
    for facilitator_id, name in ((FACILITATOR, "Siti Rahmawati"), (OTHER_FACILITATOR, "Agus")):
        body = {"name": name, "programme": "pkh-p2k2", "region_code": "18.71"}
        assert put(client, f"/facilitators/{facilitator_id}", body).status_code == 201
    for group_id, facilitator_id in ((GROUP, FACILITATOR), (OTHER_GROUP, OTHER_FACILITATOR)):
        body = group_body(facilitator_id=facilitator_id)
        assert put(client, f"/groups/{group_id}", body).status_code == 201


def group_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Kelompok Mawar",
        "programme": "pkh-p2k2",
        "facilitator_id": FACILITATOR,
        "region_code": VILLAGE,
        "members": list(MEMBERS),
        "chair_member_ref": MEMBERS[0],
        "schedule": {"cadence": "monthly", "day_of_month": 10},
    }
    body.update(overrides)
    return body


def meeting(report_id: str = "R-0001", group_id: str = GROUP, **overrides: Any) -> dict[str, Any]:
    start = NOW - timedelta(hours=3)
    body: dict[str, Any] = {
        "report_id": report_id,
        "group_id": group_id,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=1, minutes=30)).isoformat(),
        "facilitator_present": True,
        "led_by": "facilitator",
        "module": "Modul 2: Pengelolaan keuangan",
        "topic": "Menabung untuk pendidikan anak",
        "attendance": [
            {"member_ref": "m-01", "status": "present"},
            {"member_ref": "m-02", "status": "absent"},
            {"member_ref": "m-03", "status": "excused"},
        ],
        "recorded_at": (start + timedelta(hours=2)).isoformat(),
        "device_id": "dev-android-01",
    }
    body.update(overrides)
    return body


def post_meeting(client: TestClient, body: Any, headers: dict[str, str] = ADMIN) -> httpx.Response:
    return client.post("/api/v1/meetings", json=body, headers=headers)


def rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


def test_region_upsert_created_updated_unchanged(client: TestClient) -> None:
    first = put(client, "/regions/18", {"name": "Lampung"})
    assert first.status_code == 201
    assert first.json() == {"id": "18", "outcome": "created"}

    same = put(client, "/regions/18", {"name": "Lampung", "level": "provinsi"})
    assert same.status_code == 200
    assert same.json() == {"id": "18", "outcome": "unchanged"}

    renamed = put(client, "/regions/18", {"name": "Provinsi Lampung"})
    assert renamed.status_code == 200
    assert renamed.json() == {"id": "18", "outcome": "updated"}


@pytest.mark.parametrize(
    ("code", "body", "field"),
    [
        ("18.71", {"name": "x", "level": "provinsi"}, "level"),
        ("18.71.01.1001", {"name": "x", "level": "kecamatan"}, "level"),
        ("18.71", {"name": "x", "parent_code": "17"}, "parent_code"),
        ("18.71.01", {"name": "x", "parent_code": "18"}, "parent_code"),
        ("99", {"name": "x"}, "code"),
        ("18", {"name": "x", "level": "negara"}, "level"),
        ("18", {"name": ""}, "name"),
        ("18", {"name": "x", "surprise": 1}, "surprise"),
    ],
)
def test_region_level_and_parent_must_follow_from_the_code(
    client: TestClient, code: str, body: dict[str, Any], field: str
) -> None:
    assert_problem(put(client, f"/regions/{code}", body), 422, field)


def test_region_with_matching_level_and_parent_is_accepted(client: TestClient) -> None:
    response = put(client, "/regions/18.71.01", {"name": "Kedaton", "level": "kecamatan", "parent_code": "18.71"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "S", "level": "kabupaten"}, "region_code"),
        ({"name": "S", "level": "kabupaten", "region_code": "18"}, "region_code"),
        ({"name": "S", "level": "kabupaten", "region_code": "18.71.01"}, "region_code"),
        ({"name": "S", "level": "provinsi", "region_code": "18.71"}, "region_code"),
        ({"name": "S", "level": "provinsi"}, "region_code"),
        ({"name": "S", "level": "provinsi", "region_code": "99"}, "region_code"),
        ({"name": "S", "level": "desa", "region_code": VILLAGE}, "level"),
        ({"name": "S", "level": "kabupaten", "region_code": "18.71", "language": "fr"}, "language"),
        ({"name": "S", "level": "kabupaten", "region_code": "18.71", "email": "nope"}, "email"),
    ],
)
def test_supervisor_region_must_fit_level(client: TestClient, body: dict[str, Any], field: str) -> None:
    assert_problem(put(client, "/supervisors/SUP-X", body), 422, field)


def test_supervisor_levels_accepted_and_nasional_needs_no_region(client: TestClient) -> None:
    kabupaten = {"name": "Budi", "level": "kabupaten", "region_code": "18.71", "webhook_url": "https://hook.example/a"}
    assert put(client, "/supervisors/SUP-1871", kabupaten).status_code == 201
    provinsi = {"name": "Wati", "level": "provinsi", "region_code": "18", "language": "en"}
    assert put(client, "/supervisors/SUP-18", provinsi).status_code == 201
    nasional = {"name": "Pusat", "level": "nasional"}
    created = put(client, "/supervisors/SUP-ID", nasional)
    assert created.status_code == 201, created.text
    assert created.json() == {"id": "SUP-ID", "outcome": "created"}

    again = put(client, "/supervisors/SUP-1871", kabupaten)
    assert again.status_code == 200
    assert again.json()["outcome"] == "unchanged"
    assert put(client, "/supervisors/SUP-ID", nasional).json()["outcome"] == "unchanged"
    changed = put(client, "/supervisors/SUP-1871", {**kabupaten, "language": "en"})
    assert changed.status_code == 200
    assert changed.json()["outcome"] == "updated"


def test_facilitator_and_group_upserts(client: TestClient) -> None:
    seed_registry(client)
    facilitator = {"name": "Siti Rahmawati", "programme": "pkh-p2k2", "region_code": "18.71"}
    unchanged = put(client, f"/facilitators/{FACILITATOR}", facilitator)
    assert unchanged.status_code == 200
    assert unchanged.json() == {"id": FACILITATOR, "outcome": "unchanged"}
    updated = put(client, f"/facilitators/{FACILITATOR}", {**facilitator, "phone": "+62 812 3456 7890"})
    assert updated.json() == {"id": FACILITATOR, "outcome": "updated"}

    same_group = put(client, f"/groups/{GROUP}", group_body())
    assert same_group.status_code == 200
    assert same_group.json() == {"id": GROUP, "outcome": "unchanged"}
    more_members = put(client, f"/groups/{GROUP}", group_body(members=[*MEMBERS, "m-05"]))
    assert more_members.status_code == 200
    assert more_members.json() == {"id": GROUP, "outcome": "updated"}


def test_group_with_unknown_facilitator(client: TestClient) -> None:
    seed_registry(client)
    assert_problem(put(client, "/groups/G-NEW", group_body(facilitator_id="PDP-9999")), 422, "facilitator_id")


def test_group_chair_must_be_a_member(client: TestClient) -> None:
    seed_registry(client)
    assert_problem(put(client, "/groups/G-NEW", group_body(chair_member_ref="m-99")), 422, "chair_member_ref")


@pytest.mark.parametrize(
    ("members", "field"),
    [
        (["m-01", "m-02", "m-01"], "members[2]"),
        (["m-01", NIK_BARE, {"nik": NIK_BARE}], "members[2]"),
        ([{"nik": NIK_MEMBER}, {"nik": NIK_MEMBER}], "members[1]"),
    ],
)
def test_group_duplicate_member(client: TestClient, members: list[Any], field: str) -> None:
    seed_registry(client)
    body = group_body(members=members, chair_member_ref=None)
    assert_problem(put(client, "/groups/G-NEW", body), 422, field)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region_code": "18.71"}, "region_code"),
        ({"region_code": "99.71.01.1001"}, "region_code"),
        ({"members": [{"nik": "12345"}]}, "members[0]"),
        ({"schedule": {"cadence": "monthly", "day_of_month": 31}}, "schedule.day_of_month"),
    ],
)
def test_group_field_checks(client: TestClient, overrides: dict[str, Any], field: str) -> None:
    seed_registry(client)
    response = put(client, "/groups/G-NEW", group_body(**{"chair_member_ref": None, **overrides}))
    body = assert_problem(response, 422)
    assert any(error["field"].startswith(field) for error in body["errors"]), body


def test_registry_is_admin_only(client: TestClient) -> None:
    region = {"name": "Lampung"}
    assert_problem(put(client, "/regions/18", region, headers={}), 401)
    assert_problem(put(client, "/regions/18", region, headers=token("supervisor", "SUP-1871", "18.71")), 403)
    assert_problem(put(client, "/regions/18", region, headers=token("facilitator", FACILITATOR, FACILITATOR)), 403)


# --------------------------------------------------------------------------------------------------
# POST /meetings
# --------------------------------------------------------------------------------------------------


def test_meeting_created_then_identical_repeat_is_200_with_identical_body(client: TestClient) -> None:
    seed_registry(client)
    first = post_meeting(client, meeting())
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["report_id"] == "R-0001"
    assert body["group_id"] == GROUP
    assert body["status"] == "recorded"
    assert body["present_count"] == 1
    assert body["member_count"] == len(MEMBERS)

    repeat = post_meeting(client, meeting())
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == body
    assert repeat.content == first.content


def test_identical_repeat_is_recognised_after_a_restart(make_client: Callable[..., TestClient]) -> None:
    first_client = make_client()
    seed_registry(first_client)
    first = post_meeting(first_client, meeting())
    assert first.status_code == 201
    later = make_client(clock=lambda: NOW + timedelta(hours=1))
    repeat = post_meeting(later, meeting())
    assert repeat.status_code == 200
    assert repeat.json() == first.json()


def test_same_report_id_with_another_body(client: TestClient) -> None:
    seed_registry(client)
    assert post_meeting(client, meeting()).status_code == 201
    assert_problem(post_meeting(client, meeting(topic="Something else")), 422, "report_id")
    assert_problem(post_meeting(client, meeting(group_id=OTHER_GROUP)), 422, "report_id")


def test_unknown_group(client: TestClient) -> None:
    seed_registry(client)
    assert_problem(post_meeting(client, meeting(group_id="G-NOPE")), 422, "group_id")


def test_attendance_of_a_non_member(client: TestClient) -> None:
    seed_registry(client)
    body = meeting(attendance=[{"member_ref": "m-99", "status": "present"}])
    assert_problem(post_meeting(client, body), 422, "attendance[0].member_ref")
    by_nik = meeting(attendance=[{"member_ref": {"nik": NIK_ATTENDANCE_ONLY}, "status": "present"}])
    assert_problem(post_meeting(client, by_nik), 422, "attendance[0].member_ref")


def test_attendance_listed_twice(client: TestClient) -> None:
    seed_registry(client)
    body = meeting(attendance=[{"member_ref": "m-01", "status": "present"}, {"member_ref": "m-01", "status": "absent"}])
    assert_problem(post_meeting(client, body), 422, "attendance[1].member_ref")


def test_meeting_that_ends_before_it_starts(client: TestClient) -> None:
    seed_registry(client)
    start = NOW - timedelta(hours=3)
    body = meeting(ended_at=(start - timedelta(minutes=1)).isoformat())
    assert_problem(post_meeting(client, body), 422, "ended_at")
    assert_problem(post_meeting(client, meeting(ended_at=start.isoformat())), 422, "ended_at")


def test_meeting_in_the_future_beyond_the_clock_skew(make_client: Callable[..., TestClient]) -> None:
    clock_now = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
    client = make_client(clock=lambda: clock_now, clock_skew_seconds=300)
    seed_registry(client)
    start = clock_now + timedelta(minutes=10)
    future = meeting(
        started_at=start.isoformat(),
        ended_at=(start + timedelta(hours=1)).isoformat(),
        recorded_at=(start + timedelta(hours=1)).isoformat(),
    )
    assert_problem(post_meeting(client, future), 422, "started_at")

    # Within the skew: a device clock 4 minutes fast is accepted.
    end = clock_now + timedelta(minutes=4)
    slightly_fast = meeting(
        report_id="R-FAST",
        started_at=(end - timedelta(hours=1)).isoformat(),
        ended_at=end.isoformat(),
        recorded_at=end.isoformat(),
    )
    assert post_meeting(client, slightly_fast).status_code == 201

    # Only the device's recorded_at is ahead: named as such.
    recorded_late = meeting(report_id="R-LATE", recorded_at=(clock_now + timedelta(hours=1)).isoformat())
    assert_problem(post_meeting(client, recorded_late), 422, "recorded_at")


@pytest.mark.parametrize("field", ["started_at", "ended_at", "recorded_at"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T99:00:00+07:00", "2026-11-10T09:00:00", None])
def test_malformed_datetime_names_the_field(client: TestClient, field: str, value: Any) -> None:
    seed_registry(client)
    assert_problem(post_meeting(client, meeting(**{field: value})), 422, field)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"led_by": "ketua"}, "led_by"),
        ({"facilitator_present": "perhaps"}, "facilitator_present"),
        ({"attendance": [{"member_ref": "m-01", "status": "late"}]}, "attendance[0].status"),
        ({"report_id": "has space"}, "report_id"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"module": "x" * 201}, "module"),
    ],
)
def test_other_invalid_fields(client: TestClient, overrides: dict[str, Any], field: str) -> None:
    seed_registry(client)
    assert_problem(post_meeting(client, meeting(**overrides)), 422, field)


def test_non_json_and_non_object_bodies_are_problems(client: TestClient) -> None:
    seed_registry(client)
    headers = {**ADMIN, "content-type": "application/json"}
    assert_problem(client.post("/api/v1/meetings", content=b"{not json", headers=headers), 422)
    assert_problem(client.post("/api/v1/meetings", content=b"[1, 2]", headers=headers), 422)
    assert_problem(client.post("/api/v1/meetings", content=b"", headers=headers), 422)


def test_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=4096)
    seed_registry(client)
    big = meeting(topic="x" * 400, device_id="d" * 100, attendance=[{"member_ref": "m-01", "status": "present"}] * 200)
    assert_problem(post_meeting(client, big), 413)
    # Under the limit the same client is fine.
    assert post_meeting(client, meeting()).status_code == 201


def test_chunked_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    """A body without Content-Length (chunked transfer) is refused the same way as a declared one."""
    client = make_client(max_body_bytes=4096)
    seed_registry(client)
    payload = (b'{"report_id": "R-BIG", "topic": "' + b"y" * 8000 + b'"}',)
    chunked = client.post(
        "/api/v1/meetings", content=iter(payload), headers={**ADMIN, "content-type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in chunked.request.headers}
    assert_problem(chunked, 413)


def test_missing_or_invalid_token_is_401(client: TestClient) -> None:
    seed_registry(client)
    assert_problem(post_meeting(client, meeting(), headers={}), 401)
    assert_problem(post_meeting(client, meeting(), headers={"Authorization": "Bearer not-a-jwt"}), 401)
    assert_problem(post_meeting(client, meeting(), headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
    foreign = mint_token(
        AuthSettings(jwt_secret="another-secret-of-enough-length"), subject="x", role="admin", scope="*"
    )
    assert_problem(post_meeting(client, meeting(), headers={"Authorization": f"Bearer {foreign}"}), 401)
    expired = mint_token(
        AuthSettings(), subject="x", role="admin", scope="*", now=datetime.now(UTC) - timedelta(days=2)
    )
    assert_problem(post_meeting(client, meeting(), headers={"Authorization": f"Bearer {expired}"}), 401)
    assert rows(client_db(client), "SELECT count(*) FROM meetings") == [(0,)]


def client_db(client: TestClient) -> Path:
    url = client.app.state.context.settings.database_url  # type: ignore[attr-defined]
    return Path(url.split("///", 1)[1])


def test_supervisor_may_not_report(client: TestClient) -> None:
    seed_registry(client)
    assert_problem(post_meeting(client, meeting(), headers=token("supervisor", "SUP-1871", "18.71")), 403)


def test_facilitator_reports_only_for_own_groups(client: TestClient) -> None:
    seed_registry(client)
    own = token("facilitator", FACILITATOR, FACILITATOR)
    assert_problem(post_meeting(client, meeting(group_id=OTHER_GROUP), headers=own), 403)
    created = post_meeting(client, meeting(group_id=GROUP), headers=own)
    assert created.status_code == 201, created.text


def test_facilitator_cannot_replay_another_facilitators_report(client: TestClient) -> None:
    """An identical replay of a foreign group's report must be refused like a new one, not answered
    with that group's stored result (authorisation must not depend on whether the id is known)."""
    seed_registry(client)
    owner = token("facilitator", OTHER_FACILITATOR, OTHER_FACILITATOR)
    report = meeting(report_id="R-OTHER", group_id=OTHER_GROUP)
    assert post_meeting(client, report, headers=owner).status_code == 201
    intruder = token("facilitator", FACILITATOR, FACILITATOR)
    assert_problem(post_meeting(client, report, headers=intruder), 403)


def test_concurrent_identical_reports(client: TestClient, db_path: Path) -> None:
    seed_registry(client)
    body = meeting(report_id="R-CONCURRENT")
    barrier = threading.Barrier(20)

    def send(_: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return post_meeting(client, body)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 19 + [201], [(r.status_code, r.text) for r in responses]
    bodies = {response.content for response in responses}
    assert len(bodies) == 1, bodies
    assert rows(db_path, "SELECT count(*) FROM meetings WHERE report_id = 'R-CONCURRENT'") == [(1,)]
    recorded = [
        (key, document["data"]["report_id"])
        for key, value in rows(db_path, "SELECT message_key, message_value FROM outbox")
        if (document := orjson.loads(value))["type"] == "meetings.meeting_recorded.v1"
    ]
    assert recorded == [(GROUP, "R-CONCURRENT")]


# --------------------------------------------------------------------------------------------------
# Privacy: a NIK never reaches the store
# --------------------------------------------------------------------------------------------------


def _every_stored_text(db_path: Path) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every non-null cell of every table in the SQLite file."""
    connection = sqlite3.connect(db_path)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells: list[tuple[str, str, str]] = []
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [description[0] for description in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    cells.append((table, column, text))
        return cells
    finally:
        connection.close()


def test_nik_is_pseudonymised_and_never_stored(client: TestClient, db_path: Path) -> None:
    seed_registry(client)
    members = ["m-01", {"nik": NIK_MEMBER}, NIK_BARE]
    response = put(client, "/groups/G-NIK", group_body(members=members, chair_member_ref={"nik": NIK_MEMBER}))
    assert response.status_code == 201, response.text

    body = meeting(
        report_id="R-NIK",
        group_id="G-NIK",
        attendance=[
            {"member_ref": {"nik": NIK_MEMBER}, "status": "present"},
            {"member_ref": NIK_BARE, "status": "absent"},
            {"member_ref": "m-01", "status": "present"},
        ],
    )
    created = post_meeting(client, body)
    assert created.status_code == 201, created.text
    assert created.json()["present_count"] == 2
    assert created.json()["member_count"] == 3
    assert post_meeting(client, body).status_code == 200
    # The same person by NIK in either form is the same member: listed twice is refused.
    twice = meeting(
        report_id="R-NIK-2",
        group_id="G-NIK",
        attendance=[
            {"member_ref": {"nik": NIK_BARE}, "status": "present"},
            {"member_ref": NIK_BARE, "status": "present"},
        ],
    )
    assert_problem(post_meeting(client, twice), 422, "attendance[1].member_ref")
    for text in (created.text, response.text):
        assert NIK_MEMBER not in text
        assert NIK_BARE not in text

    stored_refs = rows(db_path, "SELECT member_refs, chair_member_ref FROM groups WHERE id = 'G-NIK'")
    refs_text, chair = stored_refs[0]
    assert chair.startswith("kpm-")
    assert refs_text.count("kpm-") == 2

    outbox_values = rows(db_path, "SELECT message_value FROM outbox")
    assert len(outbox_values) >= 2  # the group event and the meeting event, at least
    for (value,) in outbox_values:
        assert isinstance(value, bytes)
        text = value.decode()
        assert NIK_MEMBER not in text
        assert NIK_BARE not in text
        assert not SIXTEEN_DIGITS.search(text), text

    cells = _every_stored_text(db_path)
    assert any(table == "meetings" for table, _, _ in cells)
    for table, column, text in cells:
        assert NIK_MEMBER not in text, (table, column)
        assert NIK_BARE not in text, (table, column)
        if (table, column) == ("meetings", "body_sha256"):
            # A hex digest may contain 16 decimal digits in a row by chance; it is not a NIK.
            assert re.fullmatch(r"[0-9a-f]{64}", text), text
            continue
        assert not SIXTEEN_DIGITS.search(text), (table, column, text)


@pytest.mark.parametrize("field", ["module", "topic"])
@pytest.mark.parametrize("text", [f"Kunjungan {NIK_MEMBER}", f"nik:{NIK_BARE}.", NIK_MEMBER])
def test_nik_shaped_text_is_refused(client: TestClient, db_path: Path, field: str, text: str) -> None:
    seed_registry(client)
    body = assert_problem(post_meeting(client, meeting(**{field: text})), 422, field)
    assert NIK_MEMBER not in str(body)
    assert NIK_BARE not in str(body)
    assert rows(db_path, "SELECT count(*) FROM meetings") == [(0,)]


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "kafka": True}
