"""Monitoring's functional core: the facilitator_absent rule, decisions, state, engine, publishing,
the rule clock and the programme configuration. Pure functions only: no broker, no files outside
`tmp_path`."""

from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.monitoring import engine
from services.monitoring.clock import RuleClock
from services.monitoring.programmes import (
    DEFAULT_PROGRAMME,
    PROGRAMMES_DIR,
    FacilitatorAbsentConfig,
    ProgrammeConfig,
    load_programmes,
    programme_config,
)
from services.monitoring.publishing import deviation_event
from services.monitoring.rules import facilitator_absent
from services.monitoring.rules.decisions import Escalate, Open, Resolve, deviation_id
from services.monitoring.rules.state import RECENT_MEETINGS_KEPT, GroupState, MeetingSummary, OpenDeviation
from shared.events import DeviationEscalated, DeviationOpened, DeviationResolved, MeetingRecorded
from shared.events.base import ID_PATTERN
from shared.events.meetings import Attendance
from tests.samples import SAMPLES

pytestmark = pytest.mark.unit

RULE = "meeting.facilitator_absent"
GROUP_ID = "G-18710110010001"
T0 = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
PROGRAMME = load_programmes()["pkh-p2k2"]
CONFIG = PROGRAMME.rules.meeting_facilitator_absent
# Everyone present: since the engine runs every meeting rule, the sample's 1 of 3 present would also open
# `meeting.low_attendance`; these tests are about `meeting.facilitator_absent` alone.
FULL_ATTENDANCE = tuple(Attendance(member_ref=ref, status="present") for ref in ("m-1", "m-2", "m-chair"))


def make_meeting(
    report_id: str,
    started_at: datetime,
    *,
    present: bool,
    led_by: str | None = None,
    group_id: str = GROUP_ID,
) -> MeetingRecorded:
    sample = SAMPLES[MeetingRecorded]
    assert isinstance(sample, MeetingRecorded)
    return sample.model_copy(
        update={
            "report_id": report_id,
            "group_id": group_id,
            "started_at": started_at,
            "ended_at": started_at + timedelta(hours=2),
            "recorded_at": started_at + timedelta(hours=2),
            "received_at": started_at + timedelta(hours=3),
            "facilitator_present": present,
            "led_by": led_by or ("facilitator" if present else "chair"),
            "attendance": FULL_ATTENDANCE,
            "member_count": len(FULL_ATTENDANCE),
        }
    )


def received(started_at: datetime) -> datetime:
    """When `make_meeting`'s report of a meeting started then reaches the server (the detection instant)."""
    return started_at + timedelta(hours=3)


def month(n: int) -> datetime:
    """The n-th monthly meeting's start (n from 0)."""
    return T0 + timedelta(days=30 * n)


def feed(meetings: list[MeetingRecorded], state: GroupState | None = None) -> tuple[GroupState, list[Any]]:
    """Deliver meetings through the engine; the final state and every effective decision."""
    state = state or GroupState()
    decisions: list[Any] = []
    for meeting in meetings:
        outcome = engine.on_meeting_recorded(state, meeting, PROGRAMME)
        state = outcome.state
        decisions += outcome.decisions
    return state, decisions


def did(report_id: str, group_id: str = GROUP_ID) -> str:
    return deviation_id(RULE, group_id, report_id)


# ---------------------------------------------------------------- decisions.deviation_id


class TestDeviationId:
    def test_same_inputs_same_id(self) -> None:
        assert deviation_id(RULE, "G-1", "r-1") == deviation_id(RULE, "G-1", "r-1")

    def test_known_value_is_stable_across_processes(self) -> None:
        # uuid5 under the fixed namespace: a change of namespace or format would orphan every open deviation.
        import uuid

        expected = "dev-" + uuid.uuid5(uuid.UUID("6f1d3c52-8a4e-4f7b-9a51-5e0c1f2a7b90"), f"{RULE}|G-1|r-1").hex
        assert deviation_id(RULE, "G-1", "r-1") == expected

    @given(st.text(max_size=40), st.text(max_size=80), st.text(max_size=120))
    def test_is_uuid5_of_the_three_under_the_fixed_namespace(self, rule: str, subject: str, occurrence: str) -> None:
        import uuid

        namespace = uuid.UUID("6f1d3c52-8a4e-4f7b-9a51-5e0c1f2a7b90")
        assert (
            deviation_id(rule, subject, occurrence)
            == "dev-" + uuid.uuid5(namespace, f"{rule}|{subject}|{occurrence}").hex
        )

    @pytest.mark.parametrize(
        ("other_rule", "other_subject", "other_occurrence"),
        [
            (RULE, "G-1", "r-2"),
            (RULE, "G-2", "r-1"),
            ("meeting.low_attendance", "G-1", "r-1"),
        ],
    )
    def test_any_component_changes_the_id(self, other_rule: str, other_subject: str, other_occurrence: str) -> None:
        assert deviation_id(RULE, "G-1", "r-1") != deviation_id(other_rule, other_subject, other_occurrence)

    @pytest.mark.parametrize("occurrence", ["r-1", "x" * 120, "2026-11", "a:b.c_d"])
    def test_matches_entity_id_pattern(self, occurrence: str) -> None:
        value = deviation_id(RULE, "G-" + "9" * 78, occurrence)
        assert re.fullmatch(ID_PATTERN, value)
        assert len(value) <= 80
        assert value.startswith("dev-")

    def test_open_exposes_its_derived_id(self) -> None:
        decision = Open(rule=RULE, subject="G-1", occurrence="r-1", severity="warning", evidence_at=T0)
        assert decision.deviation_id == deviation_id(RULE, "G-1", "r-1")
        assert decision.concerns == "group"
        assert decision.details == {}


