"""The facilitator's monthly report downloaded as a PDF: printed by real Chromium (Playwright, Debian's
browser), A4, then turned back into text (`pdftotext`) and images (`pdftoppm`) as a reader would see
it: names and local Bahasa times, no raw ids, enum values or UTC timestamps."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from services.analytics.state import AnalyticsState
from services.analytics.views import ReportViews
from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.fixtures.kafka import skip_or_fail
from tests.unit.analytics_month import DIRECTORY, FACILITATOR, READ_AT, table

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
A4_POINTS = (595, 842)  # 210 × 297 mm


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"`{name}` is not on PATH (apt-get install poppler-utils; scripts/bootstrap.sh)")
    return str(path)


@pytest.fixture
def views() -> ReportViews:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/bootstrap.sh)")
    groups = table()
    state = AnalyticsState()
    state.rebuild_groups(groups.items(), active=set(range(12)))
    return ReportViews(
        state=state,
        group=groups.get,
        auth=AuthSettings(),
        partitions=12,
        directory=DIRECTORY,
        clock=lambda: READ_AT,
        chromium_path=CHROMIUM,
    )


def test_the_monthly_report_prints_to_an_a4_pdf_that_reads_like_a_report(views: ReportViews, tmp_path: Path) -> None:
    token = mint_token(AuthSettings(), subject=FACILITATOR, role="facilitator", scope=FACILITATOR)
    headers = {"Authorization": f"Bearer {token}"}
    reply = asyncio.run(
        views.facilitator_monthly_download(FACILITATOR, {"period": "2026-11", "format": "pdf"}, headers)
    )
    assert reply.status == 200, reply.body[:300]
    assert reply.content_type == "application/pdf"
    assert reply.filename == f"laporan-bulanan-{FACILITATOR}-2026-11.pdf"
    assert reply.body.startswith(b"%PDF-")
    pdf = tmp_path / "laporan.pdf"
    pdf.write_bytes(reply.body)

    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    width, height = (float(v) for v in re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())  # type: ignore[union-attr]
    assert (round(width), round(height)) == A4_POINTS
    text = subprocess.run([_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    words = " ".join(text.stdout.split())
    assert "Laporan Bulanan Pendampingan — Siti Rahmawati, November 2026" in words
    assert "Bertemu tepat waktu pada 4 November 2026, 17.00 WIB" in words
    assert "Tidak ada pertemuan yang jatuh tempo bulan ini" in words
    assert "Mengetahui, koordinator" in words
    for raw in (r"\d{4}-\d{2}-\d{2}T", r"\bKLP-", r"\bPDP-", r"\b[a-z]+_[a-z_]+\b", r"meeting\.[a-z]"):
        assert not re.search(raw, words), raw

    subprocess.run([_tool("pdftoppm"), "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages, "pdftoppm made no image"
    assert all(page.stat().st_size > 5_000 for page in pages)  # a rendered page, not a blank one


def test_without_a_browser_the_pdf_is_refused_with_a_problem(tmp_path: Path) -> None:
    groups = table()
    state = AnalyticsState()
    state.rebuild_groups(groups.items(), active=set(range(12)))
    views = ReportViews(
        state=state,
        group=groups.get,
        auth=AuthSettings(),
        partitions=12,
        clock=lambda: READ_AT,
        chromium_path=str(tmp_path / "no-chromium"),
    )
    token = mint_token(AuthSettings(), subject="admin", role="admin", scope="*")
    reply = asyncio.run(
        views.facilitator_monthly_download(
            FACILITATOR, {"period": "2026-11"}, {"Authorization": f"Bearer {token}", "Accept": "application/pdf"}
        )
    )
    assert reply.status == 503
    assert "format=html" in orjson.loads(reply.body)["detail"]
