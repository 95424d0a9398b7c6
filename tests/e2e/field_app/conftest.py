"""Fixtures of the field app's browser tests: the four services on the real broker (started once for
the module), the supervisors' webhook receiver, Debian's Chromium, and one fresh phone per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from shared.settings import DEVELOPMENT_WEBHOOK_SECRET
from tests.e2e.field_app.support import enrolment_url, register_world
from tests.fixtures.kafka import skip_or_fail
from tools.stack import REPO_ROOT, Stack
from tools.topics import create_topics
from tools.webhook_receiver import WebhookReceiver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PHONE = {"viewport": {"width": 360, "height": 740}, "locale": "id-ID", "timezone_id": "Asia/Jakarta"}


@dataclass
class FieldWorld:
    stack: Stack
    receiver: WebhookReceiver
    prefix: str
    bootstrap: str
    app_dir: Path

    @property
    def meetings_url(self) -> str:
        return self.stack.url("meetings")

    @property
    def database(self) -> Path:
        return self.stack.workdir / "meetings" / "meetings.db"


@pytest.fixture(scope="module")
def field_world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldWorld]:
    workdir = tmp_path_factory.mktemp("field")
    prefix = f"f{uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, prefix=prefix)
    # The app is served from a copy, so a test can deploy a new version of it.
    app_dir = workdir / "app"
    shutil.copytree(REPO_ROOT / "apps" / "field", app_dir)
    receiver = WebhookReceiver(secret=DEVELOPMENT_WEBHOOK_SECRET).start()
    stack = Stack(
        bootstrap_servers=kafka_bootstrap,
        workdir=workdir / "stack",
        topic_prefix=prefix,
        extra_env={"PANTAU_MEETINGS_FIELD_APP_DIR": str(app_dir)},
    )
    try:
        stack.start(timeout=120)
        register_world(stack.url("meetings"), webhook_url=receiver.url)
        yield FieldWorld(stack, receiver, prefix, kafka_bootstrap, app_dir)
    finally:
        stack.stop()
        receiver.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/bootstrap.sh does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright Python package is not installed (uv sync)")
    # Requests of a page that a service worker controls are routed and observed at the context,
    # which Playwright does for Chromium with this switch.
    os.environ["PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS"] = "1"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phone(chromium: Any, field_world: FieldWorld) -> Iterator[Any]:
    """A fresh phone (browser context: its own IndexedDB, service worker and cache), enrolled."""
    context = chromium.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(enrolment_url(field_world.meetings_url))
        page.wait_for_selector("section.card[data-group]", timeout=30_000)
        # A phone is ready for the field once the service worker holds the shell: only then can a
        # page opened without signal start. Tests that go offline and open a page rely on it, and
        # the worker installs in the background, so wait for it rather than race it.
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
        yield page
    finally:
        context.close()