# ---------------------------------------------------------------- rules.state


class TestGroupState:
    def test_a_state_cannot_be_changed_in_place_and_evolve_knows_its_fields(self) -> None:
        # Frozen for any caller, whether its class is compiled or not; `evolve` refuses a name that
        # is not a field instead of dropping it.
        state = GroupState(wake_at=T0)
        with pytest.raises(FrozenInstanceError):
            state.wake_at = None  # type: ignore[misc]
        assert state.evolve(clock_at=T0).clock_at == T0
        with pytest.raises(TypeError, match="no field 'wake'"):
            state.evolve(wake=T0)

    def test_empty_state(self) -> None:
        state = GroupState()
        assert state.meetings == ()
        assert state.open == {}
        assert not state.knows_report("r-1")

    def test_with_meeting_keeps_start_order_and_is_immutable(self) -> None:
        state = GroupState()
        later = MeetingSummary("r-b", month(2), True)
        earlier = MeetingSummary("r-a", month(1), False)
        after_one = state.with_meeting(later)
        after_two = after_one.with_meeting(earlier)
        assert [m.report_id for m in after_two.meetings] == ["r-a", "r-b"]
        assert after_one.meetings == (later,)
        assert state.meetings == ()
        assert after_two.knows_report("r-a")
        assert after_two.knows_report("r-b")

    def test_same_start_time_ordered_by_report_id(self) -> None:
        state = GroupState().with_meeting(MeetingSummary("r-z", T0, True)).with_meeting(MeetingSummary("r-a", T0, True))
        assert [m.report_id for m in state.meetings] == ["r-a", "r-z"]

    def test_keeps_the_most_recent_few(self) -> None:
        state = GroupState()
        for n in range(RECENT_MEETINGS_KEPT + 5):
            state = state.with_meeting(MeetingSummary(f"r-{n:03}", month(n), True))
        assert len(state.meetings) == RECENT_MEETINGS_KEPT
        assert state.meetings[0].report_id == "r-005"
        assert state.meetings[-1].report_id == f"r-{RECENT_MEETINGS_KEPT + 4:03}"

    def test_with_meeting_keeps_open_deviations(self) -> None:
        opened = {"dev-1": OpenDeviation(RULE, "r-1", "warning")}
        state = GroupState(open=opened).with_meeting(MeetingSummary("r-2", T0, True))
        assert state.open == opened

    def test_json_round_trip(self) -> None:
        state = GroupState(
            meetings=(MeetingSummary("r-1", month(0), False), MeetingSummary("r-2", month(1), True)),
            open={"dev-1": OpenDeviation(RULE, "r-1", "critical")},
        )
        data = state.to_json()
        text = json.dumps(data)
        restored = GroupState.from_json(json.loads(text))
        assert restored == state
        assert restored.meetings[0].started_at.tzinfo is not None
        assert restored.meetings[0].started_at == month(0)

    @pytest.mark.parametrize("empty", [None, {}])
    def test_from_json_of_nothing_is_empty_state(self, empty: dict | None) -> None:
        assert GroupState.from_json(empty) == GroupState()

    def test_to_json_shape(self) -> None:
        # The state grew (periods, devices, activities, evaluations, closed ids, ...) and a meeting and an
        # open deviation remember more: every key is present, with empty/None values when unused.
        state = GroupState(
            meetings=(MeetingSummary("r-1", month(0), False),), open={"dev-1": OpenDeviation(RULE, "r-1", "warning")}
        )
        assert state.to_json() == {
            "meetings": [
                {
                    "report_id": "r-1",
                    "started_at": month(0).isoformat(),
                    "facilitator_present": False,
                    "ended_at": None,
                    "present": 0,
                    "members": 0,
                    "received_at": None,
                }
            ],
            "open": {
                "dev-1": {
                    "rule": RULE,
                    "occurrence": "r-1",
                    "severity": "warning",
                    "opened_at": None,
                    "concerns": "group",
                    "memory": {},
                }
            },
            "context": None,
            "periods": [],
            "devices": {},
            "activities": {},
            "evaluations": [],
            "closed": [],
            "forgotten_before": None,
            "wake_at": None,
            "clock_at": None,
        }


