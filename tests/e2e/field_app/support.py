"""The field app's test world: a district with one facilitator, two groups with named members and a
plan, registered through the public API as an admin would; and helpers to drive the app."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.auth import mint_token
from shared.settings import AuthSettings

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


def wait_for(check: Callable[[], Any], timeout: float, what: str, *, page: Any = None) -> Any:
    """Poll `check`; with a page, wait inside Playwright so its route and request handlers run."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)


# Read the device's IndexedDB from the page: what is waiting, what was sent.
READ_ITEMS_JS = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("pantau-lapangan");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const read = (store, op) => new Promise((resolve, reject) => {
    const request = op(db.transaction(store).objectStore(store));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const items = await read("items", (s) => s.getAll());
  const device = await read("meta", (s) => s.get("device_id"));
  db.close();
  return { device, items: items.map((i) => ({ ...i, sealed: i.sealed ? "[sealed]" : undefined,
    raw: JSON.stringify({ ...i, sealed: i.sealed ? Array.from(i.sealed.cipher) : undefined }) })) };
}"""


def device_items(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(READ_ITEMS_JS))


def waiting_count(page: Any) -> int:
    return int(page.locator("#sync-line").get_attribute("data-waiting") or "0")


def record_meeting(
    page: Any,
    group_id: str,
    *,
    date: str,
    start: str = "08:00",
    end: str = "10:00",
    led_by: str = "facilitator",
    absent: tuple[int, ...] = (),
    topic: str = "",
    module_index: int = 1,
) -> None:
    """Fill the roster-first form as a facilitator would: all present, then the exceptions."""
    page.goto(page.url.split("#")[0] + f"#/catat/{group_id}")
    form = page.locator("form.meeting-form")
    form.wait_for()
    page.get_by_test_id("all-present").click()
    for index in absent:
        page.locator(f'.roster li[data-index="{index}"] button[data-status="absent"]').click()
    form.locator("input[name=date]").fill(date)
    form.locator("input[name=start]").fill(start)
    form.locator("input[name=end]").fill(end)
    form.locator(f"input[name=led_by][value={led_by}]").check()
    form.locator("select[name=module]").select_option(index=module_index)
    if topic:
        form.locator("input[name=topic]").fill(topic)
    page.get_by_test_id("save").click()
    page.wait_for_selector('main[data-screen="hari-ini"]')


def stored_meetings(database: Path, device_id: str) -> list[dict[str, Any]]:
    """The server's rows for one device, read straight from the meetings store (SQLite)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT report_id, record FROM meetings").fetchall()
    found = []
    for report_id, record in rows:
        event = json.loads(record)["event"]
        if event.get("device_id") == device_id:
            found.append({"report_id": report_id, **event})
    return found


# 600 meetings written straight into the device's queue (the form would take minutes).
BULK_JS = """async ({ group, members, count }) => {
  const device = await new Promise((resolve) => {
    const request = indexedDB.open("pantau-lapangan");
    request.onsuccess = () => resolve(request.result);
  });
  const deviceId = await new Promise((resolve) => {
    const r = device.transaction("meta").objectStore("meta").get("device_id"); r.onsuccess = () => resolve(r.result);
  });
  const t = device.transaction("items", "readwrite");
  const first = Date.parse("2026-05-01T01:00:00Z");
  for (let i = 0; i < count; i++) {
    const started = new Date(first + i * 6 * 3600000).toISOString();
    const ended = new Date(first + i * 6 * 3600000 + 7200000).toISOString();
    const id = crypto.randomUUID();
    const attendance = members.map((m) => ({ member_ref: m, status: "present" }));
    t.objectStore("items").put({
      id, kind: "meeting", state: "waiting", revision: 1, created_at: ended, recorded_at: ended,
      group_id: group, group_name: "Kelompok Melati", notes: "", problem: null,
      body: { report_id: id, group_id: group, started_at: started, ended_at: ended, facilitator_present: true,
        led_by: "facilitator", module: "Kesehatan dan Gizi", topic: null, attendance, recorded_at: ended,
        device_id: deviceId },
    });
  }
  await new Promise((resolve) => (t.oncomplete = resolve));
  device.close();
}"""
