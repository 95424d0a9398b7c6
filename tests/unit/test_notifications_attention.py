"""Who needs the supervisor (pure): the few incidents nobody has in hand that show a pattern or
something serious, with why in words; a single warning is for information, info never counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifications.attention import Verdict, groups_needing_attention, judge, why

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def item(
    group_id: str, rule: str = "meeting.low_attendance", severity: str = "warning", **extra: Any
) -> dict[str, Any]:
    return {"deviation_id": f"{rule}|{group_id}", "group_id": group_id, "rule": rule, "severity": severity, **extra}


def incident(incident_id: str, *items: dict[str, Any], facilitator_id: str = "PDP-1", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "incident_id": incident_id,
        "facilitator_id": facilitator_id,
        "status": "open",
        "snoozed_until": None,
        "severity": "warning",
        "detected_at": NOW - timedelta(hours=1),
        "items": list(items),
    }
    return row | extra


def test_a_single_warning_is_for_information_and_info_only_never_counts() -> None:
    verdicts = judge(
        [
            incident("one", item("KLP-1")),
            incident("info", item("KLP-2", "reporting.lagging", "info"), facilitator_id="PDP-2"),
        ],
        NOW,
    )
    assert verdicts == {"one": Verdict("for_information"), "info": Verdict("for_information")}
    assert groups_needing_attention(verdicts) == set()


def test_a_facilitator_with_problems_in_three_groups_stands_out_across_incidents() -> None:
    # Grouped per group: three incidents of one facilitator make the pattern together.
    rows = [incident(f"i{n}", item(f"KLP-{n}")) for n in (1, 2, 3)]
    rows.append(incident("other", item("KLP-9"), facilitator_id="PDP-2"))
    verdicts = judge(rows, NOW)
    assert [verdicts[f"i{n}"].reasons for n in (1, 2, 3)] == [("many_groups",)] * 3
    assert verdicts["other"].tier == "for_information"
    assert groups_needing_attention(verdicts) == {"KLP-1", "KLP-2", "KLP-3"}
    assert why(verdicts["i1"], {}) == {
        "id": "Mengapa: masalah di 3 kelompok sekaligus.",
        "en": "Why: problems in 3 groups at once.",
    }


def test_one_group_with_several_problems_needs_you_and_names_the_group() -> None:
    verdicts = judge(
        [incident("two", item("KLP-1"), item("KLP-1", "meeting.facilitator_absent"), item("KLP-2"))],
        NOW,
    )
    assert verdicts["two"].reasons == ("several_problems",)
    assert groups_needing_attention(verdicts) == {"KLP-1"}  # KLP-2's one warning stays the facilitator's
    assert why(verdicts["two"], {"KLP-1": "Kelompok Mawar"}) == {
        "id": "Mengapa: Kelompok Mawar punya 2 masalah sekaligus.",
        "en": "Why: Kelompok Mawar has 2 problems at once.",
    }


def test_the_same_rule_twice_in_one_group_is_not_several_problems() -> None:
    verdicts = judge([incident("same", item("KLP-1"), {**item("KLP-1"), "deviation_id": "again"})], NOW)
    assert verdicts["same"].tier == "for_information"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (item("KLP-1", "meeting.overdue", "critical"), "critical"),
        (item("KLP-1", "facilitator.devices_silent"), "facilitator_signal"),
    ],
    ids=["critical", "facilitator signal"],
)
def test_something_critical_or_a_signal_about_the_facilitator_needs_you(extra: dict[str, Any], reason: str) -> None:
    verdicts = judge([incident("serious", extra)], NOW)
    assert verdicts["serious"].reasons == (reason,)
    assert verdicts["serious"].needs_you


def test_resolved_items_do_not_count() -> None:
    cleared = [item(f"KLP-{n}", resolved_at=NOW.isoformat()) for n in (1, 2)]
    verdicts = judge([incident("cleared", *cleared, item("KLP-3"))], NOW)
    assert verdicts["cleared"].tier == "for_information"


def test_acknowledged_or_put_aside_is_in_hand_and_does_not_make_a_pattern() -> None:
    rows = [
        incident("ack", item("KLP-1"), item("KLP-2"), status="acknowledged"),
        incident("aside", item("KLP-3"), snoozed_until=NOW + timedelta(days=1)),
        incident("open", item("KLP-4")),
        incident("over", item("KLP-5"), status="resolved"),
    ]
    verdicts = judge(rows, NOW)
    assert {key: verdict.tier for key, verdict in verdicts.items()} == {
        "ack": "in_hand",
        "aside": "put_aside",
        "open": "for_information",  # the other two are in hand: one group left, no pattern
    }


def test_a_snooze_that_ran_out_is_back_in_the_queue() -> None:
    rows = [incident("back", item("KLP-1", severity="critical"), snoozed_until=NOW - timedelta(minutes=1))]
    assert judge(rows, NOW)["back"].needs_you