# ---------------------------------------------------------------- rules.facilitator_absent (direct)


class TestFacilitatorAbsentRule:
    def test_chair_led_meeting_opens_a_warning(self) -> None:
        meeting = make_meeting("r-1", month(0), present=False, led_by="chair")
        state = GroupState().with_meeting(MeetingSummary("r-1", month(0), False))
        decisions = facilitator_absent.evaluate(state, meeting, CONFIG)
        assert decisions == [
            Open(
                rule=RULE,
                subject=GROUP_ID,
                occurrence="r-1",
                severity="warning",
                evidence_at=meeting.ended_at,
                at=meeting.received_at,  # decisions now carry their detection instant: the report's arrival
                details={
                    "report_id": "r-1",
                    "led_by": "chair",
                    "meeting_started_at": month(0).isoformat(),
                    "module": meeting.module,
                    "absences_in_a_row": 1,
                },
            )
        ]

    def test_led_by_other_also_opens_and_says_so(self) -> None:
        meeting = make_meeting("r-1", month(0), present=False, led_by="other")
        state = GroupState().with_meeting(MeetingSummary("r-1", month(0), False))
        [decision] = facilitator_absent.evaluate(state, meeting, CONFIG)
        assert isinstance(decision, Open)
        assert decision.details["led_by"] == "other"
        assert decision.severity == "warning"

    def test_configured_severity_is_used_for_the_first_absence(self) -> None:
        meeting = make_meeting("r-1", month(0), present=False)
        state = GroupState().with_meeting(MeetingSummary("r-1", month(0), False))
        [decision] = facilitator_absent.evaluate(state, meeting, FacilitatorAbsentConfig(severity="info"))
        assert isinstance(decision, Open)
        assert decision.severity == "info"

    def test_consecutive_for_critical_is_configurable(self) -> None:
        config = FacilitatorAbsentConfig(consecutive_for_critical=3)
        state = GroupState()
        severities = []
        for n in range(3):
            state = state.with_meeting(MeetingSummary(f"r-{n}", month(n), False))
            [decision] = facilitator_absent.evaluate(state, make_meeting(f"r-{n}", month(n), present=False), config)
            assert isinstance(decision, Open)
            severities.append(decision.severity)
        assert severities == ["warning", "warning", "critical"]

    def test_consecutive_absences_counts_back_from_the_report(self) -> None:
        state = GroupState()
        for n, present in enumerate([False, True, False, False, False, True]):
            state = state.with_meeting(MeetingSummary(f"r-{n}", month(n), present))
        assert facilitator_absent.consecutive_absences(state, "r-0") == 1
        assert facilitator_absent.consecutive_absences(state, "r-1") == 0
        assert facilitator_absent.consecutive_absences(state, "r-2") == 1
        assert facilitator_absent.consecutive_absences(state, "r-4") == 3
        assert facilitator_absent.consecutive_absences(state, "r-5") == 0

    def test_present_latest_meeting_resolves_only_this_rules_deviations(self) -> None:
        other = deviation_id("meeting.low_attendance", GROUP_ID, "r-0")
        state = GroupState(
            meetings=(MeetingSummary("r-0", month(0), False), MeetingSummary("r-1", month(1), True)),
            open={did("r-0"): OpenDeviation(RULE, "r-0", "critical"), other: OpenDeviation("x.y", "r-0", "warning")},
        )
        decisions = facilitator_absent.evaluate(state, make_meeting("r-1", month(1), present=True), CONFIG)
        # `at`: resolved when the report of the present meeting arrived
        assert decisions == [Resolve(did("r-0"), RULE, "critical", "facilitator_present_again", at=received(month(1)))]


# ---------------------------------------------------------------- engine


