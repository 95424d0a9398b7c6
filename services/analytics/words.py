"""The words of the reports (pure): Bahasa Indonesia first, English as a choice. Every value a person
reads goes through here — dates and times in the group's local time ("4 November 2026, 17.00 WIB"),
programmes, rules, outcomes and evaluation directions as words, never a raw enum or a UTC timestamp.

To add a rule or a resolution reason: one line in `RULES` or `RESOLUTIONS` (an unknown token still
reads as a sentence, with the token spelled out in words).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Language = Literal["id", "en"]

MONTHS_ID = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
ZONE_ABBREVIATIONS = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}

PROGRAMMES: dict[str, tuple[str, str]] = {
    "pkh-p2k2": ("PKH — Pertemuan Peningkatan Kemampuan Keluarga (P2K2)", "PKH family development session (P2K2)"),
    "ssk-pokja": ("Pokja Sanitasi Kabupaten/Kota (SSK)", "Sanitation working group (SSK)"),
    "kkbpk-kemitraan": ("Forum Kemitraan KKBPK (triwulanan)", "Family-planning partnership forum (quarterly)"),
}

# rule → (what happened, in Bahasa Indonesia; in English)
RULES: dict[str, tuple[str, str]] = {
    "meeting.overdue": ("Pertemuan belum dilaporkan sampai batas waktu", "No meeting reported by the due time"),
    "meeting.facilitator_absent": (
        "Pertemuan berlangsung tanpa pendamping",
        "A meeting was held without the facilitator",
    ),
    "meeting.low_attendance": ("Kehadiran anggota rendah", "Low member attendance"),
    "meeting.attendance_declining": ("Kehadiran anggota terus menurun", "Attendance kept falling"),
    "meeting.too_short": ("Pertemuan terlalu singkat", "The meeting was too short"),
    "plan.activity_overdue": ("Kegiatan rencana melewati tenggat", "A planned activity is past its due date"),
    "plan.activity_at_risk": ("Kegiatan rencana berisiko terlambat", "A planned activity is behind pace"),
    "evaluation.low_score": ("Nilai evaluasi rendah", "Low evaluation score"),
    "facilitator.many_groups_deviating": (
        "Banyak kelompok pendamping menyimpang sekaligus",
        "Many of the facilitator's groups deviating at once",
    ),
    "reporting.lagging": ("Laporan terlambat sampai ke server", "Reports reached the server late"),
    "recognition.sustained_success": (
        "Kelompok konsisten bertemu tepat waktu dengan kehadiran tinggi (penghargaan)",
        "The group met on time with high attendance period after period (recognition)",
    ),
}

# resolution reason → how it ended
RESOLUTIONS: dict[str, tuple[str, str]] = {
    "late_report": ("laporan pertemuan menyusul", "the meeting's report arrived late"),
    "facilitator_present_again": ("pendamping hadir lagi pada pertemuan berikutnya", "the facilitator attended again"),
    "attendance_recovered": ("kehadiran pulih", "attendance recovered"),
    "duration_recovered": ("pertemuan berikutnya cukup lama", "the next meeting was long enough"),
    "activity_done": ("kegiatan selesai", "the activity was done"),
    "activity_removed": ("kegiatan dihapus dari rencana", "the activity was removed from the plan"),
    "due_date_moved": ("tenggat kegiatan diundur", "the activity's due date was moved"),
    "back_on_track": ("kegiatan kembali sesuai jalur", "the activity is back on track"),
    "became_overdue": ("berlanjut sebagai kegiatan melewati tenggat", "it became an overdue activity"),
    "below_threshold": ("kehadiran turun di bawah ambang", "attendance fell below the threshold"),
    "scores_recovered": ("nilai evaluasi membaik", "evaluation scores recovered"),
    "fewer_groups_deviating": ("kelompok yang menyimpang berkurang", "fewer groups are deviating"),
    "reports_fresh": ("laporan kembali tepat waktu", "reports are timely again"),
    "streak_ended": ("rangkaian berhasil terputus", "the streak ended"),
}

SEVERITIES = {
    "info": ("informasi", "information"),
    "warning": ("peringatan", "warning"),
    "critical": ("kritis", "critical"),
}
DIRECTIONS = {
    "facilitator_rates_group": ("Pendamping menilai kelompok", "Facilitator rates the group"),
    "group_rates_facilitator": ("Kelompok menilai pendamping", "Group rates the facilitator"),
    "supervisor_rates_facilitator": ("Koordinator menilai pendamping", "Supervisor rates the facilitator"),
}
LED_BY = {
    "facilitator": ("dipimpin pendamping", "led by the facilitator"),
    "chair": ("dipimpin ketua kelompok, tanpa pendamping", "led by the group chair, without the facilitator"),
    "other": ("dipimpin orang lain, tanpa pendamping", "led by someone else, without the facilitator"),
}
ACTIVITY_STATUS = {
    "not_started": ("belum dimulai", "not started"),
    "in_progress": ("sedang berjalan", "in progress"),
    "done": ("selesai", "done"),
    "blocked": ("terhambat", "blocked"),
}
STAGES = {
    "dialogue": ("dialog", "dialogue"),
    "discovery": ("penemuan", "discovery"),
    "development": ("pengembangan", "development"),
}


def pick(pair: tuple[str, str], language: Language) -> str:
    """The Bahasa Indonesia or English half of a pair."""
    return pair[0] if language == "id" else pair[1]


def spelled(token: str) -> str:
    """An unknown token in words (`some_reason` → "some reason")."""
    return token.replace("_", " ").replace(".", ": ")


def lookup(table: dict[str, tuple[str, str]], token: str | None, language: Language) -> str:
    """A token's words, or the token spelled out if it is new."""
    if not token:
        return ""
    pair = table.get(token)
    return pick(pair, language) if pair else spelled(token)


