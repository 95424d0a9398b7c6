"""The manager's page in a real browser (Debian's Chromium driven by Playwright): a manager opens the
national overview, drills down province → kabupaten → facilitator by clicking, and lands on the
facilitator's monthly report; every page is in Bahasa Indonesia and shows no raw ids or enum values."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.analytics.state import AnalyticsState
from services.analytics.views import ReportViews
from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.fixtures.kafka import skip_or_fail
from tests.integration.analytics_pages import serving
from tests.unit.analytics_month import DIRECTORY, READ_AT, table
from tools.time_matrix import without_faketime

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
RAW = re.compile(r"\b(KLP|PDP)-|\b[a-z]+_[a-z_]+\b|\d{4}-\d{2}-\d{2}T|\bmeeting\.[a-z]")


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/bootstrap.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium on the real calendar: under the calendar matrix's clock-faking preload it can hang.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True, env=dict(without_faketime(os.environ))
        )
        try:
            yield browser
        finally:
            browser.close()


def test_a_manager_drills_down_to_a_facilitators_report(browser: object, tmp_path: Path) -> None:
    groups = table()
    state = AnalyticsState()
    state.rebuild_groups(groups.items(), active=set(range(12)))
    views = ReportViews(
        state=state, group=groups.get, auth=AuthSettings(), partitions=12, directory=DIRECTORY, clock=lambda: READ_AT
    )
    token = mint_token(AuthSettings(), subject="manager", role="admin", scope="*")
    with serving(views) as base:
        page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
        page.goto(f"{base}/reports/overview?period=2026-11&token={token}")
        assert page.locator("h1").inner_text() == "Pantau — ringkasan program: Indonesia, November 2026"
        assert page.locator("svg rect").count() == 1  # one month with something due in the six shown
        page.screenshot(path=str(tmp_path / "1-national.png"), full_page=True)

        page.get_by_role("link", name="Lampung", exact=True).click()
        page.wait_for_selector("text=Kota Bandar Lampung")
        assert "Lampung, November 2026" in page.locator("h1").inner_text()
        page.get_by_role("link", name="Kota Bandar Lampung").click()
        page.wait_for_selector("th:has-text('Pendamping')")
        row = page.locator("tbody tr", has_text="Siti Rahmawati").first
        assert "50%" in row.inner_text()  # one of her two due groups met on schedule
        page.screenshot(path=str(tmp_path / "2-kabupaten.png"), full_page=True)

        page.get_by_role("link", name="Siti Rahmawati").click()
        page.wait_for_selector("h1:has-text('Laporan Bulanan Pendampingan')")
        text = page.locator("body").inner_text()
        assert "Perlu perhatian: Kelompok Melati (belum bertemu)." in text
        assert not RAW.search(text), RAW.search(text)
        page.screenshot(path=str(tmp_path / "3-monthly.png"), full_page=True)
    assert all((tmp_path / name).stat().st_size > 10_000 for name in ("1-national.png", "2-kabupaten.png"))