class TestEngine:
    def test_first_absence_is_a_warning(self) -> None:
        state, decisions = feed([make_meeting("r-1", month(0), present=False)])
        assert [type(d) for d in decisions] == [Open]
        assert decisions[0].severity == "warning"
        assert decisions[0].deviation_id == did("r-1")
        assert decisions[0].at == received(month(0))
        # the open deviation remembers when it was opened
        assert state.open == {did("r-1"): OpenDeviation(RULE, "r-1", "warning", opened_at=received(month(0)))}

    def test_present_facilitator_opens_nothing(self) -> None:
        state, decisions = feed([make_meeting("r-1", month(0), present=True)])
        assert decisions == []
        assert state.open == {}
        assert state.knows_report("r-1")

    def test_second_absence_in_a_row_is_critical(self) -> None:
        state, decisions = feed(
            [make_meeting("r-1", month(0), present=False), make_meeting("r-2", month(1), present=False, led_by="other")]
        )
        assert [(d.deviation_id, d.severity) for d in decisions] == [(did("r-1"), "warning"), (did("r-2"), "critical")]
        assert decisions[1].details["absences_in_a_row"] == 2
        assert {k: v.severity for k, v in state.open.items()} == {did("r-1"): "warning", did("r-2"): "critical"}

    def test_absences_separated_by_a_present_meeting_are_not_in_a_row(self) -> None:
        _, decisions = feed(
            [
                make_meeting("r-1", month(0), present=False),
                make_meeting("r-2", month(1), present=True),
                make_meeting("r-3", month(2), present=False),
            ]
        )
        opens = [d for d in decisions if isinstance(d, Open)]
        assert [(d.occurrence, d.severity) for d in opens] == [("r-1", "warning"), ("r-3", "warning")]

    def test_second_absence_in_a_row_is_critical_when_the_earlier_report_arrives_late(self) -> None:
        # Two meetings in a row without the facilitator, by start order; the phone of the first one synced last.
        state, _ = feed(
            [make_meeting("r-feb", month(1), present=False), make_meeting("r-jan", month(0), present=False)]
        )
        assert [m.report_id for m in state.meetings] == ["r-jan", "r-feb"]
        # The second meeting of the run (February) is two in a row: some open deviation must say critical.
        assert "critical" in {deviation.severity for deviation in state.open.values()}, state.open

    def test_third_in_a_row_counts_by_start_order_when_middle_arrives_last(self) -> None:
        _, decisions = feed(
            [
                make_meeting("r-1", month(0), present=False),
                make_meeting("r-3", month(2), present=False),
                make_meeting("r-2", month(1), present=False),
            ]
        )
        opened = {d.occurrence: d for d in decisions if isinstance(d, Open)}
        assert opened["r-1"].severity == "warning"
        assert opened["r-2"].severity == "critical"
        assert opened["r-2"].details["absences_in_a_row"] == 2

    def test_later_present_meeting_resolves_every_open_absence(self) -> None:
        state, decisions = feed(
            [
                make_meeting("r-1", month(0), present=False),
                make_meeting("r-2", month(1), present=False),
                make_meeting("r-3", month(2), present=True),
            ]
        )
        resolves = [d for d in decisions if isinstance(d, Resolve)]
        assert sorted((d.deviation_id, d.severity, d.reason) for d in resolves) == sorted(
            [
                (did("r-1"), "warning", "facilitator_present_again"),
                (did("r-2"), "critical", "facilitator_present_again"),
            ]
        )
        assert all(d.rule == RULE for d in resolves)
        assert state.open == {}

    def test_older_meeting_arriving_late_with_facilitator_present_resolves_nothing(self) -> None:
        state, _ = feed([make_meeting("r-feb", month(1), present=False)])
        outcome = engine.on_meeting_recorded(state, make_meeting("r-jan", month(0), present=True), PROGRAMME)
        assert outcome.decisions == ()
        assert outcome.state.open == state.open
        assert did("r-feb") in outcome.state.open
        assert outcome.state.knows_report("r-jan")

    def test_absence_arriving_after_a_later_present_meeting_does_not_stay_open(self) -> None:
        # January (no facilitator) syncs after February (facilitator present): the condition had already
        # cleared, so nothing may remain open for it (open-and-resolve or not opening are both fine).
        state, _ = feed([make_meeting("r-feb", month(1), present=True), make_meeting("r-jan", month(0), present=False)])
        assert state.open == {}, state.open

    def test_redelivery_changes_neither_state_nor_decisions(self) -> None:
        first = make_meeting("r-1", month(0), present=False)
        state, _ = feed([first, make_meeting("r-2", month(1), present=False)])
        for meeting in (first, make_meeting("r-2", month(1), present=False)):
            outcome = engine.on_meeting_recorded(state, meeting, PROGRAMME)
            assert outcome.decisions == ()
            assert outcome.state == state
            assert outcome.state.to_json() == state.to_json()

    def test_redelivery_of_a_present_meeting_does_not_resolve_again(self) -> None:
        present = make_meeting("r-2", month(1), present=True)
        state, decisions = feed([make_meeting("r-1", month(0), present=False), present])
        assert len([d for d in decisions if isinstance(d, Resolve)]) == 1
        outcome = engine.on_meeting_recorded(state, present, PROGRAMME)
        assert outcome.decisions == ()

    def test_redelivery_of_a_report_older_than_the_kept_window_changes_nothing(self) -> None:
        first = make_meeting("r-000", month(0), present=False)
        later = [make_meeting(f"r-{n:03}", month(n), present=True) for n in range(1, RECENT_MEETINGS_KEPT + 1)]
        state, _ = feed([first, *later])
        assert state.open == {}
        outcome = engine.on_meeting_recorded(state, first, PROGRAMME)  # redelivered after a rebalance
        assert outcome.decisions == ()
        assert outcome.state == state

    def test_absent_meeting_older_than_the_kept_window_does_not_crash(self) -> None:
        later = [make_meeting(f"r-{n:03}", month(n), present=True) for n in range(1, RECENT_MEETINGS_KEPT + 1)]
        state, _ = feed(later)
        outcome = engine.on_meeting_recorded(state, make_meeting("r-000", month(0), present=False), PROGRAMME)
        assert not any(isinstance(d, Resolve | Escalate) for d in outcome.decisions)

    def test_state_round_trips_through_json_after_the_engine(self) -> None:
        state, _ = feed(
            [
                make_meeting("r-1", month(0), present=False),
                make_meeting("r-2", month(1), present=False),
                make_meeting("r-3", month(2), present=True),
                make_meeting("r-4", month(3), present=False),
            ]
        )
        text = json.dumps(state.to_json())
        restored = GroupState.from_json(json.loads(text))
        assert restored == state
        # and the restored state behaves the same
        nxt = make_meeting("r-5", month(4), present=False)
        assert engine.on_meeting_recorded(restored, nxt, PROGRAMME) == engine.on_meeting_recorded(state, nxt, PROGRAMME)

    def test_groups_do_not_share_anything(self) -> None:
        a, _ = feed([make_meeting("r-1", month(0), present=False, group_id="G-A")])
        b, decisions = feed([make_meeting("r-1", month(0), present=False, group_id="G-B")])
        assert decisions[0].deviation_id == did("r-1", "G-B")
        assert set(a.open) != set(b.open)


