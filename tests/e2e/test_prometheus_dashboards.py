"""Dashboards, alert rules and reports against the real thing.

The four services run as processes on a real broker (`tools.stack.Stack`); Debian's Prometheus scrapes
them every second. A small deterministic month of facilitation is produced onto the test's topics, and
a small programme from Pantau's own generator (`tools.generator`, its July 2026) is replayed beside it;
then every PromQL expression of every Grafana panel is evaluated through Prometheus' HTTP API (no
error, no empty panel), every alert rule expression evaluates without error, and compliance agrees
three ways — counted from the raw input (the generator's history), read from the analytics report and
queried from Prometheus — per programme and province: groups due, met on schedule, met late, not met.

Every due time in both data sets lies in the past of any day this test runs on, so the services' own
clocks (the wall clock: they run as processes) split nothing: all groups are due, none still open.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from shared import regions, serde, topics
from shared.auth import mint_token
from shared.events import (
    AlertAcknowledged,
    DeviationOpened,
    DeviationResolved,
    EvaluationSubmitted,
    EventData,
    MeetingRecorded,
    MeetingScheduled,
)
from shared.settings import AuthSettings, KafkaSettings
from tests.fixtures.kafka import skip_or_fail
from tools.dashboards import (
    dashboard_files,
    expand_variables,
    iter_panel_queries,
    iter_variable_queries,
    load_dashboard,
)
from tools.generator.behaviour import Rates, simulate
from tools.generator.kafka_driver import replay
from tools.generator.programme import Programme, Shape
from tools.stack import REPO_ROOT, Stack, free_port

pytestmark = pytest.mark.e2e

PERIOD = "2026-11"
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"
VILLAGES = ("18.71.01.1001", "18.72.03.2001", "32.01.02.2002", "51.71.02.1003")
PROGRAMMES = ("pkh-p2k2", "ssk-pokja")
OUTCOMES = ("on_time", "late", "none", "on_time_reported_late", "chair_led")
GROUPS = 24


# --- the generated month ------------------------------------------------------------------------------


@dataclass
class GeneratedMonth:
    """What was produced, and the numbers a correct analytics must derive from it."""

    records: list[tuple[str, EventData]] = field(default_factory=list)
    due: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (programme, province, kabupaten)
    met: dict[tuple[str, str, str], int] = field(default_factory=dict)
    meetings: int = 0
    meetings_by_facilitator: dict[str, int] = field(default_factory=dict)
    evaluations_by_facilitator: dict[str, int] = field(default_factory=dict)
    acks: int = 0

    def compliance(self, programme: str, province: str) -> tuple[int, int]:
        """(groups met on schedule, groups due) in a province, from the raw input."""
        keys = [key for key in self.due if key[0] == programme and key[1] == province]
        return sum(self.met.get(key, 0) for key in keys), sum(self.due[key] for key in keys)


def local(day: int, hour: int, village: str) -> datetime:
    """An instant given as local wall time in the village's province, in UTC."""
    return datetime(2026, 11, day, hour, 0, tzinfo=ZoneInfo(regions.time_zone_of(village))).astimezone(UTC)


