"""Start Pantau's four services as real processes against a broker, and stop them cleanly.

Used by the run command (`python -m tools.run`) and by the end-to-end tests, so both start the
services exactly the same way: `python -m services.<name>` with environment settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tools.kafka_broker import free_port

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
__all__ = ["DEFAULT_PORTS", "REPO_ROOT", "SERVICES", "Stack", "free_port", "port_is_free"]

SERVICES = ("meetings", "monitoring", "notifications", "analytics")
DEFAULT_PORTS = {"meetings": 8001, "monitoring": 8002, "notifications": 8003, "analytics": 8004}


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class ServiceProcess:
    """One running service."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """The four services on one broker; each writes its log and data under `workdir`."""

    bootstrap_servers: str
    workdir: Path
    topic_prefix: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def env_for(self, name: str, port: int) -> dict[str, str]:
        data = self.workdir / name
        data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PANTAU_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "PANTAU_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "PANTAU_MEETINGS_PORT": str(port),
            "PANTAU_MEETINGS_DATABASE_URL": f"sqlite:///{data / 'meetings.db'}",
            "PANTAU_MONITORING_WEB_PORT": str(port),
            "PANTAU_MONITORING_DATA_DIR": str(data),
            "PANTAU_NOTIFICATIONS_PORT": str(port),
            "PANTAU_NOTIFICATIONS_DATABASE_URL": f"sqlite:///{data / 'notifications.db'}",
            "PANTAU_NOTIFICATIONS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # A local stack shows an incident seconds after its deviations, not after production's minutes.
            "PANTAU_NOTIFICATIONS_INCIDENT_GROUP_WAIT_SECONDS": "5",
            "PANTAU_ANALYTICS_WEB_PORT": str(port),
            "PANTAU_ANALYTICS_DATA_DIR": str(data),
            **self.extra_env,
        }
        return env

    def start(self, timeout: float = 120) -> None:
        """Start every service and wait until each answers `/readyz` with 200."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            port = self.ports.get(name) or free_port()
            log_path = self.workdir / f"{name}.log"
            log.info("starting %s on port %d (log %s)", name, port, log_path)
            with log_path.open("ab") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"],
                    cwd=REPO_ROOT,
                    env=self.env_for(name, port),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes[name] = ServiceProcess(name, port, log_path, process)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.processes)
        with httpx.Client(timeout=2) as client:
            while pending:
                for name in sorted(pending):
                    service = self.processes[name]
                    if service.process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {service.process.returncode}:\n{self.tail(name)}")
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{service.base_url}/readyz").status_code == 200:
                            log.info("%s ready at %s", name, service.base_url)
                            pending.discard(name)
                if pending and time.monotonic() > deadline:
                    details = "\n".join(f"--- {name}:\n{self.tail(name)}" for name in sorted(pending))
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}\n{details}")
                time.sleep(0.25)

    def url(self, name: str) -> str:
        return self.processes[name].base_url

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.processes[name].log_path
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM every service (their shutdown hooks run), SIGKILL stragglers."""
        for service in self.processes.values():
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                service.process.wait(remaining)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", service.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait(5)
        self.processes.clear()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
