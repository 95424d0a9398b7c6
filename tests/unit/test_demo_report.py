"""The demo's end-of-run summary (pure): messages per 100 groups per month, incident recall against
the oracle, items that cleared before anyone was told, and no blip messaged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tools.demo import demo_report, settled

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)


def item(deviation_id: str, *, severity: str = "warning", cleared_after: float | None = None, **extra: Any) -> dict:
    resolved = None if cleared_after is None else (AT + timedelta(seconds=cleared_after)).isoformat()
    return {
        "deviation_id": deviation_id,
        "rule": extra.get("rule", "plan.activity_overdue"),
        "severity": severity,
        "opened_at": AT.isoformat(),
        "resolved_at": resolved,
    }


def incident(incident_id: str, status: str, *items: dict, over_after: float | None = None) -> dict:
    return {
        "incident_id": incident_id,
        "status": status,
        "items": list(items),
        "detected_at": AT.isoformat().replace("+00:00", "Z"),
        "resolved_at": None if over_after is None else (AT + timedelta(seconds=over_after)).isoformat(),
    }


def test_items_cleared_inside_the_group_wait_count_as_recalled_and_are_not_messaged() -> None:
    incidents = [
        incident("told", "open", item("a"), item("b", cleared_after=3)),
        # Only info stays open: nobody is told; the plan item opened and cleared in 4 seconds.
        incident(
            "quiet", "pending", item("late", severity="info", rule="reporting.lagging"), item("c", cleared_after=4)
        ),
        incident("blip", "dismissed", item("d", cleared_after=2), over_after=2),
    ]
    report = demo_report(
        expected_ids={"a", "b", "c", "d"},
        deliveries=[{"type": "alert.opened", "alert_id": "told", "incident_id": "told"}],
        incidents=incidents,
        groups=400,
        months=1,
    )
    assert (report.told, report.cleared_before_told, report.held, report.missing) == (2, 2, 0, ())
    assert report.recall == 1.0
    assert report.longest_cleared_seconds == 4
    assert (report.blips, report.blips_messaged) == (1, 0)
    assert report.messages_per_100_groups_month == 0.25
    assert report.info_items == {"reporting.lagging": 1}
    assert report.truthful


def test_a_blip_that_was_messaged_a_missing_deviation_or_too_many_messages_is_not_truthful() -> None:
    messaged_blip = demo_report(
        expected_ids={"a"},
        deliveries=[{"type": "alert.opened", "alert_id": "fast"}],
        incidents=[incident("fast", "resolved", item("a", cleared_after=20), over_after=20)],
        groups=100,
        months=1,
    )
    assert (messaged_blip.blips_messaged, messaged_blip.truthful) == (1, False)
    missing = demo_report(expected_ids={"a", "z"}, deliveries=[], incidents=[], groups=100, months=1)
    assert (missing.missing, missing.recall, missing.truthful) == (("a", "z"), 0.0, False)
    noisy = demo_report(
        expected_ids=set(), deliveries=[{"alert_id": str(n)} for n in range(11)], incidents=[], groups=100, months=1
    )
    assert (noisy.messages_per_100_groups_month, noisy.truthful) == (11.0, False)


def test_settled_waits_for_every_item_and_for_incidents_inside_their_group_wait() -> None:
    waiting = [incident("new", "pending", item("a"))]
    assert not settled({"a"}, waiting)
    assert not settled({"a", "b"}, [incident("told", "open", item("a"))])
    assert settled({"a"}, [incident("quiet", "pending", item("a", cleared_after=3))])
