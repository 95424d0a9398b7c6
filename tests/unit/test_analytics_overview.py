"""The programme manager's page (pure): compliance by province → kabupaten → facilitator, the trend,
deviations by rule and acknowledgement times, at fixed instants."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from services.analytics import aggregates
from services.analytics.aggregates import SupervisorFacts
from services.analytics.overview import shift_period
from services.analytics.state import AnalyticsState
from services.analytics.views import ReportViews
from shared.auth import mint_token
from shared.events import AlertAcknowledged
from shared.settings import AuthSettings
from tests.samples import SAMPLES
from tests.unit.analytics_month import DIRECTORY, EARLY, FACILITATOR, READ_AT, table

pytestmark = pytest.mark.unit

AUTH = AuthSettings()


def views_at(now: datetime) -> ReportViews:
    groups = table()
    state = AnalyticsState()
    state.rebuild_groups(groups.items(), active=set(range(12)))
    ack = SAMPLES[AlertAcknowledged]
    assert isinstance(ack, AlertAcknowledged)
    supervisor = SupervisorFacts(partition=0)
    for number, seconds in enumerate((600.0, 7200.0)):
        aggregates.on_alert_acknowledged(
            supervisor,
            ack.model_copy(update={"alert_id": f"a-{number}", "ack_seconds": seconds, "severity": "warning"}),
        )
    state.supervisor_changed(None, supervisor)
    return ReportViews(state=state, group=groups.get, auth=AUTH, partitions=12, directory=DIRECTORY, clock=lambda: now)


def token(role: str = "admin", subject: str = "manager", scope: str = "*") -> str:
    return mint_token(AUTH, subject=subject, role=role, scope=scope)  # type: ignore[arg-type]


def document(query: dict[str, str], now: datetime = READ_AT) -> dict:  # type: ignore[type-arg]
    reply = views_at(now).overview({**query, "format": "json", "token": token()}, {})
    assert reply.status == 200, reply.body
    return dict(orjson.loads(reply.body))


def test_provinces_then_kabupaten_then_facilitators() -> None:
    national = document({"period": "2026-11"})
    assert [(row["name"], row["groups_due"], row["groups_met_on_schedule"]) for row in national["rows"]] == [
        ("Lampung", 2, 1)
    ]
    province = document({"period": "2026-11", "region": "18"})
    assert [(row["code"], row["name"]) for row in province["rows"]] == [("18.71", "Kota Bandar Lampung")]
    kabupaten = document({"period": "2026-11", "region": "18.71"})
    assert kabupaten["level"] == "facilitator"
    [siti] = kabupaten["rows"]
    assert (siti["code"], siti["name"], siti["groups_due"], siti["groups_not_met"]) == (
        FACILITATOR,
        "Siti Rahmawati",
        2,
        1,
    )


def test_the_trend_covers_six_months_and_a_month_with_nothing_due_has_no_ratio() -> None:
    trend = document({"period": "2026-12"})["trend"]
    assert [month["period"] for month in trend] == [shift_period("2026-12", -n) for n in range(5, -1, -1)]
    by_month = {month["period"]: month for month in trend}
    assert by_month["2026-11"]["compliance_ratio"] == 0.5
    assert by_month["2026-12"]["compliance_ratio"] is None  # the quarter is due on the 10th: still open
    assert by_month["2026-07"]["groups_scheduled"] == 0


def test_before_any_due_time_nobody_has_failed() -> None:
    national = document({"period": "2026-11"}, now=EARLY)
    [lampung] = national["rows"]
    assert (lampung["groups_due"], lampung["groups_not_met"], lampung["groups_open"]) == (0, 0, 2)
    assert lampung["compliance_ratio"] is None


def test_deviations_by_rule_and_acknowledgement_times() -> None:
    page = document({"period": "2026-11"})
    assert sorted(page["deviations"], key=lambda d: d["rule"]) == [
        {"rule": "meeting.low_attendance", "opened": 1, "open": 0},
        {"rule": "plan.activity_at_risk", "opened": 1, "open": 0},
    ]
    [warning] = page["acknowledgements"]
    assert (warning["severity"], warning["count"], warning["mean_seconds"], warning["within_hour_ratio"]) == (
        "warning",
        2,
        3900.0,
        0.5,
    )


def test_the_page_is_in_words_and_links_down_with_the_token() -> None:
    admin = token()
    html = views_at(READ_AT).overview({"period": "2026-11", "token": admin}, {}).body.decode()
    assert "Pantau — ringkasan program: Indonesia, November 2026" in html
    assert f"token={admin}&amp;period=2026-11&amp;region=18" in html  # the drill-down keeps the token
    assert "Lampung</a>" in html
    svg = html.split("<svg", 1)[1].split("</svg>")[0]
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # inline, nothing fetched
    assert "<script" not in html
    assert "Kehadiran anggota rendah" in html
    assert "meeting.low_attendance" not in html
    assert "1 jam" in html  # the mean acknowledgement time, in words
    english = views_at(READ_AT).overview({"period": "2026-11", "token": token(), "lang": "en"}, {}).body.decode()
    assert "Pantau — programme overview: Indonesia, November 2026" in english


def test_supervisors_see_their_scope_and_facilitators_none() -> None:
    views = views_at(READ_AT)
    outside = views.overview({"period": "2026-11", "region": "32", "token": token("supervisor", "S-1", "18")}, {})
    assert outside.status == 403
    own = views.overview({"period": "2026-11", "token": token("supervisor", "S-1", "18"), "format": "json"}, {})
    assert orjson.loads(own.body)["region"] == "18"
    assert (
        views.overview({"period": "2026-11", "token": token("facilitator", FACILITATOR, FACILITATOR)}, {}).status == 403
    )
    assert views.overview({"period": "2026-11"}, {}).status == 401
    bad = views.overview({"period": "2026-13", "token": token()}, {})
    assert orjson.loads(bad.body)["errors"][0]["field"] == "period"
    assert views.overview({"token": token(), "format": "json"}, {}).status == 200  # the current month by default
