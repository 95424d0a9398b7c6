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
from tests.fixtures.kafka import skip_or_fail
from tests.integration.test_notifications_channels import NotifierProcess
from tests.integration.test_notifications_delivery import SUPERVISOR_ID, World, deviation, kabupaten_supervisor

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
    incidents_on = {
        "PANTAU_NOTIFICATIONS_INCIDENTS_ENABLED": "true",
        "PANTAU_NOTIFICATIONS_INCIDENT_GROUP_WAIT_SECONDS": "1",
    }
    notifier = NotifierProcess(world.bootstrap, world.prefix, world.tmp_path / "notifier", extra_env=incidents_on)
    notifier.start()
    shots = Path(os.environ.get("PANTAU_SCREENSHOTS", str(world.tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        token = mint_token(AuthSettings(), subject=SUPERVISOR_ID, role="supervisor", scope="18.71")
        page = browser.new_page(viewport={"width": 1100, "height": 760})  # type: ignore[attr-defined]
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
        row = page.locator("article.incident").first
        row.wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('article.incident li').length === 2", timeout=30_000)
        text = row.inner_text()
        assert "Pendamping Siti Rahmawati — 1 kelompok, 2 hal" in text
        assert "Peringatan" in text
        assert "tanpa pendamping Siti Rahmawati" in text
        for raw in ("warning", "meeting.", "open", "pending", "kabupaten\n"):
            assert raw not in text, f"raw value {raw!r} on the page: {text}"
        page.screenshot(path=str(shots / "work-queue-id.png"), full_page=True)

        row.locator(f"li[data-deviation-id='{low.deviation_id}'] button.useful").click()
        page.wait_for_selector(f"li[data-deviation-id='{low.deviation_id}'] button.useful[aria-pressed='true']")
        metrics = httpx.get(f"{notifier.url}/metrics", timeout=10).text
        assert 'pantau_alert_feedback_total{rule="meeting.low_attendance",verdict="useful"} 1.0' in metrics

        row.locator("input.note").fill("Sudah menelepon pendamping; pertemuan ulang Jumat")
        row.locator("button.ack-incident").click()
        page.wait_for_selector("article.incident[data-status='acknowledged']", timeout=10_000)
        assert "sudah ditangani" in page.locator("article.incident").first.inner_text()
        headers = {"Authorization": f"Bearer {token}"}
        [incident] = httpx.get(f"{notifier.url}/api/v1/incidents", headers=headers, timeout=10).json()
        assert (incident["status"], incident["note"]) == (
            "acknowledged",
            "Sudah menelepon pendamping; pertemuan ulang Jumat",
        )

        page.select_option("#language", "en")
        page.wait_for_selector("#queue-title:text('Needs attention')")
        assert "in hand" in page.locator("article.incident").first.inner_text()
        page.wait_for_function(
            "[...document.querySelectorAll('article.alert')].every(a => a.dataset.status === 'acknowledged')"
        )
        assert "Needs attention" in page.inner_text("main")
        assert "Severity" in page.inner_text("header")
        page.screenshot(path=str(shots / "work-queue-en-acknowledged.png"), full_page=True)
        page.close()
    finally:
        notifier.stop()
