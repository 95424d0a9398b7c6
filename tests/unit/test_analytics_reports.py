"""The reports: documents, CSV, the printable page and the HTTP handlers' rules (pure, no I/O)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from services.analytics import aggregates, monthly
from services.analytics.aggregates import GroupFacts
from services.analytics.directory import Directory
from services.analytics.state import AnalyticsState
from services.analytics.views import ReportViews
from shared.auth import mint_token
from shared.events import DeviationOpened, EvaluationSubmitted, MeetingRecorded, MeetingScheduled
from shared.settings import AuthSettings
from tests.samples import SAMPLES

pytestmark = pytest.mark.unit

AUTH = AuthSettings()
DUE = datetime(2026, 11, 10, 16, 59, 59, tzinfo=UTC)
READ_AT = datetime(2026, 12, 2, 1, 14, tzinfo=UTC)  # 2 December: November's due time has passed
NAMES = {
    "region:18": {"name": "Lampung", "level": "provinsi"},
    "region:18.71": {"name": "Kota Bandar Lampung", "level": "kabupaten"},
    "facilitator:F-001": {"name": "Siti Rahmawati"},
    "group:G-1": {"name": "Kelompok Mawar", "cadence": "monthly"},
}


def group(group_id: str, village: str, *, met: bool | None, facilitator: str = "F-001") -> GroupFacts:
    """A group due in November 2026 that met on time (True), late (False) or not at all (None)."""
    scheduled, recorded = SAMPLES[MeetingScheduled], SAMPLES[MeetingRecorded]
    assert isinstance(scheduled, MeetingScheduled)
    assert isinstance(recorded, MeetingRecorded)
    facts = GroupFacts(partition=0)
    place = {"group_id": group_id, "region_code": village, "facilitator_id": facilitator}
    aggregates.on_meeting_scheduled(facts, scheduled.model_copy(update=place))
    if met is not None:
        started = DUE - timedelta(days=1) if met else DUE + timedelta(days=2)
        aggregates.on_meeting(
            facts,
            recorded.model_copy(
                update={**place, "report_id": f"r-{group_id}", "started_at": started, "module": "Gizi <b>"}
            ),
        )
    return facts


@pytest.fixture
def table() -> dict[str, GroupFacts]:
    groups = {
        "G-1": group("G-1", "18.71.01.1001", met=True),
        "G-2": group("G-2", "18.71.02.1001", met=False),
        "G-3": group("G-3", "18.72.01.1001", met=None),
        "G-4": group("G-4", "32.01.01.1001", met=True, facilitator="F-002"),
    }
    opened, evaluation = SAMPLES[DeviationOpened], SAMPLES[EvaluationSubmitted]
    assert isinstance(opened, DeviationOpened)
    assert isinstance(evaluation, EvaluationSubmitted)
    aggregates.on_deviation_opened(groups["G-1"], opened.model_copy(update={"group_id": "G-1"}))
    aggregates.on_evaluation(groups["G-1"], evaluation.model_copy(update={"group_id": "G-1"}))
    return groups


@pytest.fixture
def views(table: dict[str, GroupFacts]) -> ReportViews:
    state = AnalyticsState()
    state.rebuild_groups(table.items(), active=set(range(12)))
    return ReportViews(
        state=state, group=table.get, auth=AUTH, partitions=12, directory=Directory(NAMES.get), clock=lambda: READ_AT
    )


def bearer(role: str, subject: str = "u-1", scope: str = "*") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AUTH, subject=subject, role=role, scope=scope)}"}  # type: ignore[arg-type]


def test_compliance_by_province_and_kabupaten(views: ReportViews) -> None:
    reply = views.compliance({"period": "2026-11", "level": "province"}, bearer("admin"))
    assert reply.status == 200
    document = orjson.loads(reply.body)
    rows = {row["region_code"]: row for row in document["rows"]}
    assert (rows["18"]["groups_met_on_schedule"], rows["18"]["groups_due"]) == (1, 3)
    assert (rows["18"]["groups_met_late"], rows["18"]["groups_not_met"], rows["18"]["groups_open"]) == (1, 1, 0)
    assert (rows["18"]["region_name"], rows["32"]["region_name"]) == ("Lampung", "Jawa Barat")  # registry; official
    assert rows["32"]["compliance_ratio"] == 1.0
    total = document["total"]
    assert (total["groups_due"], total["groups_met_on_schedule"], total["compliance_ratio"]) == (4, 2, 0.5)
    assert document["as_of"] == "2026-12-02T01:14:00Z"

    reply = views.compliance({"period": "2026-11", "level": "kabupaten", "region": "18", "format": "csv"}, {})
    assert reply.status == 401
    reply = views.compliance(
        {"period": "2026-11", "level": "kabupaten", "region": "18"}, {**bearer("admin"), "Accept": "text/csv"}
    )
    assert reply.content_type.startswith("text/csv")
    rows_csv = list(csv.DictReader(io.StringIO(reply.body.decode())))
    assert [(r["region_code"], r["region_name"], r["groups_due"], r["groups_met_on_schedule"]) for r in rows_csv] == [
        ("18.71", "Kota Bandar Lampung", "2", "1"),
        ("18.72", "wilayah 18.72", "1", "0"),
    ]


def test_before_any_due_time_the_month_shows_no_failure(table: dict[str, GroupFacts]) -> None:
    """Read on 2 November 08.00 WIB, eight days before anything is due: all open, nothing failed."""
    state = AnalyticsState()
    state.rebuild_groups(table.items(), active=set(range(12)))
    early = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    views = ReportViews(state=state, group=table.get, auth=AUTH, partitions=12, clock=lambda: early)
    document = orjson.loads(views.compliance({"period": "2026-11"}, bearer("admin")).body)
    total = document["total"]
    assert (total["groups_due"], total["groups_not_met"], total["groups_open"]) == (0, 0, 4)
    assert total["compliance_ratio"] is None
    assert all(row["compliance_ratio"] is None and row["groups_not_met"] == 0 for row in document["rows"])
    page = views.compliance({"period": "2026-11", "format": "html"}, bearer("admin")).body.decode()
    assert "Belum ada kelompok yang batas waktu pertemuannya lewat" in page


def test_compliance_as_a_printable_page(views: ReportViews) -> None:
    reply = views.compliance({"period": "2026-11", "region": "18", "format": "html"}, bearer("admin"))
    assert reply.status == 200
    assert reply.content_type.startswith("text/html")
    page = reply.body.decode()
    assert "Kepatuhan jadwal pertemuan — Lampung, November 2026" in page
    assert "Dari 3 kelompok yang batas waktunya sudah lewat, 1 bertemu tepat waktu (33%)" in page
    assert "2 Desember 2026, 08.14 WIB" in page
    assert "PKH — Pertemuan Peningkatan Kemampuan Keluarga (P2K2)" in page
    assert "pkh-p2k2" not in page
    english = views.compliance({"period": "2026-11", "format": "html", "lang": "en"}, {**bearer("admin")})
    assert "Meeting schedule compliance — Indonesia, November 2026" in english.body.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [({"period": "2026-13"}, "period"), ({"period": "2026-11", "level": "desa"}, "level"), ({}, "period")],
)
def test_invalid_requests_name_the_field(views: ReportViews, query: dict[str, str], field: str) -> None:
    reply = views.compliance(query, bearer("admin"))
    assert reply.status == 422
    assert orjson.loads(reply.body)["errors"][0]["field"] == field


def test_supervisors_see_their_scope_only(views: ReportViews) -> None:
    supervisor = bearer("supervisor", "S-1871", "18.71")
    reply = views.compliance({"period": "2026-11", "level": "kabupaten"}, supervisor)
    assert [row["region_code"] for row in orjson.loads(reply.body)["rows"]] == ["18.71"]
    assert views.compliance({"period": "2026-11", "level": "province", "region": "32"}, supervisor).status == 403
    assert views.compliance({"period": "2026-11"}, bearer("facilitator", "F-001", "F-001")).status == 403


def test_partial_worker_refuses_reports(table: dict[str, GroupFacts]) -> None:
    state = AnalyticsState()
    state.rebuild_groups(table.items(), active={0, 1, 2})
    views = ReportViews(state=state, group=table.get, auth=AUTH, partitions=12)
    reply = views.compliance({"period": "2026-11"}, bearer("admin"))
    assert reply.status == 503
    assert "[0, 1, 2]" in orjson.loads(reply.body)["detail"]


def test_facilitator_monthly_report(views: ReportViews) -> None:
    reply = views.facilitator_monthly("F-001", {"period": "2026-11"}, bearer("facilitator", "F-001", "F-001"))
    assert reply.status == 200
    document = orjson.loads(reply.body)
    assert [g["group_name"] for g in document["groups"]] == ["G-2", "G-3", "Kelompok Mawar"]  # by name
    summary = document["summary"]
    assert summary["meetings"] == 2
    assert summary["meetings_per_module"] == {"Gizi <b>": 2}
    assert (summary["groups_met_on_schedule"], summary["groups_due"]) == (1, 3)
    assert summary["deviations_opened"] == 1
    assert document["groups"][2]["deviations"][0]["status"] == "open"
    assert document["groups"][2]["evaluations"][0]["direction"] == "group_rates_facilitator"

    other = views.facilitator_monthly("F-001", {"period": "2026-11"}, bearer("facilitator", "F-002", "F-002"))
    assert other.status == 403
    outside = views.facilitator_monthly("F-001", {"period": "2026-11"}, bearer("supervisor", "S-32", "32"))
    assert outside.status == 403

    page = views.facilitator_monthly("F-001", {"period": "2026-11", "format": "html"}, bearer("admin"))
    assert page.content_type.startswith("text/html")
    html = page.body.decode()
    assert "Laporan Bulanan" in html
    assert "Kelompok Mawar" in html
    assert "Gizi &lt;b&gt;" in html
    assert "Gizi <b>" not in html
    assert "@media print" in html


def test_a_facilitator_nobody_knows_has_no_report(views: ReportViews) -> None:
    reply = views.facilitator_monthly("F-NONE", {"period": "2026-11"}, bearer("admin"))
    assert reply.status == 404
    assert reply.content_type == "application/problem+json"
    assert orjson.loads(reply.body)["errors"][0]["field"] == "facilitator_id"


@pytest.mark.parametrize("period", ["0001-11", "1999-12", "2100-01", "2026-13"])
def test_an_implausible_period_is_refused(views: ReportViews, period: str) -> None:
    for reply in (
        views.facilitator_monthly("F-001", {"period": period}, bearer("admin")),
        views.compliance({"period": period}, bearer("admin")),
    ):
        assert reply.status == 422
        assert orjson.loads(reply.body)["errors"][0]["field"] == "period"


def test_report_for_a_month_without_facts_is_empty() -> None:
    document = monthly.facilitator_report("F-009", "2026-01", [], now=READ_AT)
    assert document["groups"] == []
    assert document["summary"]["attendance_ratio"] is None
