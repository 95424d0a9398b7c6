"""Helpers to drive the field app in the browser tests; the world itself is `tools/field_app_demo.py`."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.field_app_demo import (
    FACILITATOR_ID,
    MAWAR,
    MAWAR_MEMBERS,
    MELATI,
    MELATI_MEMBERS,
    admin_headers,
    enrolment_url,
    register_world,
)
from tools.webhook_receiver import WebhookReceiver

__all__ = [
    "FACILITATOR_ID",
    "MAWAR",
    "MAWAR_MEMBERS",
    "MELATI",
    "MELATI_MEMBERS",
    "admin_headers",
    "enrolment_url",
    "register_world",
]


def incident_message_with(receiver: WebhookReceiver, group_id: str, rules: set[str]) -> dict[str, Any] | None:
    """The first incident message delivered whose items include every one of `rules` for the group."""
    for delivery in receiver.accepted:
        body = delivery.body
        if body.get("type") not in ("alert.opened", "alert.updated"):
            continue
        items = (body.get("incident") or {}).get("items", ())
        if rules <= {item["rule"] for item in items if item["group"]["id"] == group_id}:
            return body
    return None


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


def stored_pending_count(database: Path, device_id: str) -> int | None:
    """What the server keeps as still waiting on one device after its latest sync."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT pending_count FROM device_syncs WHERE device_id = ?", (device_id,)).fetchone()
    return None if row is None else row[0]


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
