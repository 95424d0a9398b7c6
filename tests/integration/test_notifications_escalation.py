"""Escalation, quiet hours, grouping and digests on a real SQLite store and a simulated clock.

No broker is needed: the functions under test take the store connection and `now`, and the
scheduler takes an injected clock, so days of escalations run in seconds, and a "restart" is a new
engine and scheduler on the same file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from services.notifications import alerts, store
from services.notifications.calendar import supervisor_time_zone
from services.notifications.ids import alert_id_for
from shared.events import DeviationEscalated, DeviationOpened, DeviationResolved
from tests.integration.notifications_support import (
    LATE_EVENING_WITA,
    NO_KABUPATEN_VILLAGE,
    WIB_VILLAGE,
    WITA_VILLAGE,
    Store,
    opened,
    settings_for,
    utc,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Store]:
    # One message per deviation, as before incidents: these tests are about each alert's own
    # schedule (quiet hours, climbs, digests); tests/integration/test_notifications_incidents.py
    # covers incidents over the same store.
    world = Store(tmp_path, settings_for(tmp_path, incidents_enabled=False))
    yield world
    world.engine.dispose()


# --------------------------------------------------------------------------------------------------
# the acceptance scenario


def test_critical_at_23_wita_goes_at_once_a_warning_waits_escalates_and_an_ack_stops_it(world: Store) -> None:
    night = LATE_EVENING_WITA
    critical = world.accept(opened("dev-critical", severity="critical"), night)
    warning = world.accept(opened("dev-warning"), night)
    acked = world.accept(opened("dev-acked"), night)
    assert (critical.outcome, warning.outcome, acked.outcome) == ("queued", "queued", "queued")

    # critical: due at once on webhook (and e-mail is not configured here), to the kabupaten supervisor
    [hook] = world.deliveries(critical.alert_id or "", "webhook")
    assert utc(hook["next_attempt_at"]) == night
    assert world.alert(critical.alert_id or "")["supervisor_id"] == "SUP-7371"
    # warning: held until 07:00 WITA on Wednesday (= 23:00 UTC on Tuesday); the console sees it at once
    [held] = world.deliveries(warning.alert_id or "", "webhook")
    morning = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)
    assert utc(held["next_attempt_at"]) == morning
    [feed] = world.deliveries(warning.alert_id or "", "feed")
    assert utc(feed["next_attempt_at"]) == night
    deadline = morning + timedelta(hours=24)
    assert utc(world.alert(warning.alert_id or "")["escalate_at"]) == deadline

    # the supervisor acknowledges one warning during the day
    assert world.ack(acked.alert_id or "", morning + timedelta(hours=2))

    clock = [deadline - timedelta(seconds=1)]
    scheduler = world.scheduler(clock)
    early = scheduler.tick()
    # the critical one climbed 2 h after 23:00; the warnings not yet
    assert [(e.from_alert_id, e.to_level) for e in early.escalations] == [(critical.alert_id, "provinsi")]
    clock[0] = deadline
    due = scheduler.tick()
    assert [(e.from_alert_id, e.to_level) for e in due.escalations] == [(warning.alert_id, "provinsi")]
    provincial_id = alert_id_for("dev-warning", "provinsi")
    provincial = world.alert(provincial_id)
    assert provincial["supervisor_id"] == "SUP-73"
    assert provincial["payload"]["type"] == "alert.escalated"
    assert provincial["payload"]["from_supervisor_id"] == "SUP-7371"
    assert provincial["payload"]["ack_url"] == f"http://pantau.test/api/v1/alerts/{provincial_id}/ack"
    [escalated_hook] = world.deliveries(provincial_id, "webhook")
    assert utc(escalated_hook["next_attempt_at"]) == deadline  # 07:00 WITA Thursday: working hours
    assert world.outbox_types().count("notifications.alert_escalated.v1") == 2
    assert world.alert(acked.alert_id or "")["escalated_to"] is None
    assert world.alert(alert_id_for("dev-acked", "provinsi")) is None

    # the provincial supervisor acknowledges: no climb to nasional, ever
    assert world.ack(provincial_id, deadline + timedelta(hours=1), by="SUP-73")
    clock[0] = deadline + timedelta(days=5)
    assert [e.from_alert_id for e in scheduler.tick().escalations] == [alert_id_for("dev-critical", "provinsi")]
    assert world.alert(alert_id_for("dev-warning", "nasional")) is None


def test_sunday_and_holidays_wait_for_the_next_working_day(world: Store) -> None:
    sunday_noon_wita = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)
    result = world.accept(opened("dev-sunday"), sunday_noon_wita)
    [hook] = world.deliveries(result.alert_id or "", "webhook")
    assert utc(hook["next_attempt_at"]) == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # Monday 07:00 WITA
    christmas_eve_night = datetime(2026, 12, 24, 14, 0, tzinfo=UTC)  # 22:00 WITA on the 24th
    result = world.accept(opened("dev-natal"), christmas_eve_night)
    [hook] = world.deliveries(result.alert_id or "", "webhook")
    assert utc(hook["next_attempt_at"]) == datetime(2026, 12, 25, 23, 0, tzinfo=UTC)  # 26 Dec 07:00 WITA


def test_quiet_hours_follow_the_supervisors_own_time_zone(world: Store) -> None:
    # 06:30 WIB = 07:30 WITA: the Lampung supervisor waits half an hour
    at = datetime(2026, 11, 10, 23, 30, tzinfo=UTC)
    result = world.accept(opened("dev-wib", group_id="KLP-WIB", village=WIB_VILLAGE), at)
    [hook] = world.deliveries(result.alert_id or "", "webhook")
    assert utc(hook["next_attempt_at"]) == datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
    assert supervisor_time_zone("18.71") == "Asia/Jakarta"
    assert supervisor_time_zone("73.71") == "Asia/Makassar"
    assert supervisor_time_zone(None) == "Asia/Jakarta"


# --------------------------------------------------------------------------------------------------
# routing, grouping, resolution, digests


def test_facilitator_directed_deviations_go_to_the_facilitators_supervisor(world: Store) -> None:
    about_facilitator = opened(
        "dev-rating", group_id="KLP-WIB", village=WIB_VILLAGE, rule="evaluation.low_score", concerns="facilitator"
    )
    result = world.accept(about_facilitator, LATE_EVENING_WITA)
    assert world.alert(result.alert_id or "")["supervisor_id"] == "SUP-7371"  # Makassar, not Lampung
    about_group = opened("dev-group", group_id="KLP-WIB", village=WIB_VILLAGE)
    result = world.accept(about_group, LATE_EVENING_WITA)
    assert world.alert(result.alert_id or "")["supervisor_id"] == "SUP-1871"


def test_a_region_without_kabupaten_supervisor_climbs_and_says_so(world: Store) -> None:
    result = world.accept(opened("dev-maros", group_id="KLP-MAROS", village=NO_KABUPATEN_VILLAGE), LATE_EVENING_WITA)
    assert result.climbed
    alert = world.alert(result.alert_id or "")
    assert (alert["supervisor_id"], alert["escalation_level"]) == ("SUP-73", "provinsi")


def test_one_alert_per_deviation_and_a_worse_one_is_an_update(world: Store) -> None:
    first = world.accept(opened("dev-1"), LATE_EVENING_WITA)
    assert world.accept(opened("dev-1"), LATE_EVENING_WITA).outcome == "duplicate"
    worse = DeviationEscalated(
        group_id="KLP-WITA", deviation_id="dev-1", rule="meeting.low_attendance", severity="critical",
        programme="pkh-p2k2", facilitator_id="PDP-0007", region_code=WITA_VILLAGE, previous_severity="warning",
        escalated_at=LATE_EVENING_WITA + timedelta(hours=1), reason="days_overdue", details={"present": 2},
    )  # fmt: skip
    later = LATE_EVENING_WITA + timedelta(hours=1)
    with world.engine.begin() as connection:
        # The supervisor already has the warning (a held one that nobody heard of yet is replaced
        # instead: tests/integration/test_notifications_routing.py).
        connection.execute(store.deliveries.update().values(status="delivered", attempts=1))
        assert alerts.update_deviation(connection, worse, policy=world.policy, now=later) == [first.alert_id]
    alert = world.alert(first.alert_id or "")
    assert alert["severity"] == "critical"
    assert utc(alert["escalate_at"]) == later + timedelta(hours=2)  # the critical deadline, from now
    hooks = world.deliveries(first.alert_id or "", "webhook")
    assert [row["kind"] for row in hooks] == ["alert.opened", "alert.updated"]
    update = orjson.loads(hooks[1]["body"])
    assert update["type"] == "alert.escalated"
    assert update["previous_severity"] == "warning"
    assert update["alert_id"] == first.alert_id
    assert utc(hooks[1]["next_attempt_at"]) == later  # critical: at once, even at midnight
    assert "2 dari 20" in update["message"]["id"]
    with world.engine.connect() as connection:
        assert len(connection.execute(select(store.alerts.c.alert_id)).all()) == 1


def test_resolution_reaches_every_level_that_got_the_alert(world: Store) -> None:
    result = world.accept(opened("dev-r", severity="critical"), LATE_EVENING_WITA)
    with world.engine.begin() as connection:
        connection.execute(store.deliveries.update().values(status="delivered"))
    clock = [LATE_EVENING_WITA + timedelta(hours=2)]
    world.scheduler(clock).tick()
    resolved = DeviationResolved(
        group_id="KLP-WITA", deviation_id="dev-r", rule="meeting.low_attendance", severity="critical",
        programme="pkh-p2k2", facilitator_id="PDP-0007", region_code=WITA_VILLAGE,
        resolved_at=clock[0] + timedelta(minutes=5), reason="attendance_recovered",
    )  # fmt: skip
    with world.engine.begin() as connection:
        closed = alerts.resolve_deviation(connection, resolved, policy=world.policy, now=clock[0])
    provincial = alert_id_for("dev-r", "provinsi")
    assert sorted(closed) == sorted([result.alert_id, provincial])
    for alert_id in closed:
        kinds = [row["kind"] for row in world.deliveries(alert_id or "", "webhook")]
        assert kinds[-1] == "alert.resolved", (alert_id, kinds)
        assert world.alert(alert_id or "")["status"] == "resolved"


def test_a_warning_resolved_during_the_night_is_never_sent(world: Store) -> None:
    result = world.accept(opened("dev-night"), LATE_EVENING_WITA)
    resolved = DeviationResolved(
        group_id="KLP-WITA", deviation_id="dev-night", rule="meeting.low_attendance", severity="warning",
        programme="pkh-p2k2", facilitator_id="PDP-0007", region_code=WITA_VILLAGE,
        resolved_at=LATE_EVENING_WITA + timedelta(hours=1), reason="attendance_recovered",
    )  # fmt: skip
    with world.engine.begin() as connection:
        alerts.resolve_deviation(connection, resolved, policy=world.policy, now=LATE_EVENING_WITA + timedelta(hours=1))
    [hook] = world.deliveries(result.alert_id or "", "webhook")
    assert hook["status"] == "cancelled"


def test_info_items_go_out_as_one_digest_per_supervisor(world: Store) -> None:
    for index in range(3):
        outcome = world.accept(
            opened(f"dev-info-{index}", severity="info", rule="recognition.sustained_success"), LATE_EVENING_WITA
        )
        assert outcome.outcome == "digest"
        assert world.deliveries(outcome.alert_id or "", "webhook") == []
    clock = [datetime(2026, 11, 10, 22, 59, tzinfo=UTC)]
    scheduler = world.scheduler(clock)
    assert scheduler.tick().digests == []
    clock[0] = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)  # 07:00 WITA
    [digest_id] = scheduler.tick().digests
    assert scheduler.tick().digests == []  # once
    [hook] = world.deliveries(digest_id, "webhook")
    body = orjson.loads(hook["body"])
    assert body["type"] == "alert.digest"
    assert body["supervisor_id"] == "SUP-7371"
    assert len(body["items"]) == 3
    assert body["message"]["id"].startswith("Ringkasan harian Pantau: 3 kabar")


# --------------------------------------------------------------------------------------------------
# 1,000 alerts on a simulated clock, with restarts


def test_a_thousand_alerts_escalate_on_time_never_early_and_survive_restarts(tmp_path: Path) -> None:
    world = Store(tmp_path, settings_for(tmp_path, incidents_enabled=False))
    rng = random.Random(20261110)
    step = timedelta(minutes=5)
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    end = start + timedelta(days=12)
    places = (("KLP-WITA", WITA_VILLAGE), ("KLP-WIB", WIB_VILLAGE), ("KLP-MAROS", NO_KABUPATEN_VILLAGE))
    accepts: list[tuple[datetime, DeviationOpened]] = []
    acks: dict[str, datetime] = {}  # deviation -> when the first level acknowledges
    for index in range(1000):
        group_id, village = rng.choice(places)
        at = start + timedelta(seconds=rng.randrange(0, 8 * 24 * 3600))
        severity = rng.choice(("critical", "warning", "warning", "info"))
        deviation = opened(f"dev-{index:04d}", severity=severity, group_id=group_id, village=village, at=at)
        accepts.append((at, deviation))
        if rng.random() < 0.4:
            acks[deviation.deviation_id] = at + timedelta(seconds=rng.randrange(60, 40 * 3600))
    accepts.sort(key=lambda item: item[0])

    def first_tick_at_or_after(moment: datetime) -> datetime:
        ticks = -(-(moment - start) // step)
        return start + ticks * step

    clock = [start]
    scheduler = world.scheduler(clock)
    pending_accepts = list(accepts)
    pending_acks = sorted((when, deviation_id) for deviation_id, when in acks.items())
    restarts = {start + timedelta(days=3), start + timedelta(days=7, hours=13)}
    now = start
    while now <= end:
        # events up to and including this instant happen before the tick at this instant
        while pending_accepts and pending_accepts[0][0] <= now:
            at, deviation = pending_accepts.pop(0)
            world.accept(deviation, at)
        while pending_acks and pending_acks[0][0] <= now:
            when, deviation_id = pending_acks.pop(0)
            first = world.alert(alert_id_for(deviation_id, "kabupaten")) or world.alert(
                alert_id_for(deviation_id, "provinsi")
            )
            if first is not None:
                world.ack(first["alert_id"], when)
        if now in restarts:
            world.restart()  # the schedule is the store: a new engine and scheduler carry on
            scheduler = world.scheduler(clock)
        clock[0] = now
        scheduler.tick()
        now += step

    with world.engine.connect() as connection:
        rows = {row["alert_id"]: row for row in connection.execute(select(store.alerts)).mappings().all()}
    premature, missed, checked = [], [], 0
    for row in rows.values():
        if row["escalation_level"] == "nasional" or row["severity"] == "info":
            continue
        deadline = world.settings.ack_deadline_seconds(row["severity"])
        supervisor = {"region_code": {"SUP-7371": "73.71", "SUP-1871": "18.71", "SUP-73": "73"}[row["supervisor_id"]]}
        released = world.policy.release_at(row["severity"], supervisor, utc(row["created_at"]))
        due = released + timedelta(seconds=deadline)
        ack = acks.get(row["deviation_id"])
        tick = first_tick_at_or_after(due)
        should = tick <= end and (ack is None or ack > tick)
        child = rows.get(row["escalated_to"]) if row["escalated_to"] else None
        if child is not None and utc(child["created_at"]) < due:
            premature.append((row["alert_id"], child["created_at"], due))
        if should and (child is None or utc(child["created_at"]) != tick):
            missed.append((row["alert_id"], due, child["created_at"] if child is not None else None))
        if not should and child is not None:
            premature.append((row["alert_id"], "escalated although acknowledged or not yet due"))
        checked += 1
    climbed = sum(1 for row in rows.values() if row["escalated_to"])
    assert checked >= 700
    assert climbed >= 200, climbed
    assert premature == [], premature[:5]
    assert missed == [], missed[:5]
    world.engine.dispose()
