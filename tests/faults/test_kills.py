"""`kill -9` of each worker service mid-load, then a restart (or, with two workers in one consumer
group, the survivor's takeover): nothing lost, nothing doubled under a new identity, compared with
the same generated load run without the fault. `python -m tools.faults` runs the same cases ten
times each and writes docs/reliability.md."""

from __future__ import annotations

import pytest

from tools.faults import cases
from tools.faults.cases import World

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]


STALL = (
    "open defect: after the rebalance the survivor of a pair has been seen to stop committing (and "
    "processing) some partitions, no error logged (docs/reliability.md); passes when it does not happen"
)


@pytest.mark.parametrize(
    "case",
    [
        "monitoring-kill",
        "analytics-kill",
        pytest.param("analytics-pair-kill", marks=pytest.mark.xfail(reason=STALL, strict=False)),
        "notifications-kill",
    ],
)
def test_kill_9_loses_and_doubles_nothing(fault_world: World, case: str) -> None:
    result = cases.CASES[case](fault_world)
    print(result)
    assert result.lost == 0, result
    assert result.extra == 0, result
    assert result.catch_up_s is not None
    assert result.catch_up_s < cases.CATCH_UP_TIMEOUT