class TestApply:
    def test_open_twice_is_dropped(self) -> None:
        decision = Open(rule=RULE, subject="G-1", occurrence="r-1", severity="warning", evidence_at=T0)
        outcome = engine.apply(GroupState(), [decision, decision])
        assert outcome.decisions == (decision,)
        assert outcome.state.open == {decision.deviation_id: OpenDeviation(RULE, "r-1", "warning")}

    def test_escalate_changes_severity_once(self) -> None:
        dev = deviation_id(RULE, "G-1", "r-1")
        state = GroupState(open={dev: OpenDeviation(RULE, "r-1", "warning")})
        escalate = Escalate(dev, RULE, "warning", "critical", "again")
        outcome = engine.apply(state, [escalate, escalate])
        assert outcome.decisions == (escalate,)
        assert outcome.state.open[dev].severity == "critical"
        assert state.open[dev].severity == "warning"  # input untouched

    def test_escalate_of_unknown_deviation_is_dropped(self) -> None:
        outcome = engine.apply(GroupState(), [Escalate("dev-x", RULE, "warning", "critical", "again")])
        assert outcome.decisions == ()
        assert outcome.state.open == {}

    def test_resolve_of_unknown_deviation_is_dropped(self) -> None:
        outcome = engine.apply(GroupState(), [Resolve("dev-x", RULE, "warning", "facilitator_present_again")])
        assert outcome.decisions == ()

    def test_resolve_removes(self) -> None:
        dev = deviation_id(RULE, "G-1", "r-1")
        state = GroupState(open={dev: OpenDeviation(RULE, "r-1", "warning")})
        resolve = Resolve(dev, RULE, "warning", "facilitator_present_again")
        outcome = engine.apply(state, [resolve, resolve])
        assert outcome.decisions == (resolve,)
        assert outcome.state.open == {}


# ---------------------------------------------------------------- publishing


