"""docs/reliability.md's table from fault runs (pure)."""

from __future__ import annotations

import pytest

from tools.faults.cases import CaseResult
from tools.faults.report import CaseDoc, render, summarise

pytestmark = pytest.mark.unit

DOC = CaseDoc("x-kill", "x: `kill -9`", "it proves this.", "it does not prove that.")


def test_a_row_sums_runs_and_counts_failures_and_errors() -> None:
    results: list[CaseResult | BaseException] = [
        CaseResult("x", 0, 0, 2, 10.0),
        CaseResult("x", 3, 1, 0, 30.0, "missing a, b, c"),
        TimeoutError("committed 5 of 9"),
    ]
    row = summarise(DOC, results)
    assert (row.runs, row.failed_runs, row.lost, row.extra, row.republished) == (3, 2, 3, 1, 2)
    assert row.catch_up == (10.0, 30.0)
    assert row.errors == ("TimeoutError: committed 5 of 9",)
    assert row.details == ("missing a, b, c",)


def test_the_page_has_one_row_per_case_and_says_what_each_proves() -> None:
    row = summarise(DOC, [CaseResult("x", 0, 0, 0, 12.0), CaseResult("x", 0, 0, 1, 20.0)])
    page = render([row], command="uv run python -m tools.faults", shape="scale 0.001", machine="a box")
    assert "| x: `kill -9` | 2 | 0 | 0 | 0 | 1 | 20 s (max 20 s) |" in page
    assert "Proves: it proves this." in page
    assert "Does not prove: it does not prove that." in page
    assert "Failures seen" not in page


def test_failures_are_listed_under_their_case() -> None:
    row = summarise(DOC, [RuntimeError("every worker died")])
    page = render([row], command="c", shape="s", machine="m")
    assert "| x: `kill -9` | 1 | 1 | 0 | 0 | 0 | – |" in page
    assert "- RuntimeError: every worker died" in page


def test_findings_come_after_the_table() -> None:
    row = summarise(DOC, [CaseResult("x", 0, 0, 0, 1.0)])
    page = render([row], command="c", shape="s", machine="m", findings="## Found\n\n- a cause.")
    assert page.index("| x: `kill -9` |") < page.index("## Found") < page.index("### x: `kill -9`")


def test_a_row_survives_its_record_so_pages_can_merge_runs_of_different_days() -> None:
    from tools.faults.report import Row

    row = summarise(DOC, [CaseResult("x", 1, 0, 2, 12.5), RuntimeError("never caught up")], measured_on="2026-12-02")
    again = Row.from_json(DOC, row.to_json())
    assert again == row
    page = render([again], command="c", shape="s", machine="m")
    assert "| 2026-12-02 |" in page
