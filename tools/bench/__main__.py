"""`python -m tools.bench` (also `make bench`): run every benchmark, print a table and write
docs/benchmarks.md with the machine's facts.

Starts its own Kafka 3.9.1 broker under var/bench/ and, one benchmark at a time, the services it
measures: (i) ingestion on the meetings service, (ii) monitoring replay of a generated programme
beside the broker's raw consumer and a bare aiokafka loop over the same pure rules, (iii) end-to-end
latency from report accepted to webhook delivered, (iv) memory per 100,000 groups, (v) accuracy of
the published deviations against the generator's oracle. The default scale finishes in well under
ten minutes on two cores; then (vi) the field app's budget, (vii) the alert budget and (viii) a
monitoring worker's restart with 100,000 groups of state (`tools.bench.restart`, its own broker,
about ten more minutes) write pages of their own.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

from services.monitoring.settings import REPLAY_BATCH_SIZES
from shared.logs import configure_logging
from tools.bench.alerts import run as alert_budget
from tools.bench.ingestion import IngestionRun, ingestion
from tools.bench.measure import (
    KILL_AT,
    KILL_BATCH,
    LatencyResult,
    ReplayResult,
    accuracy,
    latency,
    median,
    phase_split,
    replay,
)
from tools.figures import write_figures
from tools.generator.oracle import ORACLE_RULES
from tools.generator.programme import Shape
from tools.kafka_broker import KAFKA_VERSION, LocalKafkaBroker, ensure_jars
from tools.stack import REPO_ROOT

log = logging.getLogger("pantau.bench")
LIBRARIES = ("aiokafka", "kafka-python", "faust-streaming", "fastapi", "uvicorn", "httpx", "pydantic", "sqlalchemy")


def machine_facts() -> dict[str, str]:
    """Cores, memory, CPU model, OS, Python, Java, Kafka and library versions."""
    facts = {"cores": str(os.cpu_count())}
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("\n", 1)[0].split()[1])
        facts["memory"] = f"{total_kib / 1024 / 1024:.1f} GiB"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        if models:
            facts["cpu"] = models[0]
    facts["os"] = platform.platform()
    facts["python"] = platform.python_version()
    java = shutil.which("java")
    if java:
        output = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
        facts["java"] = output.splitlines()[0] if output else "?"
    facts["kafka"] = f"Apache Kafka {KAFKA_VERSION} (KRaft, single node, local JVM)"
    for library in LIBRARIES:
        try:
            facts[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            facts[library] = "not installed"
    return facts


def _loop_rows(replayed: ReplayResult, raw: float, bare: float) -> list[str]:
    """The loop consumer's rows (`PANTAU_MONITORING_CONSUMER=loop`) beside the Faust worker's."""
    loop, worker = replayed.loop_per_s, replayed.worker_per_s
    rows = [
        "| | **monitoring worker** as it runs by default: the loop consumer (`PANTAU_MONITORING_CONSUMER=loop`: "
        "aiokafka batches, one transaction each) until committed offsets reach the end | "
        f"{_fmt(loop)} events/s (start-up {replayed.loop_startup_seconds:.1f} s excluded); opened deviation ids "
        f"against the Faust worker: {replayed.loop_missing} missing, {replayed.loop_extra} extra | "
        f"{_fmt(raw)} raw / {_fmt(bare)} bare / {_fmt(worker)} Faust worker | {_fmt(loop / raw, 2)} / "
        f"{_fmt(loop / bare, 2)} / {_fmt(loop / worker, 2) if worker else '–'} |",
    ]
    if replayed.loop_sources_per_s:
        sources = replayed.loop_sources_per_s
        bare_sources = median(replayed.bare_loop_sources_per_s) if replayed.bare_loop_sources_per_s else 0.0
        rows.append(
            "| | one loop worker with the rules from the sources (`PANTAU_MONITORING_NATIVE=off`; the other "
            "workers here run them compiled by mypyc, as a worker does by default) | "
            f"{_fmt(sources)} events/s; opened ids against the Faust worker: "
            f"{replayed.loop_sources_missing} missing, {replayed.loop_sources_extra} extra | {_fmt(loop)} one loop "
            f"worker (compiled) / {_fmt(bare_sources)} bare (sources) | {_fmt(sources / loop, 2)} / "
            f"{_fmt(sources / bare_sources, 2) if bare_sources else '–'} |"
        )
    if replayed.loop_pair_ran:
        pace = (
            f"{_fmt(replayed.loop_pair_per_s)} events/s{_pair_window(replayed.loop_pair_timed_s)}"
            if replayed.loop_pair_per_s
            else "not timed (the first worker to be ready had committed the whole load before the other was ready)"
        )
        ratio = _fmt(replayed.loop_pair_per_s / loop, 2) if replayed.loop_pair_per_s else "–"
        rows.append(
            "| | two loop workers in one consumer group, together (in batches of 20,000 records: with the "
            f"default {REPLAY_BATCH_SIZES['loop']:,} the first to be ready takes this whole load in one batch) "
            f"| {pace}; "
            "opened ids against the Faust worker: "
            f"{replayed.loop_pair_missing} missing, {replayed.loop_pair_extra} extra | {_fmt(loop)} one loop worker | "
            f"{ratio} |"
        )
    if replayed.loop_kill_ran:
        after = replayed.loop_kill_after_s
        rows.append(
            "| | two loop workers in one consumer group, one killed (`kill -9`, not restarted) once both "
            f"were ready and at least {KILL_AT:.0%} of the load was committed, while it still held records it had "
            f"not committed (in batches of {KILL_BATCH:,} records, so that the kill lands between two commits) | "
            + (
                f"killed with {replayed.loop_kill_share:.0%} of the load committed (the first worker to be ready "
                f"folds while the other starts); the survivor had committed the whole load {after:.1f} s after "
                "the kill (the session timeout, then its take-over)"
                if after is not None
                else "no kill came: the load was committed first"
            )
            + f"; opened ids against the Faust worker: {replayed.loop_kill_missing} missing, "
            f"{replayed.loop_kill_extra} extra | the same pair without the kill | – |"
        )
    scored = [
        row
        for row in accuracy(replayed.oracle, replayed.loop_published)
        if row.rule in ORACLE_RULES and (row.expected or row.published)
    ]
    precisions = [row.precision for row in scored if row.precision is not None]
    recalls = [row.recall for row in scored if row.recall is not None]
    if precisions and recalls:
        rows.append(
            "| | the loop worker's opened deviations against the oracle (as in the accuracy table below) | "
            f"lowest precision {min(precisions):.3f}, lowest recall {min(recalls):.3f} over "
            f"{len(scored)} rules | | |"
        )
    rows.append(
        f"| | where the loop worker's batches spent {replayed.loop_batch_seconds:.1f} s "
        f"({replayed.loop_batches:,} batches) | {phase_split(replayed.loop_batch_phases) or 'not reported'} | | |"
    )
    return rows


PAIR_TIMED_ENOUGH_S = 5.0  # two workers timed for less than this measured their start-up, not their pace


def _pair_window(seconds: float) -> str:
    """How long two workers ran together after both were ready: a replay shorter than a rebalance
    measures the start-up, not the pair's pace."""
    if seconds >= PAIR_TIMED_ENOUGH_S:
        return ""
    return f" (timed over {seconds:.1f} s after both were ready: too short a replay to show the pair's pace)"


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def render(
    facts: dict[str, str],
    *,
    ingest: list[IngestionRun],
    replayed: ReplayResult | None,
    latent: LatencyResult | None,
    repeats: int,
    seconds: float,
) -> str:
    """The Markdown report (also printed)."""
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `uv run python -m tools.bench` (`make bench`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"in {seconds / 60:.1f} minutes. Medians of {repeats} runs where a run is cheap (marked ×{repeats}); "
        "each figure is from the same run as its baseline. Re-run the command to refresh this page.",
        "",
        "## Machine",
        "",
        "| fact | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in facts.items()],
        "",
        "## Results",
        "",
        "| benchmark | figure | value | baseline (same run) | ratio |",
        "|---|---|---|---|---|",
    ]
    for run in ingest:
        lines += _ingestion_rows(run, repeats)
    if replayed is not None:
        worker = replayed.worker_per_s
        raw = median(replayed.raw_consumer_per_s)
        bare = median(replayed.bare_loop_per_s)
        ceiling = median(replayed.faust_empty_per_s) if replayed.faust_empty_per_s else 0.0
        groups = replayed.groups or 1
        lines += [
            f"| (ii) replay | generated: {replayed.facilitators} facilitators, {replayed.groups} groups, "
            f"{len(replayed.shape.periods())} months | {replayed.records:,} records "
            f"({replayed.meetings_topic_records:,} on monitoring's sources), generated in "
            f"{replayed.generate_seconds:.1f} s | | |",
            f"| | produced onto Kafka (aiokafka, batched) | {_fmt(replayed.produce_per_s)} records/s | | |",
            f"| | broker raw consumer (aiokafka) ×{repeats} | {_fmt(raw)} events/s | | 1.00 |",
            "| | bare aiokafka loop + `services.monitoring.engine`, the rules compiled as the worker runs them "
            f"(`tools/bench/bare_loop.py`) ×{len(replayed.bare_loop_per_s)} | {_fmt(bare)} events/s | "
            f"{_fmt(raw)} raw | {_fmt(bare / raw, 2)} |",
            *(
                [
                    "| | the same bare loop with the rules from the sources ×1 | "
                    f"{_fmt(median(replayed.bare_loop_sources_per_s))} events/s | {_fmt(bare)} compiled | "
                    f"{_fmt(median(replayed.bare_loop_sources_per_s) / bare, 2)} |"
                ]
                if replayed.bare_loop_sources_per_s
                else []
            ),
            f"| | Faust worker whose agent only counts (`tools.bench.faust_ceiling`: Faust's ceiling) ×{repeats} | "
            f"{_fmt(ceiling)} events/s | {_fmt(raw)} raw | {_fmt(ceiling / raw, 2)} |",
            f"| | monitoring worker on Faust (`PANTAU_MONITORING_CONSUMER=faust`, event clock) until committed "
            "offsets reach the end | "
            f"{_fmt(worker)} events/s (start-up {replayed.worker_startup_seconds:.1f} s excluded) | "
            f"{_fmt(raw)} raw / {_fmt(bare)} bare / {_fmt(ceiling)} Faust's ceiling | {_fmt(worker / raw, 2)} / "
            f"{_fmt(worker / bare, 2)} / {_fmt(worker / ceiling, 2) if ceiling else '–'} |",
            *(
                [
                    "| | two Faust monitoring workers in one consumer group (two processes; the 2 cores shared "
                    f"with the broker), together | {_fmt(replayed.pair_per_s)} events/s; opened deviation ids "
                    "against one worker (the facilitator-level rule aside, as in the fault runs): "
                    f"{replayed.pair_missing} missing, {replayed.pair_extra} extra | {_fmt(worker)} one worker "
                    f"| {_fmt(replayed.pair_per_s / worker, 2) if worker else '–'} |"
                ]
                if replayed.pair_per_s
                else []
            ),
            f"| | where the worker's batches spent {replayed.worker_batch_seconds:.1f} s "
            f"({replayed.worker_batches:,} batches; `pantau_monitoring_batch_phase_seconds`) | "
            f"{phase_split(replayed.worker_batch_phases) or 'not reported'} | | |",
            *(_loop_rows(replayed, raw, bare) if replayed.loop_per_s else []),
            f"| (iv) memory | rules' per-group state as the worker's table stores it (compact bytes), "
            "per 100,000 groups | "
            f"{_fmt(replayed.state_bytes / max(1, replayed.state_groups) * 100_000 / 2**20)} MiB | | |",
            f"| | worker RSS at ready → caught up ({groups} groups; too few to extrapolate the difference) | "
            f"{replayed.worker_rss_start_mib:.0f} → {replayed.worker_rss_end_mib:.0f} MiB | | |",
        ]
    if latent is not None:
        lines.append(
            f"| (iii) end-to-end | report accepted → webhook delivered at {latent.rate_per_s:g} reports/s "
            f"(p50 / p99, {latent.delivered}/{latent.sent} delivered) | {_fmt(latent.p50, 2)} s / "
            f"{_fmt(latent.p99, 2)} s | | |"
        )
    if replayed is not None:
        lines += [
            "",
            "## (v) Accuracy against the oracle",
            "",
            "Opened deviations on `monitoring.deviations` of the replay above, compared by "
            "(rule, group, occurrence) with the oracle of `tools/generator/oracle.py`; the oracle's "
            "ambiguous items count neither way. A rule not built yet shows recall 0.",
            "",
            "| rule | oracle | published | true positives | precision | recall |",
            "|---|---|---|---|---|---|",
        ]
        for row in accuracy(replayed.oracle, replayed.published):
            if row.rule not in ORACLE_RULES:
                lines.append(f"| `{row.rule}` | not in the oracle | {row.published} | – | – | – |")
                continue
            lines.append(
                f"| `{row.rule}` | {row.expected} | {row.published} | {row.true_positives} | "
                f"{_fmt(row.precision, 3)} | {_fmt(row.recall, 3)} |"
            )
        ambiguous = Counter(item.rule for item in replayed.oracle.ambiguous)
        lines += [
            "",
            f"Ambiguous oracle items left out: {dict(sorted(ambiguous.items())) or 'none'}. "
            f"Deviation events seen: {dict(sorted(replayed.deviation_events.items()))}.",
        ]
    if ingest:
        lines += [
            "",
            "## (i) Ingestion: where the CPU goes",
            "",
            "Profiled on 2026-12-02 (py-spy sampling the thread holding the GIL, SQLite, no broker, 8 clients; "
            "`uv run --with py-spy py-spy record -p <meetings pid> --gil`), before the write path was reworked:",
            "",
            "- **Single report**: about 3 to 4 ms of server CPU. Half of it is uvicorn, Starlette and FastAPI "
            "(middleware, the hand-off of a sync route to a worker thread, sending the answer); the bare baseline "
            "pays that part too. Then SQLAlchemy: eight statements per report (group, earlier report, "
            "device, savepoint, insert, outbox, scheduled period read, scheduled period insert), the lookup "
            "statements built and their cache keys computed anew per request, and the `ON CONFLICT` insert "
            "compiled on every request (SQLAlchemy cannot cache it). The event was dumped by pydantic three "
            "times; the edge parsed the JSON body a second time. JWT decoding was under 2 %.",
            "- **Batch**: 1.8 ms of CPU per report: a savepoint and eight statements per item, every item "
            "screened for national IDs twice (by the edge and by the item, 20 %), the body parsed twice (12 %).",
            "",
            "What changed (`services/meetings/README.md`, *The write path*): a batch is one lookup query per "
            "table, items decided without the store, one multi-row insert per table; a single report is one "
            "lookup query built once, cached one-row `ON CONFLICT` inserts and no savepoint; the edge parses "
            "once and leaves a batch's items to themselves; tokens are verified once per process. Measured in "
            "process on SQLite, storing one report (lookup, decision, inserts, commit) went from 1.5 ms to "
            "0.76 ms of CPU; without a broker the server's CPU per single report went from about 3 to about "
            "2.2 ms, per batched report from 1.8 to 0.5 ms. With the broker, the outbox relay's publishing "
            "(kafka-python, gzip, in the same process) adds about 1 ms per single report to the figures above. "
            "The same benchmark on the code before the rework (one run, 2026-12-02): SQLite 149 single reports/s "
            "and 294 batched/s; PostgreSQL with three processes 138 single/s (p99 242 ms, 6.2 ms of CPU each) "
            "and 133 batched/s. Issue 15's aims (< 1 ms of CPU per single report, 1,000 single reports/s at "
            "p99 ≤ 50 ms, 10,000 batched/s) are not reached on these two shared cores: the bare baseline "
            "alone costs 1 to 1.7 ms per request here.",
        ]
    lines += [
        "",
        "## Method",
        "",
        "- One local broker for everything; each benchmark has its own topic prefix and starts only the "
        "services it measures (`tools/stack.py` environment), so runs never share state.",
        "- Ingestion (`tools/bench/ingestion.py`): 200 registered groups, 20 members each; single reports "
        "(admin token, 20 attendance lines, a device id) from keep-alive connections on one asyncio loop "
        "(`tools/bench/load.py`, requests pre-encoded, so the clients take as little of the shared cores as "
        "they can); batches of 500, one phone per batch, as many batches at a time as there are processes. "
        "Once on SQLite (one process, as `make run`) and once on a local PostgreSQL (default settings, "
        "fsync on) with `PANTAU_MEETINGS_WORKERS` processes; the outbox relay publishes to the broker "
        "while the requests run. The baseline is `tools/bench/baseline_app.py`: a bare FastAPI endpoint "
        "doing the same inserts (one `meetings` and one `outbox` row per report; multi-row for a batch) on "
        "the same database with the same number of processes, and none of the service's work (no token, "
        "no validation, no registry, no idempotency, no privacy screen, no event). Each repeat runs "
        "service and baseline back to back. CPU per report is the user + system time of the server's "
        "process tree during the single-report run. The clients, the broker and PostgreSQL share the "
        "same cores with the server.",
        "- Replay: `tools.generator` at the stated scale, time-ordered by receipt time and produced by "
        "`tools/generator/kafka_driver.py`; the raw consumer and the bare loop read the monitoring "
        "worker's source topics from the beginning (the bare loop with the worker's collector settings, "
        "`shared/heap.py`); the worker runs with `PANTAU_MONITORING_CLOCK=event` "
        "and is timed until its consumer group's committed offsets equal the end offsets (Faust commits "
        "every few seconds, so its figure is conservative). Faust's ceiling is a Faust worker with the "
        "same settings whose agent only takes the records in batches and counts them (`tools/bench/"
        "faust_ceiling.py`): what any Faust-based worker on this machine can reach. The worker's batch "
        "time is split by `pantau_monitoring_batch_phase_seconds` (wall time, so CPU the broker takes "
        "on these two cores counts too): rules (decoding, the engine, building records), publish "
        "(deviations and signals, waited for), store (encoding the changed states into the table), "
        "changelog_send (handing those writes to the producer) and changelog_wait (the broker's "
        "acknowledgements). Then two workers, each its own process with its own port and data "
        "directory, in a consumer group of their own, replay the same records, timed the same way "
        "(both started together; what the first to be ready committed while the other started is not "
        "counted); their opened deviation ids are compared with the single worker's, the "
        "facilitator-level rule aside (it depends on the order partitions are read in, as in "
        "`docs/reliability.md`). Then the same two runs with the loop consumer "
        "(`PANTAU_MONITORING_CONSUMER=loop`, `services/monitoring/loop.py`: aiokafka batches, each one "
        "Kafka transaction of publications, state and offsets), its opened ids compared with the Faust "
        "worker's and with the oracle; its batch time splits into rules (the same fold, and encoding "
        "the changed states), commit (the transaction) and store (its memory and the wake index). "
        "Every worker runs the rules compiled by mypyc, as a worker does by default "
        "(`python -m tools.native build`, which `make setup` runs; built first when the sources changed); "
        "last, one loop worker runs them from the sources "
        "(`PANTAU_MONITORING_NATIVE=off`), in a consumer group of its own, timed and compared the same way. "
        "The bare loop (`tools.bench.measure.bare_rules_loop`) does what the worker does with the records, "
        f"in batches of the loop worker's replay batch ({REPLAY_BATCH_SIZES['loop']:,} records): decodes each, "
        "runs each group's "
        "records through `engine.step` together (as the worker folds a batch, group by group), encodes the "
        "deviation events and the states that changed, and freezes what outlived the batch, as the worker's "
        "collector does (`shared/heap.BatchCollector`), without Kafka's transactions: with the rules compiled "
        "in a process of its own (`tools/bench/bare_loop.py`), the same engine as the workers', once per "
        "repeat beside that repeat's raw read (the median is quoted), then once from the sources in the "
        "bench's process.",
        "- End-to-end: all four services and a webhook receiver; every report is chair-led, so each opens "
        "one `meeting.facilitator_absent` deviation and one alert. Notifications run with one message "
        "per deviation (`PANTAU_NOTIFICATIONS_INCIDENTS_ENABLED=false`) so that each report has a webhook "
        "of its own: the figure is the pipeline's speed. With incidents (the default) a group's first "
        "message also waits out the group_wait (minutes), on purpose.",
        "- Accuracy: the oracle is computed from the generated history alone (receipt times, the "
        "programme YAMLs' thresholds). Where precision drops only for time-driven rules (`meeting.overdue`, "
        "`plan.*`), compare with the pure engine folded over the same history in receipt-time order: the "
        "worker reads its source topics at different speeds in a replay, so its event-time watermark can "
        "run ahead of a group's slower topic. `facilitator.many_groups_deviating` is not in the oracle "
        "(its answer depends on when every other deviation resolves).",
        "- The machine may be shared (other test runs); repeat runs and medians damp that, not remove it.",
        "- Memory: the rules' per-group state serialised as the worker stores it in its table (MessagePack "
        "arrays, `services/monitoring/stored_state.py`; JSON before issue 14), "
        "summed over the replay's groups and scaled to 100,000; the worker's RSS is shown as measured "
        "(Faust's in-memory table keeps the same values as Python objects, so expect a multiple of it).",
    ]
    return "\n".join(lines) + "\n"


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "–"


