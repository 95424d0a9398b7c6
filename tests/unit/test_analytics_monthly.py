"""The facilitator's monthly report in words (pure): names, local times in Bahasa format, the cadence
respected, outcomes as sentences — and nothing raw on the page (no ids, enums or UTC timestamps)."""

from __future__ import annotations

import re

import pytest

from services.analytics import monthly
from tests.unit.analytics_month import DIRECTORY, EARLY, FACILITATOR, READ_AT, table

pytestmark = pytest.mark.unit

RAW = [
    re.compile(r"\d{4}-\d{2}-\d{2}T"),  # an ISO timestamp
    re.compile(r"\b(KLP|PDP|kpm|dev|ev|act|plan|r)-[\w-]+"),  # an id
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # an enum value such as activity_done or group_rates_facilitator
    re.compile(r"\b(meeting|plan|evaluation|reporting)\.[a-z_]+"),  # a rule id
    re.compile(r"\b(pkh-p2k2|ssk-pokja|kkbpk-kemitraan)\b"),  # a programme id
]
SEVERITY_TOKENS = re.compile(r"\b(warning|critical)\b")  # raw in a Bahasa page (English words in English)


def report(now=READ_AT, language="id"):  # type: ignore[no-untyped-def]
    return monthly.facilitator_report(
        FACILITATOR, "2026-11", table().items(), now=now, directory=DIRECTORY, language=language
    )


def visible_text(html: str) -> str:
    """What a reader sees: the page without its tags and style."""
    body = html.split("</style>", 1)[1]
    return re.sub(r"<[^>]+>", " ", body)


def test_each_group_says_in_a_sentence_whether_a_meeting_was_due_and_how_it_went() -> None:
    groups = {group["group_name"]: group for group in report()["groups"]}
    assert list(groups) == ["Forum KB Anggrek", "Kelompok Mawar", "Kelompok Melati"]
    assert groups["Kelompok Mawar"]["schedule"] == {
        "state": "on_schedule",
        "due_at": "2026-11-10T16:59:59Z",
        "sentence": "Bertemu tepat waktu pada 4 November 2026, 17.00 WIB (batas waktu 10 November 2026, 23.59 WIB).",
    }
    assert groups["Kelompok Melati"]["schedule"]["sentence"] == (
        "Belum ada laporan pertemuan sampai batas waktu 10 November 2026, 23.59 WIB. Ponsel pendamping belum "
        "tersinkron melewati batas waktu itu, jadi laporannya mungkin masih di ponsel."
    )
    # A quarterly programme in a month without a due meeting says so instead of showing a failure.
    assert groups["Forum KB Anggrek"]["schedule"]["state"] == "not_due"
    assert groups["Forum KB Anggrek"]["schedule"]["sentence"] == (
        "Tidak ada pertemuan yang jatuh tempo bulan ini: "
        "pertemuan triwulan ini jatuh tempo 10 Desember 2026, 23.59 WIB."
    )


def test_meetings_plan_evaluations_and_deviations_read_as_sentences() -> None:
    mawar = next(group for group in report()["groups"] if group["group_name"] == "Kelompok Mawar")
    first, second = mawar["meetings"]
    assert (first["started_at_text"], first["duration_text"], first["led_by_text"], first["attendance_text"]) == (
        "4 November 2026, 17.00 WIB",
        "2 jam",
        "dipimpin pendamping",
        "hadir 9 dari 10 anggota (90%)",
    )
    assert second["what"] == "Perlindungan Anak"
    gizi, tabungan = mawar["activities"]
    assert gizi["indicator_text"] == "Balita ditimbang: 10 anak dari target 12 anak (awal 4)"
    assert (gizi["status_text"], gizi["progress_ratio"], gizi["overdue"]) == ("sedang berjalan", 0.75, True)
    assert (tabungan["stage_text"], tabungan["due_on_text"], tabungan["overdue"]) == (
        "pengembangan",
        "31 Januari 2027",
        False,
    )
    at_risk, deviation = mawar["deviations"]
    assert deviation["rule_text"] == "Kehadiran anggota rendah (pertemuan 18 November 2026, 09.00 WIB)"
    assert deviation["outcome_text"] == "Selesai 25 November 2026, 11.30 WIB: kehadiran pulih."
    assert deviation["in_full"] is True
    # A resolved plan deviation is counted per rule on the page, not listed one by one.
    assert at_risk["in_full"] is False
    assert (gizi["this_month"], tabungan["this_month"]) == (True, False)
    html = monthly.facilitator_report_html(report())
    assert "Kegiatan rencana berisiko terlambat: 1 kali bulan ini, semuanya sudah selesai (1× kegiatan kembali" in html
    assert "1 kegiatan belum jatuh tempo." in html
    assert "Tabungan kelompok" not in html
    directions = {e["direction_text"]: (e["mean_text"], e["scores_text"]) for e in mawar["evaluations"]}
    assert directions == {
        "Kelompok menilai pendamping": ("rata-rata 4,5 dari 5", "kehadiran 5, penguasaan materi 4"),
        "Pendamping menilai kelompok": ("rata-rata 3,5 dari 5", "keaktifan 4, kekompakan 3"),
    }


