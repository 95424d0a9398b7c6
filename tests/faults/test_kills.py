"""`kill -9` of each worker service mid-load, then a restart (or, with two workers in one consumer
group, the survivor's takeover): nothing lost, nothing doubled under a new identity, compared with
the same generated load run without the fault. `python -m tools.faults` runs the same cases ten
times each and writes docs/reliability.md."""

from __future__ import annotations

import pytest

from tools.faults import cases
from tools.faults.cases import World

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]


@pytest.mark.parametrize(
    "case",
    [
        "monitoring-kill",
        "monitoring-loop-kill",
        "analytics-kill",
        "meetings-kill",
        "analytics-pair-kill",
        "notifications-kill",
        "notifications-incidents-kill",
    ],
)
def test_kill_9_loses_and_doubles_nothing(fault_world: World, case: str) -> None:
    result = cases.CASES[case](fault_world)
    print(result)
    assert result.lost == 0, result
    assert result.extra == 0, result
    assert result.catch_up_s is not None
    assert result.catch_up_s < cases.CATCH_UP_TIMEOUT


def test_two_monitoring_workers_one_killed_publish_what_one_worker_does(fault_world: World) -> None:
    # The default worker (the loop consumer), compared with the Faust worker's run without a kill.
    # The Faust worker's own two-worker case (`monitoring-pair-kill`) is not run here: it fails in
    # about one run in twenty (docs/reliability.md: ids lost behind a survivor that stopped
    # committing, and once, on 2026-12-04, 5 `plan.activity_at_risk` and 5 `plan.activity_overdue`
    # extra), which is why the loop consumer became the default. `python -m tools.faults --case
    # monitoring-pair-kill` keeps measuring it; a gate that fails by chance would hold back every change.
    result = cases.CASES["monitoring-loop-pair-kill"](fault_world)
    print(result)
    # Every rule, `plan.activity_at_risk` too: it judges progress as of its receipt, not in the
    # order a survivor reads it again.
    assert result.by_rule == {}, result
    assert result.catch_up_s is not None, result  # never stalled


def test_a_worker_paused_past_its_session_commits_nothing_of_what_it_held(fault_world: World) -> None:
    # `SIGSTOP` of one of two loop workers until the other has taken its partitions and committed
    # the whole load, then `SIGCONT`: its transaction carries a stale group membership and is refused
    # (`services/monitoring/fencing.py`). Without that, 1 run in 3 moved the group's offsets back.
    result = cases.CASES["monitoring-loop-pair-pause"](fault_world)
    print(result)
    assert result.by_rule == {}, result
    assert result.offsets_back == 0, result
    assert result.catch_up_s is not None, result
