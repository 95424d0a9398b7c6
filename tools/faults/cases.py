"""The fault cases. Each runs the same generated load with a fault and compares what came out with
the run without it (the baseline, computed once per `World`) and, for monitoring, with the
generator's oracle. A case returns a `CaseResult`; it never asserts, so the fault command can
tabulate failures as well as successes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import orjson

from shared import topics
from shared.auth import mint_token
from shared.settings import AuthSettings
from tools.faults.harness import (
    ANALYTICS_SOURCES,
    DEFAULT_SHAPE,
    MONITORING_SOURCES,
    Deviations,
    Load,
    OffsetWatch,
    ServiceRun,
    Stalled,
    end_offsets,
    metrics_difference,
    metrics_of,
    new_prefix,
    prepare_topics,
    read_all,
    read_deviations,
    wait_caught_up,
    wait_progress,
)
from tools.faults.proxy import FlakyProxy, ProxiedBroker
from tools.generator.oracle import Expected
from tools.generator.programme import Shape
from tools.kafka_broker import LocalKafkaBroker
from tools.stack import free_port
from tools.webhook_receiver import ReceivedWebhook, WebhookReceiver

log = logging.getLogger(__name__)

# Bounds: every wait in a case ends; these are generous for a busy 2-core machine.
READY_TIMEOUT = 180.0
CATCH_UP_TIMEOUT = 300.0
KILL_AT = 0.3  # share of the load committed when the kill comes
LOOP_BATCH = 2000  # the loop consumer's batches in these cases (see `World.monitoring_run`)
BROKER_OUTAGE_S = 60.0
LINK_LATENCY_S = 0.02
LINK_RESET_EVERY_S = 5.0
LINK_PARTITION_S = 8.0
STALL_S = 90.0  # no commit for this long, short of the end: the group stalled


@dataclass
class CaseResult:
    """One run of one fault."""

    case: str
    lost: int  # expected outputs missing
    extra: int  # outputs the baseline does not have (or duplicates with a new identity)
    republished: int = 0  # duplicates with the same identity: allowed by at-least-once delivery
    catch_up_s: float | None = None  # fault (or restart) → everything committed again
    detail: str = ""
    # Monitoring: deviation ids missing and extra per rule (against the no-fault run and the oracle).
    by_rule: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Monitoring: times a partition's committed offset went back (a worker committed what the group
    # had given to another); counted only where the case watches the offsets.
    offsets_back: int = 0

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.extra == 0 and self.offsets_back == 0


# Rules whose answer depends on the order in which a facilitator's groups are processed across
# partitions, which no two runs share (two runs without any fault differ too): the oracle leaves
# them out, and so does the comparison (the row's detail still counts them).
UNORDERED_RULES = ("facilitator.many_groups_deviating",)

# The baseline every monitoring case is compared with is one Faust worker without a fault; a case
# names its own consumer (`monitoring_run(consumer=...)`).
MONITORING_ENV = {"PANTAU_MONITORING_CLOCK": "event", "PANTAU_MONITORING_CONSUMER": "faust"}


def _monitoring_group(prefix: str, consumer: str = "faust") -> str:
    """The monitoring workers' consumer group (the loop consumer has its own: `loop.LoopNames`)."""
    return f"{prefix}pantau-monitoring" + ("-loop" if consumer == "loop" else "")


def _internal_monitoring_topics(prefix: str, consumer: str = "faust") -> list[str]:
    group = _monitoring_group(prefix, consumer)
    if consumer == "loop":
        return [f"{group}-facilitator-signals"]  # no ticks topic: the loop folds its ticks itself
    return [f"{group}-ticks", f"{group}-facilitator-signals"]


def settle_topic(bootstrap: str, name: str, *, quiet: float = 3.0, timeout: float = 60.0) -> None:
    """Wait until a topic's end offsets stayed put for `quiet` seconds (late ticks, publications)."""
    deadline = time.monotonic() + timeout
    last: dict[Any, int] | None = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            now = end_offsets(bootstrap, [name])
        except Exception as exc:  # a reset link (the first question too): ask again
            log.debug("end offsets of %s unknown: %r", name, exc)
            time.sleep(0.5)
            continue
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)


