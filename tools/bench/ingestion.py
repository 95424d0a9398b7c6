"""(i) Ingestion: `POST /meetings` one by one and `POST /meetings/batch`, on the meetings service and,
in the same run, on a bare FastAPI endpoint doing the same inserts on the same database
(`tools/bench/baseline_app.py`) with the same number of processes.

Run once per store: SQLite (one process, as `make run`) and PostgreSQL with several processes
(`PANTAU_MEETINGS_WORKERS`), the outbox relay publishing to the broker meanwhile. Clients are
`tools/bench/load.py` (keep-alive connections on one asyncio loop, requests pre-encoded), so they
take as little of the shared cores as they can. Each repeat measures, in turn: service single,
baseline single, service batches, baseline batches, so noise on the machine falls on both alike.
The service's CPU per report is the CPU time of its process tree (every worker, the relay thread
included) during the single-report run, divided by the reports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from shared import topics
from shared.auth import mint_token
from shared.settings import AuthSettings
from tools.bench.load import encode_request, post_all
from tools.bench.measure import _admin_headers, _Registry, end_offsets, percentile, start_services
from tools.kafka_broker import free_port
from tools.relay_bench import local_postgres
from tools.stack import REPO_ROOT, Stack
from tools.topics import create_topics

log = logging.getLogger("pantau.bench")


@dataclass
class IngestionRun:
    """One store's figures: each list holds one value per repeat."""

    store: str
    workers: int
    concurrency: int
    single_reports: int
    batch_size: int
    batches: int
    single_rps: list[float] = field(default_factory=list)
    single_p50_ms: list[float] = field(default_factory=list)
    single_p99_ms: list[float] = field(default_factory=list)
    single_cpu_ms: list[float] = field(default_factory=list)
    batch_reports_per_s: list[float] = field(default_factory=list)
    baseline_single_rps: list[float] = field(default_factory=list)
    baseline_single_p99_ms: list[float] = field(default_factory=list)
    baseline_single_cpu_ms: list[float] = field(default_factory=list)
    baseline_batch_reports_per_s: list[float] = field(default_factory=list)
    outbox_drain_seconds: float = 0.0
    published: int = 0


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and every descendant still alive (Linux /proc)."""
    total = 0.0
    pending = [pid]
    ticks = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            # Fields after the command name (which may hold spaces): utime, stime are the 12th and 13th.
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        for task in Path(f"/proc/{current}").glob("task/*/children"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in task.read_text().split()]
    return total


@contextlib.contextmanager
def _baseline(database_url: str, workers: int, log_path: Path) -> Iterator[tuple[int, int]]:
    """The bare FastAPI app on the same database; yields (port, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "PANTAU_BASELINE_DATABASE_URL": database_url,
        "PANTAU_BASELINE_PORT": str(port),
        "PANTAU_BASELINE_WORKERS": str(workers),
    }
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.baseline_app"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"baseline app did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _measure_single(port: int, pid: int, requests: list[bytes], concurrency: int) -> tuple[float, float, float, float]:
    """(reports/s, p50 ms, p99 ms, server CPU ms per report) of one run of single reports."""
    cpu_before = _tree_cpu_seconds(pid)
    run = post_all("127.0.0.1", port, requests, concurrency=concurrency)
    cpu = _tree_cpu_seconds(pid) - cpu_before
    if run.failures:
        raise RuntimeError(f"{len(run.failures)} single reports failed, first: {run.failures[0]}")
    return (
        len(requests) / run.elapsed,
        percentile(run.latencies, 0.5) * 1000,
        percentile(run.latencies, 0.99) * 1000,
        cpu / len(requests) * 1000,
    )


def _measure_batches(port: int, requests: list[bytes], size: int, concurrency: int) -> float:
    """Reports/s of a run of batches; every report of every batch must be created."""
    run = post_all("127.0.0.1", port, requests, concurrency=concurrency, keep_bodies=True)
    if run.failures:
        raise RuntimeError(f"{len(run.failures)} batches failed, first: {run.failures[0]}")
    for body in run.bodies:
        counts = orjson.loads(body)["counts"]
        if counts["created"] != size:
            raise RuntimeError(f"batch not fully created: {counts}")
    return len(requests) * size / run.elapsed