def test_the_summary_on_top_is_a_few_sentences_a_supervisor_reads_in_a_minute() -> None:
    document = report()
    assert document["facilitator_name"] == "Siti Rahmawati"
    assert document["summary"]["sentences"] == [
        "Siti Rahmawati mendampingi 3 kelompok pada November 2026 (Forum Kemitraan KKBPK (triwulanan), "
        "PKH — Pertemuan Peningkatan Kemampuan Keluarga (P2K2)).",
        "Dari 2 kelompok yang pertemuannya sudah jatuh tempo, 1 bertemu tepat waktu dan 1 belum bertemu.",
        "Perlu perhatian: Kelompok Melati (belum bertemu).",
        "Bagi 1 kelompok tidak ada pertemuan yang jatuh tempo bulan ini.",
        "Tercatat 2 pertemuan dengan kehadiran 70%.",
        "Rencana pendampingan: 2 kegiatan, 0 selesai, 1 melewati tenggat.",
        "2 penyimpangan terdeteksi bulan ini: 2 sudah selesai, 0 masih terbuka; "
        "paling sering: kegiatan rencana berisiko terlambat.",
        "Evaluasi: pendamping menilai kelompok rata-rata 3,5; kelompok menilai pendamping rata-rata 4,5.",
    ]


def test_before_the_due_time_the_current_month_shows_no_failure() -> None:
    """Read on 2 November 08.00 WIB: both monthly groups are still within their schedule."""
    document = report(now=EARLY)
    states = {group["group_name"]: group["schedule"]["state"] for group in document["groups"]}
    assert states == {"Forum KB Anggrek": "not_due", "Kelompok Mawar": "open_met", "Kelompok Melati": "open"}
    assert document["summary"]["groups_not_met"] == 0
    melati = next(group for group in document["groups"] if group["group_name"] == "Kelompok Melati")
    assert melati["schedule"]["sentence"] == "Batas waktu pertemuan (10 November 2026, 23.59 WIB) belum tiba."


@pytest.mark.parametrize("language", ["id", "en"])
def test_the_printed_page_has_no_raw_ids_enums_or_utc_times(language: str) -> None:
    html = monthly.facilitator_report_html(report(language=language))
    text = visible_text(html)
    for pattern in RAW + ([SEVERITY_TOKENS] if language == "id" else []):
        assert not pattern.search(text), (pattern.pattern, pattern.search(text))
    assert "@page { size: A4" in html
    assert (
        "Laporan Bulanan Pendampingan — Siti Rahmawati, November 2026"
        if language == "id"
        else "Monthly facilitation report — Siti Rahmawati, November 2026"
    ) in text
    assert ("4 November 2026, 17.00 WIB" if language == "id" else "4 November 2026, 17:00 WIB") in text


def test_english_is_a_choice() -> None:
    document = report(language="en")
    mawar = next(group for group in document["groups"] if group["group_name"] == "Kelompok Mawar")
    assert (
        mawar["schedule"]["sentence"]
        == "Met on schedule on 4 November 2026, 17:00 WIB (due 10 November 2026, 23:59 WIB)."
    )
    assert (
        document["summary"]["sentences"][1]
        == "Of 2 groups whose meeting was due, 1 met on schedule and 1 have not met."
    )
