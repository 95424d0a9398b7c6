"""The meetings fault case's judgement (`tools.faults.meetings.judge`): what reached
`meetings.events` against what the phones had accepted, in order."""

from __future__ import annotations

from typing import Any

from tools.faults.meetings import RECORDED, SCHEDULED, Published, distinct_events, judge


def _recorded(offset: int, group: str, report: str, event_id: str | None = None) -> Published:
    return Published(0, offset, group, event_id or f"ev-{report}", RECORDED, {"report_id": report})


def _scheduled(offset: int, group: str, event_id: str, period: str = "2026-03") -> Published:
    data: dict[str, Any] = {"period": period, "due_at": "2026-03-10T16:59:59+00:00"}
    return Published(0, offset, group, event_id, SCHEDULED, data)


def test_every_report_once_in_order_is_clean() -> None:
    records = [_recorded(0, "G1", "r1"), _recorded(1, "G1", "r2"), _scheduled(2, "G1", "s1")]
    verdict = judge({"G1": ["r1", "r2"]}, records)
    assert (verdict.lost, verdict.extra, verdict.republished) == (0, 0, 0)


def test_a_re_publication_under_the_same_id_is_allowed_and_counted() -> None:
    records = [_recorded(0, "G1", "r1"), _recorded(1, "G1", "r1"), _recorded(2, "G1", "r2")]
    verdict = judge({"G1": ["r1", "r2"]}, records)
    assert (verdict.lost, verdict.extra, verdict.republished) == (0, 0, 1)


def test_a_missing_report_is_lost() -> None:
    verdict = judge({"G1": ["r1", "r2"]}, [_recorded(0, "G1", "r1")])
    assert (verdict.lost, verdict.extra) == (1, 0)
    assert "lost: 1 (e.g. r2)" in verdict.detail


def test_a_report_under_a_new_id_a_report_never_accepted_and_a_group_out_of_order_are_extra() -> None:
    records = [
        _recorded(0, "G1", "r2"),
        _recorded(1, "G1", "r1"),  # G1 out of order
        _recorded(2, "G2", "q1"),
        _recorded(3, "G2", "q1", event_id="other"),  # a second identity
        _recorded(4, "G2", "ghost"),  # never accepted by a phone
    ]
    verdict = judge({"G1": ["r1", "r2"], "G2": ["q1"]}, records)
    assert verdict.lost == 0
    assert verdict.extra == 3


def test_a_meeting_scheduled_twice_is_extra() -> None:
    records = [_recorded(0, "G1", "r1"), _scheduled(1, "G1", "s1"), _scheduled(2, "G1", "s2")]
    assert judge({"G1": ["r1"]}, records).extra == 1


def test_the_reader_counts_a_re_published_report_once() -> None:
    # Two reports accepted, one of them published twice: the reader must wait for the second report
    # (it may still sit in the restarted process's outbox), not stop at two records.
    records = [_recorded(0, "G1", "r1"), _recorded(1, "G1", "r1"), _scheduled(2, "G1", "s1")]
    assert distinct_events(records, RECORDED) == 1
    assert distinct_events([*records, _recorded(3, "G1", "r2")], RECORDED) == 2
