"""The demo load of the run command: a small generated national programme sent through the public
HTTP API, as admins and field apps would (see `tools/generator`).

All 38 provinces, their supervisors (every one with the demo webhook), about 40 facilitators and 400
groups at the default scale, and last month's meetings, evaluations, plans and progress: most held
properly, some led by the group chair without the facilitator, some with low attendance or too short,
some phones offline for days and syncing in a batch. The generator's oracle says which deviations that
history must cause; the demo expects an alert for each one of a rule monitoring already implements.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import UTC, datetime

from tools.generator.behaviour import Rates
from tools.generator.http_driver import drive_http
from tools.generator.oracle import TIME_INSENSITIVE_RULES, Expected
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
    """Rule ids of the modules in `services/monitoring/rules/` (each declares `RULE`)."""
    package = importlib.import_module("services.monitoring.rules")
    rules = set()
    for module in pkgutil.iter_modules(package.__path__):
        rule = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "RULE", None)
        if isinstance(rule, str):
            rules.add(rule)
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
    phases: tuple[str, ...] = ("registry", "field_reports", "evaluations"),
) -> DemoSummary:
    """Send the generated programme; returns counts and the alerts to expect.

    By default plans and progress (the bulk of the requests) are left out; send them afterwards
    with `phases=("plans",)`. Expected alerts are the oracle's certain deviations of rules that are
    implemented and whose answer does not depend on the server's receipt clock (an HTTP run is
    stamped with today's time).
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
    rules = tuple(sorted(implemented_rules() & set(TIME_INSENSITIVE_RULES)))
    expected = tuple(sorted(run.oracle.restricted_to(frozenset(rules)).certain))
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
