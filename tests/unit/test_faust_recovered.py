"""`shared.faust_app.recovered`: whether a Faust worker's tables hold every partition it was last
given. Faust's own `recovery.completed` is set after the first recovery and never cleared, so after
a second rebalance it answered "recovered" while the new partitions' changelogs were still being
read (the monitoring timer then rebuilt its wake-up index from half-read tables)."""

from __future__ import annotations

from shared.faust_app import recovered
from tests.unit.test_faust_support import unstarted_app


async def test_recovered_only_once_the_latest_rebalance_has_been_recovered() -> None:
    app = unstarted_app("recovered-test")
    completed = app.tables.recovery.completed
    assert not recovered(app)  # nothing assigned, nothing read yet

    app.rebalancing, app.rebalancing_count = True, 1  # the first assignment
    assert not recovered(app)
    app.rebalancing = False  # Faust ends the rebalance before its recovery has read the changelogs
    assert not recovered(app)
    await app.on_rebalance_complete.send()  # the recovery's end, then Faust's flag
    completed.set()
    assert recovered(app)

    # A second rebalance (a worker joins or leaves): Faust's flag stays set throughout.
    app.rebalancing, app.rebalancing_count = True, 2
    assert completed.is_set()
    assert not recovered(app)
    app.rebalancing = False
    assert completed.is_set()
    assert not recovered(app)  # where Faust's flag alone said "recovered"
    await app.on_rebalance_complete.send()
    assert recovered(app)


async def test_an_app_not_built_by_build_app_falls_back_to_fausts_flag() -> None:
    app = unstarted_app("recovered-plain")
    del app.pantau_recovered_rebalance
    app.rebalancing, app.rebalancing_count = False, 3
    assert not recovered(app)
    app.tables.recovery.completed.set()
    assert recovered(app)
