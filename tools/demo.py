"""The demo load of the run command: a small generated national programme sent through the public
HTTP API, as admins and field apps would (see `tools/generator`).

All 38 provinces, their supervisors (every one with the demo webhook), about 40 facilitators and 400
groups at the default scale, and last month's plans, meetings, progress and evaluations, sent in the
order a real programme sends them (plans when agreed, then progress as it happens, never a plan full
of past-due activities followed by its progress): most held properly, some led by the group chair
without the facilitator, some with low attendance or too short, some activities done late, some
phones offline for days and syncing in a batch. The generator's oracle says which deviations that
history must cause; the demo expects each one it can truthfully show (see `load_demo`) to be an item
of an incident, and `demo_report` says what the supervisors heard of them (see `DemoReport`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.generator.behaviour import Rates
from tools.generator.http_driver import drive_http
from tools.generator.oracle import ACTIVITY_OVERDUE, TIME_INSENSITIVE_RULES, Expected
from tools.generator.programme import Shape

DEFAULT_SCALE = 0.001
# The demo's group_wait: a month goes through in a minute, so the usual five minutes would hold every
# first message for most of the run.
DEMO_GROUP_WAIT_SECONDS = 10
# "Opened and resolved within seconds": an incident over this quickly is a blip nobody should be told of.
BLIP = timedelta(seconds=60)
ALERT_BUDGET_PER_100_GROUPS_MONTH = 10.0


@dataclass(frozen=True)
class DemoSummary:
    """What the demo sent and what it should cause."""

    regions: int
    supervisors: int
    facilitators: int
    groups: int
    meetings_created: int
    requests: int
    failed_requests: int
    expected: tuple[Expected, ...]
    rules: tuple[str, ...]

    @property
    def expected_alerts(self) -> int:
        """Deviations the oracle expects the demo to show: each must be an item of an incident."""
        return len(self.expected)


def implemented_rules() -> frozenset[str]:
    """Rule ids of the modules in `services/monitoring/rules/` (each declares `RULE`, or `RULES`)."""
    package = importlib.import_module("services.monitoring.rules")
    rules: set[str] = set()
    for module in pkgutil.iter_modules(package.__path__):
        loaded = importlib.import_module(f"{package.__name__}.{module.name}")
        rule = getattr(loaded, "RULE", None)
        if isinstance(rule, str):
            rules.add(rule)
        rules.update(rule for rule in getattr(loaded, "RULES", ()) if isinstance(rule, str))
    return frozenset(rules)


def load_demo(
    meetings_url: str,
    *,
    webhook_url: str,
    scale: float = DEFAULT_SCALE,
    seed: int = 7,
    months: int = 1,
    concurrency: int = 8,
    now: datetime | None = None,
    show_progress: bool = True,
    phases: tuple[str, ...] = ("registry", "history"),
) -> DemoSummary:
    """Send the generated programme; returns counts and the deviations to expect.

    A month of history goes through the API in a minute and the server stamps it with today's
    time, so the demo expects only what survives that compression: the oracle's certain deviations
    of implemented rules whose answer does not depend on the receipt clock, and the activities
    overdue on the evidence of a sync past their due day (which depends only on whether the "done"
    or the sync came first). Deviations that wait for a clock (an offline grace, a due time still
    ahead in the history) cannot show in a minute, and none shows that is not in the history.
    """
    shape = Shape.ending_before(now or datetime.now(UTC), scale=scale, seed=seed, months=months)
    run = drive_http(
        shape,
        Rates(),
        base_url=meetings_url,
        webhook_url=webhook_url,
        concurrency=concurrency,
        show_progress=show_progress,
        phases=phases,
    )
    rules = tuple(sorted(implemented_rules() & {*TIME_INSENSITIVE_RULES, ACTIVITY_OVERDUE}))
    expected = tuple(
        sorted(
            item
            for item in run.oracle.restricted_to(frozenset(rules)).certain
            if item.rule != ACTIVITY_OVERDUE or run.oracle.timing[item].evidence == "device_synced"
        )
    )
    return DemoSummary(
        regions=run.requests_of("region"),
        supervisors=run.requests_of("supervisor"),
        facilitators=run.facilitators,
        groups=run.groups,
        meetings_created=run.meetings,
        requests=sum(run.requests.values()),
        failed_requests=run.failed,
        expected=expected,
        rules=rules,
    )


@dataclass(frozen=True)
class DemoReport:
    """What the supervisors heard of the demo, against the oracle.

    Every expected deviation must be an item of some incident (recall). Most are in incidents the
    supervisors were told about; a month squeezed into a minute also makes some open and clear
    again within seconds (a plan activity overdue at one sync, reported done in the next request):
    inside the group_wait, before any first message, so nobody is messaged about them — correctly —
    and the console keeps them as cleared items.
    """

    expected: int
    told: int  # expected deviations that are items of incidents the supervisors were told about
    cleared_before_told: int  # ... of incidents nobody was told about: cleared inside the group_wait
    held: int  # ... still open in incidents not told yet (waiting their group_wait, or info only)
    missing: tuple[str, ...]  # expected deviations in no incident at all
    messages: int
    incidents_told: int
    groups: int
    months: int
    blips: int  # incidents that opened and were over within `BLIP`
    blips_messaged: int  # ... of which a supervisor got a message (must be none)
    longest_cleared_seconds: float | None  # the longest life among the items cleared before anyone was told
    info_items: Mapping[str, int] = field(default_factory=dict)  # open info-only items per rule

    @property
    def recall(self) -> float:
        """Share of the expected deviations that are items of some incident."""
        return (self.expected - len(self.missing)) / self.expected if self.expected else 1.0

    @property
    def messages_per_100_groups_month(self) -> float:
        """The alert budget's measure."""
        return self.messages / (self.groups / 100) / max(self.months, 1) if self.groups else 0.0

    @property
    def truthful(self) -> bool:
        """Within the budget, every deviation in an incident, no blip messaged."""
        return (
            not self.missing
            and self.blips_messaged == 0
            and self.messages_per_100_groups_month <= ALERT_BUDGET_PER_100_GROUPS_MONTH
        )


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def told_incidents(deliveries: Iterable[Mapping[str, Any]]) -> set[str]:
    """Incidents a supervisor got a message about (the webhook bodies' `incident_id`, else `alert_id`)."""
    return {str(body.get("incident_id") or body.get("alert_id")) for body in deliveries}