def joined(parts: list[str], language: Language = "id") -> str:
    """["a", "b", "c"] → "a, b dan c" ("a, b and c")."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {'dan' if language == 'id' else 'and'} {parts[-1]}"


def programme(programme_id: str, language: Language = "id") -> str:
    """A programme's name."""
    return lookup(PROGRAMMES, programme_id, language)


def month_name(month: int, language: Language = "id") -> str:
    """`11` → "November"."""
    return (MONTHS_ID if language == "id" else MONTHS_EN)[month - 1]


def period_label(period: str, language: Language = "id") -> str:
    """`2026-11` → "November 2026"."""
    year, month = (int(part) for part in period.split("-"))
    return f"{month_name(month, language)} {year}"


def zone_abbreviation(time_zone: str) -> str:
    """`Asia/Jakarta` → "WIB"."""
    return ZONE_ABBREVIATIONS.get(time_zone, time_zone)


def local_datetime(moment: datetime | str | None, time_zone: str, language: Language = "id") -> str:
    """An instant in the group's local time: "4 November 2026, 17.00 WIB" (English: "4 November 2026,
    17:00 WIB")."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    local = moment.astimezone(ZoneInfo(time_zone))
    clock = f"{local.hour:02d}.{local.minute:02d}" if language == "id" else f"{local.hour:02d}:{local.minute:02d}"
    return f"{local.day} {month_name(local.month, language)} {local.year}, {clock} {zone_abbreviation(time_zone)}"


def local_date(moment: datetime | date | str | None, time_zone: str = "Asia/Jakarta", language: Language = "id") -> str:
    """A day in the group's local calendar: "4 November 2026"."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00")) if "T" in moment else date.fromisoformat(moment)
    if isinstance(moment, datetime):
        moment = moment.astimezone(ZoneInfo(time_zone)).date()
    return f"{moment.day} {month_name(moment.month, language)} {moment.year}"


def percent(ratio: float | None, language: Language = "id") -> str:
    """0.756 → "76%" ("—" when there is nothing to divide)."""
    if ratio is None:
        return "—"
    return f"{round(ratio * 100)}%"


def number(value: float, language: Language = "id") -> str:
    """A decimal the local way: 3,5 in Bahasa Indonesia, 3.5 in English (whole numbers without decimals)."""
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return text.replace(".", ",") if language == "id" else text


def duration(minutes: float, language: Language = "id") -> str:
    """95 → "1 jam 35 menit"."""
    hours, rest = divmod(round(minutes), 60)
    if language == "id":
        return " ".join(part for part in (f"{hours} jam" if hours else "", f"{rest} menit" if rest else "") if part)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{rest} min" if rest else "") if part)


def seconds_in_words(seconds: float, language: Language = "id") -> str:
    """An acknowledgement time: "12 menit", "3 jam", "2 hari"."""
    if seconds < 3600:
        value, unit = seconds / 60, ("menit", "min")
    elif seconds < 86400:
        value, unit = seconds / 3600, ("jam", "h")
    else:
        value, unit = seconds / 86400, ("hari", "days")
    return f"{number(round(value, 1), language)} {pick(unit, language)}"
