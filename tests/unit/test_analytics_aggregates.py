"""Analytics' pure aggregates: per-group facts folded from events, summed into bounded metric series."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics import aggregates
from services.analytics.aggregates import REMEMBERED_IDS, GroupFacts, totals
from shared.events import DeviationOpened, DeviationResolved, MeetingRecorded
from tests.samples import SAMPLES

pytestmark = pytest.mark.unit


def meeting(
    report_id: str, *, group: str = "G-1", programme: str = "pkh-p2k2", region: str = "18.71.01.1001"
) -> MeetingRecorded:
    sample = SAMPLES[MeetingRecorded]
    assert isinstance(sample, MeetingRecorded)
    return sample.model_copy(
        update={"report_id": report_id, "group_id": group, "programme": programme, "region_code": region}
    )


def opened(
    deviation_id: str,
    *,
    group: str = "G-1",
    rule: str = "meeting.facilitator_absent",
    severity: str = "warning",
    programme: str = "pkh-p2k2",
    region: str = "18.71.01.1001",
    facilitator: str = "F-001",
) -> DeviationOpened:
    sample = SAMPLES[DeviationOpened]
    assert isinstance(sample, DeviationOpened)
    return sample.model_copy(
        update={
            "deviation_id": deviation_id,
            "group_id": group,
            "rule": rule,
            "severity": severity,
            "programme": programme,
            "region_code": region,
            "facilitator_id": facilitator,
        }
    )


def resolved(deviation_id: str, *, group: str = "G-1", severity: str = "warning") -> DeviationResolved:
    sample = SAMPLES[DeviationResolved]
    assert isinstance(sample, DeviationResolved)
    return sample.model_copy(update={"deviation_id": deviation_id, "group_id": group, "severity": severity})


class TestMeetings:
    def test_counted_once_per_report_id(self) -> None:
        facts = GroupFacts()
        assert aggregates.on_meeting(facts, meeting("r-1")) is True
        assert aggregates.on_meeting(facts, meeting("r-1")) is False
        assert aggregates.on_meeting(facts, meeting("r-2")) is True
        assert aggregates.on_meeting(facts, meeting("r-1")) is False
        assert facts.meetings_recorded == 2
        assert facts.recent_report_ids == ["r-1", "r-2"]

    def test_places_the_group(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting(facts, meeting("r-1", programme="ssk-pokja", region="51.71.02.1003"))
        assert (facts.programme, facts.province, facts.kabupaten) == ("ssk-pokja", "51", "51.71")

    def test_trimming_keeps_the_newest_ids(self) -> None:
        facts = GroupFacts()
        total = REMEMBERED_IDS + 10
        for n in range(total):
            assert aggregates.on_meeting(facts, meeting(f"r-{n:04}"))
        assert facts.meetings_recorded == total
        assert facts.recent_report_ids == [f"r-{n:04}" for n in range(10, total)]
        assert len(facts.recent_report_ids) == REMEMBERED_IDS
        # the newest ids are still recognised
        assert aggregates.on_meeting(facts, meeting(f"r-{total - 1:04}")) is False
        assert aggregates.on_meeting(facts, meeting("r-0010")) is False
        assert facts.meetings_recorded == total

    def test_trimming_of_deviation_ids_keeps_the_newest(self) -> None:
        facts = GroupFacts()
        for n in range(REMEMBERED_IDS + 3):
            aggregates.on_deviation_opened(facts, opened(f"dev-{n:04}"))
        assert facts.recent_deviation_ids == [f"dev-{n:04}" for n in range(3, REMEMBERED_IDS + 3)]
        assert aggregates.on_deviation_opened(facts, opened(f"dev-{REMEMBERED_IDS + 2:04}")) is False


class TestDeviations:
    def test_opened_counted_once(self) -> None:
        facts = GroupFacts()
        assert aggregates.on_deviation_opened(facts, opened("dev-1")) is True
        assert aggregates.on_deviation_opened(facts, opened("dev-1")) is False
        assert facts.opened == {"meeting.facilitator_absent|warning": 1}
        assert facts.open_deviations == {"dev-1": "meeting.facilitator_absent|warning"}

    def test_counts_per_rule_and_severity(self) -> None:
        facts = GroupFacts()
        aggregates.on_deviation_opened(facts, opened("dev-1"))
        aggregates.on_deviation_opened(facts, opened("dev-2", severity="critical"))
        aggregates.on_deviation_opened(facts, opened("dev-3", severity="critical"))
        aggregates.on_deviation_opened(facts, opened("dev-4", rule="meeting.low_attendance"))
        assert facts.opened == {
            "meeting.facilitator_absent|warning": 1,
            "meeting.facilitator_absent|critical": 2,
            "meeting.low_attendance|warning": 1,
        }

    def test_resolved_removes_from_open_but_not_from_opened(self) -> None:
        facts = GroupFacts()
        aggregates.on_deviation_opened(facts, opened("dev-1"))
        aggregates.on_deviation_opened(facts, opened("dev-2"))
        assert aggregates.on_deviation_resolved(facts, resolved("dev-1")) is True
        assert aggregates.on_deviation_resolved(facts, resolved("dev-1")) is False
        assert facts.open_deviations == {"dev-2": "meeting.facilitator_absent|warning"}
        assert facts.opened == {"meeting.facilitator_absent|warning": 2}

    def test_resolving_an_unknown_deviation_changes_nothing(self) -> None:
        facts = GroupFacts()
        assert aggregates.on_deviation_resolved(facts, resolved("dev-x")) is False
        assert facts == GroupFacts()

    def test_redelivered_open_after_resolve_does_not_reopen(self) -> None:
        facts = GroupFacts()
        aggregates.on_deviation_opened(facts, opened("dev-1"))
        aggregates.on_deviation_resolved(facts, resolved("dev-1"))
        assert aggregates.on_deviation_opened(facts, opened("dev-1")) is False
        assert facts.open_deviations == {}
        assert facts.opened == {"meeting.facilitator_absent|warning": 1}


class TestJson:
    def test_round_trip_through_json(self) -> None:
        facts = GroupFacts()
        aggregates.on_meeting(facts, meeting("r-1"))
        aggregates.on_deviation_opened(facts, opened("dev-1"))
        restored = GroupFacts.from_json(json.loads(json.dumps(facts.to_json())))
        assert restored == facts
        assert aggregates.on_meeting(restored, meeting("r-1")) is False

    @pytest.mark.parametrize("empty", [None, {}])
    def test_from_nothing(self, empty: dict | None) -> None:
        assert GroupFacts.from_json(empty) == GroupFacts()


class TestTotals:
    def test_sums_per_label_tuple_across_groups(self) -> None:
        a, b, c = GroupFacts(), GroupFacts(), GroupFacts()
        for n in range(3):
            aggregates.on_meeting(a, meeting(f"a-{n}", group="G-A", region="18.71.01.1001"))
        for n in range(2):
            aggregates.on_meeting(b, meeting(f"b-{n}", group="G-B", region="18.72.03.2001"))
        aggregates.on_meeting(c, meeting("c-0", group="G-C", programme="ssk-pokja", region="91.01.01.1001"))
        aggregates.on_deviation_opened(a, opened("dev-a1", group="G-A"))
        aggregates.on_deviation_opened(a, opened("dev-a2", group="G-A", severity="critical"))
        aggregates.on_deviation_opened(b, opened("dev-b1", group="G-B", region="18.72.03.2001"))
        aggregates.on_deviation_resolved(a, resolved("dev-a1", group="G-A"))

        summed = totals([a, b, c])
        assert summed.get(aggregates.MEETINGS) == {("pkh-p2k2", "18"): 5, ("ssk-pokja", "91"): 1}
        assert summed.get(aggregates.OPENED) == {
            ("meeting.facilitator_absent", "warning", "pkh-p2k2", "18"): 2,
            ("meeting.facilitator_absent", "critical", "pkh-p2k2", "18"): 1,
        }
        assert summed.get(aggregates.OPEN) == {
            ("meeting.facilitator_absent", "warning", "pkh-p2k2", "18"): 1,
            ("meeting.facilitator_absent", "critical", "pkh-p2k2", "18"): 1,
        }

    def test_no_groups_no_series(self) -> None:
        summed = totals([])
        assert summed.series == {}

    def test_group_without_meetings_adds_no_meeting_series(self) -> None:
        facts = GroupFacts()
        aggregates.on_deviation_opened(facts, opened("dev-1"))
        summed = totals([facts])
        assert summed.get(aggregates.MEETINGS) == {}
        assert sum(summed.get(aggregates.OPENED).values()) == 1

    @settings(max_examples=100, deadline=None)
    @given(
        events=st.lists(
            st.tuples(
                st.sampled_from(["G-0001", "G-0002", "G-0003"]),
                st.sampled_from(["meeting", "open", "resolve"]),
                st.integers(0, 6),
                st.sampled_from(["warning", "critical"]),
                st.sampled_from(["18.71.01.1001", "32.01.02.2002", "94.01.01.1001"]),
            ),
            max_size=60,
        )
    )
    def test_labels_are_bounded_and_never_ids(self, events: list[tuple[str, str, int, str, str]]) -> None:
        groups: dict[str, GroupFacts] = {}
        for group, kind, n, severity, region in events:
            facts = groups.setdefault(group, GroupFacts())
            if kind == "meeting":
                aggregates.on_meeting(facts, meeting(f"r-{group}-{n}", group=group, region=region))
            elif kind == "open":
                aggregates.on_deviation_opened(
                    facts,
                    opened(f"dev-{group}-{n}", group=group, severity=severity, region=region, facilitator="F-7777"),
                )
            else:
                aggregates.on_deviation_resolved(facts, resolved(f"dev-{group}-{n}", group=group))
        summed = totals(list(groups.values()))
        meetings, opened_series, open_now = (
            summed.get(m) for m in (aggregates.MEETINGS, aggregates.OPENED, aggregates.OPEN)
        )
        forbidden = {*groups, "F-7777", "F-001"}
        labels = [key for metric in summed.series.values() for key in metric]
        for label in labels:
            assert not forbidden & set(label)
            assert not any("G-" in value or "dev-" in value or value.startswith("r-") for value in label)
        assert all(province in {"18", "32", "94"} for _, province in meetings)
        assert all(
            (rule, severity) in {("meeting.facilitator_absent", "warning"), ("meeting.facilitator_absent", "critical")}
            for rule, severity, _, _ in [*opened_series, *open_now]
        )
        # Counts are consistent: open now never exceeds opened, per label.
        for label, count in open_now.items():
            assert count <= opened_series[label]
        # Meetings equal distinct report ids per group.
        distinct = {(g, n) for g, kind, n, _, _ in events if kind == "meeting"}
        assert sum(meetings.values()) == len(distinct)


def test_meeting_sample_is_unchanged_by_folding() -> None:
    """Folding never mutates the (frozen) event it reads."""
    sample = meeting("r-1")
    before = sample.model_dump()
    aggregates.on_meeting(GroupFacts(), sample)
    assert sample.model_dump() == before
    assert sample.ended_at - sample.started_at == timedelta(hours=2)
