"""Aplikasi Pendamping in Debian's Chromium against the real services and broker: offline work that
survives reloads and closed tabs, sync that never loses or doubles a record, rejected items that
name their field, app updates with items waiting, big queues in chunks, and the sealed rating."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import Any

import pytest

from shared import serde
from tests.e2e.field_app.conftest import FieldWorld
from tests.e2e.field_app.support import (
    BULK_JS,
    MAWAR,
    MELATI,
    MELATI_MEMBERS,
    device_items,
    incident_message_with,
    record_meeting,
    stored_meetings,
    stored_pending_count,
    wait_for,
    waiting_count,
)
from tests.integration.test_meetings_outbox import consume

pytestmark = pytest.mark.e2e


def _all_sent(page: Any, timeout: float = 30) -> None:
    page.wait_for_function("document.querySelector('#sync-line')?.dataset.waiting === '0'", timeout=timeout * 1000)


def test_offline_meetings_survive_reload_and_reopen_and_sync_exactly_once(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    context = page.context
    context.set_offline(True)
    record_meeting(page, MAWAR, date="2026-11-18", led_by="facilitator")
    record_meeting(page, MELATI, date="2026-11-24", led_by="facilitator")
    # Led by the chair, half the members absent: two alerts for the supervisor once it arrives.
    record_meeting(page, MAWAR, date="2026-11-25", start="09:00", end="11:00", led_by="chair", absent=(1, 3, 5, 7))
    assert waiting_count(page) == 3
    assert page.get_by_test_id("waiting").inner_text() == "3 menunggu dikirim"

    page.reload()
    page.wait_for_selector("section.card[data-group]")
    assert waiting_count(page) == 3
    url = page.url
    page.close()
    page = context.new_page()
    page.goto(url)  # still offline: the service worker starts the app from its cache
    page.wait_for_selector("section.card[data-group]")
    assert waiting_count(page) == 3
    state = device_items(page)
    report_ids = {item["id"] for item in state["items"]}
    assert len(report_ids) == 3

    context.set_offline(False)
    _all_sent(page)
    rows = stored_meetings(field_world.database, state["device"])
    assert sorted(row["report_id"] for row in rows) == sorted(report_ids)
    chair_led = [row for row in rows if row["led_by"] == "chair"]
    assert len(chair_led) == 1
    assert chair_led[0]["facilitator_present"] is False

    def recorded(records: list[Any]) -> Counter[str]:
        found: Counter[str] = Counter()
        for key, value, _message in records:
            decoded = serde.decode(value, key=key.encode())
            if decoded.envelope.type == "meetings.meeting_recorded.v1" and decoded.event.report_id in report_ids:  # type: ignore[attr-defined]
                found[decoded.event.report_id] += 1  # type: ignore[attr-defined]
        return found

    topic = f"{field_world.prefix}meetings.events"
    events = recorded(consume(field_world.bootstrap, topic, lambda rs: len(recorded(rs)) >= 3, timeout=60))
    assert events == Counter({report_id: 1 for report_id in report_ids})

    # Supervisors get one message per incident: the group's two deviations are items of one incident
    # (the webhook body's `incident.items`, each with its `group`), not two messages of their own.
    both = {"meeting.facilitator_absent", "meeting.low_attendance"}
    message = wait_for(lambda: incident_message_with(field_world.receiver, MAWAR, both), 120, "the incident")
    items = [item for item in message["incident"]["items"] if item["group"]["id"] == MAWAR]
    assert both <= {item["rule"] for item in items}
    assert all(item["severity"] == "warning" for item in items if item["rule"] in both)
    assert message["incident"]["status"] == "open"
    assert message["alert_id"] == message["incident"]["id"]
    assert all("incident" in delivery.body for delivery in field_world.receiver.accepted)
    page.goto(url.split("#")[0] + "#/antrian")
    page.locator(".item[data-state=sent]").nth(2).wait_for()
    assert page.locator(".item[data-state=sent]").count() == 3


def test_a_batch_whose_answer_is_lost_is_resent_without_a_duplicate(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    page.context.set_offline(True)
    record_meeting(page, MELATI, date="2026-11-10")
    record_meeting(page, MELATI, date="2026-11-11")
    device = device_items(page)["device"]
    dropped: list[int] = []

    def store_then_drop(route: Any) -> None:
        route.fetch()  # the server stores the batch...
        dropped.append(len(json.loads(route.request.post_data)["reports"]))
        route.abort("connectionreset")  # ...and the phone never hears the answer

    page.context.route("**/api/v1/meetings/batch", store_then_drop)
    page.context.set_offline(False)
    wait_for(lambda: 2 in dropped, 30, "the batch to reach the server", page=page)
    assert len(stored_meetings(field_world.database, device)) == 2
    assert waiting_count(page) == 2  # not answered, so still waiting on the phone
    page.context.unroute("**/api/v1/meetings/batch")
    page.evaluate("pantauSync()")
    _all_sent(page)
    ids = {item["id"] for item in device_items(page)["items"]}
    assert Counter(row["report_id"] for row in stored_meetings(field_world.database, device)) == dict.fromkeys(ids, 1)


def test_two_tabs_sending_the_same_queue_at_once_send_each_report_once(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    context = page.context
    context.set_offline(True)
    for day in ("03", "04", "05"):
        record_meeting(page, MELATI, date=f"2026-11-{day}")
    second = context.new_page()
    second.goto(page.url)
    second.wait_for_selector("section.card[data-group]")
    assert waiting_count(second) == 3
    answered: list[Any] = []

    def watch(request: Any) -> None:
        if request.url.endswith("/api/v1/meetings/batch"):
            answered.append(request)

    # What the server answered, not what the tabs tried: a request the browser fails while going
    # back online never reached the server, and trying it again is right. A second tab sending the
    # same queue shows as a `duplicate` answer.
    context.on("requestfinished", watch)
    context.set_offline(False)  # both tabs hear `online`...
    page.evaluate("pantauSync()")  # ...and both are asked to send at the same moment
    second.evaluate("pantauSync()")
    _all_sent(page)
    _all_sent(second)
    state = device_items(page)
    ids = {item["id"] for item in state["items"]}
    outcomes = [
        (result["report_id"], result["outcome"])
        for request in answered
        for result in request.response().json()["results"]
    ]
    assert Counter(outcomes) == {(report_id, "created"): 1 for report_id in ids}
    assert Counter(row["report_id"] for row in stored_meetings(field_world.database, state["device"])) == dict.fromkeys(
        ids, 1
    )


def test_a_rejected_item_names_its_field_is_corrected_and_syncs(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    # A national ID typed into the topic: the server refuses it, naming the field.
    record_meeting(page, MELATI, date="2026-11-12", topic="Kunjungan KPM 1871010101010001")
    page.get_by_test_id("rejected").wait_for(timeout=30_000)
    page.goto(page.url.split("#")[0] + "#/antrian")
    problem = page.locator(".item[data-state=rejected] [data-testid=problem]")
    problem.wait_for()
    assert problem.get_attribute("data-field") == "topic"
    assert problem.inner_text() == "Topik: tidak boleh berisi NIK (16 angka). Hapus nomornya."
    # The refused report stays on the phone: the server counts it as still waiting there.
    device = device_items(page)["device"]
    wait_for(lambda: stored_pending_count(field_world.database, device) == 1, 30, "the pending count")
    page.locator(".item[data-state=rejected] a.button.primary").click()
    form = page.locator("form.meeting-form")
    form.wait_for()
    assert "Topik" in page.get_by_test_id("problem").inner_text()
    form.locator("input[name=topic]").fill("Kunjungan rumah KPM")
    page.get_by_test_id("save").click()
    _all_sent(page)
    state = device_items(page)
    rows = stored_meetings(field_world.database, state["device"])
    assert [(row["report_id"], row["topic"]) for row in rows] == [(state["items"][0]["id"], "Kunjungan rumah KPM")]
    wait_for(lambda: stored_pending_count(field_world.database, device) == 0, 30, "the emptied count")


def test_six_hundred_waiting_items_sync_in_chunks_of_at_most_500(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    sizes: list[int] = []
    pending: list[int] = []

    def watch(request: Any) -> None:
        if request.url.endswith("/api/v1/meetings/batch"):
            body = json.loads(request.post_data)
            sizes.append(len(body["reports"]))
            if body["reports"]:
                pending.append(body["pending_count"])

    page.context.on("requestfinished", watch)  # answered requests: a failed try is sent again, rightly
    page.evaluate(BULK_JS, {"group": MELATI, "members": [ref for ref, _ in MELATI_MEMBERS], "count": 600})
    page.evaluate("pantauSync()")
    _all_sent(page, timeout=90)
    assert [size for size in sizes if size] == [500, 100]
    # Each batch says what stays on the phone besides it: the second chunk while the first is sent.
    assert pending == [100, 0]
    device = device_items(page)["device"]
    assert len(stored_meetings(field_world.database, device)) == 600
    assert stored_pending_count(field_world.database, device) == 0


def test_the_groups_sealed_rating_cannot_be_read_back_on_the_phone(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    secret = "Pendamping jarang datang tepat waktu"
    page.goto(page.url.split("#")[0] + f"#/ketua/{MAWAR}")
    page.get_by_test_id("chair-start").click()
    for criterion in ("kehadiran", "komunikasi", "penguasaan_materi", "kepedulian"):
        page.locator(f"input[name={criterion}][value='2']").check()
    page.locator("textarea[name=comment]").fill(secret)
    page.locator("form.scores button[type=submit]").click()
    page.get_by_test_id("chair-done").wait_for()
    assert secret not in page.content()
    page.get_by_role("button", name="Kembali ke pendamping").click()
    page.goto(page.url.split("#")[0] + "#/antrian")
    sealed = page.locator(".item", has_text="tersegel")
    sealed.wait_for()
    assert secret not in page.content()
    assert "Kurang" not in sealed.inner_text()
    assert sealed.locator("a").count() == 0  # nothing to open, fix or print
    item = next(i for i in device_items(page)["items"] if i["kind"] == "evaluation")
    assert "body" not in item
    assert secret not in item["raw"]
    assert "kehadiran" not in item["raw"]

    _all_sent(page)
    with sqlite3.connect(field_world.database) as connection:
        result = connection.execute("SELECT result FROM evaluations WHERE evaluation_id = ?", (item["id"],)).fetchone()
    assert result is not None
    assert json.loads(result[0])["direction"] == "group_rates_facilitator"
    assert secret not in page.content()


def test_a_new_app_version_deployed_while_items_wait_loses_nothing(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    page.context.set_offline(True)
    record_meeting(page, MAWAR, date="2026-11-26")
    old_version = page.locator("meta[name=app-version]").get_attribute("content")
    # Signal is back but the server cannot be reached, so the item keeps waiting through the update.
    page.context.route("**/api/v1/meetings/batch", lambda route: route.abort("internetdisconnected"))
    page.context.set_offline(False)
    stylesheet = field_world.app_dir / "app.css"
    stylesheet.write_text(stylesheet.read_text() + "\n/* deployment 2 */\n")
    page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
    page.get_by_test_id("reload").click(timeout=30_000)
    page.wait_for_function(
        f"document.querySelector('meta[name=app-version]')?.content !== {json.dumps(old_version)}", timeout=30_000
    )
    page.wait_for_selector("section.card[data-group]")
    assert waiting_count(page) == 1
    page.context.unroute("**/api/v1/meetings/batch")
    page.evaluate("pantauSync()")
    _all_sent(page)
    state = device_items(page)
    assert [row["report_id"] for row in stored_meetings(field_world.database, state["device"])] == [
        state["items"][0]["id"]
    ]


def test_progress_and_the_facilitators_rating_of_the_group_sync(phone: Any, field_world: FieldWorld) -> None:
    page = phone
    base = page.url.split("#")[0]
    page.goto(base + f"#/rencana/{MAWAR}")
    activity = page.locator('form.activity[data-activity="ACT-MAWAR-2"]')
    activity.wait_for()
    activity.locator("select[name=status]").select_option("in_progress")
    activity.locator("input[name=value]").fill("5")
    activity.locator("button[type=submit]").click()
    page.goto(base + f"#/nilai/{MAWAR}")
    for criterion in ("kehadiran_anggota", "keaktifan", "kekompakan", "tindak_lanjut"):
        page.locator(f"input[name={criterion}][value='4']").check()
    page.locator("form.scores button[type=submit]").click()
    page.wait_for_selector('main[data-screen="hari-ini"]')
    _all_sent(page)
    items = {item["kind"]: item for item in device_items(page)["items"]}
    with sqlite3.connect(field_world.database) as connection:
        progress = connection.execute(
            "SELECT activity_id, result FROM progress_reports WHERE progress_id = ?", (items["progress"]["id"],)
        ).fetchone()
        evaluation = connection.execute(
            "SELECT result FROM evaluations WHERE evaluation_id = ?", (items["evaluation"]["id"],)
        ).fetchone()
    assert progress[0] == "ACT-MAWAR-2"
    assert json.loads(progress[1])["status"] == "in_progress"
    assert json.loads(evaluation[0])["direction"] == "facilitator_rates_group"
    assert json.loads(evaluation[0])["mean_score"] == 4
    page.goto(base + f"#/rencana/{MAWAR}")
    status = page.locator('form.activity[data-activity="ACT-MAWAR-2"] select[name=status]')
    status.wait_for()
    assert status.locator("option:checked").inner_text() == "Sedang berjalan"