class TestPublishing:
    COMMON = {
        "group_id": GROUP_ID,
        "programme": "pkh-p2k2",
        "facilitator_id": "F-001",
        "region_code": "18.71.01.1001",
    }
    NOW = datetime(2026, 11, 10, 5, 0, tzinfo=UTC)

    def test_open_becomes_deviation_opened(self) -> None:
        decision = Open(
            rule=RULE,
            subject=GROUP_ID,
            occurrence="r-1",
            severity="warning",
            evidence_at=T0,
            details={"absences_in_a_row": 1, "led_by": "chair"},
        )
        event = deviation_event(decision, now=self.NOW, **self.COMMON)
        assert isinstance(event, DeviationOpened)
        assert event.deviation_id == decision.deviation_id
        assert event.occurrence == "r-1"
        assert event.severity == "warning"
        assert event.rule == RULE
        assert event.detected_at == self.NOW
        assert event.evidence_at == T0
        assert event.details == {"absences_in_a_row": 1, "led_by": "chair"}
        assert event.concerns == "group"
        assert event.kafka_key() == GROUP_ID
        assert event.region_code == "18.71.01.1001"

    def test_escalate_becomes_deviation_escalated(self) -> None:
        decision = Escalate("dev-1", RULE, "warning", "critical", "absent_again", {"absences_in_a_row": 2})
        event = deviation_event(decision, now=self.NOW, **self.COMMON)
        assert isinstance(event, DeviationEscalated)
        assert (event.previous_severity, event.severity, event.reason) == ("warning", "critical", "absent_again")
        assert event.escalated_at == self.NOW
        assert event.details == {"absences_in_a_row": 2}

    def test_resolve_becomes_deviation_resolved(self) -> None:
        decision = Resolve("dev-1", RULE, "critical", "facilitator_present_again")
        event = deviation_event(decision, now=self.NOW, **self.COMMON)
        assert isinstance(event, DeviationResolved)
        assert event.deviation_id == "dev-1"
        assert event.severity == "critical"
        assert event.resolved_at == self.NOW
        assert event.reason == "facilitator_present_again"

    def test_engine_decisions_are_valid_events(self) -> None:
        _, decisions = feed(
            [
                make_meeting("r-1", month(0), present=False),
                make_meeting("r-2", month(1), present=False),
                make_meeting("r-3", month(2), present=True),
            ]
        )
        events = [deviation_event(d, now=self.NOW, **self.COMMON) for d in decisions]
        assert [type(e) for e in events] == [DeviationOpened, DeviationOpened, DeviationResolved, DeviationResolved]

    def test_unknown_decision_is_a_type_error(self) -> None:
        @dataclass(frozen=True)
        class Postpone:
            rule: str = RULE
            severity: str = "warning"

        with pytest.raises(TypeError, match="unknown decision"):
            deviation_event(Postpone(), now=self.NOW, **self.COMMON)  # type: ignore[arg-type]


# ---------------------------------------------------------------- clock


