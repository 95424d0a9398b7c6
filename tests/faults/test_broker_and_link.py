"""The broker `kill -9`'d and back after a while, and a slow, flaky link (latency, resets, a
partition) between the services and the broker, each under the generated load: the monitoring
worker publishes exactly the deviation ids of the run without the fault. The fault command runs the
broker case with the full 60 s outage; here it is shorter to keep the test command's time."""

from __future__ import annotations

import pytest

from tools.faults import cases
from tools.faults.cases import World

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]


@pytest.mark.xfail(
    reason=(
        "open defect: after the broker's return the worker opens plan.activity_at_risk and "
        "plan.activity_overdue deviations the no-fault run does not (51 in one run; see docs/reliability.md)"
    ),
    strict=False,
)
def test_broker_killed_and_restarted_under_load(fault_world: World) -> None:
    result = cases.broker_outage(fault_world, outage_s=15.0)
    print(result)
    assert (result.lost, result.extra) == (0, 0), result


def test_slow_flaky_link_with_a_partition(fault_world: World) -> None:
    result = cases.flaky_link(fault_world, partition_s=5.0)
    print(result)
    assert (result.lost, result.extra) == (0, 0), result
