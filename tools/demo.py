"""A small, realistic demo load sent through the public HTTP API as field apps and admins would.

Two provinces in two time zones (Lampung, WIB; Nusa Tenggara Barat, WITA), their supervisors, three
facilitators of PKH and Pokja SSK, six groups, and last month's meetings: most held properly, two led
by the group chair without the facilitator (each makes `meeting.facilitator_absent` fire), and one
report sent twice, as a phone with a flaky connection would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

REGIONS = [
    ("18", "Lampung"),
    ("18.71", "Kota Bandar Lampung"),
    ("18.71.01", "Teluk Betung Selatan"),
    ("18.71.01.1001", "Kelurahan Pesawahan"),
    ("18.71.01.1002", "Kelurahan Gedong Pakuon"),
    ("18.01", "Kabupaten Lampung Selatan"),
    ("18.01.05", "Kalianda"),
    ("18.01.05.2001", "Desa Way Urang"),
    ("52", "Nusa Tenggara Barat"),
    ("52.71", "Kota Mataram"),
    ("52.71.02", "Ampenan"),
    ("52.71.02.1003", "Kelurahan Ampenan Tengah"),
]
SUPERVISORS = [
    ("SUP-1871", "Koordinator PKH Kota Bandar Lampung", "kabupaten", "18.71", "id"),
    ("SUP-1801", "Koordinator PKH Lampung Selatan", "kabupaten", "18.01", "id"),
    ("SUP-18", "Koordinator Wilayah Lampung", "provinsi", "18", "id"),
    ("SUP-5271", "District coordinator, Kota Mataram", "kabupaten", "52.71", "en"),
]
FACILITATORS = [
    ("PDP-0001", "Siti Rahmawati", "pkh-p2k2", "18.71.01"),
    ("PDP-0002", "Agus Setiawan", "pkh-p2k2", "18.01.05"),
    ("PDP-0003", "Baiq Nurul Hidayah", "ssk-pokja", "52.71.02"),
]
# group id, name, programme, facilitator, village, demo scenario
GROUPS = [
    ("KLP-18710110010001", "Kelompok Mawar", "pkh-p2k2", "PDP-0001", "18.71.01.1001", "chair_led"),
    ("KLP-18710110010002", "Kelompok Melati", "pkh-p2k2", "PDP-0001", "18.71.01.1001", "good"),
    ("KLP-18710110020001", "Kelompok Anggrek", "pkh-p2k2", "PDP-0001", "18.71.01.1002", "good"),
    ("KLP-18010520010001", "Kelompok Kenanga", "pkh-p2k2", "PDP-0002", "18.01.05.2001", "good"),
    ("KLP-18010520010002", "Kelompok Cempaka", "pkh-p2k2", "PDP-0002", "18.01.05.2001", "repeated"),
    ("POK-52710210030001", "Pokja Sanitasi Ampenan", "ssk-pokja", "PDP-0003", "52.71.02.1003", "chair_led"),
]
MEMBERS_PER_GROUP = 12


@dataclass(frozen=True)
class DemoSummary:
    """What the demo sent and what it should cause."""

    regions: int
    supervisors: int
    facilitators: int
    groups: int
    meetings_created: int
    meetings_repeated: int
    expected_alerts: int


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    result: dict[str, Any] = response.json()
    return result


def load_demo(meetings_url: str, *, admin_token: str, webhook_url: str, now: datetime | None = None) -> DemoSummary:
    """Send the registry and last month's meetings; returns counts and the alerts to expect."""
    now = now or datetime.now(UTC)
    headers = {"Authorization": f"Bearer {admin_token}"}
    api = f"{meetings_url.rstrip('/')}/api/v1"
    with httpx.Client(headers=headers, timeout=30) as client:
        for code, name in REGIONS:
            _check(client.put(f"{api}/regions/{code}", json={"name": name}))
        for supervisor_id, name, level, region, language in SUPERVISORS:
            body = {
                "name": name,
                "level": level,
                "region_code": region,
                "webhook_url": webhook_url,
                "language": language,
            }
            _check(client.put(f"{api}/supervisors/{supervisor_id}", json=body))
        for facilitator_id, name, programme, region in FACILITATORS:
            body = {"name": name, "programme": programme, "region_code": region}
            _check(client.put(f"{api}/facilitators/{facilitator_id}", json=body))
        created = repeated = expected_alerts = 0
        for number, (group_id, name, programme, facilitator_id, village, scenario) in enumerate(GROUPS):
            members = [f"{group_id}-m{index:02d}" for index in range(1, MEMBERS_PER_GROUP)]
            # One member per group registered by national ID: the API turns it into a pseudonym at once.
            nik = {"nik": village.replace(".", "")[:10] + f"{number + 1:06d}"}
            group_body: dict[str, Any] = {
                "name": name,
                "programme": programme,
                "facilitator_id": facilitator_id,
                "region_code": village,
                "members": [*members, nik],
                "chair_member_ref": members[0],
                "schedule": {"cadence": "monthly", "day_of_month": 10},
            }
            _check(client.put(f"{api}/groups/{group_id}", json=group_body))
            started = (now - timedelta(days=12)).replace(hour=2, minute=0, second=0, microsecond=0) + timedelta(
                hours=number
            )
            chair_led = scenario == "chair_led"
            report = {
                "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pantau-demo/{group_id}/{started.date()}")),
                "group_id": group_id,
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(minutes=115)).isoformat(),
                "facilitator_present": not chair_led,
                "led_by": "chair" if chair_led else "facilitator",
                "module": "Pengasuhan dan Pendidikan Anak" if programme == "pkh-p2k2" else "Rencana aksi sanitasi",
                "topic": "Menjadi orang tua yang lebih baik" if programme == "pkh-p2k2" else "Pemicuan STBM",
                "attendance": [
                    {"member_ref": member, "status": "absent" if index % 6 == 5 else "present"}
                    for index, member in enumerate(members)
                ],
                "recorded_at": (started + timedelta(minutes=120)).isoformat(),
                "device_id": f"hp-{facilitator_id.lower()}",
            }
            _check(client.post(f"{api}/meetings", json=report))
            created += 1
            expected_alerts += 1 if chair_led else 0
            if scenario == "repeated":
                _check(client.post(f"{api}/meetings", json=report))  # same report again: 200, no second effect
                repeated += 1
    return DemoSummary(
        regions=len(REGIONS),
        supervisors=len(SUPERVISORS),
        facilitators=len(FACILITATORS),
        groups=len(GROUPS),
        meetings_created=created,
        meetings_repeated=repeated,
        expected_alerts=expected_alerts,
    )
