"""The field app's budget on a cheap phone: `python -m tools.bench.field_app` (also
`python -m tools.bench --only field-app`). Prints the figures and writes docs/benchmarks-field-app.md.

- shell size: every file of the shell as served (gzip), which is what a phone downloads once;
- first load on an emulated slow 3G link (Chrome DevTools' "Slow 3G": 2,000 ms round trip,
  400 kbit/s each way, through CDP `Network.emulateNetworkConditions`), from a new phone opening the
  app to the app being usable (signed in, "Hari ini" drawn), and to the shell being offline-ready;
- offline start: the network off, the app opened again from the service worker's cache.

Needs Debian's Chromium (`/usr/bin/chromium`) and starts the meetings service alone (no broker).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.meetings.field_app.shell import AppShell
from tools.field_app_demo import enrolment_url, meetings_alone, register_world
from tools.stack import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
BUDGET_BYTES = 150 * 1024
BUDGET_FIRST_LOAD_SECONDS = 5.0
PHONE: dict[str, Any] = {"viewport": {"width": 360, "height": 740}, "locale": "id-ID", "timezone_id": "Asia/Jakarta"}


def shell_sizes(app_dir: Path) -> dict[str, tuple[int, int]]:
    """{file: (bytes, gzip bytes)} of the shell as the service serves it."""
    shell = AppShell(app_dir)
    sizes = {}
    for name in shell.names():
        found = shell.get(name)
        assert found is not None
        sizes[name] = (len(found.body), len(found.gzipped))
    return sizes


def _first_load(browser: Any, url: str, link: str) -> dict[str, float]:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    transferred = {"bytes": 0.0}
    cdp.on(
        "Network.loadingFinished",
        lambda event: transferred.__setitem__("bytes", transferred["bytes"] + event["encodedDataLength"]),
    )
    started = time.perf_counter()
    page.goto(link, wait_until="commit", timeout=120_000)
    # Times since navigation start, stamped by the page itself (performance.now()).
    page.wait_for_selector("body[data-ready-at]", timeout=120_000)
    usable = float(page.locator("body").get_attribute("data-ready-at") or "nan") / 1000
    page.wait_for_selector("body[data-signed-in-at]", timeout=120_000)
    signed_in = float(page.locator("body").get_attribute("data-signed-in-at") or "nan") / 1000
    page.wait_for_selector("section.card[data-group]", timeout=120_000)
    with_groups = time.perf_counter() - started
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    offline_ready = time.perf_counter() - started
    # Offline start: the network gone, the app opened again from the service worker's cache.
    context.set_offline(True)
    cdp.send("Network.emulateNetworkConditions", {**SLOW_3G, "offline": True})
    page.goto("about:blank")
    started = time.perf_counter()
    page.goto(f"{url}/app/#/hari-ini")
    page.wait_for_selector("section.card[data-group]", timeout=30_000)
    offline_start = time.perf_counter() - started
    context.close()
    return {
        "usable_s": usable,
        "signed_in_s": signed_in,
        "hari_ini_s": with_groups,
        "offline_ready_s": offline_ready,
        "offline_start_s": offline_start,
        "transferred_bytes": transferred["bytes"],
    }


def run(*, repeats: int = 3, out: Path | None = None, workdir: Path | None = None) -> dict[str, Any]:
    """Measure, print and write the report; returns the figures."""
    from playwright.sync_api import sync_playwright

    workdir = workdir or REPO_ROOT / "var" / "bench-field-app"
    if workdir.exists():
        shutil.rmtree(workdir)
    app_dir = REPO_ROOT / "apps" / "field"
    sizes = shell_sizes(app_dir)
    total_raw = sum(raw for raw, _ in sizes.values())
    total_gzip = sum(gz for _, gz in sizes.values())
    runs = []
    with meetings_alone(workdir) as url, sync_playwright() as playwright:
        register_world(url)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            for _ in range(repeats):
                runs.append(_first_load(browser, url, enrolment_url(url)))
        finally:
            browser.close()
    figures = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    figures.update(shell_raw_bytes=total_raw, shell_gzip_bytes=total_gzip)
    kib, gz = total_raw / 1024, total_gzip / 1024
    usable, signed_in, hari_ini = figures["usable_s"], figures["signed_in_s"], figures["hari_ini_s"]
    ready, wire, offline_ms = (
        figures["offline_ready_s"],
        figures["transferred_bytes"] / 1024,
        figures["offline_start_s"] * 1000,
    )
    size_verdict = "within" if total_gzip <= BUDGET_BYTES else "OVER"
    load_verdict = "within" if usable <= BUDGET_FIRST_LOAD_SECONDS else "OVER"
    lines = [
        f"shell: {len(sizes)} files, {kib:.1f} KiB, {gz:.1f} KiB gzip (budget 150 KiB): {size_verdict}",
        f"first load on slow 3G (median of {repeats}): usable in {usable:.2f} s (budget 5 s: {load_verdict}), "
        f"signed in in {signed_in:.2f} s, 'Hari ini' with the groups in {hari_ini:.2f} s, "
        f"offline-ready in {ready:.2f} s, {wire:.1f} KiB over the wire",
        f"offline start (from the service worker's cache): {offline_ms:.0f} ms",
    ]
    print("\n".join(lines))
    out = out or REPO_ROOT / "docs" / "benchmarks-field-app.md"
    table = "\n".join(f"| `{name}` | {raw:,} | {gz:,} |" for name, (raw, gz) in sorted(sizes.items()))
    out.write_text(
        f"""# Field app budget (Aplikasi Pendamping)

Written by `uv run python -m tools.bench.field_app` (or `uv run python -m tools.bench --only field-app`)
on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Headless Debian Chromium, a 360×740 phone viewport, the meetings
service alone on this machine; first loads on Chrome DevTools' "Slow 3G" profile through CDP
`Network.emulateNetworkConditions` (2,000 ms round trip, 400 kbit/s down and up), median of {repeats}.
First-load times are from navigation start, stamped by the page (`performance.now()`).

| figure | value | budget |
|---|---|---|
| shell, gzip: what a phone downloads once ({kib:.1f} KiB raw, {len(sizes)} files) | {gz:.1f} KiB | ≤ 150 KiB |
| first load on slow 3G: first screen drawn, usable | {usable:.2f} s | ≤ 5 s |
| first load on slow 3G: enrolment exchanged, signed in | {signed_in:.2f} s | |
| first load on slow 3G: "Hari ini" with the groups | {hari_ini:.2f} s | |
| first load on slow 3G: shell precached, offline-ready | {ready:.2f} s | |
| bytes over the wire for the first load, with enrolment and worklist | {wire:.1f} KiB | |
| offline start from the service worker's cache | {offline_ms:.0f} ms | instant |

"Usable" is the moment the page has drawn its first screen (`body[data-ready]`; on an enrolment
link that is the app's frame saying "Mendaftarkan HP ini…"): at 2 s per round trip that is the
page, then every module at once (`modulepreload`). Signing in needs one more round
trip (the enrolment exchange), and the groups one more (the worklist, sent together with the
heartbeat). Every later start is from the cache and does not wait for the network.

| file | bytes | gzip bytes |
|---|---|---|
{table}
"""
    )
    print(f"wrote {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.field_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="first loads to take the median of (default 3)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks-field-app.md")
    args = parser.parse_args(argv)
    figures = run(repeats=args.repeats, out=args.out)
    within = figures["shell_gzip_bytes"] <= BUDGET_BYTES and figures["usable_s"] <= BUDGET_FIRST_LOAD_SECONDS
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
