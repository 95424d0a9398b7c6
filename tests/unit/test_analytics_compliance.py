"""Compliance, attendance, evaluations, acknowledgements and the incremental sums (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics import aggregates
from services.analytics.aggregates import (
    Compliance,
    GroupFacts,
    Rollup,
    SupervisorFacts,
    compliance_series,
    contribution,
    totals,
)
from services.analytics.state import AnalyticsState
from shared.events import (
    AlertAcknowledged,
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
    DeviceSynced,
    EvaluationSubmitted,
    MeetingRecorded,
    MeetingScheduled,
)
from tests.samples import SAMPLES

pytestmark = pytest.mark.unit

VILLAGE = "18.71.01.1001"  # WIB
DUE = datetime(2026, 11, 10, 16, 59, 59, tzinfo=UTC)  # 10 November 23:59:59 WIB


def scheduled(period: str = "2026-11", *, due_at: datetime = DUE, region: str = VILLAGE) -> MeetingScheduled:
    sample = SAMPLES[MeetingScheduled]
    assert isinstance(sample, MeetingScheduled)
    return sample.model_copy(update={"period": period, "due_at": due_at, "region_code": region})


def meeting(report_id: str, started_at: datetime, *, present: int = 3, region: str = VILLAGE) -> MeetingRecorded:
    sample = SAMPLES[MeetingRecorded]
    assert isinstance(sample, MeetingRecorded)
    attendance = tuple({"member_ref": f"kpm-{n}", "status": "present" if n < present else "absent"} for n in range(4))
    return sample.model_copy(
        update={
            "report_id": report_id,
            "started_at": started_at,
            "ended_at": started_at + timedelta(hours=2),
            "attendance": tuple(
                MeetingRecorded.model_validate({**sample.model_dump(), "attendance": attendance}).attendance
            ),
            "member_count": 4,
            "region_code": region,
        }
    )


AFTER = DUE + timedelta(days=20)  # read on 30 November: November's due time has passed


def compliance(facts: GroupFacts, period: str = "2026-11", now: datetime = AFTER) -> tuple[int, int]:
    """(met on schedule, due) of the group's kabupaten as of `now`."""
    counts = compliance_series(totals([facts]), now)[("pkh-p2k2", "18", "18.71", period)]
    return counts.on_schedule, counts.due


def counts_of(facts: GroupFacts, period: str = "2026-11", now: datetime = AFTER) -> Compliance:
    return compliance_series(totals([facts]), now)[("pkh-p2k2", "18", "18.71", period)]


def synced(through: datetime, facilitator: str | None = None) -> DeviceSynced:
    sample = SAMPLES[DeviceSynced]
    assert isinstance(sample, DeviceSynced)
    meeting_sample = SAMPLES[MeetingScheduled]
    assert isinstance(meeting_sample, MeetingScheduled)
    owner = facilitator or meeting_sample.facilitator_id
    return sample.model_copy(update={"synced_through": through, "facilitator_id": owner})