class TestRuleClock:
    def test_wall_mode_uses_wall_clock(self) -> None:
        moments = iter([T0, T0 + timedelta(seconds=1)])
        clock = RuleClock("wall", wall=lambda: next(moments))
        clock.observe(T0 + timedelta(days=30))
        assert clock.now() == T0
        assert clock.now() == T0 + timedelta(seconds=1)

    def test_default_wall_clock_is_aware_utc_now(self) -> None:
        before = datetime.now(UTC)
        now = RuleClock().now()
        assert now.tzinfo is not None
        assert before <= now <= datetime.now(UTC)

    def test_event_mode_before_any_event_is_the_epoch_not_the_wall(self) -> None:
        # Changed: replay must not judge old history by today's wall clock (every due time would look
        # long past), so before any event the event clock is the epoch: time alone decides nothing yet.
        clock = RuleClock("event", wall=lambda: T0)
        assert clock.now() == datetime(1970, 1, 1, tzinfo=UTC)
        assert clock.now(3) == datetime(1970, 1, 1, tzinfo=UTC)

    def test_event_mode_watermarks_are_per_partition(self) -> None:
        clock = RuleClock("event", wall=lambda: T0)
        clock.observe(month(2), partition=1)
        clock.observe(month(4), partition=2)
        assert clock.now(1) == month(2)
        assert clock.now(2) == month(4)
        assert clock.now() == month(4)  # no partition: the furthest watermark

    def test_event_mode_watermark_never_goes_backwards(self) -> None:
        clock = RuleClock("event", wall=lambda: T0)
        clock.observe(month(3))
        assert clock.now() == month(3)
        clock.observe(month(1))
        assert clock.now() == month(3)
        clock.observe(month(5))
        assert clock.now() == month(5)

    def test_a_restored_partition_starts_at_its_stored_clock_not_the_epoch(self) -> None:
        # After a restart, a partition whose topics bring nothing new would otherwise stay at the
        # epoch (nothing read on any source), and its overdue deviations would never open.
        clock = RuleClock("event", wall=lambda: T0, sources=["m", "p"], caught_up=lambda *_: True)
        assert clock.now(3) == datetime(1970, 1, 1, tzinfo=UTC)
        clock.restore(3, month(2))
        clock.restore(3, month(1))  # an older group's clock does not move it back
        assert clock.now(3) == month(2)
        assert clock.now(4) == datetime(1970, 1, 1, tzinfo=UTC)
        assert clock.now() == month(2)

    def test_a_restored_floor_gives_way_to_a_later_safe_watermark(self) -> None:
        clock = RuleClock("event", wall=lambda: T0, sources=["m", "p"], caught_up=lambda *_: True)
        clock.restore(1, month(2))
        clock.observe(month(3), partition=1, topic="m", offset=0)
        assert clock.now(1) == month(3)

    def test_the_floor_waits_while_a_source_lags(self) -> None:
        # Changed: the floor used to hold while a source lagged. But the stored states need not hold
        # every record older than the floor (a batch is stored group by group, and a kill can land
        # between two writes), so until every source has caught up only what is read decides.
        lags = {"p"}
        clock = RuleClock("event", wall=lambda: T0, sources=["m", "p"], caught_up=lambda topic, *_: topic not in lags)
        clock.observe(month(1), partition=1, topic="p", offset=0)
        clock.restore(1, month(2))
        assert clock.now(1) == month(1)
        lags.clear()
        assert clock.now(1) == month(2)

    def test_a_source_sought_back_no_longer_holds_the_clock_past_what_is_read_again(self) -> None:
        # A rebalance sends plans back to its committed offset: progress read up to month 3 is read
        # again, so until it is, the partition's clock may not stand at month 3 on its account.
        clock = RuleClock("event", wall=lambda: T0, sources=["m", "p"], caught_up=lambda *_: False)
        clock.observe(month(4), partition=1, topic="m", offset=40)
        clock.observe(month(3), partition=1, topic="p", offset=30)
        clock.restore(1, month(1))  # what the stored states had safely reached
        assert clock.now(1) == month(3)
        clock.forget("p", 1)
        # plans of partition 1 count as unread, and the floor waits for them too
        assert clock.now(1) == datetime(1970, 1, 1, tzinfo=UTC)
        clock.observe(month(2), partition=1, topic="p", offset=21)
        assert clock.now(1) == month(2)
        clock.forget("p", 2)  # another partition's seek changes nothing here
        assert clock.now(1) == month(2)

    def test_a_source_sought_back_to_its_end_keeps_what_was_read_once_caught_up(self) -> None:
        # A restarted worker reads a partition to its end and commits it; Faust then seeks it to the
        # committed offset, where nothing is left to read. The partition's clock must still stand at
        # what was read (the wake-ups up to it are due), not fall back to its states' older clocks.
        ends = {"m": False, "p": False}
        clock = RuleClock("event", wall=lambda: T0, sources=["m", "p"], caught_up=lambda topic, *_: ends[topic])
        clock.restore(1, month(1))  # the stored states' clocks
        clock.observe(month(3), partition=1, topic="m", offset=40)
        clock.observe(month(4), partition=1, topic="p", offset=30)
        ends.update(m=True, p=True)
        assert clock.now(1) == month(4)
        clock.forget("m", 1)
        clock.forget("p", 1)
        assert clock.now(1) == month(4)  # nothing left to read: what was read stands
        ends["p"] = False  # had the seek left plans to read again, only what is read would count
        assert clock.now(1) < month(4)


# ---------------------------------------------------------------- programmes


CONTRACT_DEFAULTS = {
    "meeting.overdue": {"grace_days": 2, "offline_grace_days": 7, "critical_after_days": 14},
    "meeting.facilitator_absent": {"severity": "warning", "consecutive_for_critical": 2},
    "meeting.low_attendance": {"threshold_ratio": 0.75},
    "meeting.attendance_declining": {"margin_ratio": 0.20, "window_meetings": 3},
    "meeting.too_short": {"min_share_of_expected": 0.6},
    "plan.activity_overdue": {"severity": "warning", "offline_grace_days": 7},
    "plan.activity_at_risk": {"margin_ratio": 0.25, "from_elapsed_share": 0.5, "offline_grace_days": 7},
    "evaluation.low_score": {"threshold_score": 2.5},
    "facilitator.many_groups_deviating": {"groups": 3, "share_of_groups": 0.5, "from_severity": "warning"},
    "reporting.lagging": {"max_lag_days": 7},
    "recognition.sustained_success": {"periods": 6, "attendance_ratio": 0.9},
}


