"""A small field-app world for screenshots, the field-app benchmark and the browser tests: one
facilitator in Kota Bandar Lampung with two PKH groups whose members have display names, a plan,
registered through the public API as an admin would; and the meetings service started on its own
(no broker needed) to serve it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from shared.auth import mint_token
from shared.settings import AuthSettings
from tools.stack import REPO_ROOT, free_port

FACILITATOR_ID = "PDP-0001"
MAWAR = "KLP-18710110010001"
MELATI = "KLP-18710110010002"
MAWAR_MEMBERS = [
    ("kpm-mawar-01", "Ibu Sari Wulandari"),
    ("kpm-mawar-02", "Ibu Yuliana"),
    ("kpm-mawar-03", "Ibu Ratna Dewi"),
    ("kpm-mawar-04", "Ibu Nur Aini"),
    ("kpm-mawar-05", "Ibu Siti Khodijah"),
    ("kpm-mawar-06", "Ibu Endang Lestari"),
    ("kpm-mawar-07", "Ibu Wartini"),
    ("kpm-mawar-08", "Ibu Maryam"),
]
MELATI_MEMBERS = [
    ("kpm-melati-01", "Ibu Rohmah"),
    ("kpm-melati-02", "Ibu Fatimah Azzahra"),
    ("kpm-melati-03", "Ibu Suryani"),
    ("kpm-melati-04", "Ibu Lilis Suryati"),
    ("kpm-melati-05", "Ibu Komariah"),
]


def admin_headers() -> dict[str, str]:
    token = mint_token(AuthSettings(), subject="admin-field", role="admin", scope="*")
    return {"Authorization": f"Bearer {token}"}


def register_world(meetings_url: str, *, webhook_url: str | None = None) -> None:
    """Regions, a kabupaten supervisor (with the webhook), the facilitator, two groups and a plan."""
    with httpx.Client(base_url=f"{meetings_url}/api/v1", headers=admin_headers(), timeout=20) as api:

        def put(path: str, body: dict[str, Any]) -> None:
            response = api.put(path, json=body)
            assert response.is_success, f"{path}: {response.text}"

        put("/regions/18", {"name": "Lampung"})
        put("/regions/18.71", {"name": "Kota Bandar Lampung"})
        put("/regions/18.71.01", {"name": "Kecamatan Kedaton"})
        put("/regions/18.71.01.1001", {"name": "Kelurahan Pesawahan"})
        supervisor: dict[str, Any] = {"name": "Koordinator Kota Bandar Lampung", "level": "kabupaten"}
        if webhook_url:
            supervisor["webhook_url"] = webhook_url
        put("/supervisors/SUP-1871", {**supervisor, "region_code": "18.71"})
        put("/facilitators/PDP-0001", {"name": "Siti Rahmawati", "programme": "pkh-p2k2", "region_code": "18.71.01"})
        groups = ((MAWAR, "Kelompok Mawar", MAWAR_MEMBERS), (MELATI, "Kelompok Melati", MELATI_MEMBERS))
        for group_id, name, members in groups:
            put(
                f"/groups/{group_id}",
                {
                    "name": name,
                    "programme": "pkh-p2k2",
                    "facilitator_id": FACILITATOR_ID,
                    "region_code": "18.71.01.1001",
                    "members": [{"member_ref": ref, "display_name": display} for ref, display in members],
                    "chair_member_ref": members[0][0],
                    "schedule": {"cadence": "monthly", "day_of_month": 10},
                },
            )
        put(
            "/plans/PLAN-MAWAR-2026",
            {
                "group_id": MAWAR,
                "title": "Rencana pendampingan Kelompok Mawar 2026/2027",
                "starts_on": "2026-09-01",
                "ends_on": "2027-08-31",
                "agreed_by": [FACILITATOR_ID, MAWAR_MEMBERS[0][0]],
                "activities": [
                    {
                        "id": "ACT-MAWAR-1",
                        "title": "Pemetaan kebutuhan gizi balita",
                        "stage": "discovery",
                        "due_on": "2026-11-20",
                        "responsible": "group",
                    },
                    {
                        "id": "ACT-MAWAR-2",
                        "title": "Kelas memasak MP-ASI bersama kader posyandu",
                        "stage": "development",
                        "due_on": "2026-12-12",
                        "responsible": "partner",
                        "indicator": {"name": "Ibu yang ikut kelas", "unit": "orang", "baseline": 0, "target": 8},
                    },
                    {
                        "id": "ACT-MAWAR-3",
                        "title": "Menabung bersama untuk biaya sekolah",
                        "stage": "development",
                        "due_on": "2027-06-30",
                        "responsible": "group",
                    },
                ],
            },
        )


def enrolment_url(meetings_url: str, facilitator_id: str = FACILITATOR_ID) -> str:
    response = httpx.post(
        f"{meetings_url}/api/v1/facilitators/{facilitator_id}/enrolments", headers=admin_headers(), json={}, timeout=20
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


@contextlib.contextmanager
def meetings_alone(workdir: Path, *, app_dir: Path | None = None) -> Iterator[str]:
    """The meetings service as a process without Kafka (events stay in its outbox); yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PANTAU_MEETINGS_PORT": str(port),
        "PANTAU_MEETINGS_DATABASE_URL": f"sqlite:///{workdir / 'meetings.db'}",
        "PANTAU_MEETINGS_PUBLISH_EVENTS": "false",
    }
    if app_dir is not None:
        env["PANTAU_MEETINGS_FIELD_APP_DIR"] = str(app_dir)
    with (workdir / "meetings.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.meetings"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"meetings did not start; see {workdir / 'meetings.log'}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
