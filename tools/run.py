"""Run Pantau locally: a real Kafka broker, the four services and a demo load.

    make run            (or: uv run python -m tools.run)

Starts Apache Kafka 3.9.1 from cached Maven Central jars, creates the contract's topics, starts the
meetings, monitoring, notifications and analytics services, a webhook receiver standing in for the
supervisors' systems, sends the demo load through the public API, and prints where to look. Runs
until Ctrl-C; everything it writes stays under var/run/ (deleted at the next start).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from services.monitoring.rules.decisions import deviation_id
from shared.auth import mint_token
from shared.logs import configure_logging
from shared.settings import AuthSettings
from tools.demo import (
    ALERT_BUDGET_PER_100_GROUPS_MONTH,
    DEFAULT_SCALE,
    DEMO_GROUP_WAIT_SECONDS,
    DemoReport,
    DemoSummary,
    demo_report,
    load_demo,
    settled,
)
from tools.generator.programme import Shape
from tools.kafka_broker import LocalKafkaBroker, ensure_jars
from tools.stack import DEFAULT_PORTS, REPO_ROOT, Stack, free_port, port_is_free
from tools.topics import create_topics
from tools.webhook_receiver import WebhookReceiver

log = logging.getLogger("pantau.run")


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.run", description=__doc__.split("\n\n")[0], epilog="Ctrl-C stops everything cleanly."
    )
    parser.add_argument(
        "--workdir", type=Path, default=REPO_ROOT / "var" / "run", help="logs and data (default var/run)"
    )
    parser.add_argument("--kafka-port", type=int, default=9092, help="broker port if free (default 9092)")
    parser.add_argument("--webhook-port", type=int, default=9999, help="demo webhook receiver port if free")
    parser.add_argument("--no-demo", action="store_true", help="start everything but send no demo load")
    parser.add_argument(
        "--once",
        action="store_true",
        help="exit after the demo's summary (non-zero if a deviation is in no incident, an incident that "
        "opened and resolved within a minute was messaged, or the messages exceed the budget)",
    )
    parser.add_argument("--alert-timeout", type=float, default=120, help="seconds to wait for the demo's incidents")
    parser.add_argument(
        "--demo-scale",
        type=float,
        default=DEFAULT_SCALE,
        help=f"share of the national programme (default {DEFAULT_SCALE})",
    )
    parser.add_argument("--demo-seed", type=int, default=7, help="the generated programme's seed (default 7)")
    parser.add_argument("--demo-months", type=int, default=1, help="months of history to send (default 1)")
    args = parser.parse_args(argv)
    configure_logging("run", "WARNING")

    workdir: Path = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    _step("Kafka jars (downloaded once into .cache/)")
    libs = ensure_jars()
    broker = LocalKafkaBroker(workdir / "kafka", port=_port(args.kafka_port), libs_dir=libs)
    receiver = WebhookReceiver(port=_port(args.webhook_port), log_path=workdir / "alerts.jsonl", echo=True)
    stack: Stack | None = None
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        _step("Starting Apache Kafka 3.9.1 (KRaft, single node)")
        broker.start()
        names = create_topics(broker.bootstrap_servers)
        print(f"    broker {broker.bootstrap_servers}; {len(names)} topics created from deploy/kafka/topics.yaml")
        receiver.start()
        _step("Starting meetings, monitoring, notifications and analytics")
        ports = {name: _port(port) for name, port in DEFAULT_PORTS.items()}
        stack = Stack(
            bootstrap_servers=broker.bootstrap_servers,
            workdir=workdir,
            ports=ports,
            # The demo sends a month in a minute: a short group_wait shows incidents without a long wait.
            extra_env={"PANTAU_NOTIFICATIONS_INCIDENT_GROUP_WAIT_SECONDS": str(DEMO_GROUP_WAIT_SECONDS)},
        )
        stack.start()
        admin_token = mint_token(AuthSettings(), subject="demo-admin", role="admin", scope="*")
        (workdir / "admin.token").write_text(admin_token + "\n")
        alerts_ok = True
        if not args.no_demo:
            _step(f"Sending a generated programme (scale {args.demo_scale}) through the public API")
            summary = load_demo(
                stack.url("meetings"),
                webhook_url=receiver.url,
                scale=args.demo_scale,
                seed=args.demo_seed,
                months=args.demo_months,
            )
            print(
                f"    {summary.regions} regions, {summary.supervisors} supervisors, {summary.facilitators} "
                f"facilitators, {summary.groups} groups, {summary.meetings_created} meetings "
                f"({summary.requests} requests, {summary.failed_requests} refused); the oracle expects "
                f"{summary.expected_alerts} deviations from {', '.join(summary.rules) or 'no implemented rule'}"
            )
            _step("Waiting until every expected deviation is an item of an incident")
            report = _wait_for_incidents(
                receiver,
                summary,
                timeout=args.alert_timeout,
                months=args.demo_months,
                notifications_url=stack.url("notifications"),
                token=admin_token,
            )
            _step("What the supervisors heard")
            _print_report(report, _facilitators_needing_attention(stack.url("notifications"), admin_token))
            month = Shape.ending_before(
                datetime.now(UTC), scale=args.demo_scale, seed=args.demo_seed, months=args.demo_months
            ).periods()[-1]
            print(
                f"    the console's compliance counts meetings of the last 35 days; the demo's are of {month} "
                "and earlier, so it reads low there (the manager's page below has that month's compliance)"
            )
            alerts_ok = report.truthful
            if not alerts_ok:
                print(f"    the demo does not hold to its promise (see above); see {workdir}/*.log")
            _wait_for_metrics(stack.url("analytics"))
        field_link = None if args.no_demo else _field_app_link(stack, workdir, admin_token)
        _print_where_to_look(stack, receiver, workdir, field_link)
        if args.once:
            return 0 if alerts_ok else 1
        while not stopping["flag"]:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _step("Stopping")
        if stack is not None:
            stack.stop()
        receiver.stop()
        broker.stop()
    return 0


def _incidents(notifications_url: str, token: str) -> list[dict[str, Any]] | None:
    """Every incident (live, over, and those that cleared before anyone was told), with its items."""
    try:
        response = httpx.get(
            f"{notifications_url}/api/v1/incidents",
            params={
                "limit": 1000,
                "status": ["pending", "open", "acknowledged", "resolved", "dismissed", "closed"],
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _wait_for_incidents(
    receiver: WebhookReceiver,
    summary: DemoSummary,
    *,
    timeout: float,
    months: int,
    notifications_url: str,
    token: str,
) -> DemoReport:
    """Wait (with a progress bar) until every expected deviation is an item of an incident and no
    incident is still inside its group_wait with a warning open; then say what was heard."""
    wanted = {deviation_id(item.rule, item.group_id, item.occurrence) for item in summary.expected}
    deadline = time.monotonic() + timeout
    incidents: list[dict[str, Any]] = []
    with tqdm(total=len(wanted), desc="deviations in incidents", unit="item", leave=False) as bar:
        while True:
            incidents = _incidents(notifications_url, token) or incidents
            items = {str(item["deviation_id"]) for incident in incidents for item in incident["items"]}
            bar.update(len(wanted & items) - bar.n)
            if settled(wanted, incidents) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    return demo_report(
        expected_ids=wanted,
        deliveries=[delivery.body for delivery in receiver.accepted],
        incidents=incidents,
        groups=summary.groups,
        months=months,
    )


def _facilitators_needing_attention(notifications_url: str, token: str) -> tuple[int, int] | None:
    try:
        response = httpx.get(
            f"{notifications_url}/api/v1/overview", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    return int(body["facilitators_needing_attention"]), int(body["facilitators"])


def _print_report(report: DemoReport, attention: tuple[int, int] | None) -> None:
    """The demo's end-of-run summary, in plain words."""
    rate = report.messages_per_100_groups_month
    within = "within" if rate <= ALERT_BUDGET_PER_100_GROUPS_MONTH else "OVER"
    print(
        f"    {report.messages} messages about {report.incidents_told} incidents for {report.groups} groups over "
        f"{report.months} month{'s' if report.months != 1 else ''}: {rate:.1f} per 100 groups per month "
        f"({within} the budget of {ALERT_BUDGET_PER_100_GROUPS_MONTH:.0f})"
    )
    found = report.expected - len(report.missing)
    print(
        f"    {found} of the {report.expected} deviations the oracle expects are items of incidents "
        f"(incident recall {report.recall:.3f}):"
    )
    print(f"      {report.told} in incidents the supervisors were told about")
    if report.cleared_before_told:
        longest = report.longest_cleared_seconds
        lasted = f" (the longest lasted {longest:.0f} s)" if longest is not None else ""
        print(
            f"      {report.cleared_before_told} opened and cleared again before anyone was told{lasted}, inside the "
            f"{DEMO_GROUP_WAIT_SECONDS}-second wait before a first message: rightly not messaged; the console "
            f"keeps them as cleared items (sudah teratasi)"
        )
    if report.held:
        print(f"      {report.held} still open in incidents not told yet (in the console)")
    if report.missing:
        print(f"      {len(report.missing)} in no incident, for example {', '.join(report.missing[:3])}")
    print(
        f"    {report.blips_messaged} incidents that opened and resolved within a minute were messaged "
        f"({report.blips} such incidents in all)"
    )
    for rule, count in sorted(report.info_items.items()):
        because = (
            ": the demo sends a month of reports today, so every one arrives late"
            if rule == "reporting.lagging"
            else ""
        )
        print(f"    {count} open {rule} items are information only{because}; console and morning digest, never pushed")
    if attention is not None:
        print(
            f"    console: {attention[0]} of {attention[1]} facilitators need their supervisor now "
            f"(critical, several groups, or several problems in one group); the rest are in hand or for information"
        )


