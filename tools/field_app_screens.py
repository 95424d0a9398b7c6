"""Screenshots of the field app as a facilitator sees it on a cheap phone (360×740, Bahasa
Indonesia): `uv run python -m tools.field_app_screens` writes docs/screenshots/field-app/*.png.

Starts the meetings service alone with the small demo world (tools/field_app_demo.py), signs a
phone in, records meetings offline (one of them refused by the server, to show how a rejected item
looks) and takes: "Hari ini", the meeting form, the sync line with items waiting, the send queue,
the account (who is signed in, until when, storage), the chair's sealed rating and the printable
attendance sheet (print media).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from tools.field_app_demo import MAWAR, MELATI, enrolment_url, meetings_alone, register_world
from tools.stack import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
PHONE: dict[str, Any] = {"viewport": {"width": 360, "height": 740}, "locale": "id-ID", "timezone_id": "Asia/Jakarta"}


def _record(page: Any, group_id: str, *, date: str, led_by: str, absent: tuple[int, ...], topic: str) -> None:
    page.goto(page.url.split("#")[0] + f"#/catat/{group_id}")
    form = page.locator("form.meeting-form")
    form.wait_for()
    page.get_by_test_id("all-present").click()
    for index in absent:
        page.locator(f'.roster li[data-index="{index}"] button[data-status="absent"]').click()
    form.locator("input[name=date]").fill(date)
    form.locator("input[name=start]").fill("09:00")
    form.locator("input[name=end]").fill("11:00")
    form.locator(f"input[name=led_by][value={led_by}]").check()
    form.locator("select[name=module]").select_option(index=2)
    form.locator("input[name=topic]").fill(topic)
    page.get_by_test_id("save").click()
    page.wait_for_selector('main[data-screen="hari-ini"]')


def take(out: Path, workdir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with meetings_alone(workdir) as url, sync_playwright() as playwright:
        register_world(url)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            context = browser.new_context(**PHONE, device_scale_factor=2)
            page = context.new_page()
            page.goto(enrolment_url(url))
            page.wait_for_selector("section.card[data-group]")
            page.evaluate("pantauSync()")

            def shot(name: str, **options: Any) -> None:
                page.evaluate("document.getElementById('toast').hidden = true")
                path = out / f"{name}.png"
                page.screenshot(path=str(path), **options)
                written.append(path)

            # Sent while online: a meeting whose topic holds a national ID is refused, naming the field.
            _record(
                page, MELATI, date="2026-11-24", led_by="facilitator", absent=(), topic="Kunjungan 1871010101010001"
            )
            page.get_by_test_id("rejected").wait_for()
            context.set_offline(True)
            _record(page, MAWAR, date="2026-11-25", led_by="chair", absent=(1, 3, 5), topic="Gizi ibu hamil")
            page.goto(url + "/app/#/hari-ini")
            page.wait_for_selector("section.card[data-group]")
            shot("hari-ini")
            page.evaluate("document.getElementById('toast').hidden = true")
            page.locator("header").screenshot(path=str(out / "sync-line.png"))
            written.append(out / "sync-line.png")
            page.goto(url + f"/app/#/catat/{MAWAR}")
            page.locator("form.meeting-form").wait_for()
            page.get_by_test_id("all-present").click()
            page.locator('.roster li[data-index="2"] button[data-status="absent"]').click()
            page.locator('.roster li[data-index="5"] button[data-status="excused"]').click()
            page.evaluate("scrollTo(0, 0)")
            shot("meeting-form")
            shot("meeting-form-full", full_page=True)
            page.goto(url + "/app/#/antrian")
            page.locator(".item").first.wait_for()
            shot("antrian")
            page.goto(url + "/app/#/akun")
            page.get_by_test_id("signed-in").wait_for()
            shot("akun")
            page.goto(url + f"/app/#/ketua/{MAWAR}")
            page.get_by_test_id("chair-start").click()
            shot("ketua")
            sheet_id = page.evaluate(
                """async () => {
                  const { allItems } = await import(new URL("./js/store.js", location.href).href);
                  return (await allItems()).find((i) => i.kind === "meeting" && i.body.led_by === "chair").id;
                }"""
            )
            page.goto(url + f"/app/#/daftar-hadir/{sheet_id}")
            page.locator("article.sheet").wait_for()
            page.emulate_media(media="print")
            page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
            shot("daftar-hadir", full_page=True)
            context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.field_app_screens", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots" / "field-app")
    args = parser.parse_args(argv)
    workdir = REPO_ROOT / "var" / "field-app-screens"
    if workdir.exists():
        shutil.rmtree(workdir)
    for path in take(args.out, workdir):
        print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
