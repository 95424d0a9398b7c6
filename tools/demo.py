"""The demo load of the run command: a small generated national programme sent through the public
HTTP API, as admins and field apps would (see `tools/generator`).

All 38 provinces, their supervisors (every one with the demo webhook), about 40 facilitators and 400
groups at the default scale, and last month's plans, meetings, progress and evaluations, sent in the
order a real programme sends them (plans when agreed, then progress as it happens, never a plan full
of past-due activities followed by its progress): most held properly, some led by the group chair
without the facilitator, some with low attendance or too short, some activities done late, some
phones offline for days and syncing in a batch. The generator's oracle says which deviations that
history must cause; the demo expects an alert for each one it can truthfully show (see `load_demo`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import UTC, datetime

from tools.generator.behaviour import Rates
from tools.generator.http_driver import drive_http
from tools.generator.oracle import ACTIVITY_OVERDUE, TIME_INSENSITIVE_RULES, Expected
from tools.generator.programme import Shape

DEFAULT_SCALE = 0.001


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
        """Alerts the supervisors' webhook must receive (one `alert.opened` per deviation)."""
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
    """Send the generated programme; returns counts and the alerts to expect.

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
