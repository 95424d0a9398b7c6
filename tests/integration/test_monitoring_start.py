"""A monitoring worker that cannot reach its broker waits for it, and still stops when asked: a
Ctrl-C or a pod's SIGTERM must not wait out the whole start timeout (300 s). A real process, a port
nobody listens on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.stack import REPO_ROOT, free_port

pytestmark = pytest.mark.integration


def test_a_worker_waiting_for_an_unreachable_broker_stops_on_sigterm(tmp_path: Path) -> None:
    log_path = tmp_path / "monitoring.log"
    environment = {
        **os.environ,
        "PANTAU_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "PANTAU_MONITORING_WEB_PORT": str(free_port()),
        "PANTAU_MONITORING_DATA_DIR": str(tmp_path / "data"),
        "PANTAU_MONITORING_CONSUMER": "loop",
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.monitoring"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "broker not reachable, retrying" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # At most one attempt to reach the broker (bounded to 10 s) finishes first; never the 300 s.
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - asked < 30
        assert "stopped while waiting for the broker" in log_path.read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
