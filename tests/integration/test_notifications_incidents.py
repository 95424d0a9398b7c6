"""Incidents over the real store (SQLite) on a simulated clock: what supervisors are pushed when
deviations arrive, clear, get worse, and are or are not acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifications import incident_shell
from tests.integration.notifications_support import (
    LATE_EVENING_WITA,
    WIB_VILLAGE,
    Store,
    body_of,
    incidents,
    opened,
    pushed,
    settings_for,
)

pytestmark = pytest.mark.integration

# Wednesday 11 November 2026, 10:00 WITA: working hours in Makassar.
MORNING_WITA = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Store]:
    world = Store(tmp_path, settings_for(tmp_path))
    yield world
    world.engine.dispose()


@pytest.fixture
def by_group(tmp_path: Path) -> Iterator[Store]:
    world = Store(tmp_path, settings_for(tmp_path, incident_group_by="group"))
    yield world
    world.engine.dispose()


def test_a_facilitators_deviations_in_one_district_are_one_message_after_group_wait(world: Store) -> None:
    world.intake(opened("dev-a"), MORNING_WITA)
    world.intake(opened("dev-b", rule="meeting.facilitator_absent"), MORNING_WITA + MINUTE)
    world.intake(opened("dev-c", group_id="KLP-WIB", village=WIB_VILLAGE), MORNING_WITA + MINUTE)
    assert world.incident_ticks(MORNING_WITA + 4 * MINUTE) == 0
    assert pushed(world.engine) == []
    assert world.incident_ticks(MORNING_WITA + 7 * MINUTE) == 2
    rows = pushed(world.engine)
    assert [(row["channel"], row["supervisor_id"], row["kind"]) for row in rows] == [
        ("webhook", "SUP-7371", "alert.opened"),
        ("webhook", "SUP-1871", "alert.opened"),
    ]
    makassar = body_of(rows[0])
    assert makassar["type"] == "alert.opened"
    assert makassar["alert_id"] == makassar["incident"]["id"]
    assert [item["deviation_id"] for item in makassar["incident"]["items"]] == ["dev-a", "dev-b"]
    assert makassar["message"]["id"].startswith("2 hal perlu perhatian. ")
    assert makassar["ack_url"] == f"http://pantau.test/api/v1/alerts/{makassar['alert_id']}/ack"
    assert makassar["group"]["id"] == "KLP-WITA"
    assert makassar["escalation_level"] == "kabupaten"
    # The console still shows every deviation as it came (the feed is never held).
    assert len(world.deliveries(world.alert_for("dev-a")["alert_id"], "feed")) == 1
    # A second pass at the same moment, and a redelivered deviation, change nothing.
    world.intake(opened("dev-a"), MORNING_WITA + 8 * MINUTE)
    assert world.incident_ticks(MORNING_WITA + 8 * MINUTE) == 0
    assert len(pushed(world.engine)) == 2


def test_info_items_beside_a_warning_are_not_counted_in_the_message(world: Store) -> None:
    # Reports arriving late (info, three of them) and one low attendance (warning): the message is
    # about the one warning, not "4 hal perlu perhatian".
    for n in range(3):
        world.intake(opened(f"dev-late-{n}", severity="info", rule="reporting.lagging"), MORNING_WITA)
    world.intake(opened("dev-low"), MORNING_WITA + MINUTE)
    world.incident_ticks(MORNING_WITA + 7 * MINUTE)
    [row] = pushed(world.engine)
    message = body_of(row)["message"]
    assert message["id"].startswith("Pertemuan "), message["id"]
    assert len(body_of(row)["incident"]["items"]) == 4  # the console still has every item


def test_opened_and_resolved_inside_group_wait_sends_nothing(world: Store) -> None:
    deviation = opened("dev-blip")
    world.intake(deviation, MORNING_WITA)
    world.resolve(deviation, MORNING_WITA + 2 * MINUTE)
    assert world.incident_ticks(MORNING_WITA + HOUR) == 0
    assert pushed(world.engine) == []
    assert [row["status"] for row in incidents(world.engine)] == ["dismissed"]


def test_an_unacknowledged_incident_climbs_with_the_same_items(world: Store) -> None:
    world.intake(opened("dev-a"), MORNING_WITA)
    world.incident_ticks(MORNING_WITA + 5 * MINUTE)
    assert world.incident_ticks(MORNING_WITA + 5 * MINUTE + 24 * HOUR - MINUTE) == 0
    assert world.incident_ticks(MORNING_WITA + 5 * MINUTE + 24 * HOUR) == 1
    climbed = pushed(world.engine)[-1]
    assert (climbed["supervisor_id"], climbed["kind"]) == ("SUP-73", "alert.escalated")
    body = body_of(climbed)
    assert body["escalation_level"] == "provinsi"
    assert body["from_supervisor_id"] == "SUP-7371"
    assert body["message"]["id"].startswith("Belum ditanggapi, diteruskan kepada Anda: ")
    assert world.outbox_types() == ["notifications.alert_escalated.v1"]
    # Each deviation's own alert never climbs on its own.
    assert world.alert_for("dev-a")["escalate_at"] is None


def test_acknowledging_stops_the_climb_and_is_published(world: Store) -> None:
    world.intake(opened("dev-a"), MORNING_WITA)
    world.incident_ticks(MORNING_WITA + 5 * MINUTE)
    [incident] = incidents(world.engine)
    assert world.ack_incident(incident["incident_id"], MORNING_WITA + HOUR, note="Sudah saya telepon")
    assert not world.ack_incident(incident["incident_id"], MORNING_WITA + 2 * HOUR)
    assert world.incident_ticks(MORNING_WITA + 10 * 24 * HOUR) == 0
    assert [row["kind"] for row in pushed(world.engine)] == ["alert.opened"]
    [incident] = incidents(world.engine)
    assert (incident["status"], incident["note"]) == ("acknowledged", "Sudah saya telepon")
    assert world.outbox_types() == ["notifications.alert_acknowledged.v1"]


def test_a_worse_item_is_one_update_after_the_group_interval(world: Store) -> None:
    deviation = opened("dev-a")
    world.intake(deviation, MORNING_WITA)
    world.incident_ticks(MORNING_WITA + 5 * MINUTE)
    world.worsen(deviation, MORNING_WITA + 10 * MINUTE)
    world.intake(opened("dev-b"), MORNING_WITA + 11 * MINUTE)  # same severity: joins silently
    assert world.incident_ticks(MORNING_WITA + 5 * MINUTE + 4 * HOUR - MINUTE) == 0
    assert world.incident_ticks(MORNING_WITA + 5 * MINUTE + 4 * HOUR) == 1
    update = pushed(world.engine)[-1]
    assert update["kind"] == "alert.updated"
    body = body_of(update)
    assert (body["severity"], body["previous_severity"]) == ("critical", "warning")
    assert len(body["incident"]["items"]) == 2


def test_a_warning_at_night_waits_for_working_hours_and_its_deadline_starts_there(world: Store) -> None:
    world.intake(opened("dev-night"), LATE_EVENING_WITA)  # Tuesday 23:00 WITA
    world.incident_ticks(LATE_EVENING_WITA + 5 * MINUTE)
    [row] = pushed(world.engine)
    seven_wita = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)  # Wednesday 07:00 WITA
    assert row["next_attempt_at"].replace(tzinfo=UTC) == seven_wita
    with world.engine.connect() as connection:
        desk = incident_shell.load_desk(connection, "PDP-0007")
    assert desk.incidents[0].escalate_at == seven_wita + 24 * HOUR


def test_group_symptoms_under_an_open_facilitator_signal_are_items_of_it(by_group: Store) -> None:
    world = by_group
    signal = opened("dev-many", rule="facilitator.many_groups_deviating", concerns="facilitator")
    world.intake(signal, MORNING_WITA)
    world.intake(opened("dev-a"), MORNING_WITA + MINUTE)
    world.intake(opened("dev-b", rule="meeting.facilitator_absent"), MORNING_WITA + 2 * MINUTE)
    assert world.incident_ticks(MORNING_WITA + HOUR) == 1
    [row] = pushed(world.engine)
    body = body_of(row)
    assert body["incident"]["kind"] == "facilitator"
    assert {item["deviation_id"] for item in body["incident"]["items"]} == {"dev-many", "dev-a", "dev-b"}


def test_without_incidents_each_deviation_is_pushed_on_its_own(tmp_path: Path) -> None:
    world = Store(tmp_path, settings_for(tmp_path, incidents_enabled=False))
    try:
        world.intake(opened("dev-a"), MORNING_WITA)
        world.intake(opened("dev-b"), MORNING_WITA)
        assert [row["kind"] for row in pushed(world.engine)] == ["alert.opened", "alert.opened"]
        assert incidents(world.engine) == []
    finally:
        world.engine.dispose()
