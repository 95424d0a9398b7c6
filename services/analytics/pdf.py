"""The monthly report as a PDF: the printable page rendered by a real browser engine (Chromium through
Playwright, A4, the page's own print style), so the PDF is exactly what printing the page gives.

Chromium is not downloaded by Playwright: the worker uses the browser at `CHROMIUM_PATH` (Debian's
`/usr/bin/chromium`, installed by `scripts/bootstrap.sh`). Without it the PDF is refused with a
problem, and the HTML page (`format=html`) still prints from any browser."""

from __future__ import annotations

import os


def _real_clock(env: os._Environ[str]) -> dict[str, str | float | bool]:
    """The environment for Chromium, without a clock-faking preload (libfaketime, which the test
    command's calendar matrix gives every process it starts): Chromium needs no calendar to print a
    page, and under the preload it has timed out loading one."""
    clean: dict[str, str | float | bool] = {
        name: value for name, value in env.items() if not name.startswith("FAKETIME") and name != "LD_PRELOAD"
    }
    kept = [lib for lib in env.get("LD_PRELOAD", "").split() if "faketime" not in lib]
    if kept:
        clean["LD_PRELOAD"] = " ".join(kept)
    return clean


class PdfUnavailable(Exception):
    """No browser to render with (the reason is in the message)."""


async def render_pdf(html: str, *, chromium_path: str, timeout_s: float = 30) -> bytes:
    """Print one HTML page to an A4 PDF with headless Chromium."""
    if not os.access(chromium_path, os.X_OK):  # a stat, not I/O worth a thread
        raise PdfUnavailable(f"no Chromium at {chromium_path} (set PANTAU_ANALYTICS_CHROMIUM_PATH)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox"], env=_real_clock(os.environ)
        )
        try:
            page = await browser.new_page()
            await page.set_content(html, wait_until="load", timeout=timeout_s * 1000)
            return await page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
        finally:
            await browser.close()
