"""Every rule monitoring publishes gets its own specific text in both languages, short enough for a
phone notification; plus the working calendar (quiet hours, rest days, holidays, time zones)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from services.notifications.calendar import (
    DEFAULT_HOLIDAYS_FILE,
    WorkingCalendar,
    load_holidays,
    supervisor_time_zone,
    weekday_numbers,
)
from services.notifications.messages import MAX_CHARS, RENDERERS, AlertContext, fit, render, render_digest

pytestmark = pytest.mark.unit

# The detail keys each rule publishes (services/monitoring/rules/*.py), with realistic values; the
# expected fragments prove the text uses them.
RULES: dict[str, tuple[dict[str, object], list[str], list[str]]] = {
    "meeting.facilitator_absent": (
        {"led_by": "chair", "meeting_started_at": "2026-11-10T02:00:00+00:00", "absences_in_a_row": 2},
        ["tanpa pendamping", "2 kali berturut-turut", "pukul 09.00 WIB"],
        ["without facilitator", "2 times in a row", "09:00 WIB"],
    ),
    "meeting.overdue": (
        {"period": "2026-11", "due_at": "2026-11-10T02:00:00+00:00", "time_zone": "Asia/Jakarta", "days_overdue": 7},
        ["Belum ada laporan", "periode November 2026", "10 November 2026", "7 hari terlambat"],
        ["No meeting report", "period November 2026", "10 November 2026", "7 days late"],
    ),
    "meeting.low_attendance": (
        {
            "present": 4,
            "members": 20,
            "attendance_ratio": 0.2,
            "threshold_ratio": 0.6,
            "meeting_started_at": "2026-11-10T02:00:00+00:00",
        },
        ["4 dari 20 anggota", "20%", "minimal 60%"],
        ["Only 4 of 20 members", "20%", "minimum 60%"],
    ),
    "meeting.too_short": (
        {
            "duration_minutes": 25.0,
            "expected_minutes": 120,
            "minimum_minutes": 60.0,
            "meeting_started_at": "2026-11-10T02:00:00+00:00",
        },
        ["25 menit", "rencananya 120 menit", "minimal 60"],
        ["25 minutes", "120 were planned", "minimum 60"],
    ),
    "meeting.attendance_declining": (
        {"attendance_ratios": "0.90, 0.75, 0.60", "fall_ratio": 0.3, "margin_ratio": 0.2},
        ["terus menurun", "90% → 75% → 60%", "turun 30 poin"],
        ["keeps falling", "90% → 75% → 60%", "down 30 points"],
    ),
    "plan.activity_overdue": (
        {"activity_title": "Pelatihan pembukuan", "due_on": "2026-10-31", "status": "in_progress"},
        ["'Pelatihan pembukuan'", "31 Oktober 2026", "(sedang berjalan)"],
        ["'Pelatihan pembukuan'", "31 October 2026", "(in progress)"],
    ),
    "plan.activity_at_risk": (
        {"activity_title": "Tabungan kelompok", "due_on": "2026-12-15", "indicator_value": 3, "indicator_target": 10},
        ["berisiko", "15 Desember 2026", "3 dari target 10"],
        ["may miss", "15 December 2026", "3 of 10"],
    ),
    "evaluation.low_score": (
        {"direction": "group_rates_facilitator", "period": "2026-Q3", "mean_score": 1.8, "threshold_score": 2.5},
        ["mendapat nilai rendah", "periode triwulan ke-3 2026", "1,8", "2,5"],
        ["was rated low", "period Q3 2026", "1.8", "2.5"],
    ),
    "recognition.sustained_success": (
        {"periods_in_a_row": 6, "through_period": "2026-10"},
        ["Kabar baik", "6 periode berturut-turut", "sampai Oktober 2026"],
        ["Good news", "6 periods in a row", "through October 2026"],
    ),
    "facilitator.many_groups_deviating": (
        {"groups_deviating": 4, "threshold_groups": 3},
        ["4 kelompok dampingan", "batas 3"],
        ["4 groups of facilitator", "threshold 3"],
    ),
    "reporting.lagging": (
        {"lag_days": 12.5, "max_lag_days": 7, "meeting_started_at": "2026-11-10T02:00:00+00:00"},
        ["12,5 hari kemudian", "batas 7 hari"],
        ["12.5 days later", "limit 7 days"],
    ),
}


def context(rule: str, details: dict[str, object], **names: str) -> AlertContext:
    return AlertContext(
        rule=rule,
        severity="warning",
        group_name=names.get("group", "Kelompok Mawar"),
        village_name=names.get("village", "Kelurahan Pesawahan"),
        facilitator_name=names.get("facilitator", "Siti Rahmawati"),
        details=details,
        time_zone="Asia/Jakarta",
    )


def test_every_rule_has_its_own_text() -> None:
    assert set(RULES) == set(RENDERERS)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_texts_are_specific_in_both_languages(rule: str) -> None:
    details, bahasa, english = RULES[rule]
    message = render(context(rule, details))
    for fragment in bahasa:
        assert fragment in message["id"], message["id"]
    for fragment in english:
        assert fragment in message["en"], message["en"]
    for text in message.values():
        assert "Kelompok Mawar" in text
        assert "Kelurahan Pesawahan" in text
        assert "Siti Rahmawati" in text
        assert "None" not in text


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("kind", ["alert.opened", "alert.escalated", "alert.updated", "alert.resolved"])
def test_texts_fit_a_phone_notification_even_with_long_names(rule: str, kind: str) -> None:
    long_names = {
        "group": "Kelompok Usaha Bersama Sejahtera Mandiri Lestari",
        "village": "Kelurahan Sukamaju Kidul Kecamatan Tanjung Karang Barat",
        "facilitator": "Raden Ajeng Siti Nurhaliza Rahmawati Kusumawardhani",
    }
    message = render(context(rule, RULES[rule][0], **long_names), kind=kind)
    for text in message.values():
        assert len(text) <= MAX_CHARS, (len(text), text)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_missing_details_never_crash(rule: str) -> None:
    message = render(context(rule, {}))
    assert message["id"]
    assert message["en"]


def test_update_kinds_say_what_changed() -> None:
    ctx = context("meeting.overdue", RULES["meeting.overdue"][0])
    assert render(ctx, kind="alert.escalated")["id"].startswith("Belum ditanggapi")
    assert render(ctx, kind="alert.resolved")["en"].startswith("Resolved: ")
    critical = AlertContext(**{**ctx.__dict__, "severity": "critical"})
    assert render(critical)["id"].startswith("KRITIS: ")
    assert render(critical, kind="alert.updated")["en"].startswith("Now CRITICAL: ")


def test_fit_cuts_at_a_word() -> None:
    assert fit("a" * 10) == "a" * 10
    cut = fit("kata " * 100)
    assert len(cut) <= MAX_CHARS
    assert cut.endswith("kata…")


def test_digest_lists_items() -> None:
    items = [{"message": {"id": f"butir {n}", "en": f"item {n}"}} for n in range(7)]
    digest = render_digest(items, language="id")
    assert digest["id"].startswith("Ringkasan harian Pantau: 7 kabar")
    assert "…dan 2 lainnya." in digest["id"]
    assert "…and 2 more." in digest["en"]


# ---------------------------------------------------------------- the working calendar

CALENDAR = WorkingCalendar(holidays=load_holidays(DEFAULT_HOLIDAYS_FILE))


def test_the_shipped_holiday_file_covers_2026_and_2027() -> None:
    holidays = load_holidays(DEFAULT_HOLIDAYS_FILE)
    assert {day.year for day in holidays} == {2026, 2027}
    assert holidays[date(2026, 8, 17)].startswith("Hari Proklamasi")
    assert holidays[date(2027, 12, 25)] == "Hari Raya Natal"
    assert len([day for day in holidays if day.year == 2026]) >= 15


def test_an_edited_calendar_is_read(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text("holidays:\n  - {date: 2026-11-11, name: Libur daerah}\n")
    calendar = WorkingCalendar(holidays=load_holidays(path))
    # 07:30 WITA on that Wednesday: wait until Thursday 07:00 WITA
    assert calendar.next_working_moment(datetime(2026, 11, 10, 23, 30, tzinfo=UTC), "Asia/Makassar") == datetime(
        2026, 11, 11, 23, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # 23:00 WITA Tuesday → 07:00 WITA Wednesday
        (datetime(2026, 11, 10, 15, 0, tzinfo=UTC), "Asia/Makassar", datetime(2026, 11, 10, 23, 0, tzinfo=UTC)),
        # 10:00 WIT Tuesday is working time
        (datetime(2026, 11, 10, 1, 0, tzinfo=UTC), "Asia/Jayapura", datetime(2026, 11, 10, 1, 0, tzinfo=UTC)),
        # 06:59 WIB → 07:00 WIB the same day
        (datetime(2026, 11, 9, 23, 59, tzinfo=UTC), "Asia/Jakarta", datetime(2026, 11, 10, 0, 0, tzinfo=UTC)),
        # Saturday 20:00 WIB → Monday 07:00 WIB (Sunday rests)
        (datetime(2026, 11, 14, 13, 0, tzinfo=UTC), "Asia/Jakarta", datetime(2026, 11, 16, 0, 0, tzinfo=UTC)),
        # Idul Fitri 2026 (20–21 March, Friday–Saturday) then Sunday: Monday 23 March
        (datetime(2026, 3, 19, 14, 0, tzinfo=UTC), "Asia/Jakarta", datetime(2026, 3, 23, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_working_moment(moment: datetime, zone: str, expected: datetime) -> None:
    assert CALENDAR.next_working_moment(moment, zone) == expected


def test_disabled_quiet_hours_never_wait() -> None:
    calendar = WorkingCalendar(enabled=False)
    night = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    assert calendar.next_working_moment(night, "Asia/Makassar") == night


def test_configurable_window_and_rest_days() -> None:
    calendar = WorkingCalendar(start=time(8, 0), end=time(16, 0), rest_weekdays=weekday_numbers(["saturday", "sunday"]))
    friday_evening_wib = datetime(2026, 11, 13, 10, 0, tzinfo=UTC)  # 17:00 WIB
    assert calendar.next_working_moment(friday_evening_wib, "Asia/Jakarta") == datetime(2026, 11, 16, 1, 0, tzinfo=UTC)


def test_digest_slots_are_on_working_days() -> None:
    saturday_noon = datetime(2026, 11, 14, 5, 0, tzinfo=UTC)
    assert CALENDAR.next_local_slot(saturday_noon, "Asia/Jakarta", time(7, 0)) == datetime(
        2026, 11, 16, 0, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("region", "zone"),
    [("18.71", "Asia/Jakarta"), ("73", "Asia/Makassar"), ("94.71", "Asia/Jayapura"), (None, "Asia/Jakarta")],
)
def test_supervisor_time_zone_comes_from_the_province(region: str | None, zone: str) -> None:
    assert supervisor_time_zone(region) == zone
