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
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tqdm import tqdm

from services.monitoring.rules.decisions import deviation_id
from shared.auth import mint_token
from shared.logs import configure_logging
from shared.settings import AuthSettings
from tools.demo import DEFAULT_SCALE, DemoSummary, load_demo
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
        "--once", action="store_true", help="exit after the demo's alerts arrived (non-zero if they did not)"
    )
    parser.add_argument("--alert-timeout", type=float, default=120, help="seconds to wait for the demo's alerts")
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
        stack = Stack(bootstrap_servers=broker.bootstrap_servers, workdir=workdir, ports=ports)
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
                f"({summary.requests} requests, {summary.failed_requests} refused); expecting "
                f"{summary.expected_alerts} alerts from {', '.join(summary.rules) or 'no implemented rule'}"
            )
            _step("Waiting for alerts at the supervisors' webhook")
            alerts_ok = _wait_for_alerts(receiver, summary, timeout=args.alert_timeout)
            if not alerts_ok:
                print(f"    not every expected alert arrived; see {workdir}/*.log")
            _wait_for_metrics(stack.url("analytics"))
        _print_where_to_look(stack, receiver, workdir)
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


def _wait_for_alerts(receiver: WebhookReceiver, summary: DemoSummary, *, timeout: float) -> bool:
    """Wait (with a progress bar) until an `alert.opened` arrived for every expected deviation."""
    wanted = {deviation_id(item.rule, item.group_id, item.occurrence) for item in summary.expected}
    deadline = time.monotonic() + timeout
    with tqdm(total=len(wanted), desc="alerts", unit="alert", leave=False) as bar:
        while True:
            seen = {
                delivery.body.get("deviation_id")
                for delivery in receiver.accepted
                if delivery.body.get("type") == "alert.opened"
            }
            arrived = len(wanted & seen)
            bar.update(arrived - bar.n)
            if arrived == len(wanted):
                print(f"    all {arrived} expected alerts arrived")
                return True
            if time.monotonic() > deadline:
                print(f"    only {arrived} of {len(wanted)} expected alerts arrived within {timeout:.0f} s")
                return False
            time.sleep(0.25)


def _wait_for_metrics(analytics_url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(f"{analytics_url}/metrics", timeout=5).text
        if "pantau_deviations_opened_total{" in text:
            return
        time.sleep(0.5)


def _print_where_to_look(stack: Stack, receiver: WebhookReceiver, workdir: Path) -> None:
    meetings = stack.url("meetings")
    period = datetime.now(UTC).strftime("%Y-%m")
    print(
        f"""
Pantau is running.
  API docs (meetings)      {meetings}/docs
  Supervisor console       {stack.url("notifications")}/console   (paste the token from {workdir}/admin.token)
  Alerts API (notify)      {stack.url("notifications")}/api/v1/alerts   (Bearer token in {workdir}/admin.token)
  Reports (analytics)      {stack.url("analytics")}/api/v1/reports/compliance?period={period}&level=province
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
