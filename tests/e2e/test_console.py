"""The supervisor console in a real browser (Debian's chromium driven by Playwright, no download):
the notifier runs as a process on a real broker; an alert appears without a reload and is
acknowledged in one click.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.e2e.console_support import (
    NOW,
    SimulatedClock,
    another_facilitator,
    field_history,
    single_warning,
    wait_for_drill,
    work_queue_settings,
)
from tests.fixtures.kafka import skip_or_fail
from tests.integration.test_notifications_channels import NotifierProcess
from tests.integration.test_notifications_delivery import (
    SUPERVISOR_ID,
    Notifier,
    World,
    deviation,
    kabupaten_supervisor,
)

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/bootstrap.sh does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright Python package is not installed (uv sync)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def world(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[World]:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    world = World(kafka_bootstrap, kafka_topics, producer, tmp_path)
    try:
        yield world
    finally:
        for receiver in world.receivers:
            receiver.stop()
        producer.close()


def test_an_alert_appears_live_and_is_acknowledged_in_one_click(world: World, browser: object) -> None:
    receiver = world.receiver()
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    notifier = NotifierProcess(world.bootstrap, world.prefix, world.tmp_path / "notifier").start()
    try:
        token = mint_token(AuthSettings(), subject=SUPERVISOR_ID, role="supervisor", scope="18.71")
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(f"{notifier.url}/console?token={token}")
        page.wait_for_selector("body[data-live='1']", timeout=20_000)  # the live feed is connected
        assert page.locator("article.alert").count() == 0

        opened = deviation()
        world.send(opened)  # after the page loaded: it can only arrive over the feed
        card = page.locator("article.alert").first
        card.wait_for(timeout=30_000)
        assert "tanpa pendamping Siti Rahmawati" in card.inner_text()
        assert card.get_attribute("data-status") == "open"
        alert_id = card.get_attribute("data-alert-id")

        card.locator("button.ack").click()
        page.wait_for_selector(f"article[data-alert-id='{alert_id}'][data-status='acknowledged']", timeout=10_000)
        headers = {"Authorization": f"Bearer {token}"}
        listed = httpx.get(f"{notifier.url}/api/v1/alerts", headers=headers, timeout=10).json()
        assert [(item["alert_id"], item["status"]) for item in listed] == [(alert_id, "acknowledged")]
        assert listed[0]["body"]["deviation_id"] == opened.deviation_id

        # filters: a critical-only view does not show the warning
        page.select_option("#severity", "critical")
        page.wait_for_selector("p.empty", timeout=10_000)
        page.close()
    finally:
        notifier.stop()


def test_the_work_queue_shows_who_needs_attention_and_takes_a_note_and_marks(world: World, browser: object) -> None:
    receiver = world.receiver()
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    # The service and the page share one simulated clock: Friday 20 November 2026, 10.00 WIB.
    clock = SimulatedClock(NOW)
    notifier = Notifier(work_queue_settings(world), clock=clock).start()
    for event in [*another_facilitator(), *field_history()]:
        world.send(event)
    shots = Path(os.environ.get("PANTAU_SCREENSHOTS", str(world.tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        token = mint_token(AuthSettings(), subject=SUPERVISOR_ID, role="supervisor", scope="18.71")
        page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
        page.clock.set_system_time(NOW)
        page.goto(f"{notifier.url}/console?token={token}")
        page.wait_for_selector("body[data-live='1']", timeout=20_000)
        absent = deviation()
        low = deviation().model_copy(
            update={
                "rule": "meeting.low_attendance",
                "details": {
                    "present": 9,
                    "members": 20,
                    "attendance_ratio": 0.45,
                    "threshold_ratio": 0.75,
                    "meeting_started_at": "2026-11-10T02:00:00+00:00",
                },
            }
        )
        world.send(absent)
        world.send(low)
        world.send(single_warning())
        row = page.locator("#queue article.incident").first
        row.wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('#queue article.incident li').length === 2", timeout=30_000)
        page.wait_for_function("document.querySelectorAll('#info article.incident').length === 1", timeout=30_000)
        # Told after the group_wait: the queue follows (it looks again while an incident is "just in").
        page.wait_for_selector("#queue article.incident[data-status='open']", timeout=30_000)
        text = row.inner_text()
        assert "Pendamping Siti Rahmawati — 1 kelompok, 2 hal" in text
        assert "Mengapa: Kelompok Mawar punya 2 masalah sekaligus." in text
        assert "Peringatan" in text
        # Budi's one low-attendance meeting is his to follow up: below, folded, for information.
        summary = page.locator("#queue-summary").inner_text()
        assert "1 pendamping perlu perhatian Anda sekarang · 0 sudah ditangani · 1 hanya untuk diketahui" in summary
        assert "Budi Santoso" not in page.locator("#queue").inner_text()
        assert page.locator("#info-title").inner_text().startswith("Untuk diketahui (1)")
        assert "tanpa pendamping Siti Rahmawati" in text
        # Beside the reason: the facilitator's data freshness and the group's attendance trend, in words.
        assert "HP pendamping terakhir sinkron 18 November 2026, 16.00 WIB (kemarin) · 3 catatan masih di HP" in text
        assert "Kehadiran Kelompok Mawar, pertemuan terakhir: 100% → 67% → 67% → 33% (menurun)" in text
        for raw in ("warning", "meeting.", "open", "pending", "kabupaten\n", "T0", "Z"):
            assert raw not in text, f"raw value {raw!r} on the page: {text}"
        wait_for_drill(page, "kabupaten")
        drill = page.locator("#drill").inner_text()
        assert "Indonesia › Lampung › Kota Bandar Lampung" in drill
        assert (
            "2 kelompok · 1 melaporkan pertemuan dalam 35 hari terakhir (50%) · 1 perlu perhatian · "
            "1 dari 2 pendamping perlu perhatian Anda"
        ) in drill
        assert "Siti Rahmawati" in drill
        assert "3 catatan masih di HP" in page.locator("#drill tr[data-id='PDP-0001']").inner_text()
        page.screenshot(path=str(shots / "work-queue-id.png"), full_page=True)

        row.locator(f"li[data-deviation-id='{low.deviation_id}'] button.useful").click()
        page.wait_for_selector(f"li[data-deviation-id='{low.deviation_id}'] button.useful[aria-pressed='true']")
        metrics = httpx.get(f"{notifier.url}/metrics", timeout=10).text
        assert 'pantau_alert_feedback_total{rule="meeting.low_attendance",verdict="useful"} 1.0' in metrics

        # The district supervisor drills down to the facilitator and their groups.
        assert page.locator("#drill nav button").count() == 0  # nothing above the district opens
        page.locator("#drill td button", has_text="Siti Rahmawati").click()
        wait_for_drill(page, "facilitator")
        facilitator = page.locator("#drill").inner_text()
        assert "Pendamping Siti Rahmawati" in facilitator
        assert "Kelompok Mawar" in facilitator
        assert "100% → 67% → 67% → 33% (menurun)" in facilitator
        page.screenshot(path=str(shots / "drill-down-facilitator-id.png"), full_page=True)
        page.locator("#drill nav button", has_text="Kota Bandar Lampung").click()
        wait_for_drill(page, "kabupaten")

        # A national supervisor starts at the country: national → province → kabupaten, compliance at each.
        national = mint_token(AuthSettings(), subject="SUP-ID", role="supervisor", scope="*")
        country = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
        country.clock.set_system_time(NOW)
        country.goto(f"{notifier.url}/console?token={national}")
        wait_for_drill(country, "nasional")
        assert "Lampung\t2\t50%\t1" in country.locator("#drill table").inner_text()
        country.locator("#drill td button", has_text="Lampung").click()
        wait_for_drill(country, "provinsi")
        country.locator("#drill td button", has_text="Kota Bandar Lampung").click()
        wait_for_drill(country, "kabupaten")
        assert "Indonesia › Lampung › Kota Bandar Lampung" in country.locator("#drill nav").inner_text()
        country.locator("#drill nav button", has_text="Indonesia").click()
        wait_for_drill(country, "nasional")
        country.screenshot(path=str(shots / "drill-down-national-id.png"), full_page=True)
        country.close()

        row.locator("input.note").fill("Sudah menelepon pendamping; pertemuan ulang Jumat")
        row.locator("button.ack-incident").click()
        page.wait_for_selector("#queue article.incident[data-status='acknowledged']", timeout=10_000)
        assert "sudah ditangani" in page.locator("#queue article.incident").first.inner_text()
        headers = {"Authorization": f"Bearer {token}"}
        [incident] = [
            listed
            for listed in httpx.get(f"{notifier.url}/api/v1/incidents", headers=headers, timeout=10).json()
            if listed["facilitator_id"] == "PDP-0001"
        ]
        assert incident["tier"] == "in_hand"
        assert (incident["status"], incident["note"]) == (
            "acknowledged",
            "Sudah menelepon pendamping; pertemuan ulang Jumat",
        )
        assert incident["detected_at"].endswith("Z")

        # Put aside for three days with a reason: it leaves the queue for the "Ditunda" list.
        row.locator("input.snooze-reason").fill("Menunggu kunjungan lapangan")
        row.locator("select.snooze-days").select_option("3")
        row.locator("button.snooze").click()
        aside = page.locator("#snoozed article.incident").first
        aside.wait_for(timeout=10_000)
        assert "ditunda sampai 23 November 2026, 10.00 WIB: Menunggu kunjungan lapangan" in aside.inner_text()
        assert page.locator("#queue article.incident").count() == 0

        page.select_option("#language", "en")
        page.wait_for_selector("#queue-title:text('Needs you')")
        assert "put aside until 23 November 2026, 10:00 WIB" in page.locator("#snoozed").inner_text()
        assert (
            "Facilitator's phone last synced 18 November 2026, 16:00 WIB (yesterday) · 3 records still on the phone"
            in page.inner_text("#snoozed")
        )
        assert "Needs you" in page.inner_text("main")
        assert "0 facilitators need you now · 0 in hand · 1 for information only · 1 put aside" in page.inner_text(
            "#queue-summary"
        )
        page.locator("#info-title").click()  # open what is for information only
        assert "Facilitator Budi Santoso — 1 group, 1 item" in page.locator("#info").inner_text()
        assert "Severity" in page.inner_text("header")
        page.screenshot(path=str(shots / "work-queue-en-put-aside.png"), full_page=True)

        # Close with an outcome: gone from the console, never climbs.
        page.locator("#snoozed select.outcome").select_option("resolved_in_field")
        page.locator("#snoozed button.close").click()
        page.wait_for_function(
            "document.querySelectorAll('#queue article.incident, #snoozed article.incident').length === 0",
            timeout=10_000,
        )
        [closed] = httpx.get(
            f"{notifier.url}/api/v1/incidents", headers=headers, params={"status": "closed"}, timeout=10
        ).json()
        assert (closed["status"], closed["outcome"]) == ("closed", "resolved_in_field")
        page.close()
    finally:
        notifier.stop()