def ingestion(
    bootstrap: str,
    workdir: Path,
    *,
    store: str,
    repeats: int,
    workers: int = 1,
    single_reports: int = 3000,
    batches: int = 8,
    concurrency: int = 8,
) -> IngestionRun:
    """Measure one store (`sqlite` or `postgresql`) with `workers` processes, beside the baseline."""
    prefix = f"bench-ingest-{store}."
    create_topics(bootstrap, prefix=prefix)
    run = IngestionRun(
        store=store,
        workers=workers,
        concurrency=concurrency,
        single_reports=single_reports,
        batch_size=500,
        batches=batches,
    )
    root = workdir / f"ingestion-{store}"
    with contextlib.ExitStack() as stack_exit:
        if store == "postgresql":
            database_url = stack_exit.enter_context(local_postgres(workdir, settings=("max_connections=300",)))
        else:
            database_url = f"sqlite:///{root / 'meetings' / 'meetings.db'}"
        stack = Stack(
            bootstrap_servers=bootstrap,
            workdir=root,
            topic_prefix=prefix,
            extra_env={"PANTAU_MEETINGS_DATABASE_URL": database_url, "PANTAU_MEETINGS_WORKERS": str(workers)},
        )
        stack_exit.callback(stack.stop)
        start_services(stack, ("meetings",))
        service = stack.processes["meetings"]
        with httpx.Client(base_url=f"{service.base_url}/api/v1", headers=_admin_headers(), timeout=60) as client:
            registry = _Registry(client, groups=200, webhook_url=None, tag="I")
        baseline_port, baseline_pid = stack_exit.enter_context(_baseline(database_url, workers, root / "baseline.log"))
        token = mint_token(AuthSettings(), subject="bench", role="admin", scope="*")
        base = datetime.now(UTC) - timedelta(days=20)
        created = 0
        last_request_at = time.monotonic()

        def singles(port: int, offset: int) -> list[bytes]:
            return [
                encode_request(
                    "127.0.0.1",
                    port,
                    "/api/v1/meetings",
                    orjson.dumps(
                        registry.report(registry.groups[n % len(registry.groups)], base - timedelta(minutes=offset + n))
                    ),
                    token,
                )
                for n in range(single_reports)
            ]

        def batch_requests(port: int, offset: int, tag: str) -> list[bytes]:
            requests = []
            for number in range(batches):
                start = offset + number * 500
                body: dict[str, Any] = {
                    "device_id": f"hp-bench-{tag}-{number}",
                    # One facilitator per batch (50 groups each): concurrent batches are different phones.
                    "facilitator_id": registry.facilitator_of[registry.groups[(number % 4) * 50]],
                    "synced_through": datetime.now(UTC).isoformat(),
                    "reports": [
                        registry.report(
                            registry.groups[(number % 4) * 50 + n % 50], base - timedelta(minutes=start + n)
                        )
                        for n in range(500)
                    ],
                }
                requests.append(encode_request("127.0.0.1", port, "/api/v1/meetings/batch", orjson.dumps(body), token))
            return requests

        batch_concurrency = max(1, workers)
        for repeat in range(repeats):
            offset = repeat * 100_000
            rps, p50, p99, cpu = _measure_single(
                service.port, service.process.pid, singles(service.port, offset), concurrency
            )
            run.single_rps.append(rps)
            run.single_p50_ms.append(p50)
            run.single_p99_ms.append(p99)
            run.single_cpu_ms.append(cpu)
            created += single_reports
            rps, _, p99, cpu = _measure_single(
                baseline_port, baseline_pid, singles(baseline_port, offset + 20_000), concurrency
            )
            run.baseline_single_rps.append(rps)
            run.baseline_single_p99_ms.append(p99)
            run.baseline_single_cpu_ms.append(cpu)
            log.info(
                "%s ×%d single run %d: %.0f reports/s, p50 %.1f ms, p99 %.1f ms, %.2f ms CPU/report "
                "(baseline %.0f reports/s, p99 %.1f ms, %.2f ms CPU/report)",
                store,
                workers,
                repeat + 1,
                run.single_rps[-1],
                p50,
                run.single_p99_ms[-1],
                run.single_cpu_ms[-1],
                rps,
                p99,
                cpu,
            )
            requests = batch_requests(service.port, offset + 40_000, f"{repeat}")
            run.batch_reports_per_s.append(_measure_batches(service.port, requests, 500, batch_concurrency))
            created += batches * 500
            requests = batch_requests(baseline_port, offset + 60_000, f"b{repeat}")
            run.baseline_batch_reports_per_s.append(_measure_batches(baseline_port, requests, 500, batch_concurrency))
            log.info(
                "%s ×%d batch run %d: %.0f reports/s (baseline %.0f)",
                store,
                workers,
                repeat + 1,
                run.batch_reports_per_s[-1],
                run.baseline_batch_reports_per_s[-1],
            )
            last_request_at = time.monotonic()
        # The outbox publishes after commit; wait until every meeting event is on the topic.
        topic = f"{prefix}{topics.MEETINGS_EVENTS}"
        deadline = time.monotonic() + 300
        while True:
            published = sum(end_offsets(bootstrap, topic).values())
            if published >= created or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        run.outbox_drain_seconds = time.monotonic() - last_request_at
        run.published = published
    return run
