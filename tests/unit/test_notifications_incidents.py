"""The incident lifecycle (pure): grouping, group_wait, group_interval, inhibition, escalation,
acknowledgement and resolution, with no database and no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.incidents import (
    Acknowledged,
    Closed,
    Desk,
    Event,
    Raised,
    Recipient,
    Resolved,
    Snoozed,
    Timing,
    incident_id_for,
    run_due,
    step,
)
from tests.unit.incident_support import CHAIN, FACILITATOR, TIMING, Run, at, opened, play, signal

pytestmark = pytest.mark.unit

DAY = 24 * 60


class TestSnoozeAndClose:
    def test_a_snoozed_incident_does_not_climb_before_its_expiry_then_its_deadline_runs_again(self) -> None:
        run = play([(0, opened("dev-1"))], until=10)
        incident_id = run.desk.incidents[0].incident_id
        run.send(Snoozed(incident_id, "SUP-1871", at(3 * DAY), "menunggu kunjungan Jumat"), 60)
        incident = run.desk.incidents[0]
        assert (incident.snoozed_until, incident.snooze_reason) == (at(3 * DAY), "menunggu kunjungan Jumat")
        assert incident.escalate_at == at(4 * DAY)
        run.tick(4 * DAY - 1)
        assert run.kinds() == [("opened", "SUP-1871")]
        run.tick(4 * DAY)
        assert run.kinds()[-1] == ("escalated", "SUP-18")
        assert [fact.kind for fact in run.facts] == ["opened", "snoozed", "escalated"]

    def test_snoozing_before_the_first_message_means_no_message(self) -> None:
        run = play([(0, opened("dev-1"))], until=1)
        run.send(Snoozed(run.desk.incidents[0].incident_id, "SUP-1871", at(DAY), "sudah tahu"), 2).tick(DAY - 1)
        assert run.messages == []

    def test_a_snooze_into_the_past_changes_nothing(self) -> None:
        run = play([(0, opened("dev-1"))], until=10)
        before = run.desk
        run.send(Snoozed(before.incidents[0].incident_id, "SUP-1871", at(5), "terlambat"), 11)
        assert run.desk.incidents[0].snoozed_until is None

    def test_closing_ends_the_incident_without_a_message_and_its_deviations_never_reopen_it(self) -> None:
        run = play([(0, opened("dev-1")), (1, opened("dev-2", rule="meeting.low_attendance"))], until=10)
        incident_id = run.desk.incidents[0].incident_id
        run.send(Closed(incident_id, "SUP-1871", "resolved_in_field", "sudah dikunjungi"), 20)
        assert run.desk.incidents == ()
        closed = run.facts[-1]
        assert (closed.kind, closed.incident.status, closed.incident.outcome) == (
            "closed",
            "closed",
            "resolved_in_field",
        )
        assert closed.incident.note == "sudah dikunjungi"
        run.send(opened("dev-1"), 30).send(Resolved("dev-2", at(31)), 31).tick(10 * DAY)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert run.desk.incidents == ()

    def test_a_new_deviation_after_closing_is_a_new_incident(self) -> None:
        run = play([(0, opened("dev-1"))], until=10)
        run.send(Closed(run.desk.incidents[0].incident_id, "SUP-1871", "not_a_problem"), 20)
        run.send(opened("dev-3", minutes=30), 30).tick(40)
        assert [kind for kind, _who in run.kinds()] == ["opened", "opened"]
        assert len({message.incident.incident_id for message in run.messages}) == 2


class TestGrouping:
    def test_nothing_is_sent_before_group_wait_then_one_message(self) -> None:
        run = Run().send(opened("dev-1"), 0).tick(4.9)
        assert run.messages == []
        run.tick(5)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert run.messages[0].incident.severity == "warning"

    def test_opened_and_resolved_inside_group_wait_sends_nothing(self) -> None:
        run = play([(0, opened("dev-1")), (3, Resolved("dev-1", at(3)))], until=60)
        assert run.messages == []
        assert [fact.kind for fact in run.facts] == ["opened", "dismissed"]
        assert run.desk.incidents == ()

    def test_deviations_of_one_group_make_one_incident_and_one_message(self) -> None:
        run = play(
            [
                (0, opened("dev-1")),
                (1, opened("dev-2", rule="meeting.low_attendance")),
                (2, opened("dev-3", rule="meeting.too_short")),
            ],
            until=10,
        )
        assert run.kinds() == [("opened", "SUP-1871")]
        assert [item.deviation_id for item in run.messages[0].incident.items] == ["dev-1", "dev-2", "dev-3"]

    def test_two_groups_are_two_incidents(self) -> None:
        run = play([(0, opened("dev-1", group_id="GRP-1")), (0, opened("dev-2", group_id="GRP-2"))], until=10)
        assert sorted(message.incident.subject_id for message in run.messages) == ["GRP-1", "GRP-2"]

    def test_a_later_item_of_the_same_severity_joins_silently(self) -> None:
        run = play([(0, opened("dev-1")), (60, opened("dev-2", rule="meeting.low_attendance"))], until=DAY)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert len(run.desk.incidents[0].items) == 2

    def test_a_severity_rise_is_one_update_after_the_group_interval(self) -> None:
        run = play([(0, opened("dev-1"))], until=5).send(Raised("dev-1", "critical"), 10)
        assert run.kinds() == [("opened", "SUP-1871")]
        run.tick(5 + 4 * 60 - 1)
        assert len(run.messages) == 1
        run.tick(5 + 4 * 60)
        assert run.kinds() == [("opened", "SUP-1871"), ("updated", "SUP-1871")]
        assert run.messages[1].previous_severity == "warning"
        assert run.messages[1].incident.severity == "critical"

    def test_a_rise_before_the_first_message_just_makes_it_worse(self) -> None:
        run = play([(0, opened("dev-1")), (1, opened("dev-2", severity="critical"))], until=DAY)
        assert run.kinds()[0] == ("opened", "SUP-1871")
        assert run.messages[0].incident.severity == "critical"
        assert [kind for kind, _ in run.kinds()].count("updated") == 0

    def test_info_only_is_never_pushed_until_something_worse_joins(self) -> None:
        run = play([(0, opened("dev-1", rule="plan.activity_at_risk", severity="info"))], until=DAY)
        assert run.messages == []
        assert run.desk.incidents[0].status == "pending"
        run.send(opened("dev-2", rule="plan.activity_overdue"), DAY + 1).tick(DAY + 6)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert {item.rule for item in run.messages[0].incident.items} == {
            "plan.activity_at_risk",
            "plan.activity_overdue",
        }

    def test_redelivery_changes_nothing(self) -> None:
        once = play([(0, opened("dev-1")), (1, Raised("dev-1", "critical"))], until=DAY)
        twice = play(
            [
                (0, opened("dev-1")),
                (0, opened("dev-1")),
                (1, Raised("dev-1", "critical")),
                (1, Raised("dev-1", "critical")),
            ],
            until=DAY,
        )
        assert twice.kinds() == once.kinds()
        assert twice.desk == once.desk

    def test_incident_ids_are_derived(self) -> None:
        run = play([(0, opened("dev-1"))], until=10)
        assert run.desk.incidents[0].incident_id == incident_id_for("group", "GRP-1", "dev-1")


class TestEscalationAndAcknowledgement:
    def test_unacknowledged_warning_climbs_each_deadline_and_stops_at_the_top(self) -> None:
        run = play([(0, opened("dev-1"))], until=5 + DAY - 1)
        assert run.kinds() == [("opened", "SUP-1871")]
        run.tick(5 + DAY)
        assert run.kinds()[-1] == ("escalated", "SUP-18")
        run.tick(5 + 2 * DAY)
        assert run.kinds()[-1] == ("escalated", "SUP-ID")
        run.tick(5 + 10 * DAY)
        assert len(run.messages) == 3
        assert run.desk.incidents[0].escalate_at is None
        assert [fact.kind for fact in run.facts].count("escalated") == 2

    def test_critical_climbs_after_two_hours(self) -> None:
        run = play([(0, opened("dev-1", severity="critical"))], until=5 + 120)
        assert run.kinds() == [("opened", "SUP-1871"), ("escalated", "SUP-18")]

    def test_acknowledgement_stops_escalation(self) -> None:
        run = play([(0, opened("dev-1"))], until=10)
        incident_id = run.desk.incidents[0].incident_id
        run.send(Acknowledged(incident_id, "SUP-1871", "sudah ditelepon"), 60).tick(10 * DAY)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert run.desk.incidents[0].status == "acknowledged"
        assert run.desk.incidents[0].note == "sudah ditelepon"
        assert [fact.kind for fact in run.facts] == ["opened", "acknowledged"]

    def test_acknowledged_in_the_console_before_the_message_needs_no_message(self) -> None:
        run = play([(0, opened("dev-1"))], until=1)
        run.send(Acknowledged(run.desk.incidents[0].incident_id, "SUP-1871"), 2).tick(10 * DAY)
        assert run.messages == []

    def test_a_second_acknowledgement_is_a_no_op(self) -> None:
        run = play([(0, opened("dev-1"))], until=10)
        incident_id = run.desk.incidents[0].incident_id
        run.send(Acknowledged(incident_id, "SUP-1871"), 11).send(Acknowledged(incident_id, "SUP-18"), 12)
        assert [fact.kind for fact in run.facts].count("acknowledged") == 1
        assert run.desk.incidents[0].acknowledged_by == "SUP-1871"

    def test_deadline_counts_from_when_the_supervisor_can_hear(self) -> None:
        # Quiet hours: the message may only reach the supervisor ten hours later.
        timing = Timing(
            group_wait=TIMING.group_wait,
            ack_deadlines=TIMING.ack_deadlines,
            release=lambda severity, zone, now: now if severity == "critical" else now + timedelta(hours=10),
        )
        run = play([(0, opened("dev-1"))], timing=timing, until=5 + DAY)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert run.desk.incidents[0].escalate_at == at(5) + timedelta(hours=34)

    def test_every_supervisor_of_a_shared_rung_hears_every_message(self) -> None:
        shared = (replace(CHAIN[0], others=("SUP-1871B",)), *CHAIN[1:])
        event = opened("dev-1")
        run = play([(0, replace(event, chain=shared))], until=5 + DAY)
        run.send(Resolved("dev-1", at(5 + DAY + 1)), 5 + DAY + 1)
        assert run.kinds() == [
            ("opened", "SUP-1871"),
            ("opened", "SUP-1871B"),
            ("escalated", "SUP-18"),
            ("resolved", "SUP-1871"),
            ("resolved", "SUP-1871B"),
            ("resolved", "SUP-18"),
        ]
        assert len({message.message_key for message in run.messages}) == 6

    def test_resolution_reaches_every_level_that_had_it(self) -> None:
        run = play([(0, opened("dev-1"))], until=5 + DAY)
        run.send(Resolved("dev-1", at(5 + DAY + 1)), 5 + DAY + 1)
        assert run.kinds()[-2:] == [("resolved", "SUP-1871"), ("resolved", "SUP-18")]
        assert run.desk.incidents == ()
        assert run.facts[-1].kind == "resolved"

    def test_without_send_resolved_nothing_is_pushed_on_resolution(self) -> None:
        timing = Timing(group_wait=TIMING.group_wait, send_resolved=False)
        run = play([(0, opened("dev-1")), (60, Resolved("dev-1", at(60)))], timing=timing, until=61)
        assert run.kinds() == [("opened", "SUP-1871")]

    def test_an_incident_stays_open_while_one_item_is(self) -> None:
        run = play([(0, opened("dev-1")), (1, opened("dev-2")), (60, Resolved("dev-1", at(60)))], until=61)
        assert len(run.desk.incidents) == 1
        assert [item.deviation_id for item in run.desk.incidents[0].open_items] == ["dev-2"]


class TestInhibition:
    def test_group_symptoms_under_an_open_facilitator_signal_are_items_of_it(self) -> None:
        run = play(
            [
                (0, signal()),
                (1, opened("dev-1", group_id="GRP-1")),
                (2, opened("dev-2", group_id="GRP-2")),
                (60, opened("dev-3", group_id="GRP-3")),
            ],
            until=DAY - 1,
        )
        assert run.kinds() == [("opened", "SUP-1871")]
        incident = run.desk.incidents[0]
        assert incident.kind == "facilitator"
        assert incident.subject_id == FACILITATOR
        assert {item.group_id for item in incident.items} == {"GRP-1", "GRP-2", "GRP-3"}

    def test_group_incidents_still_waiting_are_folded_into_the_signal(self) -> None:
        run = play([(0, opened("dev-1", group_id="GRP-1")), (2, signal())], until=60)
        assert run.kinds() == [("opened", "SUP-1871")]
        assert run.messages[0].incident.kind == "facilitator"
        assert [fact.kind for fact in run.facts] == ["opened", "opened", "dismissed"]

    def test_group_incidents_already_told_stay_but_new_symptoms_join_the_signal(self) -> None:
        run = play(
            [(0, opened("dev-1", group_id="GRP-1")), (30, signal()), (40, opened("dev-2", group_id="GRP-1"))],
            until=60,
        )
        assert [message.incident.kind for message in run.messages] == ["group", "facilitator"]
        group, facilitator = run.desk.incidents
        assert [item.deviation_id for item in group.items] == ["dev-1"]
        assert {item.deviation_id for item in facilitator.items} == {"dev-many", "dev-2"}

    def test_once_the_signal_clears_new_symptoms_are_their_own_incident(self) -> None:
        run = play(
            [
                (0, signal()),
                (1, opened("dev-1")),
                (60, Resolved("dev-many", at(60))),
                (70, opened("dev-2", group_id="GRP-9")),
            ],
            until=90,
        )
        assert [message.incident.kind for message in run.messages] == ["facilitator", "group"]

    def test_a_facilitator_item_that_is_not_a_signal_does_not_inhibit(self) -> None:
        run = play(
            [
                (0, opened("dev-score", rule="evaluation.low_score", kind="facilitator")),
                (1, opened("dev-1", group_id="GRP-1")),
            ],
            until=10,
        )
        assert sorted(message.incident.kind for message in run.messages) == ["facilitator", "group"]


class TestGroupByFacilitator:
    TIMING = Timing(group_wait=TIMING.group_wait, ack_deadlines=TIMING.ack_deadlines, group_by="facilitator")

    def test_every_group_of_the_facilitator_is_one_incident(self) -> None:
        run = play(
            [(0, opened("dev-1", group_id="GRP-1")), (1, opened("dev-2", group_id="GRP-2"))],
            timing=self.TIMING,
            until=10,
        )
        assert run.kinds() == [("opened", "SUP-1871")]
        incident = run.messages[0].incident
        assert (incident.kind, incident.subject_id) == ("facilitator", FACILITATOR)
        assert {item.group_id for item in incident.items} == {"GRP-1", "GRP-2"}

    def test_a_group_in_another_district_has_its_own_incident(self) -> None:
        elsewhere = (Recipient("kabupaten", "SUP-1872", "Asia/Jakarta"), *CHAIN[1:])
        other = opened("dev-2", group_id="GRP-2")
        run = play(
            [(0, opened("dev-1")), (1, replace(other, chain=elsewhere))],
            timing=self.TIMING,
            until=10,
        )
        assert sorted(run.kinds()) == [("opened", "SUP-1871"), ("opened", "SUP-1872")]


# ------------------------------------------------------------------------------------ properties

DEVIATIONS = [f"dev-{n}" for n in range(6)]
GROUPS = ["GRP-1", "GRP-2", "GRP-3"]
RULES = ["meeting.facilitator_absent", "plan.activity_at_risk", "facilitator.many_groups_deviating"]

events = st.one_of(
    st.builds(
        lambda deviation, group, rule, severity: opened(
            deviation,
            group_id=group,
            rule=rule,
            severity=severity,
            kind="facilitator" if rule.startswith("facilitator.") else "group",
        ),
        st.sampled_from(DEVIATIONS),
        st.sampled_from(GROUPS),
        st.sampled_from(RULES),
        st.sampled_from(["info", "warning", "critical"]),
    ),
    st.builds(Raised, st.sampled_from(DEVIATIONS), st.sampled_from(["warning", "critical"])),
    st.builds(lambda deviation: Resolved(deviation, at(0)), st.sampled_from(DEVIATIONS)),
)
timed = st.lists(st.tuples(st.integers(0, 3 * DAY), events), max_size=25).map(
    lambda pairs: sorted(pairs, key=lambda pair: pair[0])
)


def _play_twice_if(pairs: list[tuple[int, Event]], twice: bool) -> Run:
    run = Run()
    for minutes, event in pairs:
        run.send(event, minutes)
        if twice:
            run.send(event, minutes)
    run.tick(10 * DAY)
    return run


@settings(max_examples=80, deadline=None)
@given(timed)
def test_every_deviation_lives_in_at_most_one_incident(pairs: list[tuple[int, Event]]) -> None:
    run = Run()
    for minutes, event in pairs:
        run.send(event, minutes)
        seen = [item.deviation_id for incident in run.desk.incidents for item in incident.items]
        assert len(seen) == len(set(seen))


@settings(max_examples=80, deadline=None)
@given(timed)
def test_every_pushable_deviation_open_past_group_wait_is_in_a_told_incident(pairs: list[tuple[int, Event]]) -> None:
    run = play(pairs, until=(pairs[-1][0] if pairs else 0) + 6)
    for incident in run.desk.incidents:
        if any(item.severity != "info" and item.is_open for item in incident.items):
            assert incident.notified_severity is not None


@settings(max_examples=80, deadline=None)
@given(timed)
def test_one_opening_per_incident_and_few_messages(pairs: list[tuple[int, Event]]) -> None:
    run = play(pairs, until=10 * DAY)
    keys = [message.message_key for message in run.messages]
    assert len(keys) == len(set(keys))
    by_incident: dict[str, list[str]] = {}
    for message in run.messages:
        by_incident.setdefault(message.incident.incident_id, []).append(message.kind)
    for kinds in by_incident.values():
        assert kinds.count("opened") == 1
        assert kinds[0] == "opened"
        # Two severity rises at most (info → warning → critical), two climbs, resolution to three levels.
        assert kinds.count("updated") <= 2 * len(CHAIN)
        assert kinds.count("escalated") <= len(CHAIN) - 1
        assert kinds.count("resolved") <= len(CHAIN)


@settings(max_examples=60, deadline=None)
@given(timed)
def test_redelivering_every_event_changes_nothing(pairs: list[tuple[int, Event]]) -> None:
    once, twice = _play_twice_if(pairs, False), _play_twice_if(pairs, True)
    assert [m.message_key for m in twice.messages] == [m.message_key for m in once.messages]
    assert twice.desk == once.desk


@settings(max_examples=60, deadline=None)
@given(timed)
def test_a_tick_at_the_same_moment_changes_nothing(pairs: list[tuple[int, Event]]) -> None:
    run = play(pairs, until=2 * DAY)
    again = run_due(run.desk, at(2 * DAY), TIMING)
    assert again.changes == ()
    assert again.desk == run.desk
    assert step(Desk(FACILITATOR), Resolved("unknown", at(0)), at(0), TIMING).changes == ()