def _wait_for_metrics(analytics_url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(f"{analytics_url}/metrics", timeout=5).text
        if "pantau_deviations_opened_total{" in text:
            return
        time.sleep(0.5)


def _field_app_link(stack: Stack, workdir: Path, admin_token: str) -> tuple[str, str] | None:
    """An enrolment link for a demo facilitator of the PKH programme who has groups."""
    with sqlite3.connect(workdir / "meetings" / "meetings.db") as connection:
        row = connection.execute(
            "SELECT f.id, f.name FROM facilitators f JOIN groups g ON g.facilitator_id = f.id "
            "WHERE f.programme = 'pkh-p2k2' GROUP BY f.id ORDER BY f.id LIMIT 1"
        ).fetchone()
    if row is None:
        return None
    response = httpx.post(
        f"{stack.url('meetings')}/api/v1/facilitators/{row[0]}/enrolments",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={},
        timeout=20,
    )
    if response.status_code != 201:
        log.warning("no enrolment link: %s", response.text)
        return None
    return f"{row[1]} ({row[0]})", str(response.json()["url"])


def _print_where_to_look(
    stack: Stack, receiver: WebhookReceiver, workdir: Path, field_link: tuple[str, str] | None = None
) -> None:
    meetings = stack.url("meetings")
    # The demo's history ends in the past (its month plus the simulation's tail): that month's reports
    # are the ones with something to say.
    period = Shape.ending_before(datetime.now(UTC), scale=DEFAULT_SCALE, seed=7, months=1).periods()[-1]
    analytics = stack.url("analytics")
    token = (workdir / "admin.token").read_text().strip() if (workdir / "admin.token").exists() else "…"
    compliance = f"{analytics}/api/v1/reports/compliance?period={period}&level=province"
    if field_link is not None:
        print(f"\nField app sign-in link for the demo facilitator {field_link[0]}:\n  {field_link[1]}")
    print(
        f"""
Pantau is running.
  Field app (facilitators) {meetings}/app/   (sign in with the link above; admins mint one per facilitator)
  API docs (meetings)      {meetings}/docs
  Supervisor console       {stack.url("notifications")}/console   (paste the token from {workdir}/admin.token)
  Alerts API (notify)      {stack.url("notifications")}/api/v1/alerts   (Bearer token in {workdir}/admin.token)
  Manager's page           {analytics}/reports/overview?period={period}&token={token}
  Compliance (printable)   {compliance}&format=html&token={token}
  Reports (JSON, CSV)      {compliance}   (Bearer token)
  Metrics                  {meetings}/metrics  {stack.url("monitoring")}/metrics
                           {stack.url("notifications")}/metrics  {stack.url("analytics")}/metrics
  Alerts received          {receiver.url} → {workdir}/alerts.jsonl ({len(receiver.accepted)} so far)
  Service logs             {workdir}/<service>.log
Try:  curl -H "Authorization: Bearer $(cat {workdir}/admin.token)" {stack.url("notifications")}/api/v1/alerts
Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