@dataclass
class World:
    """One broker, one generated load and the baselines every case is compared with."""

    bootstrap: str
    workdir: Path
    shape: Shape = DEFAULT_SHAPE
    # The consumer of the no-fault run every monitoring case is compared with. The Faust worker by
    # default (an independent implementation); the loop at scales where the Faust worker would take
    # most of an hour to replay the load (`python -m tools.faults --baseline loop`).
    baseline_consumer: str = "faust"
    webhook_port: int = field(default_factory=free_port)
    _load: Load | None = None
    _prefix: str | None = None
    _monitoring: Deviations | None = None
    _analytics: dict[str, float] | None = None
    _alerts: set[tuple[str, str, str]] | None = None
    _incident_items: set[tuple[str, str, str, str]] | None = None
    _incident_deliveries: int = 0
    stalls: list[str] = field(default_factory=list)
    last_monitoring: tuple[str, Path] | None = None  # (topic prefix, run directory) of the last run
    last_offsets_back: list[tuple[Any, int, int]] = field(default_factory=list)  # of the last monitoring run

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/webhooks/pantau"

    @property
    def load(self) -> Load:
        if self._load is None:
            self._load = Load.generate(self.shape, webhook_url=self.webhook_url)
        return self._load

    def run_dir(self, tag: str) -> Path:
        path = self.workdir / f"{tag}-{uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path

    def close(self) -> None:
        if self._load is not None:
            self._load.close()

    # -- monitoring --------------------------------------------------------------------------------

    def monitoring_run(
        self,
        *,
        workers: int = 1,
        kill: bool = False,
        restart: bool = True,
        fault: Callable[[], None] | None = None,
        store: str = "memory://",
        consumer: str = "faust",
        pause: bool = False,
    ) -> tuple[Deviations, float | None]:
        """The load onto a fresh prefix, `workers` monitoring processes in one group (tables in
        `store`, records read by the `consumer` given: `PANTAU_MONITORING_CONSUMER`); optionally
        `kill -9` the first one at `KILL_AT` of the load (and restart it on its own data directory),
        `pause` it there (`SIGSTOP` until the others have taken its partitions and committed the
        whole load, then `SIGCONT`), or call `fault` then. Returns what was published and the seconds
        from the fault (or the start) until every source record was committed; the committed
        offsets' steps backwards are in `last_offsets_back`."""
        prefix = new_prefix("m")
        prepare_topics(self.bootstrap, prefix)
        directory = self.run_dir("monitoring")
        self.last_monitoring = (prefix, directory)
        env = {**MONITORING_ENV, "PANTAU_MONITORING_STORE": store, "PANTAU_MONITORING_CONSUMER": consumer}
        if consumer == "loop":
            # The loop's replay batch (100,000 records) would take this whole load at once: the kill at
            # `KILL_AT` would come after everything was committed and test nothing. In batches of 2,000
            # it lands between two of them, with batches committed before it and folded again after
            # (and the paused worker sleeps with some of the load still to fold).
            env["PANTAU_MONITORING_BATCH_SIZE"] = str(LOOP_BATCH)
            env["PANTAU_MONITORING_BATCH_SECONDS"] = "0.25"
        runs = [
            ServiceRun("monitoring", self.bootstrap, prefix, directory / f"w{index}", env=env)
            for index in range(workers)
        ]
        group = _monitoring_group(prefix, consumer)
        names = [f"{prefix}{name}" for name in MONITORING_SOURCES] + _internal_monitoring_topics(prefix, consumer)
        # The whole history is on the topics before a worker starts, as for the baseline: the event
        # clock is for replaying history. Produced while the workers read, a topic-partition the
        # producer had not reached yet looked read to its end, the clock ran ahead on the others,
        # and at-risk and overdue deviations opened before their progress was written (a run
        # differed from the baseline whether or not anything was killed).
        self.load.produce(self.bootstrap, prefix)
        watch = OffsetWatch(self.bootstrap, group, names)
        try:
            for run in runs:
                run.start()
            for run in runs:
                run.wait_ready(READY_TIMEOUT)
            watch.__enter__()
            began = time.monotonic()
            if kill or pause or fault is not None:
                wait_progress(self.bootstrap, group, names[:3], KILL_AT, timeout=CATCH_UP_TIMEOUT)
            if pause:
                self._pause_through_takeover(runs, group, names)
                began = time.monotonic()
            if kill:
                runs[0].kill9()
                began = time.monotonic()
                if restart:
                    runs[0].start().wait_ready(READY_TIMEOUT)
            if fault is not None:
                fault()  # returns when the fault is over (the broker is back, the link is whole)
                began = time.monotonic()
            alive = lambda: any(run.alive() for run in runs)  # noqa: E731
            if kill:
                # The killed worker's partitions (and the wake-ups only its memory held) move only
                # after the session timeout; "caught up" counted before that can end the run while a
                # due tick waits in nobody's index (seen as one overdue activity missing).
                _wait_partitions_held([run for run in runs if run.alive()], names[:3])
            seconds = self._caught_up(group, names, alive, began, runs)
            settle_topic(self.bootstrap, f"{prefix}{topics.MONITORING_DEVIATIONS}")
            crashes = [line for run in runs for line in run.crashes()]
            if crashes:
                log.warning("agent crashes in monitoring:\n%s", "\n".join(crashes[:10]))
            return read_deviations(self.bootstrap, prefix), seconds
        finally:
            for run in runs:
                run.resume()  # a paused worker stops only once it runs
                run.stop()
            watch.__exit__()
            self.last_offsets_back = list(watch.backwards)

    def _pause_through_takeover(self, runs: Sequence[ServiceRun], group: str, names: list[str]) -> None:
        """Pause the first worker until the others have taken its partitions over and committed the
        whole load, then let it run again: it wakes holding a batch it fetched before, for partitions
        that are no longer its own, and must commit nothing of it."""
        runs[0].pause()
        _wait_partitions_held(runs[1:], names[:3], timeout=CATCH_UP_TIMEOUT)
        wait_caught_up(self.bootstrap, group, names, timeout=CATCH_UP_TIMEOUT, settle=2, stall=STALL_S)
        runs[0].resume()
        # Until it is back in the group with partitions of its own: its stale batch was dealt with.
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                report = httpx.get(f"{runs[0].url}/debug/partitions", timeout=5).json()
                if not report.get("rebalancing") and report.get("partitions"):
                    return
            time.sleep(0.5)
        log.warning("the paused worker did not get partitions back within %.0f s", READY_TIMEOUT)

    def _caught_up(
        self,
        group: str,
        names: list[str],
        alive: Callable[[], bool],
        began: float,
        runs: Sequence[ServiceRun] = (),
    ) -> float | None:
        """Seconds from `began` until the group committed everything; None if its commits stalled
        short of the end (recorded in `stalls`: the outputs are still compared, and a partition that
        was not processed at all shows there as lost outputs)."""
        try:
            wait_caught_up(self.bootstrap, group, names, timeout=CATCH_UP_TIMEOUT, alive=alive, settle=2, stall=STALL_S)
        except Stalled as exc:
            log.warning("%s", exc)
            self.stalls.append(str(exc))
            for run in runs:
                if run.alive():
                    log.warning("%s's partitions at the stall: %s", run.workdir.name, _stalled_view(run, exc))
            return None
        return time.monotonic() - began

    def baseline_prefix(self) -> str:
        """The prefix holding the load and the deviations of a no-fault monitoring run, which the
        analytics and notifications cases read (the monitoring baseline is that run)."""
        if self._prefix is None:
            prefix = new_prefix("w")
            prepare_topics(self.bootstrap, prefix)
            self.load.produce(self.bootstrap, prefix)
            consumer = self.baseline_consumer
            env = {**MONITORING_ENV, "PANTAU_MONITORING_CONSUMER": consumer}
            run = ServiceRun("monitoring", self.bootstrap, prefix, self.run_dir("baseline"), env=env)
            try:
                run.start().wait_ready(READY_TIMEOUT)
                group = _monitoring_group(prefix, consumer)
                names = [f"{prefix}{name}" for name in MONITORING_SOURCES] + _internal_monitoring_topics(
                    prefix, consumer
                )
                wait_caught_up(self.bootstrap, group, names, timeout=CATCH_UP_TIMEOUT, alive=run.alive, settle=2)
                settle_topic(self.bootstrap, f"{prefix}{topics.MONITORING_DEVIATIONS}")
            finally:
                run.stop()
            self._monitoring = read_deviations(self.bootstrap, prefix)
            self._prefix = prefix
        return self._prefix

    def monitoring_baseline(self) -> Deviations:
        self.baseline_prefix()
        assert self._monitoring is not None
        return self._monitoring

    # -- analytics ----------------------------------------------------------------------------------

    def analytics_run(
        self, *, workers: int = 1, kill: bool = False, restart: bool = True
    ) -> tuple[dict[str, float], float | None]:
        """Analytics over the baseline prefix with a consumer group of its own; returns the metrics of
        the (last) worker standing and the seconds to catch up after the kill."""
        prefix = self.baseline_prefix()
        app_id = f"pantau-analytics-{uuid4().hex[:6]}"
        directory = self.run_dir("analytics")
        env = {"PANTAU_ANALYTICS_APP_ID": app_id, "PANTAU_ANALYTICS_LAG_INTERVAL_SECONDS": "3600"}
        runs = [
            ServiceRun("analytics", self.bootstrap, prefix, directory / f"w{index}", env=env)
            for index in range(workers)
        ]
        group = f"{prefix}{app_id}"
        names = [f"{prefix}{name}" for name in ANALYTICS_SOURCES]
        try:
            for run in runs:
                run.start()
            for run in runs:
                run.wait_ready(READY_TIMEOUT)
            began = time.monotonic()
            if kill:
                wait_progress(self.bootstrap, group, names, KILL_AT, timeout=CATCH_UP_TIMEOUT)
                runs[0].kill9()
                began = time.monotonic()
                if restart:
                    runs[0].start().wait_ready(READY_TIMEOUT)
            alive = lambda: any(run.alive() for run in runs)  # noqa: E731
            if kill:
                # The killed worker's partitions (and the wake-ups only its memory held) move only
                # after the session timeout; "caught up" counted before that can end the run while a
                # due tick waits in nobody's index (seen as one overdue activity missing).
                _wait_partitions_held([run for run in runs if run.alive()], names[:3])
            seconds = self._caught_up(group, names, alive, began, runs)
            standing = [run for run in runs if run.alive()]
            # The survivor (or the restarted worker) must hold every partition before it is read:
            # ready is not enough, as a killed worker stays a group member (holding its partitions)
            # until its session times out. The reports API answers only when it holds them all.
            standing[-1].wait_ready(READY_TIMEOUT)
            _wait_holding_everything(standing[-1].url)
            return metrics_of(standing[-1].url), seconds
        finally:
            for run in runs:
                run.stop()

    def analytics_baseline(self) -> dict[str, float]:
        if self._analytics is None:
            self._analytics, _ = self.analytics_run()
        return self._analytics

    # -- notifications -------------------------------------------------------------------------------

    def notifications_run(
        self, *, kill_after: int | None = None, incidents: bool = False
    ) -> tuple[WebhookReceiver, float | None, list[dict[str, Any]]]:
        """The notifier over the baseline prefix (its own consumer group and store) delivering to the
        supervisors' webhook; `kill -9` once `kill_after` deliveries arrived, then restart. With
        `incidents`, deviations become items of incidents (the default product mode) and the
        incidents are read from the notifier's API at the end; else one message per deviation."""
        prefix = self.baseline_prefix()
        group = f"pantau-notifications-{uuid4().hex[:6]}"
        receiver = WebhookReceiver(port=self.webhook_port).start()
        run = ServiceRun(
            "notifications",
            self.bootstrap,
            prefix,
            self.run_dir("notifications"),
            env={
                "PANTAU_NOTIFICATIONS_CONSUMER_GROUP": group,
                "PANTAU_NOTIFICATIONS_QUIET_HOURS_ENABLED": "false",
                # One message per deviation: the comparison is per (deviation, supervisor). With
                # incidents, which items a message carries depends on timing (items of the same
                # severity join silently), so incident runs are compared by the incidents' items.
                "PANTAU_NOTIFICATIONS_INCIDENTS_ENABLED": "true" if incidents else "false",
                # No group wait: incidents are told within the run (the default waits 5 minutes).
                "PANTAU_NOTIFICATIONS_INCIDENT_GROUP_WAIT_SECONDS": "0",
                "PANTAU_NOTIFICATIONS_RETRY_INITIAL_SECONDS": "0.2",
                "PANTAU_NOTIFICATIONS_RETRY_MAX_SECONDS": "2",
            },
        )
        names = [f"{prefix}{topics.REGISTRY_EVENTS}", f"{prefix}{topics.MONITORING_DEVIATIONS}"]
        try:
            run.start().wait_ready(READY_TIMEOUT)
            began = time.monotonic()
            if kill_after is not None:
                deadline = time.monotonic() + CATCH_UP_TIMEOUT
                while len(receiver.accepted) < kill_after and time.monotonic() < deadline:
                    time.sleep(0.02)
                run.kill9()
                began = time.monotonic()
                run.start().wait_ready(READY_TIMEOUT)  # results are read only from a running notifier
            seconds = self._caught_up(f"{prefix}{group}", names, run.alive, began)
            # Delivered means the notifier's queue is empty, not merely that the receiver went quiet.
            _settle(
                lambda: len(receiver.received),
                quiet=5.0,
                timeout=CATCH_UP_TIMEOUT,
                ready=lambda: _pending(run.url) == 0,
            )
            return receiver, seconds, _incidents(run.url) if incidents else []
        finally:
            run.stop()
            receiver.stop()

    def notifications_baseline(self) -> set[tuple[str, str, str]]:
        if self._alerts is None:
            receiver, _, _ = self.notifications_run()
            self._alerts = delivered(receiver)
        return self._alerts

    def incidents_baseline(self) -> tuple[set[tuple[str, str, str, str]], int]:
        """(the incidents' items, deliveries) of a no-fault run with incidents on."""
        if self._incident_items is None:
            receiver, _, found = self.notifications_run(incidents=True)
            self._incident_items = incident_items(found)
            self._incident_deliveries = len(receiver.accepted)
        return self._incident_items, self._incident_deliveries


