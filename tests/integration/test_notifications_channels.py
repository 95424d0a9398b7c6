"""The notifier as a real process on a real broker: `kill -9` during delivery loses no alert, e-mail
over a real SMTP server (aiosmtpd), the delivery log's replay, and `alert_sent` through the outbox.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaProducer

from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.integration.test_notifications_delivery import (
    ALWAYS,
    GROUP_ID,
    World,
    deviation,
    event_types,
    kabupaten_supervisor,
    of_type,
)
from tools.stack import REPO_ROOT, free_port

pytestmark = pytest.mark.integration


@dataclass
class NotifierProcess:
    """`python -m services.notifications` as a child process, restartable on the same store."""

    bootstrap: str
    prefix: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PANTAU_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PANTAU_KAFKA_TOPIC_PREFIX": self.prefix,
            "PANTAU_NOTIFICATIONS_PORT": str(self.port),
            "PANTAU_NOTIFICATIONS_DATABASE_URL": f"sqlite:///{self.workdir / 'notifications.db'}",
            "PANTAU_NOTIFICATIONS_PUBLIC_BASE_URL": self.url,
            "PANTAU_NOTIFICATIONS_RETRY_INITIAL_SECONDS": "0.1",
            "PANTAU_NOTIFICATIONS_RETRY_MAX_SECONDS": "0.4",
            "PANTAU_NOTIFICATIONS_QUIET_HOURS_ENABLED": "false",
            "PANTAU_NOTIFICATIONS_INCIDENTS_ENABLED": "false",  # channel mechanics, one message per deviation
            **self.extra_env,
        }

    def start(self, timeout: float = 60) -> NotifierProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "notifications.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.notifications"],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise TimeoutError(f"notifier not ready:\n{self.log_tail()}")

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "notifications.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


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


@pytest.fixture
def processes() -> Iterator[list[NotifierProcess]]:
    started: list[NotifierProcess] = []
    yield started
    for process in started:
        process.stop()


def test_kill_9_at_several_points_loses_no_alert_and_duplicates_keep_their_webhook_id(
    world: World, processes: list[NotifierProcess]
) -> None:
    # Every message fails its first attempts, so deliveries are in flight whenever the notifier dies.
    receiver = world.receiver(fail_first=40)
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    notifier = NotifierProcess(world.bootstrap, world.prefix, world.tmp_path / "notifier")
    processes.append(notifier)
    notifier.start()
    sent = [deviation() for _ in range(25)]
    for item in sent:
        world.send(item)

    for attempts_seen in (8, 30, 55):  # while accepting, while retrying, while succeeding
        deadline = time.monotonic() + 60
        while len(receiver.received) < attempts_seen and time.monotonic() < deadline:
            time.sleep(0.02)
        notifier.kill9()
        notifier.start()

    wanted = {item.deviation_id for item in sent}
    deadline = time.monotonic() + 90
    while {hook.body["deviation_id"] for hook in receiver.accepted} != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    delivered = {hook.body["deviation_id"] for hook in receiver.accepted}
    assert delivered == wanted, f"lost: {wanted - delivered}\n{notifier.log_tail()}"
    ids_per_deviation: dict[str, set[str]] = {}
    for hook in receiver.received:
        if not hook.body:
            continue  # a request the kill cut off before its body arrived
        ids_per_deviation.setdefault(hook.body["deviation_id"], set()).add(hook.headers["webhook-id"])
        assert hook.signature_valid
    assert all(len(ids) == 1 for ids in ids_per_deviation.values()), ids_per_deviation

    # alert_sent went through the outbox: one per alert at least, none lost to a crash
    records = world.alerts(
        until=lambda rs: {d["data"]["deviation_id"] for d in of_type(rs, "notifications.alert_sent.v1")} >= wanted,
        timeout=60,
    )
    reported = {d["data"]["deviation_id"] for d in of_type(records, "notifications.alert_sent.v1")}
    assert reported == wanted, event_types(records)


def test_email_over_smtp_in_the_supervisors_language_with_text_and_html(
    world: World, processes: list[NotifierProcess]
) -> None:
    received: list[Message] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(message_from_bytes(envelope.content))
            return "250 OK"

    smtp_port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        english = kabupaten_supervisor("http://127.0.0.1:9/unused").model_copy(
            update={"webhook_url": None, "email": "koordinator@pantau.test", "language": "en"}
        )
        world.register(supervisors=[english])
        notifier = NotifierProcess(
            world.bootstrap,
            world.prefix,
            world.tmp_path / "notifier",
            extra_env={"PANTAU_NOTIFICATIONS_SMTP_HOST": "127.0.0.1", "PANTAU_NOTIFICATIONS_SMTP_PORT": str(smtp_port)},
        )
        processes.append(notifier)
        notifier.start()
        world.send(deviation())
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(received) == 1, notifier.log_tail()
        message = received[0]
        assert message["To"] == "koordinator@pantau.test"
        assert message["Subject"].startswith("[Pantau] Alert (warning): Kelompok Mawar")
        assert message["Message-ID"].startswith("<msg_")
        assert message.get_content_type() == "multipart/alternative"
        parts = {
            part.get_content_type(): part.get_payload(decode=True).decode()
            for part in message.walk()
            if not part.is_multipart()
        }
        assert "was held without facilitator Siti Rahmawati" in parts["text/plain"]
        assert "/ack" in parts["text/plain"]
        assert "<a href=" in parts["text/html"]
        assert "Acknowledge" in parts["text/html"]
        records = world.alerts(until=lambda rs: "notifications.alert_sent.v1" in event_types(rs))
        assert of_type(records, "notifications.alert_sent.v1")[0]["data"]["channel"] == "email"
    finally:
        controller.stop()


def test_a_given_up_delivery_is_in_the_log_and_replays_with_the_same_webhook_id(
    world: World, processes: list[NotifierProcess]
) -> None:
    receiver = world.receiver(fail_first=ALWAYS)
    world.register(supervisors=[kabupaten_supervisor(receiver.url)])
    notifier = NotifierProcess(
        world.bootstrap,
        world.prefix,
        world.tmp_path / "notifier",
        extra_env={"PANTAU_NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS": "2"},
    )
    processes.append(notifier)
    notifier.start()
    world.send(deviation())
    world.alerts(until=lambda rs: "notifications.delivery_failed.v1" in event_types(rs))
    admin = {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='admin', role='admin', scope='*')}"}
    with httpx.Client(base_url=f"{notifier.url}/api/v1", timeout=10, headers=admin) as api:
        failed = api.get("/deliveries", params={"status": "failed"}).json()
        assert [(row["channel"], row["attempts"]) for row in failed] == [("webhook", 2)]
        message_id = failed[0]["message_id"]
        receiver.fail_first = 0
        replayed = api.post(f"/deliveries/{message_id}/replay")
        assert replayed.status_code == 200, replayed.text
        assert api.post("/deliveries/msg_nope/replay").status_code == 404
        supervisor_token = mint_token(AuthSettings(), subject="SUP-1871", role="supervisor", scope="18.71")
        supervisor = {"Authorization": f"Bearer {supervisor_token}"}
        assert api.post(f"/deliveries/{message_id}/replay", headers=supervisor).status_code == 403
    accepted = receiver.wait_for(1, timeout=30)
    assert len(accepted) == 1
    assert {hook.headers["webhook-id"] for hook in receiver.received} == {message_id}
    assert accepted[0].body["group"]["id"] == GROUP_ID