def _ingestion_rows(run: IngestionRun, repeats: int) -> list[str]:
    """One store's ingestion rows: each figure beside the bare FastAPI baseline of the same run."""
    where = f"{'PostgreSQL' if run.store == 'postgresql' else 'SQLite'}, {run.workers} process"
    where += "es" if run.workers > 1 else ""
    single, base_single = median(run.single_rps), median(run.baseline_single_rps)
    p99, base_p99 = median(run.single_p99_ms), median(run.baseline_single_p99_ms)
    cpu, base_cpu = median(run.single_cpu_ms), median(run.baseline_single_cpu_ms)
    batch, base_batch = median(run.batch_reports_per_s), median(run.baseline_batch_reports_per_s)
    return [
        f"| (i) ingestion, {where} | `POST /meetings`, {run.concurrency} clients ×{repeats} | "
        f"{_fmt(single)} reports/s | {_fmt(base_single)} reports/s (bare FastAPI) | {_ratio(single, base_single)} |",
        f"| | latency p50 / p99 ×{repeats} | {_fmt(median(run.single_p50_ms), 1)} ms / {_fmt(p99, 1)} ms | "
        f"p99 {_fmt(base_p99, 1)} ms | {_ratio(p99, base_p99)} |",
        f"| | server CPU per single report (all processes, relay included) ×{repeats} | {_fmt(cpu, 2)} ms | "
        f"{_fmt(base_cpu, 2)} ms | {_ratio(cpu, base_cpu)} |",
        f"| | `POST /meetings/batch` ({run.batch_size} reports, {max(1, run.workers)} at a time) ×{repeats} | "
        f"{_fmt(batch)} reports/s | {_fmt(base_batch)} reports/s (bare FastAPI) | {_ratio(batch, base_batch)} |",
        f"| | outbox → Kafka drained after the last request | {_fmt(run.outbox_drain_seconds, 1)} s "
        f"({run.published} events) | | |",
    ]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.003, help="replay scale (default 0.003: ~1,200 groups)")
    parser.add_argument("--months", type=int, default=3, help="replayed months (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the cheap measurements (default 3)")
    parser.add_argument("--latency-rate", type=float, default=5, help="reports/s of the end-to-end run (default 5)")
    parser.add_argument("--latency-seconds", type=float, default=30, help="length of the end-to-end run (default 30)")
    parser.add_argument(
        "--only",
        choices=("ingestion", "replay", "latency", "field-app", "alerts", "restart"),
        action="append",
        help="run only these (repeatable)",
    )
    parser.add_argument(
        "--meetings-workers",
        type=int,
        default=3,
        help="meetings processes (PANTAU_MEETINGS_WORKERS) of the PostgreSQL ingestion run (default 3)",
    )
    parser.add_argument(
        "--ingestion-store",
        choices=("sqlite", "postgresql"),
        action="append",
        help="stores of the ingestion run (default both)",
    )
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "var" / "bench", help="broker and service data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md", help="report to write")
    parser.add_argument(
        "--alerts-out", type=Path, default=REPO_ROOT / "docs" / "benchmarks-alerts.md", help="alert budget report"
    )
    args = parser.parse_args(argv)
    configure_logging("bench", "INFO")
    for noisy in ("aiokafka", "kafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    selected = set(args.only or ("ingestion", "replay", "latency", "field-app", "alerts", "restart"))
    if "field-app" in selected:
        # The field app's budget needs no broker and writes its own report (docs/benchmarks-field-app.md).
        from tools.bench import field_app

        log.info("(vi) field app budget")
        field_app.run(repeats=args.repeats)
        selected.discard("field-app")
    if "alerts" in selected:
        # Pure (no broker): the incident lifecycle driven by the oracle's deviations.
        log.info("(vii) alert budget at scale %s over %d months", args.scale, args.months)
        _, alerts_report = alert_budget(
            Shape(scale=args.scale, seed=args.seed, start=date(2026, 1, 1), months=args.months)
        )
        args.alerts_out.parent.mkdir(parents=True, exist_ok=True)
        args.alerts_out.write_text(alerts_report)
        print(alerts_report)
        print(f"wrote {args.alerts_out}")
        selected.discard("alerts")
    if "restart" in selected:
        # Its own broker and 100,000 groups of state per store: one start of each kind is minutes.
        from tools.bench import restart

        log.info("(viii) monitoring restart with 100,000 groups of state, memory and RocksDB stores")
        restart.main(["--repeats", "1"])
        selected.discard("restart")
    if not selected:
        return 0
    # SIGTERM unwinds like Ctrl-C, so the broker and every service started here are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    started = time.monotonic()
    facts = machine_facts()
    broker = LocalKafkaBroker(args.workdir / "kafka", heap="1g", libs_dir=ensure_jars())
    ingest: list[IngestionRun] = []
    replayed = latent = None
    try:
        broker.start()
        bootstrap = broker.bootstrap_servers
        if "ingestion" in selected:
            log.info("(i) ingestion")
            for store in args.ingestion_store or ("sqlite", "postgresql"):
                workers = args.meetings_workers if store == "postgresql" else 1
                ingest.append(ingestion(bootstrap, args.workdir, store=store, repeats=args.repeats, workers=workers))
        if "replay" in selected:
            log.info("(ii, iv, v) replay at scale %s over %d months", args.scale, args.months)
            shape = Shape(scale=args.scale, seed=args.seed, start=date(2026, 1, 1), months=args.months)
            replayed = replay(bootstrap, args.workdir, shape=shape, repeats=args.repeats)
        if "latency" in selected:
            log.info("(iii) end-to-end latency")
            latent = latency(bootstrap, args.workdir, rate_per_s=args.latency_rate, duration_s=args.latency_seconds)
    finally:
        broker.stop()
    report = render(
        facts,
        ingest=ingest,
        replayed=replayed,
        latent=latent,
        repeats=args.repeats,
        seconds=time.monotonic() - started,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"wrote {args.out}")
    figures = headline_figures(ingest, replayed)
    write_figures(figures, args.out.with_suffix(".json"))
    print(f"wrote {args.out.with_suffix('.json')}: {figures}")
    return 0


def headline_figures(ingest: list[IngestionRun], replayed: ReplayResult | None) -> dict[str, float]:
    """The issues' headline figures as numbers (medians over the repeats of this run). Ingestion's
    headline is PostgreSQL with several processes (the national deployment); SQLite's carry `_sqlite`."""
    figures: dict[str, float] = {}
    for run in ingest:
        tag = "" if run.store == "postgresql" else "_sqlite"
        values = {
            "ingest_single_reports_per_s": run.single_rps,
            "ingest_single_p99_ms": run.single_p99_ms,
            "ingest_single_cpu_ms_per_report": run.single_cpu_ms,
            "ingest_batch_reports_per_s": run.batch_reports_per_s,
            "ingest_single_baseline_reports_per_s": run.baseline_single_rps,
            "ingest_single_baseline_p99_ms": run.baseline_single_p99_ms,
            "ingest_single_baseline_cpu_ms_per_report": run.baseline_single_cpu_ms,
            "ingest_batch_baseline_reports_per_s": run.baseline_batch_reports_per_s,
        }
        for name, series in values.items():
            if series:
                figures[name.replace("ingest_", f"ingest{tag}_", 1)] = round(median(series), 2 if "cpu" in name else 1)
        figures[f"ingest{tag}_processes"] = run.workers
    if replayed is not None:
        # The issue's `monitoring_worker_events_per_s` is the worker as it runs by default: the loop
        # consumer (`MonitoringSettings.consumer`); the Faust worker's figures are named for it.
        if replayed.worker_per_s:
            figures["monitoring_faust_worker_events_per_s"] = round(replayed.worker_per_s, 1)
        if replayed.pair_per_s:
            figures["monitoring_faust_two_workers_events_per_s"] = round(replayed.pair_per_s, 1)
            figures["monitoring_faust_two_workers_missing"] = replayed.pair_missing
            figures["monitoring_faust_two_workers_extra"] = replayed.pair_extra
        if replayed.loop_per_s:
            figures["monitoring_worker_events_per_s"] = round(replayed.loop_per_s, 1)
            figures["monitoring_loop_worker_events_per_s"] = round(replayed.loop_per_s, 1)
            figures["monitoring_loop_missing"] = replayed.loop_missing
            figures["monitoring_loop_extra"] = replayed.loop_extra
        if replayed.loop_sources_per_s:
            figures["monitoring_loop_sources_worker_events_per_s"] = round(replayed.loop_sources_per_s, 1)
            figures["monitoring_loop_sources_missing"] = replayed.loop_sources_missing
            figures["monitoring_loop_sources_extra"] = replayed.loop_sources_extra
        if replayed.loop_pair_per_s and replayed.loop_pair_timed_s >= PAIR_TIMED_ENOUGH_S:
            # Only a pace timed long enough to be one (`_pair_window`).
            figures["monitoring_loop_two_workers_events_per_s"] = round(replayed.loop_pair_per_s, 1)
        if replayed.loop_pair_ran:
            figures["monitoring_loop_two_workers_missing"] = replayed.loop_pair_missing
            figures["monitoring_loop_two_workers_extra"] = replayed.loop_pair_extra
        if replayed.loop_kill_ran and replayed.loop_kill_after_s is not None:
            figures["monitoring_loop_two_workers_killed_missing"] = replayed.loop_kill_missing
            figures["monitoring_loop_two_workers_killed_extra"] = replayed.loop_kill_extra
            figures["monitoring_loop_two_workers_killed_caught_up_s"] = round(replayed.loop_kill_after_s, 1)
        if replayed.bare_loop_per_s:
            figures["monitoring_bare_loop_events_per_s"] = round(median(replayed.bare_loop_per_s), 1)
        if replayed.bare_loop_sources_per_s:
            figures["monitoring_bare_loop_sources_events_per_s"] = round(median(replayed.bare_loop_sources_per_s), 1)
        if replayed.faust_empty_per_s:
            figures["faust_empty_agent_events_per_s"] = round(median(replayed.faust_empty_per_s), 1)
        if replayed.raw_consumer_per_s:
            figures["broker_raw_events_per_s"] = round(median(replayed.raw_consumer_per_s), 1)
        if replayed.state_groups:
            per_group = replayed.state_bytes / replayed.state_groups
            figures["state_mib_per_100k_groups"] = round(per_group * 100_000 / 2**20, 1)
    return figures


if __name__ == "__main__":
    sys.exit(main())