def settled(expected_ids: set[str], incidents: Iterable[Mapping[str, Any]]) -> bool:
    """Every expected deviation is an item, and no incident is still in its group_wait with a warning
    open (it will be told within seconds: counting now would call it held)."""
    items: set[str] = set()
    for incident in incidents:
        items.update(str(item["deviation_id"]) for item in incident["items"])
        waiting = incident["status"] == "pending" and any(
            item.get("resolved_at") is None and item["severity"] != "info" for item in incident["items"]
        )
        if waiting:
            return False
    return expected_ids <= items


def demo_report(
    *,
    expected_ids: set[str],
    deliveries: Sequence[Mapping[str, Any]],
    incidents: Sequence[Mapping[str, Any]],
    groups: int,
    months: int,
) -> DemoReport:
    """The figures of the demo's end-of-run summary, from the webhook's bodies and the incidents as
    the API lists them (every status)."""
    told_ids = told_incidents(deliveries)
    told: set[str] = set()
    cleared: set[str] = set()
    held: set[str] = set()
    lives: list[float] = []
    info: Counter[str] = Counter()
    blips = blips_messaged = 0
    for incident in incidents:
        was_told = str(incident["incident_id"]) in told_ids
        for item in incident["items"]:
            deviation_id = str(item["deviation_id"])
            opened, resolved = _moment(item.get("opened_at")), _moment(item.get("resolved_at"))
            if item["severity"] == "info" and resolved is None:
                info[str(item["rule"])] += 1
            if deviation_id not in expected_ids:
                continue
            if was_told:
                told.add(deviation_id)
            elif resolved is not None:
                cleared.add(deviation_id)
                if opened is not None:
                    lives.append((resolved - opened).total_seconds())
            else:
                held.add(deviation_id)
        detected, over = _moment(incident.get("detected_at")), _moment(incident.get("resolved_at"))
        if incident["status"] in ("resolved", "dismissed") and detected and over and over - detected < BLIP:
            blips += 1
            blips_messaged += was_told
    cleared -= told
    held -= told | cleared
    return DemoReport(
        expected=len(expected_ids),
        told=len(told),
        cleared_before_told=len(cleared),
        held=len(held),
        missing=tuple(sorted(expected_ids - told - cleared - held)),
        messages=len(deliveries),
        incidents_told=len(told_ids),
        groups=groups,
        months=months,
        blips=blips,
        blips_messaged=blips_messaged,
        longest_cleared_seconds=max(lives) if lives else None,
        info_items=dict(info),
    )