def minimal_yaml(programme: str) -> str:
    return (
        f"programme: {programme}\n"
        "name: {id: Program, en: Programme}\n"
        "cadence: monthly\n"
        "expected_meeting_minutes: 60\n"
    )


class TestProgrammes:
    def test_the_three_programmes_are_loaded(self) -> None:
        programmes = load_programmes()
        assert set(programmes) == {"pkh-p2k2", "ssk-pokja", "kkbpk-kemitraan"}
        assert {p.programme for p in programmes.values()} == set(programmes)

    @pytest.mark.parametrize(
        ("programme", "cadence", "minutes"),
        [("pkh-p2k2", "monthly", 120), ("ssk-pokja", "monthly", 90), ("kkbpk-kemitraan", "quarterly", 120)],
    )
    def test_cadence_and_duration_follow_the_contract(self, programme: str, cadence: str, minutes: int) -> None:
        config = load_programmes()[programme]
        assert config.cadence == cadence
        assert config.expected_meeting_minutes == minutes
        assert config.name["id"]
        assert config.name["en"]

    @pytest.mark.parametrize("programme", ["pkh-p2k2", "ssk-pokja", "kkbpk-kemitraan"])
    def test_shipped_thresholds_equal_the_contract_defaults(self, programme: str) -> None:
        config = load_programmes()[programme]
        assert config.rules.model_dump(by_alias=True) == CONTRACT_DEFAULTS

    def test_model_defaults_equal_the_contract_defaults(self) -> None:
        assert DEFAULT_PROGRAMME.rules.model_dump(by_alias=True) == CONTRACT_DEFAULTS
        assert ProgrammeConfig.model_validate(yaml.safe_load(minimal_yaml("x-y"))).rules == DEFAULT_PROGRAMME.rules

    def test_every_shipped_file_names_its_programme(self) -> None:
        for path in PROGRAMMES_DIR.glob("*.yaml"):
            assert yaml.safe_load(path.read_text())["programme"] == path.stem

    def test_unknown_programme_gets_defaults(self) -> None:
        programmes = load_programmes()
        assert programme_config(programmes, "no-such-programme") is DEFAULT_PROGRAMME
        assert programme_config(programmes, "pkh-p2k2") is programmes["pkh-p2k2"]
        assert programme_config({}, "pkh-p2k2") is DEFAULT_PROGRAMME

    def test_adding_a_file_adds_a_programme(self, tmp_path: Path) -> None:
        (tmp_path / "new-prog.yaml").write_text(
            minimal_yaml("new-prog") + "rules:\n  meeting.facilitator_absent: {consecutive_for_critical: 3}\n"
        )
        (tmp_path / "ignored.txt").write_text("not yaml")
        programmes = load_programmes(tmp_path)
        assert set(programmes) == {"new-prog"}
        rules = programmes["new-prog"].rules
        assert rules.meeting_facilitator_absent.consecutive_for_critical == 3
        assert rules.meeting_facilitator_absent.severity == "warning"
        assert rules.meeting_low_attendance.threshold_ratio == 0.75

    def test_file_name_must_equal_programme_id(self, tmp_path: Path) -> None:
        (tmp_path / "pkh-p2k2.yaml").write_text(minimal_yaml("ssk-pokja"))
        with pytest.raises(ValueError, match=r"pkh-p2k2\.yaml declares programme 'ssk-pokja'"):
            load_programmes(tmp_path)

    def test_empty_directory_gives_no_programmes(self, tmp_path: Path) -> None:
        assert load_programmes(tmp_path) == {}

    @pytest.mark.parametrize(
        "extra",
        [
            "rules:\n  meeting.facilitator_absent: {consecutive_for_critical: 1}\n",
            "rules:\n  meeting.low_attendance: {threshold_ratio: 1.5}\n",
            "rules:\n  meeting.unknown_rule: {}\n",
            "rules:\n  meeting.too_short: {min_share: 0.5}\n",
            "unexpected: true\n",
        ],
    )
    def test_invalid_configuration_is_refused(self, tmp_path: Path, extra: str) -> None:
        (tmp_path / "bad.yaml").write_text(minimal_yaml("bad") + extra)
        with pytest.raises(ValidationError):
            load_programmes(tmp_path)

    def test_config_is_frozen(self) -> None:
        with pytest.raises(ValidationError):
            DEFAULT_PROGRAMME.rules.meeting_facilitator_absent.severity = "critical"  # type: ignore[misc]
