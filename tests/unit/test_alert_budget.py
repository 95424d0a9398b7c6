"""The alert budget (`tools/bench/alerts.py`) on a small generated programme: with the service's own
settings supervisors get at most 10 messages per 100 groups per month, every oracle deviation is an
item of an incident they were told about, and the facilitator-level signal — emulated with the
programmes' own thresholds — singles out a minority of facilitators."""

from __future__ import annotations

from datetime import date

import pytest

from services.notifications.incident_shell import timing_for
from services.notifications.settings import NotificationsSettings
from tools.bench.alerts import AlertBudget, measure
from tools.generator.programme import Shape

pytestmark = pytest.mark.unit

SHAPE = Shape(scale=0.003, seed=7, start=date(2026, 1, 1), months=3)


@pytest.fixture(scope="module")
def budget() -> AlertBudget:
    return measure(SHAPE, timing=timing_for(NotificationsSettings()), ack_hours=1.0)


def test_the_default_settings_stay_within_the_budget_and_miss_nothing(budget: AlertBudget) -> None:
    assert budget.deviations > 1000
    assert budget.recall == 1.0
    assert budget.per_100_groups_per_month <= 10


def test_the_facilitator_signal_fires_for_a_minority_with_the_programmes_thresholds(budget: AlertBudget) -> None:
    assert 0 < budget.facilitators_signalled < budget.facilitators / 3