def generate_month(seed: int = 6) -> GeneratedMonth:
    """24 groups in 4 kabupaten of 3 provinces, 2 programmes; each due on the 10th of November."""
    rng = random.Random(seed)
    month = GeneratedMonth()
    received = datetime.now(UTC)
    for index in range(GROUPS):
        group_id = f"KLP-AN{index:03d}"
        village = VILLAGES[index % len(VILLAGES)]
        programme = PROGRAMMES[(index // len(VILLAGES)) % len(PROGRAMMES)]
        facilitator = f"PDP-AN{index % 3}"
        province, kabupaten = regions.province_of(village), regions.kabupaten_of(village) or ""
        due_at = datetime(2026, 11, 10, 23, 59, 59, tzinfo=ZoneInfo(regions.time_zone_of(village))).astimezone(UTC)
        place = (programme, province, kabupaten)
        month.records.append(
            (
                topics.MEETINGS_EVENTS,
                MeetingScheduled(
                    group_id=group_id,
                    programme=programme,
                    facilitator_id=facilitator,
                    region_code=village,
                    period=PERIOD,
                    due_at=due_at,
                    time_zone=regions.time_zone_of(village),
                ),
            )
        )
        month.due[place] = month.due.get(place, 0) + 1
        outcome = OUTCOMES[rng.randrange(len(OUTCOMES))]
        if outcome == "none":
            opened_at = due_at + timedelta(days=2)
            opened = DeviationOpened(
                group_id=group_id,
                deviation_id=f"dev-overdue-{group_id}-{PERIOD}",
                rule="meeting.overdue",
                severity="warning",
                programme=programme,
                facilitator_id=facilitator,
                region_code=village,
                occurrence=PERIOD,
                detected_at=opened_at,
                evidence_at=due_at,
            )
            month.records.append((topics.MONITORING_DEVIATIONS, opened))
            if index % 2:
                resolved = DeviationResolved(
                    **opened.model_dump(include={"group_id", "deviation_id", "rule", "severity", "programme"}),
                    facilitator_id=facilitator,
                    region_code=village,
                    resolved_at=opened_at + timedelta(hours=5),
                    reason="late_report",
                )
                month.records.append((topics.MONITORING_DEVIATIONS, resolved))
            continue
        day = 15 if outcome == "late" else 10
        started = local(day, 9, village)
        members = 10
        present = 6 + rng.randrange(5)
        recorded_late = outcome == "on_time_reported_late"
        meeting = MeetingRecorded(
            group_id=group_id,
            report_id=f"rep-{group_id}-{PERIOD}",
            programme=programme,
            facilitator_id=facilitator,
            region_code=village,
            started_at=started,
            ended_at=started + timedelta(hours=2),
            facilitator_present=outcome != "chair_led",
            led_by="chair" if outcome == "chair_led" else "facilitator",
            module=("Kesehatan dan Gizi", "Pengelolaan Keuangan", "Perlindungan Anak")[index % 3],
            topic="Pertemuan bulanan",
            attendance=tuple(
                {"member_ref": f"kpm-{index}-{m}", "status": "present" if m < present else "absent"}
                for m in range(members)
            ),
            member_count=members,
            device_id="hp-an",
            recorded_at=started + timedelta(days=12 if recorded_late else 0, hours=2),
            received_at=received,
        )
        month.records.append((topics.MEETINGS_EVENTS, meeting))
        month.meetings += 1
        month.meetings_by_facilitator[facilitator] = month.meetings_by_facilitator.get(facilitator, 0) + 1
        if outcome != "late":
            month.met[place] = month.met.get(place, 0) + 1
        if index % 3 == 0:
            for direction, mean in (("facilitator_rates_group", 4.0), ("group_rates_facilitator", 2.0 + index % 4)):
                month.records.append(
                    (
                        topics.EVALUATIONS_EVENTS,
                        EvaluationSubmitted(
                            group_id=group_id,
                            evaluation_id=f"ev-{direction}-{group_id}",
                            facilitator_id=facilitator,
                            programme=programme,
                            region_code=village,
                            direction=direction,
                            period=PERIOD,
                            scores={"kehadiran": round(mean), "materi": round(mean)},
                            mean_score=mean,
                            recorded_at=started + timedelta(hours=3),
                            received_at=received,
                        ),
                    )
                )
                month.evaluations_by_facilitator[facilitator] = month.evaluations_by_facilitator.get(facilitator, 0) + 1
    for number, (supervisor, severity, seconds) in enumerate(
        (("SUP-1871", "warning", 120.0), ("SUP-3201", "critical", 600.0), ("SUP-5171", "warning", 4000.0))
    ):
        ack = AlertAcknowledged(
            alert_id=f"alert-an-{number}",
            deviation_id=f"dev-an-{number}",
            supervisor_id=supervisor,
            group_id=f"KLP-AN{number:03d}",
            rule="meeting.facilitator_absent",
            severity=severity,
            escalation_level="kabupaten",
            acknowledged_at=received,
            ack_seconds=seconds,
        )
        month.records.append((topics.NOTIFICATIONS_ALERTS, ack))
        month.acks += 1
    month.records.append(month.records[-1])  # a redelivered acknowledgement changes nothing
    return month


# --- the generator's own programme ------------------------------------------------------------------

GENERATED = Shape(scale=0.0003, seed=11, start=date(2026, 7, 1), months=1)  # ~12 facilitators, July 2026
GENERATED_PERIOD = "2026-07"


@dataclass
class RawCompliance:
    """Compliance counted straight from the generator's history (schedules and meetings)."""

    due: int = 0
    on_schedule: int = 0
    late: int = 0

    @property
    def not_met(self) -> int:
        return self.due - self.on_schedule - self.late


def generator_compliance(shape: Shape, period: str) -> dict[tuple[str, str], RawCompliance]:
    """(programme, province) → compliance of the period, from the simulated history itself: every group
    with a schedule for the period is due (its due time is long past); met on schedule if its first
    meeting of the period started by the due time, late if after it."""
    out: dict[tuple[str, str], RawCompliance] = {}
    for facilitator in Programme(shape).facilitators():
        history = simulate(facilitator, shape, Rates())
        groups = {group.group_id: group for group in facilitator.groups}
        for schedule in history.schedules:
            if schedule.period != period:
                continue
            group = groups[schedule.group_id]
            counts = out.setdefault((group.programme, regions.province_of(group.region_code)), RawCompliance())
            counts.due += 1
            starts = [m.started_at for m in history.meetings if m.group_id == group.group_id and m.period == period]
            if starts and min(starts) <= schedule.due_at:
                counts.on_schedule += 1
            elif starts:
                counts.late += 1
    return out


def produce(bootstrap: str, prefix: str, month: GeneratedMonth) -> None:
    """Send the month to the prefixed topics, plus one unreadable record that must be dead-lettered."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for topic, event in month.records:
            envelope = serde.envelope_for(event, source="/pantau/test-load", time=datetime.now(UTC))
            producer.send(
                prefix + topic,
                key=event.kafka_key().encode(),
                value=serde.encode(envelope),
                headers=serde.kafka_headers(envelope),
            )
        producer.send(prefix + topics.MEETINGS_EVENTS, key=b"KLP-AN000", value=b"{not json")
        producer.flush(30)
    finally:
        producer.close()


# --- Prometheus ------------------------------------------------------------------------------------------


class Prometheus:
    """Debian's Prometheus on loopback, scraping the stack every second, with Pantau's alert rules."""

    def __init__(self, workdir: Path, targets: dict[str, str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            skip_or_fail("`prometheus` is not on PATH (apt-get install prometheus; scripts/bootstrap.sh)")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES_DIR / "*.rules.yml")],
            "scrape_configs": [
                {"job_name": f"pantau-{name}", "static_configs": [{"targets": [target]}]}
                for name, target in targets.items()
            ],
        }
        self.config_path = workdir / "prometheus.yml"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def query(self, expr: str) -> dict[str, Any]:
        """`/api/v1/query` at now; the whole JSON answer (status, data or error)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        return dict(response.json())

    def vector(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", f"{expr}: {answer}"
        return list(answer["data"]["result"])

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_for(what: str, check: Callable[[], bool], timeout: float, details: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        # ValueError: a server still starting may answer "Service Unavailable" in plain text, not JSON.
        with contextlib.suppress(httpx.HTTPError, KeyError, IndexError, AssertionError, ValueError):
            if check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{details()}")
        time.sleep(0.5)


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def stack(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(
        bootstrap_servers=kafka_bootstrap,
        workdir=tmp_path / "stack",
        topic_prefix=kafka_topics,
        extra_env={"PANTAU_ANALYTICS_LAG_INTERVAL_SECONDS": "1"},
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[Prometheus]:
    server = Prometheus(
        tmp_path / "prometheus", {name: f"127.0.0.1:{process.port}" for name, process in stack.processes.items()}
    )
    server.start()
    try:
        wait_for(
            "Prometheus to scrape all four services",
            lambda: len([s for s in server.vector('up{job=~"pantau-.*"} == 1')]) == 4,
            timeout=60,
            details=server.tail,
        )
        yield server
    finally:
        server.stop()


def metric_value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


# --- the test --------------------------------------------------------------------------------------------


def test_dashboards_alerts_and_reports_agree_with_the_input(
    stack: Stack, prometheus: Prometheus, kafka_bootstrap: str, kafka_topics: str
) -> None:
    month = generate_month()
    produce(kafka_bootstrap, kafka_topics, month)
    replay(
        GENERATED,
        Rates(),
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=kafka_topics),
        show_progress=False,
    )
    raw = generator_compliance(GENERATED, GENERATED_PERIOD)
    assert sum(counts.due for counts in raw.values()) >= 50  # a programme, not a handful
    assert sum(counts.not_met + counts.late for counts in raw.values()) >= 1  # with groups that failed
    analytics = stack.url("analytics")
    token = mint_token(AuthSettings(), subject="admin-e2e", role="admin", scope="*")
    headers = {"Authorization": f"Bearer {token}"}

    def analytics_caught_up() -> bool:
        text = httpx.get(f"{analytics}/metrics", timeout=5).text
        meetings = sum(
            metric_value(text, "pantau_meetings_recorded_total", programme=p, province=regions.province_of(v)) or 0
            for p in PROGRAMMES
            for v in {VILLAGES[0], VILLAGES[2], VILLAGES[3]}
        )
        acks = metric_value(text, "pantau_alert_ack_seconds_count", severity="warning") or 0
        acks += metric_value(text, "pantau_alert_ack_seconds_count", severity="critical") or 0
        dead = metric_value(text, "pantau_dead_letter_records_total", service="analytics") or 0
        lag = "pantau_consumer_lag_messages{" in text
        # The generator's July adds meetings in the same provinces: November's report says ours are in.
        november = httpx.get(
            f"{analytics}/api/v1/reports/compliance",
            params={"period": PERIOD, "level": "province"},
            headers=headers,
            timeout=5,
        ).json()["total"]
        ours = november["groups_met_on_schedule"] + november["groups_met_late"] == month.meetings
        return meetings >= month.meetings and ours and acks == month.acks and dead >= 1 and lag

    wait_for(
        "analytics to aggregate the generated month",
        analytics_caught_up,
        timeout=240,
        details=lambda: stack.tail("analytics", 60),
    )

    # Prometheus has what analytics has, and monitoring has measured a detection (chair-led meetings).
    def prometheus_caught_up() -> bool:
        expected = len({(p, pr) for (p, pr, _) in month.due})
        ratios = prometheus.vector(f'pantau_meeting_compliance_ratio{{kabupaten="", period="{PERIOD}"}}')
        detected = prometheus.vector("sum(pantau_detection_latency_seconds_count) > 0")
        lag = prometheus.vector("pantau_consumer_lag_messages")
        return len(ratios) == expected and bool(detected) and bool(lag)

    wait_for(
        "Prometheus to scrape the aggregates",
        prometheus_caught_up,
        timeout=120,
        details=lambda: f"{prometheus.tail()}\n{stack.tail('monitoring', 40)}",
    )
    time.sleep(3)  # a few more scrapes, so that rate() over the panels' window has two points

    # 1. every panel of every dashboard: no error, no empty result
    failures = []
    panels = 0
    for path in dashboard_files():
        dashboard = load_dashboard(path)
        for title, expr in iter_panel_queries(dashboard):
            panels += 1
            answer = prometheus.query(expand_variables(expr))
            if answer.get("status") != "success":
                failures.append(f"{path.name} / {title}: error {answer.get('error')}: {expr}")
            elif not answer["data"]["result"]:
                failures.append(f"{path.name} / {title}: empty: {expr}")
        for name, expr in iter_variable_queries(dashboard):
            if not prometheus.vector(expand_variables(expr)):
                failures.append(f"{path.name} / variable {name}: no values: {expr}")
    assert not failures, "\n".join(failures)
    assert panels >= 30

    # 2. every alert rule expression evaluates without error (an empty result is a quiet alert)
    for rule_file in sorted(RULES_DIR.glob("*.rules.yml")):
        for group in yaml.safe_load(rule_file.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                answer = prometheus.query(str(rule["expr"]))
                assert answer.get("status") == "success", f"{rule_file.name} {rule.get('alert')}: {answer}"
    loaded = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert all(rule["health"] in {"ok", "unknown"} for group in loaded for rule in group["rules"]), loaded

    # 3. the compliance report = the raw input = Prometheus, for a province
    province = "18"
    report = httpx.get(
        f"{analytics}/api/v1/reports/compliance",
        params={"period": PERIOD, "level": "province", "region": province},
        headers=headers,
        timeout=10,
    )
    assert report.status_code == 200, report.text
    rows = {row["programme"]: row for row in report.json()["rows"]}
    assert set(rows) == {programme for (programme, pr, _) in month.due if pr == province}
    for programme, row in rows.items():
        met, due = month.compliance(programme, province)
        assert (row["groups_met_on_schedule"], row["groups_due"]) == (met, due), row
        assert row["compliance_ratio"] == pytest.approx(met / due)
        [sample] = prometheus.vector(
            f'pantau_meeting_compliance_ratio{{programme="{programme}", province="{province}", '
            f'kabupaten="", period="{PERIOD}"}}'
        )
        assert float(sample["value"][1]) == pytest.approx(met / due)
        summed = prometheus.vector(
            f'sum(pantau_meeting_groups_met_on_schedule{{programme="{programme}", province="{province}", '
            f'period="{PERIOD}"}}) / sum(pantau_meeting_groups_due{{programme="{programme}", '
            f'province="{province}", period="{PERIOD}"}})'
        )
        assert float(summed[0]["value"][1]) == pytest.approx(met / due)

    as_csv = httpx.get(
        f"{analytics}/api/v1/reports/compliance",
        params={"period": PERIOD, "level": "kabupaten"},
        headers={**headers, "Accept": "text/csv"},
        timeout=10,
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    csv_rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {(r["programme"], r["region_code"]): int(r["groups_due"]) for r in csv_rows} == {
        (programme, kabupaten): count for (programme, _, kabupaten), count in month.due.items()
    }

    # 4. a facilitator's monthly report, as JSON and as a printable page
    facilitator = "PDP-AN0"
    monthly = httpx.get(
        f"{analytics}/api/v1/reports/facilitators/{facilitator}/monthly",
        params={"period": PERIOD},
        headers=headers,
        timeout=10,
    )
    assert monthly.status_code == 200, monthly.text
    summary = monthly.json()["summary"]
    assert summary["meetings"] == month.meetings_by_facilitator.get(facilitator, 0)
    # monitoring's own rules open deviations from the same input too: ours are among them
    produced = {
        event.deviation_id
        for _, event in month.records
        if isinstance(event, DeviationOpened) and event.facilitator_id == facilitator
    }
    reported = {d["deviation_id"] for group in monthly.json()["groups"] for d in group["deviations"]}
    assert produced <= reported
    assert summary["deviations_opened"] == len(reported)
    assert summary["evaluations"] == month.evaluations_by_facilitator.get(facilitator, 0)
    page = httpx.get(
        f"{analytics}/api/v1/reports/facilitators/{facilitator}/monthly",
        params={"period": PERIOD, "format": "html"},
        headers=headers,
        timeout=10,
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Laporan Bulanan" in page.text
    assert "KLP-AN000" in page.text

    # 5. the generator's own programme: raw history = report = Prometheus, per programme and province
    def report_of(period: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{analytics}/api/v1/reports/compliance",
            params={"period": period, "level": "province"},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def totals_of(report: dict[str, Any]) -> tuple[int, int, int]:
        total = report["total"]
        return total["groups_due"], total["groups_met_on_schedule"], total["groups_met_late"]

    expected_totals = (
        sum(c.due for c in raw.values()),
        sum(c.on_schedule for c in raw.values()),
        sum(c.late for c in raw.values()),
    )
    # Schedules and meetings arrive on one topic but from many facilitators: wait for all of them.
    wait_for(
        "analytics to count the generator's July",
        lambda: totals_of(report_of(GENERATED_PERIOD)) == expected_totals,
        timeout=180,
        details=lambda: f"{report_of(GENERATED_PERIOD)['total']}\n{stack.tail('analytics', 30)}",
    )
    july = {(row["programme"], row["region_code"]): row for row in report_of(GENERATED_PERIOD)["rows"]}
    assert set(july) == set(raw)
    for (programme, province), counts in raw.items():
        row = july[(programme, province)]
        from_report = (row["groups_due"], row["groups_met_on_schedule"], row["groups_met_late"], row["groups_not_met"])
        assert from_report == (counts.due, counts.on_schedule, counts.late, counts.not_met), (programme, province)
        assert row["groups_open"] == 0
        assert row["region_name"] not in ("", province, f"wilayah {province}")  # a name beside the code

    def prometheus_by_place(metric: str) -> dict[tuple[str, str], float]:
        vector = prometheus.vector(f'sum by (programme, province) ({metric}{{period="{GENERATED_PERIOD}"}})')
        return {(s["metric"]["programme"], s["metric"]["province"]): float(s["value"][1]) for s in vector}

    def prometheus_agrees() -> bool:
        return (
            prometheus_by_place("pantau_meeting_groups_due") == {key: c.due for key, c in raw.items()}
            and prometheus_by_place("pantau_meeting_groups_met_on_schedule")
            == {key: c.on_schedule for key, c in raw.items()}
            and prometheus_by_place("pantau_meeting_groups_met_late") == {key: c.late for key, c in raw.items()}
        )

    # A scrape taken after the report agreed must agree too (earlier scrapes may predate the meetings).
    wait_for("Prometheus to agree with the generator's July", prometheus_agrees, timeout=120, details=prometheus.tail)
    for (programme, province), counts in raw.items():
        [ratio] = prometheus.vector(
            f'pantau_meeting_compliance_ratio{{programme="{programme}", province="{province}", '
            f'kabupaten="", period="{GENERATED_PERIOD}"}}'
        )
        assert float(ratio["value"][1]) == pytest.approx(counts.on_schedule / counts.due)
        assert july[(programme, province)]["compliance_ratio"] == pytest.approx(counts.on_schedule / counts.due)

    # No series anywhere in Prometheus carries a group, member or facilitator id.
    for sample in prometheus.vector('{__name__=~"pantau_.+"}'):
        values = " ".join(sample["metric"].values())
        for marker in ("KLP-", "PDP-", "kpm-"):
            assert marker not in values, sample["metric"]
