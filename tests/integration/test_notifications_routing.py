"""Routing that never hides an alert, on the real store and a simulated clock: several supervisors of
one district all hear (the first by id is the primary the rows name), and a deviation that is worse
before anyone heard of it is one message at its real severity, not "opened" then "escalated"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifications import incident_shell, projection
from shared.events import SupervisorUpserted
from tests.integration.notifications_support import Store, body_of, incidents, opened, pushed, settings_for

pytestmark = pytest.mark.integration

# Wednesday 11 November 2026, 10:00 WITA: working hours in Makassar.
MORNING_WITA = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def _second_kabupaten_supervisor(world: Store) -> None:
    with world.engine.begin() as connection:
        projection.project_registry(
            connection,
            SupervisorUpserted(
                supervisor_id="SUP-7371B", name="Koordinator Kota Makassar (2)", level="kabupaten",
                region_code="73.71", webhook_url="http://receiver.test/kab-b", language="id",
            ),
        )  # fmt: skip


@pytest.fixture
def shared_district(tmp_path: Path) -> Iterator[Store]:
    world = Store(tmp_path, settings_for(tmp_path))
    _second_kabupaten_supervisor(world)
    yield world
    world.engine.dispose()


@pytest.fixture
def shared_district_per_deviation(tmp_path: Path) -> Iterator[Store]:
    world = Store(tmp_path, settings_for(tmp_path, incidents_enabled=False))
    _second_kabupaten_supervisor(world)
    yield world
    world.engine.dispose()


def _who(world: Store) -> list[tuple[str, str]]:
    return [(row["supervisor_id"], row["kind"]) for row in pushed(world.engine) if row["status"] != "cancelled"]


def test_every_supervisor_of_the_district_hears_the_incident_and_either_can_stop_its_climb(
    shared_district: Store,
) -> None:
    world = shared_district
    world.intake(opened("dev-a"), MORNING_WITA)
    assert world.incident_ticks(MORNING_WITA + 6 * MINUTE) == 2
    assert sorted(_who(world)) == [("SUP-7371", "alert.opened"), ("SUP-7371B", "alert.opened")]
    bodies = {body_of(row)["supervisor_id"]: body_of(row) for row in pushed(world.engine)}
    assert bodies["SUP-7371"]["incident"]["id"] == bodies["SUP-7371B"]["incident"]["id"]
    [row] = incidents(world.engine)
    assert row["supervisor_id"] == "SUP-7371"  # the primary: first by id
    # Unacknowledged past the warning deadline: the province hears, once.
    world.incident_ticks(MORNING_WITA + 25 * HOUR)
    assert ("SUP-73", "alert.escalated") in _who(world)
    # Resolution reaches both district supervisors and the province.
    world.resolve(opened("dev-a"), MORNING_WITA + 26 * HOUR)
    resolved = sorted(who for who, kind in _who(world) if kind == "alert.resolved")
    assert resolved == ["SUP-73", "SUP-7371", "SUP-7371B"]


def test_the_second_supervisor_acknowledging_stops_the_climb(shared_district: Store) -> None:
    world = shared_district
    world.intake(opened("dev-a"), MORNING_WITA)
    world.incident_ticks(MORNING_WITA + 6 * MINUTE)
    [row] = incidents(world.engine)
    with world.engine.begin() as connection:
        assert incident_shell.acknowledge(
            connection, row["incident_id"], by="SUP-7371B", note="sudah ditelepon", policy=world.policy,
            now=MORNING_WITA + HOUR,
        )  # fmt: skip
    world.incident_ticks(MORNING_WITA + 30 * HOUR)
    assert all(who != "SUP-73" for who, _kind in _who(world))


def test_per_deviation_every_supervisor_gets_an_alert_and_one_ack_stops_every_climb(
    shared_district_per_deviation: Store,
) -> None:
    world = shared_district_per_deviation
    accepted = world.accept(opened("dev-a"), MORNING_WITA)
    assert accepted.outcome == "queued"
    assert sorted(_who(world)) == [("SUP-7371", "alert.opened"), ("SUP-7371B", "alert.opened")]
    assert world.ack(accepted.alert_id or "", MORNING_WITA + HOUR)
    world.scheduler([MORNING_WITA + 30 * HOUR]).tick()
    assert all(who != "SUP-73" for who, _kind in _who(world))


def test_per_deviation_unacknowledged_climbs_to_the_province_once(shared_district_per_deviation: Store) -> None:
    world = shared_district_per_deviation
    world.accept(opened("dev-a"), MORNING_WITA)
    world.scheduler([MORNING_WITA + 30 * HOUR]).tick()
    assert [who for who, kind in _who(world) if kind == "alert.escalated"] == ["SUP-73"]


def test_worse_before_anyone_heard_is_one_message_at_the_worse_severity(tmp_path: Path) -> None:
    # Per deviation: 23:00 WITA, the warning waits for working hours; it turns critical before then.
    world = Store(tmp_path, settings_for(tmp_path, incidents_enabled=False))
    night = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    world.accept(opened("dev-late"), night)
    world.worsen(opened("dev-late"), night + MINUTE)
    live = [row for row in pushed(world.engine) if row["status"] != "cancelled"]
    assert [(row["kind"], body_of(row)["severity"], body_of(row)["type"]) for row in live] == [
        ("alert.opened", "critical", "alert.opened")
    ]
    world.engine.dispose()


def test_incident_worse_inside_group_wait_is_one_message_at_the_worse_severity(shared_district: Store) -> None:
    world = shared_district
    world.intake(opened("dev-a"), MORNING_WITA)
    world.worsen(opened("dev-a"), MORNING_WITA + MINUTE)
    world.incident_ticks(MORNING_WITA + 6 * MINUTE)
    rows = pushed(world.engine)
    assert {(row["kind"], body_of(row)["severity"]) for row in rows} == {("alert.opened", "critical")}
    assert len(rows) == 2  # one per district supervisor
