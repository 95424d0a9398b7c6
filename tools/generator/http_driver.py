"""Drive a generated programme through the public HTTP API, as admins and field apps would.

The registry goes in with an admin token; each facilitator's phone then reports with that
facilitator's own token, in the order a real programme sends it (phase `history`): the groups'
plans when they are agreed, then meetings one by one while online (`POST /meetings`), progress as it
happens, evaluations, and everything recorded offline in one `POST /meetings/batch` when the spell
ends (routine empty batches advance the device's sync watermark). Facilitators work concurrently (a
thread pool); each one's requests go in order.

The server stamps receipt with its own clock, so only the oracle's time-insensitive rules
(`oracle.TIME_INSENSITIVE_RULES`) can be scored against an HTTP run; the Kafka driver replays
receipt times exactly.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from tqdm import tqdm

from services.monitoring.programmes import ProgrammeConfig, load_programmes
from shared.auth import mint_token
from shared.settings import AuthSettings
from tools.generator.behaviour import History, Rates, SimMeeting, simulate
from tools.generator.oracle import OracleResult, expected_deviations
from tools.generator.programme import Facilitator, Group, Programme, Shape, member_display_name

log = logging.getLogger(__name__)

PHASES = ("registry", "history", "field_reports", "evaluations", "plans")
HISTORY_KINDS = ("plans", "field_reports", "evaluations")
# (when the server receives it, order at that instant, kind, method, path, body)
Action = tuple[datetime, int, str, str, str, dict[str, Any]]


@dataclass
class HttpRun:
    """What was sent, how it went, and the oracle of the history sent."""

    requests: Counter[str] = field(default_factory=Counter)  # "<kind> <status>" → count
    failures: list[str] = field(default_factory=list)
    oracle: OracleResult = field(default_factory=OracleResult)
    facilitators: int = 0
    groups: int = 0
    meetings: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, response: httpx.Response) -> None:
        with self._lock:
            self.requests[f"{kind} {response.status_code}"] += 1
            if response.status_code >= 400 and len(self.failures) < 20:
                self.failures.append(f"{kind} {response.status_code}: {response.text[:300]}")

    def requests_of(self, kind: str) -> int:
        """Requests of one kind (`region`, `meeting`, `batch`…), whatever their status."""
        return sum(count for key, count in self.requests.items() if key.rsplit(" ", 1)[0] == kind)

    @property
    def failed(self) -> int:
        return sum(count for key, count in self.requests.items() if int(key.rsplit(" ", 1)[1]) >= 400)


class _Clients:
    """One keep-alive client per worker thread."""

    def __init__(self, base_url: str) -> None:
        self._base_url = f"{base_url.rstrip('/')}/api/v1"
        self._local = threading.local()

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self._base_url, timeout=60)
            self._local.client = client
        return client


def _bounded_map(
    pool: ThreadPoolExecutor, function: Callable[[Any], None], items: Iterable[Any], *, limit: int, bar: tqdm[Any]
) -> None:
    """Run `function` over `items` with at most `limit` in flight (items are produced lazily)."""
    in_flight: set[Future[None]] = set()
    for item in items:
        if len(in_flight) >= limit:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
                bar.update()
        in_flight.add(pool.submit(function, item))
    for future in in_flight:
        future.result()
        bar.update()


def _meeting_body(meeting: SimMeeting, device_id: str) -> dict[str, Any]:
    return {
        "report_id": meeting.report_id,
        "group_id": meeting.group_id,
        "started_at": meeting.started_at.isoformat(),
        "ended_at": meeting.ended_at.isoformat(),
        "facilitator_present": meeting.facilitator_present,
        "led_by": meeting.led_by,
        "module": meeting.module,
        "topic": meeting.topic,
        "attendance": [{"member_ref": ref, "status": status} for ref, status in meeting.attendance],
        "recorded_at": meeting.recorded_at.isoformat(),
        "device_id": device_id,
    }


def drive_http(
    shape: Shape,
    rates: Rates,
    *,
    base_url: str,
    webhook_url: str | None = None,
    concurrency: int = 8,
    phases: tuple[str, ...] = ("registry", "history"),
    programmes: dict[str, ProgrammeConfig] | None = None,
    auth: AuthSettings | None = None,
    show_progress: bool = True,
) -> HttpRun:
    """Send the programme through the API; returns counts and the oracle of what was sent."""
    programmes = programmes if programmes is not None else load_programmes()
    auth = auth or AuthSettings()
    programme = Programme(shape)
    run = HttpRun()
    clients = _Clients(base_url)
    admin = {"Authorization": f"Bearer {mint_token(auth, subject='generator-admin', role='admin', scope='*')}"}
    started = time.perf_counter()

    def put(kind: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        run.record(kind, clients.get().put(path, json=body, headers=headers))

    def post(kind: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        run.record(kind, clients.get().post(path, json=body, headers=headers))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="field-app") as pool:
        if "registry" in phases:
            with tqdm(desc="registry", unit="req", disable=not show_progress, leave=False) as bar:
                for level in ("provinsi", "kabupaten", "kecamatan", "desa"):
                    regions = (region for region in programme.regions() if region.level == level)
                    _bounded_map(
                        pool,
                        lambda region: put("region", f"/regions/{region.code}", {"name": region.name}, admin),
                        regions,
                        limit=concurrency * 2,
                        bar=bar,
                    )
                _bounded_map(
                    pool,
                    lambda supervisor: put(
                        "supervisor",
                        f"/supervisors/{supervisor.supervisor_id}",
                        {
                            "name": supervisor.name,
                            "level": supervisor.level,
                            "region_code": supervisor.region_code,
                            "webhook_url": webhook_url,
                            "language": supervisor.language,
                        },
                        admin,
                    ),
                    programme.supervisors(),
                    limit=concurrency * 2,
                    bar=bar,
                )

                def register(facilitator: Facilitator) -> None:
                    put(
                        "facilitator",
                        f"/facilitators/{facilitator.facilitator_id}",
                        {
                            "name": facilitator.name,
                            "programme": facilitator.programme,
                            "region_code": facilitator.region_code,
                            "phone": facilitator.phone,
                        },
                        admin,
                    )
                    for group in facilitator.groups:
                        body = {
                            "name": group.name,
                            "programme": group.programme,
                            "facilitator_id": group.facilitator_id,
                            "region_code": group.region_code,
                            "members": [
                                {"member_ref": ref, "display_name": member_display_name(ref)}
                                for ref in group.member_refs
                            ],
                            "chair_member_ref": group.chair_member_ref,
                            "schedule": {"cadence": group.cadence, "day_of_month": group.day_of_month},
                        }
                        put("group", f"/groups/{group.group_id}", body, admin)

                _bounded_map(pool, register, programme.facilitators(), limit=concurrency * 2, bar=bar)

        def histories(*, record: bool) -> Iterator[History]:
            for facilitator in programme.facilitators():
                history = simulate(facilitator, shape, rates)
                if not record:
                    yield history
                    continue
                run.facilitators += 1
                run.groups += len(facilitator.groups)
                run.meetings += len(history.meetings)
                run.oracle.update(expected_deviations(history, programmes))
                yield history

        def token_for(history: History) -> dict[str, str]:
            subject = history.facilitator.facilitator_id
            token = mint_token(auth, subject=subject, role="facilitator", scope=subject)
            return {"Authorization": f"Bearer {token}"}

        def plan_body(history: History, group: Group) -> dict[str, Any]:
            plan = group.plan
            return {
                "group_id": group.group_id,
                "title": plan.title,
                "starts_on": plan.starts_on.isoformat(),
                "ends_on": plan.ends_on.isoformat(),
                "agreed_by": [history.facilitator.facilitator_id, group.chair_member_ref],
                "activities": [
                    {
                        "id": activity.activity_id,
                        "title": activity.title,
                        "stage": activity.stage,
                        "due_on": activity.due_on.isoformat(),
                        "responsible": activity.responsible,
                        "indicator": None
                        if activity.indicator is None
                        else {
                            "name": activity.indicator.name,
                            "unit": activity.indicator.unit,
                            "baseline": activity.indicator.baseline,
                            "target": activity.indicator.target,
                        },
                    }
                    for activity in plan.activities
                ],
            }

        def actions_of(history: History, kinds: frozenset[str]) -> list[Action]:
            """The facilitator's requests of the given kinds, in the order the server received them.
            At the same instant a batch's sync goes last: its watermark claims that everything
            recorded before it is on the server, so the phone sends its progress first."""
            device = history.facilitator.device_id
            batched = {meeting.report_id: meeting for meeting in history.meetings if meeting.batched}
            actions: list[Action] = []
            if "plans" in kinds:
                for group in history.facilitator.groups:
                    body = plan_body(history, group)
                    actions.append((history.plans_agreed_at, 0, "plan", "PUT", f"/plans/{group.plan.plan_id}", body))
                for progress in history.progress:
                    body = {
                        "progress_id": progress.progress_id,
                        "reported_on": progress.reported_on.isoformat(),
                        "status": progress.status,
                        "indicator_value": progress.indicator_value,
                        "recorded_at": progress.recorded_at.isoformat(),
                    }
                    path = f"/activities/{progress.activity_id}/progress"
                    actions.append((progress.received_at, 1, "progress", "POST", path, body))
            if "field_reports" in kinds:
                for meeting in history.meetings:
                    if not meeting.batched:
                        body = _meeting_body(meeting, device)
                        actions.append((meeting.received_at, 1, "meeting", "POST", "/meetings", body))
                for sync in history.syncs:
                    body = {
                        "device_id": sync.device_id,
                        "synced_through": sync.synced_through.isoformat(),
                        "reports": [_meeting_body(batched[report_id], device) for report_id in sync.report_ids],
                    }
                    actions.append((sync.received_at, 2, "batch", "POST", "/meetings/batch", body))
            if "evaluations" in kinds:
                for evaluation in history.evaluations:
                    body = {
                        "evaluation_id": evaluation.evaluation_id,
                        "group_id": evaluation.group_id,
                        "facilitator_id": history.facilitator.facilitator_id,
                        "direction": evaluation.direction,
                        "period": evaluation.period,
                        "scores": dict(evaluation.scores),
                        "recorded_at": evaluation.recorded_at.isoformat(),
                    }
                    actions.append((evaluation.received_at, 1, "evaluation", "POST", "/evaluations", body))
            return sorted(actions, key=lambda action: (action[0], action[1]))

        def send(history: History, kinds: frozenset[str]) -> None:
            headers = token_for(history)
            for _moment, _order, kind, method, path, body in actions_of(history, kinds):
                (put if method == "PUT" else post)(kind, path, body, headers)

        # "history": each facilitator's plans, progress, meetings, syncs and evaluations as a real
        # programme sends them (plans when agreed, progress as it happens). The other phases send one
        # kind each, for tests that need only some. Each phase regenerates the histories
        # (deterministic and cheap) instead of holding them.
        first = True
        for phase in PHASES[1:]:
            if phase not in phases:
                continue
            kinds = frozenset(HISTORY_KINDS if phase == "history" else (phase,))
            with tqdm(
                total=shape.facilitator_count,
                desc=phase.replace("_", " "),
                unit="fac",
                disable=not show_progress,
                leave=False,
            ) as bar:
                _bounded_map(
                    pool,
                    functools.partial(send, kinds=kinds),
                    histories(record=first),
                    limit=concurrency * 2,
                    bar=bar,
                )
            first = False
    run.seconds = time.perf_counter() - started
    log.info(
        "sent %d requests (%d failed) for %d facilitators, %d groups, %d meetings in %.1f s",
        sum(run.requests.values()),
        run.failed,
        run.facilitators,
        run.groups,
        run.meetings,
        run.seconds,
    )
    return run