def _incidents(url: str) -> list[dict[str, Any]]:
    """Every incident the notifier holds, from its API (as an admin)."""
    token = mint_token(AuthSettings(), subject="faults-admin", role="admin", scope="*")
    answer = httpx.get(
        f"{url}/api/v1/incidents", params={"limit": 1000}, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    if len(found) >= 1000:
        raise RuntimeError("more than 1000 incidents: the comparison would miss some")
    return found


def incident_items(incidents: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(supervisor, incident kind, subject, deviation id) of every item of every incident: which
    incident instance holds an item depends on timing (an incident whose items all resolved closes,
    and the next deviation of its subject opens another), whom it reaches and under what does not."""
    return {
        (str(incident["supervisor_id"]), str(incident["kind"]), str(incident["subject_id"]), str(item["deviation_id"]))
        for incident in incidents
        for item in incident.get("items", [])
    }


def _wait_partitions_held(runs: Sequence[ServiceRun], names: Sequence[str], timeout: float = 60.0) -> None:
    """Until the living workers between them hold every partition of `names` (`/debug/partitions`):
    the group has rebalanced after a kill. Logs and goes on when it does not happen in `timeout`
    (the comparison of the outputs then shows what was left undone)."""
    deadline = time.monotonic() + timeout
    held: set[tuple[str, int]] = set()
    while time.monotonic() < deadline:
        held = set()
        for run in runs:
            with contextlib.suppress(Exception):
                report = httpx.get(f"{run.url}/debug/partitions", timeout=5).json()
                if not report.get("rebalancing"):
                    held |= {(row["topic"], row["partition"]) for row in report.get("partitions", []) if row["active"]}
        if all(sum(1 for topic, _ in held if topic == name) >= topics.GROUP_KEYED_PARTITIONS for name in names):
            return
        time.sleep(0.5)
    log.warning("the living workers hold %d partitions of %s after %.0f s", len(held), list(names), timeout)


def _stalled_view(run: ServiceRun, stall: Stalled) -> str:
    """The worker's own view (`/debug/partitions`) of the partitions whose commits stopped."""
    try:
        report = httpx.get(f"{run.url}/debug/partitions", timeout=10).json()
    except Exception as exc:  # a worker that cannot answer says as much
        return f"no answer ({exc!r})"
    behind = {(tp.topic, tp.partition) for tp in stall.behind}
    rows = [row for row in report.get("partitions", []) if (row["topic"], row["partition"]) in behind]
    head = {key: value for key, value in report.items() if key != "partitions"}
    with contextlib.suppress(Exception):  # where its coroutines wait, kept beside its log
        tasks = httpx.get(f"{run.url}/debug/tasks", timeout=10).text
        (run.workdir / "stall-tasks.json").write_text(tasks)
    return f"{head} {rows} (coroutines: {run.workdir / 'stall-tasks.json'})"


def _wait_holding_everything(url: str, timeout: float = READY_TIMEOUT) -> None:
    """Until analytics' reports answer 200: then the worker holds every partition (else 503)."""
    token = mint_token(AuthSettings(), subject="faults-admin", role="admin", scope="*")
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                answer = client.get(
                    f"{url}/api/v1/reports/compliance", params={"period": "2026-01", "level": "province"}
                )
                if answer.status_code == 200:
                    time.sleep(1)  # the last rebuild's sums
                    return
            time.sleep(0.5)
    raise TimeoutError(f"analytics at {url} never held every partition")


def _pending(url: str) -> int:
    """Deliveries still queued in the notifier (its `pantau_alert_deliveries_pending` gauge)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 1
    for line in text.splitlines():
        if line.startswith("pantau_alert_deliveries_pending"):
            return int(float(line.rsplit(" ", 1)[1]))
    return 1


def _settle(
    count: Callable[[], int], *, quiet: float, timeout: float, ready: Callable[[], bool] = lambda: True
) -> None:
    """Until `count` stayed put for `quiet` seconds while `ready` holds (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet and ready():
            return


def delivered(receiver: WebhookReceiver) -> set[tuple[str, str, str]]:
    """(deviation id, alert type, supervisor) of every delivery the receiver accepted."""
    return {_alert_key(hook) for hook in receiver.accepted}


def _alert_key(hook: ReceivedWebhook) -> tuple[str, str, str]:
    """One alert to one supervisor: the same deviation goes to every supervisor whose area it is in,
    each with a webhook-id of its own."""
    body = hook.body
    return (str(body.get("deviation_id")), str(body.get("type")), str(body.get("supervisor_id")))


# ----------------------------------------------------------------------------------------------- cases


def _compare_deviations(case: str, world: World, got: Deviations, seconds: float | None) -> CaseResult:
    certain, ambiguous = world.load.oracle_ids()
    oracle_rules = {item.rule for item in certain | ambiguous}
    expected = {item for item in world.monitoring_baseline().distinct if item.rule not in UNORDERED_RULES}
    published = {item for item in got.distinct if item.rule not in UNORDERED_RULES}
    missing = expected - published
    extra = published - expected
    # The oracle's view, for the record: a certain deviation never published, or an oracle rule's
    # deviation the oracle does not allow.
    compared = oracle_rules - set(UNORDERED_RULES)
    oracle_missing = {item for item in certain - got.distinct if item.rule in compared}
    oracle_extra = {item for item in got.distinct if item.rule in compared} - certain - ambiguous
    unordered = len({item for item in got.distinct if item.rule in UNORDERED_RULES})
    detail = (
        f"{len(published)} ids (baseline {len(expected)}; {unordered} of {', '.join(UNORDERED_RULES)} not compared)"
        f"; vs oracle: {len(oracle_missing)} missing, "
        f"{len(oracle_extra)} extra"
    )
    if missing or extra:
        detail += f"; vs baseline by rule: missing {_by_rule(missing)}, extra {_by_rule(extra)}"
        kept = keep_evidence(world, case, missing, extra, got)
        detail += f"; e.g. {_placed(extra or missing, got)}; evidence in {kept}"
    lost, added = missing | oracle_missing, extra | oracle_extra
    rules = {item.rule for item in lost | added}
    by_rule = {
        rule: (sum(1 for item in lost if item.rule == rule), sum(1 for item in added if item.rule == rule))
        for rule in sorted(rules)
    }
    return CaseResult(
        case, len(lost), len(added), got.republished, seconds, _stall(world, seconds, detail), by_rule=by_rule
    )


def _placed(items: set[Expected], got: Deviations, count: int = 3) -> str:
    """A few ids with the partition they were published on and the instant they say they were detected."""
    shown = []
    for item in sorted(items)[:count]:
        first = got.first.get(item, {})
        shown.append(
            f"{item.rule}/{item.group_id}/{item.occurrence}"
            f" (partition {first.get('partition', '?')}, detected {first.get('detected_at', '-')})"
        )
    return ", ".join(shown)


def keep_evidence(world: World, case: str, missing: set[Expected], extra: set[Expected], got: Deviations) -> Path:
    """A run that differs keeps what it takes to find out why, outside the temporary directories:
    the differing ids (where and when published), every source record of their groups in reading
    order, and the workers' logs. Under `PANTAU_FAULTS_EVIDENCE` (default `var/faults`)."""
    slug = re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")
    target = Path(os.environ.get("PANTAU_FAULTS_EVIDENCE", "var/faults")) / f"{slug}-{uuid4().hex[:8]}"
    target.mkdir(parents=True, exist_ok=True)
    groups = {item.group_id for item in missing | extra}
    sources: list[dict[str, Any]] = []
    if world.last_monitoring is not None:
        prefix, directory = world.last_monitoring
        for name in MONITORING_SOURCES:
            for record in read_all(world.bootstrap, f"{prefix}{name}"):
                if record.key is None or record.key.decode() not in groups:
                    continue
                envelope = orjson.loads(record.value or b"{}")
                sources.append(
                    {
                        "topic": name,
                        "partition": record.partition,
                        "offset": record.offset,
                        "group": record.key.decode(),
                        "type": envelope.get("type"),
                        "received_at": envelope.get("pantaureceivedat") or envelope.get("time"),
                        "data": envelope.get("data"),
                    }
                )
        for log_file in directory.rglob("*.log"):
            shutil.copy(log_file, target / f"{log_file.parent.name}-{log_file.name}")
    items = [
        {
            "kind": kind,
            "rule": item.rule,
            "group": item.group_id,
            "occurrence": item.occurrence,
            **got.first.get(item, {}),
        }
        for kind, found in (("missing", missing), ("extra", extra))
        for item in sorted(found)
    ]
    (target / "evidence.json").write_text(
        orjson.dumps({"case": case, "ids": items, "sources": sources}, option=orjson.OPT_INDENT_2).decode()
    )
    return target


def _stall(world: World, seconds: float | None, detail: str) -> str:
    """A run whose commits stalled says where (its outputs were compared all the same)."""
    return detail if seconds is not None or not world.stalls else f"{detail}; COMMITS STALLED: {world.stalls[-1]}"


def _by_rule(items: set[Expected]) -> str:
    return ", ".join(f"{rule} {count}" for rule, count in sorted(Counter(item.rule for item in items).items())) or "0"


def _few(items: set[Expected], count: int = 3) -> str:
    return ", ".join(f"{item.rule}/{item.group_id}/{item.occurrence}" for item in sorted(items)[:count]) or "-"


def monitoring_kill(world: World) -> CaseResult:
    got, seconds = world.monitoring_run(kill=True)
    return _compare_deviations("monitoring: kill -9 and restart", world, got, seconds)


def monitoring_pair_kill(world: World) -> CaseResult:
    got, seconds = world.monitoring_run(workers=2, kill=True, restart=False)
    return _compare_deviations("monitoring: two workers, one kill -9", world, got, seconds)


def monitoring_trio_kill(world: World) -> CaseResult:
    """Three workers, the first `kill -9`'d and restarted: two rebalances (the survivors take its
    partitions, then hand some back) while the load runs."""
    got, seconds = world.monitoring_run(workers=3, kill=True, restart=True)
    return _compare_deviations("monitoring: three workers, one kill -9 and restart", world, got, seconds)


def monitoring_rocksdb_kill(world: World) -> CaseResult:
    """Tables on disk: the restarted worker reads its own RocksDB state, then the changelog's tail."""
    got, seconds = world.monitoring_run(kill=True, store="rocksdb://")
    return _compare_deviations("monitoring (RocksDB): kill -9 and restart", world, got, seconds)


def monitoring_rocksdb_pair_kill(world: World) -> CaseResult:
    got, seconds = world.monitoring_run(workers=2, kill=True, restart=False, store="rocksdb://")
    return _compare_deviations("monitoring (RocksDB): two workers, one kill -9", world, got, seconds)


def monitoring_loop_kill(world: World) -> CaseResult:
    """The loop consumer (`services/monitoring/loop.py`): each batch one transaction."""
    got, seconds = world.monitoring_run(kill=True, consumer="loop")
    return _compare_deviations("monitoring (loop consumer): kill -9 and restart", world, got, seconds)


def monitoring_loop_pair_kill(world: World) -> CaseResult:
    got, seconds = world.monitoring_run(workers=2, kill=True, restart=False, consumer="loop")
    return _compare_deviations("monitoring (loop consumer): two workers, one kill -9", world, got, seconds)


def monitoring_loop_trio_kill(world: World) -> CaseResult:
    got, seconds = world.monitoring_run(workers=3, kill=True, restart=True, consumer="loop")
    return _compare_deviations(
        "monitoring (loop consumer): three workers, one kill -9 and restart", world, got, seconds
    )


def monitoring_loop_pair_pause(world: World) -> CaseResult:
    """Two loop workers; one paused (`SIGSTOP`) longer than the session timeout while the other takes
    its partitions and finishes the load, then resumed: a zombie. Its batch in hand must not be
    committed (`services/monitoring/fencing.py`): the same deviations as one worker, and the group's
    committed offsets never go back."""
    got, seconds = world.monitoring_run(workers=2, pause=True, consumer="loop")
    result = _compare_deviations("monitoring (loop consumer): two workers, one paused and resumed", world, got, seconds)
    result.offsets_back = len(world.last_offsets_back)
    if world.last_offsets_back:
        steps = ", ".join(f"{tp.topic}[{tp.partition}] {high}→{then}" for tp, high, then in world.last_offsets_back[:3])
        result.detail += f"; committed offsets went back {result.offsets_back} times (e.g. {steps})"
    return result


def _compare_metrics(case: str, world: World, got: dict[str, float], seconds: float | None) -> CaseResult:
    expected = world.analytics_baseline()
    lower, higher, examples = metrics_difference(expected, got)
    detail = f"{len(expected)} series compared" + (f"; e.g. {'; '.join(examples)}" if examples else "")
    return CaseResult(case, lower, higher, 0, seconds, _stall(world, seconds, detail))


def analytics_kill(world: World) -> CaseResult:
    got, seconds = world.analytics_run(kill=True)
    return _compare_metrics("analytics: kill -9 and restart", world, got, seconds)


def analytics_pair_kill(world: World) -> CaseResult:
    got, seconds = world.analytics_run(workers=2, kill=True, restart=False)
    return _compare_metrics("analytics: two workers, one kill -9", world, got, seconds)


def notifications_kill(world: World) -> CaseResult:
    expected = world.notifications_baseline()
    receiver, seconds, _ = world.notifications_run(kill_after=max(1, len(expected) // 3))
    got = delivered(receiver)
    ids: dict[tuple[str, str, str], set[str]] = {}
    for hook in receiver.received:
        key = _alert_key(hook)
        ids.setdefault(key, set()).add(hook.headers.get("webhook-id", ""))
    new_identity = sum(len(found) - 1 for found in ids.values())
    accepted_per_key: dict[tuple[str, str, str], int] = {}
    for hook in receiver.accepted:
        key = _alert_key(hook)
        accepted_per_key[key] = accepted_per_key.get(key, 0) + 1
    republished = sum(count - 1 for count in accepted_per_key.values())
    missing, extra = expected - got, got - expected
    detail = f"{len(got)} alerts delivered (baseline {len(expected)})"
    if missing or extra:
        detail += f"; e.g. missing {sorted(missing)[:3]} extra {sorted(extra)[:3]}"
    return CaseResult(
        "notifications: kill -9 and restart",
        len(missing),
        len(extra) + new_identity,
        republished,
        seconds,
        _stall(world, seconds, detail),
    )


def notifications_incidents_kill(world: World) -> CaseResult:
    """The same kill with incidents on: every (supervisor, incident subject, deviation) item of the
    no-fault run is an item after the kill, and nothing else; a message received twice shares its
    `webhook-id`."""
    expected, deliveries = world.incidents_baseline()
    receiver, seconds, found = world.notifications_run(kill_after=max(1, deliveries // 3), incidents=True)
    got = incident_items(found)
    per_id = Counter(hook.headers.get("webhook-id", "") for hook in receiver.accepted)
    republished = sum(count - 1 for count in per_id.values())
    missing, extra = expected - got, got - expected
    detail = (
        f"{len(got)} incident items in {len(found)} incidents (baseline {len(expected)}); "
        f"{len(receiver.accepted)} messages (baseline {deliveries})"
    )
    if missing or extra:
        detail += f"; e.g. missing {sorted(missing)[:3]} extra {sorted(extra)[:3]}"
    return CaseResult(
        "notifications (incidents): kill -9 and restart",
        len(missing),
        len(extra),
        republished,
        seconds,
        _stall(world, seconds, detail),
    )


def _private_world(world: World, directory: Path, bootstrap: str) -> World:
    """A world on another broker sharing this world's load and baselines."""
    other = World(bootstrap, directory / "runs", shape=world.shape, webhook_port=world.webhook_port)
    other._load = world.load
    other.stalls = world.stalls
    return other


def broker_outage(world: World, *, outage_s: float = BROKER_OUTAGE_S, consumer: str = "faust") -> CaseResult:
    """The broker `kill -9`'d at `KILL_AT` of the load, down for `outage_s`, restarted on the same
    port and data; the worker rides it out (its clients reconnect)."""
    world.monitoring_baseline()
    directory = world.run_dir("broker")
    broker = LocalKafkaBroker(directory / "broker")
    broker.start()
    try:
        other = _private_world(world, directory, broker.bootstrap_servers)

        def outage() -> None:
            kill_broker(broker)
            time.sleep(outage_s)
            broker.start(timeout=READY_TIMEOUT)

        got, seconds = other.monitoring_run(fault=outage, consumer=consumer)
    finally:
        broker.stop()
    of = " (loop consumer)" if consumer == "loop" else ""
    return _compare_deviations(f"broker{of}: kill -9, {outage_s:.0f} s down, restart", world, got, seconds)


def kill_broker(broker: LocalKafkaBroker) -> None:
    """`kill -9` of the broker's JVM: no controlled shutdown, unflushed log segments recovered at start."""
    process = broker._process
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    broker._process = None


def flaky_link(world: World, *, partition_s: float = LINK_PARTITION_S, consumer: str = "faust") -> CaseResult:
    """Every connection between the worker (and the load, and the readers) and the broker goes
    through a proxy adding latency each way and resetting a random connection every few seconds; at
    `KILL_AT` of the load the link is cut for `partition_s` (every connection dropped, new ones
    refused)."""
    world.monitoring_baseline()
    directory = world.run_dir("link")
    proxy = FlakyProxy(upstream_port=free_port(), latency=LINK_LATENCY_S, reset_every=LINK_RESET_EVERY_S)
    broker = ProxiedBroker(directory / "broker", port=proxy.upstream_port, advertised_port=proxy.port)
    proxy.start()
    try:
        broker.start()
        other = _private_world(world, directory, broker.proxied_bootstrap)

        def cut() -> None:
            proxy.partition(partition_s)
            time.sleep(partition_s)

        got, seconds = other.monitoring_run(fault=cut, consumer=consumer)
    finally:
        broker.stop()
        proxy.stop()
    of = " (loop consumer)" if consumer == "loop" else ""
    detail_case = f"link{of}: {LINK_LATENCY_S * 1000:.0f} ms each way, resets, {partition_s:.0f} s partition"
    result = _compare_deviations(detail_case, world, got, seconds)
    result.detail += (
        f"; link: {proxy.stats.connections} connections, {proxy.stats.resets} reset, {proxy.stats.refused} refused"
    )
    return result


MEETINGS_GROUPS = [f"GRP-{n:02d}" for n in range(12)]
MEETINGS_REPORTS_PER_GROUP = 12


def meetings_kill(world: World) -> CaseResult:
    """One meetings process on SQLite under a load of phones sending each group's reports in order;
    `kill -9` at `KILL_AT` of the reports accepted, then a restart on the same database and port.
    Phones whose request failed send the same report again (always safe). Every accepted report must
    reach `meetings.events` once (same event id if re-published), each group's in the order accepted,
    and no meeting be scheduled twice."""
    from tools.faults import meetings

    directory = world.run_dir("meetings")
    prefix = new_prefix("meetings")
    prepare_topics(world.bootstrap, prefix)
    hosts = meetings.MeetingsProcesses(
        f"sqlite:///{directory / 'meetings.db'}", world.bootstrap, prefix, directory, workers=(1,)
    )
    total = len(MEETINGS_GROUPS) * MEETINGS_REPORTS_PER_GROUP
    try:
        hosts.start(timeout=READY_TIMEOUT)
        url = hosts.processes[0].url
        meetings.seed_registry(url, MEETINGS_GROUPS)
        load = meetings.Load([url], MEETINGS_GROUPS, MEETINGS_REPORTS_PER_GROUP)
        threads = load.run()
        deadline = time.monotonic() + READY_TIMEOUT
        while load.accepted_count < total * KILL_AT and time.monotonic() < deadline:
            time.sleep(0.05)
        hosts.processes[0].kill_9()
        killed_at = time.monotonic()
        hosts.restart(0, timeout=READY_TIMEOUT)
        for thread in threads:
            thread.join(CATCH_UP_TIMEOUT)
        records = meetings.read_topic(
            world.bootstrap,
            f"{prefix}{topics.MEETINGS_EVENTS}",
            until=load.accepted_count,
            event_type=meetings.RECORDED,
            timeout=CATCH_UP_TIMEOUT,
        )
        seconds: float | None = time.monotonic() - killed_at
    finally:
        hosts.stop()
    judgement = meetings.judge(load.accepted, records)
    if load.accepted_count < total:
        seconds = None
    return CaseResult(
        "meetings: kill -9 and restart",
        judgement.lost + (total - load.accepted_count),
        judgement.extra,
        judgement.republished,
        seconds,
        f"{judgement.detail}; {load.attempts_failed} attempts failed while the process was down",
    )


CASES: dict[str, Callable[[World], CaseResult]] = {
    "monitoring-kill": monitoring_kill,
    "monitoring-pair-kill": monitoring_pair_kill,
    "monitoring-trio-kill": monitoring_trio_kill,
    "monitoring-rocksdb-kill": monitoring_rocksdb_kill,
    "monitoring-rocksdb-pair-kill": monitoring_rocksdb_pair_kill,
    "monitoring-loop-kill": monitoring_loop_kill,
    "monitoring-loop-pair-kill": monitoring_loop_pair_kill,
    "monitoring-loop-trio-kill": monitoring_loop_trio_kill,
    "monitoring-loop-pair-pause": monitoring_loop_pair_pause,
    "monitoring-loop-broker-outage": lambda world: broker_outage(world, consumer="loop"),
    "monitoring-loop-flaky-link": lambda world: flaky_link(world, consumer="loop"),
    "analytics-kill": analytics_kill,
    "analytics-pair-kill": analytics_pair_kill,
    "notifications-kill": notifications_kill,
    "notifications-incidents-kill": notifications_incidents_kill,
    "broker-outage": broker_outage,
    "flaky-link": flaky_link,
    "meetings-kill": meetings_kill,
}