class TestCompliance:
    def test_met_on_schedule_when_held_by_the_due_time(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        aggregates.on_meeting(facts, meeting("r-1", DUE - timedelta(hours=8)))
        assert compliance(facts) == (1, 1)

    def test_a_late_meeting_is_met_late_not_on_schedule(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        aggregates.on_meeting(facts, meeting("r-1", DUE + timedelta(seconds=1)))
        counts = counts_of(facts)
        assert (counts.due, counts.on_schedule, counts.late, counts.not_met) == (1, 0, 1, 0)

    def test_due_without_meeting_is_not_met(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        assert compliance(facts) == (0, 1)
        province = compliance_series(totals([facts]), AFTER)[("pkh-p2k2", "18", "", "2026-11")]
        assert (province.due, province.not_met, province.ratio) == (1, 1, 0.0)

    def test_before_the_due_time_nobody_has_failed(self) -> None:
        """2 November: the group is still open, not a failure, and no ratio is reported."""
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        counts = counts_of(facts, now=datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
        assert (counts.due, counts.open, counts.not_met, counts.ratio) == (0, 1, 0, None)

    def test_an_early_meeting_before_the_due_time_is_open_and_already_met(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        aggregates.on_meeting(facts, meeting("r-1", DUE - timedelta(days=5)))
        counts = counts_of(facts, now=DUE - timedelta(days=1))
        assert (counts.due, counts.open, counts.open_met) == (0, 1, 1)

    @pytest.mark.parametrize(
        ("now", "due", "open_"),
        [(DUE - timedelta(seconds=1), 0, 1), (DUE, 1, 0), (DUE + timedelta(seconds=1), 1, 0)],
    )
    def test_the_due_instant_itself_is_due(self, now: datetime, due: int, open_: int) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        counts = counts_of(facts, now=now)
        assert (counts.due, counts.open) == (due, open_)

    def test_freshness_counts_devices_synced_past_the_due_time(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        assert aggregates.on_device_synced(facts, synced(DUE - timedelta(hours=1))) is True
        assert counts_of(facts).synced == 0
        assert aggregates.on_device_synced(facts, synced(DUE + timedelta(days=1))) is True
        assert aggregates.on_device_synced(facts, synced(DUE)) is False  # never goes back
        counts = counts_of(facts)
        assert (counts.synced, counts.freshness) == (1, 1.0)

    def test_another_facilitators_phone_says_nothing(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        assert aggregates.on_device_synced(facts, synced(DUE + timedelta(days=1), "PDP-OTHER")) is False
        assert counts_of(facts).synced == 0

    def test_a_quarterly_period_counts_meetings_in_any_of_its_months(self) -> None:
        # Q4 labelled 2026-10, due 10 December: a meeting on 20 November is on schedule.
        facts = GroupFacts()
        quarter_due = datetime(2026, 12, 10, 16, 59, 59, tzinfo=UTC)
        aggregates.on_meeting_scheduled(facts, scheduled("2026-10", due_at=quarter_due))
        assert facts.periods["2026-10"].window == ["2026-10", "2026-11", "2026-12"]
        aggregates.on_meeting(facts, meeting("r-1", datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
        assert compliance(facts, "2026-10", now=datetime(2027, 1, 5, tzinfo=UTC)) == (1, 1)
        assert counts_of(facts, "2026-10", now=datetime(2026, 12, 2, tzinfo=UTC)).open_met == 1

    def test_report_arriving_before_the_schedule_still_counts(self) -> None:
        """A meeting reported late (or before its schedule event) counts if it was held on time."""
        facts = GroupFacts()
        aggregates.on_meeting(facts, meeting("r-1", DUE - timedelta(days=2)))
        assert ("pkh-p2k2", "18", "18.71", "2026-11") not in compliance_series(totals([facts]), AFTER)
        aggregates.on_meeting_scheduled(facts, scheduled())
        assert compliance(facts) == (1, 1)

    def test_meeting_counts_in_its_local_month(self) -> None:
        # 30 November 20:00 UTC is 1 December 03:00 WIB: December's meeting, not November's.
        facts = GroupFacts()
        aggregates.on_meeting_scheduled(facts, scheduled())
        aggregates.on_meeting(facts, meeting("r-1", datetime(2026, 11, 30, 20, 0, tzinfo=UTC)))
        assert compliance(facts) == (0, 1)
        assert set(facts.periods) == {"2026-11", "2026-12"}

    def test_scheduled_twice_is_one_group_due(self) -> None:
        facts = GroupFacts()
        assert aggregates.on_meeting_scheduled(facts, scheduled()) is True
        assert aggregates.on_meeting_scheduled(facts, scheduled()) is False
        assert compliance(facts) == (0, 1)

    def test_only_the_newest_months_are_kept(self) -> None:
        facts = GroupFacts()
        for month in range(1, 13):
            aggregates.on_meeting_scheduled(facts, scheduled(f"2025-{month:02d}"))
        for month in range(1, 5):
            aggregates.on_meeting_scheduled(facts, scheduled(f"2026-{month:02d}"))
        assert len(facts.periods) == aggregates.KEPT_PERIODS
        assert min(facts.periods) == "2025-04"


class TestAttendanceEvaluationsAcks:
    def test_attendance_sums_present_over_members(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting(facts, meeting("r-1", DUE - timedelta(days=1), present=3))
        aggregates.on_meeting(facts, meeting("r-2", DUE - timedelta(days=5), present=1))
        summed = totals([facts])
        assert summed.get(aggregates.PRESENT)[("pkh-p2k2", "18", "2026-11")] == 4
        assert summed.get(aggregates.EXPECTED)[("pkh-p2k2", "18", "2026-11")] == 8

    def test_evaluation_histogram_by_direction_once_per_id(self) -> None:
        sample = SAMPLES[EvaluationSubmitted]
        assert isinstance(sample, EvaluationSubmitted)
        facts = GroupFacts()
        assert aggregates.on_evaluation(facts, sample) is True
        assert aggregates.on_evaluation(facts, sample) is False
        other = sample.model_copy(update={"evaluation_id": "ev-2", "direction": "facilitator_rates_group"})
        aggregates.on_evaluation(facts, other)
        series = totals([facts]).get(aggregates.EVALUATION)
        assert series[("group_rates_facilitator", "pkh-p2k2", "18", "count")] == 1
        assert series[("group_rates_facilitator", "pkh-p2k2", "18", "sum")] == 2.5
        assert series[("group_rates_facilitator", "pkh-p2k2", "18", "2")] == 1  # bucket le=2.5
        assert series[("facilitator_rates_group", "pkh-p2k2", "18", "count")] == 1
        assert [e.evaluation_id for e in facts.periods["2026-11"].evaluations] == ["ev-1", "ev-2"]

    def test_ack_seconds_once_per_alert(self) -> None:
        sample = SAMPLES[AlertAcknowledged]
        assert isinstance(sample, AlertAcknowledged)
        facts = SupervisorFacts()
        assert aggregates.on_alert_acknowledged(facts, sample) is True
        assert aggregates.on_alert_acknowledged(facts, sample) is False
        series = aggregates.supervisor_contribution(facts)[aggregates.ACK]
        assert series[("warning", "kabupaten", "count")] == 1
        assert series[("warning", "kabupaten", "sum")] == 60

    def test_deviation_lifecycle_is_kept_for_the_report(self) -> None:
        opened, escalated, resolved = SAMPLES[DeviationOpened], SAMPLES[DeviationEscalated], SAMPLES[DeviationResolved]
        assert isinstance(opened, DeviationOpened)
        assert isinstance(escalated, DeviationEscalated)
        assert isinstance(resolved, DeviationResolved)
        facts = GroupFacts()
        aggregates.on_deviation_opened(facts, opened)
        assert aggregates.on_deviation_escalated(facts, escalated) is True
        assert facts.open_deviations == {opened.deviation_id: "meeting.facilitator_absent|critical"}
        assert aggregates.on_deviation_resolved(facts, resolved) is True
        [entry] = facts.periods["2026-11"].deviations
        assert (entry.severity, entry.resolution) == ("critical", "late_report")
        assert entry.resolved_at is not None
        assert facts.opened == {"meeting.facilitator_absent|warning": 1}
        lag = totals([facts]).get(aggregates.DETECTION_LAG)
        assert lag[("meeting.facilitator_absent", "warning", "count")] == 1


# A random history of one partition's groups: the running sums must always equal a rebuild.
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["G-1", "G-2", "G-3"]),
        st.sampled_from(["schedule", "meeting", "open", "resolve", "evaluate"]),
        st.integers(0, 4),
        st.sampled_from(["18.71.01.1001", "32.01.02.2002", "51.71.02.1003"]),
    ),
    max_size=40,
)


def fold(facts: GroupFacts, kind: str, n: int, region: str, group: str) -> bool:
    if kind == "schedule":
        return aggregates.on_meeting_scheduled(facts, scheduled(f"2026-{n + 1:02d}", region=region))
    if kind == "meeting":
        return aggregates.on_meeting(facts, meeting(f"r-{group}-{n}", DUE - timedelta(days=30 * n), region=region))
    if kind == "open":
        sample = SAMPLES[DeviationOpened]
        assert isinstance(sample, DeviationOpened)
        return aggregates.on_deviation_opened(
            facts, sample.model_copy(update={"deviation_id": f"d-{group}-{n}", "region_code": region})
        )
    if kind == "resolve":
        sample_resolved = SAMPLES[DeviationResolved]
        assert isinstance(sample_resolved, DeviationResolved)
        return aggregates.on_deviation_resolved(
            facts, sample_resolved.model_copy(update={"deviation_id": f"d-{group}-{n}"})
        )
    sample_evaluation = SAMPLES[EvaluationSubmitted]
    assert isinstance(sample_evaluation, EvaluationSubmitted)
    return aggregates.on_evaluation(
        facts,
        sample_evaluation.model_copy(
            update={"evaluation_id": f"e-{group}-{n}", "mean_score": 1.0 + n, "region_code": region}
        ),
    )


@settings(max_examples=60, deadline=None)
@given(events=EVENTS)
def test_incremental_sums_equal_a_rebuild(events: list[tuple[str, str, int, str]]) -> None:
    state = AnalyticsState()
    table: dict[str, dict] = {}
    for group, kind, n, region in events:
        stored = table.get(group)
        before = GroupFacts.from_json(stored) if stored else None
        facts = before.model_copy(deep=True) if before is not None else GroupFacts()
        if fold(facts, kind, n, region, group):
            facts.partition = 3
            table[group] = facts.to_json()
            state.group_changed(group, before, facts)
    incremental = state.rollup().series
    rebuilt = AnalyticsState()
    rebuilt.rebuild_groups(((g, GroupFacts.from_json(v)) for g, v in table.items()), active={3})
    assert incremental == rebuilt.rollup().series
    assert incremental == totals([GroupFacts.from_json(v) for v in table.values()]).series
    # a partition this worker does not hold (e.g. a standby copy) is not counted
    elsewhere = AnalyticsState()
    elsewhere.rebuild_groups(((g, GroupFacts.from_json(v)) for g, v in table.items()), active={0, 1})
    assert elsewhere.rollup().series == {}


def test_rollup_subtracts_to_nothing() -> None:
    facts = GroupFacts()
    aggregates.on_meeting_scheduled(facts, scheduled())
    rollup = Rollup()
    rollup.apply(contribution(facts))
    rollup.apply(contribution(facts), -1)
    assert rollup.series == {}  # an emptied metric is gone, as if never seen (same as a rebuild)
