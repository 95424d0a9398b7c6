"""Alert texts people want to read (pure): natural Bahasa Indonesia and English for every rule
monitoring publishes, specific (group and village, facilitator, what is missing or wrong, since
when, what the plan said) and short enough for a phone notification (`MAX_CHARS`).

Each rule's text reads the `details` keys that rule publishes (services/monitoring/rules/*.py); a
missing key degrades to a shorter sentence, never to an error. The acknowledge link travels next to
the text (`ack_url` in the body, a line of its own in e-mails and the console).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

MAX_CHARS = 280

_MONTHS_ID = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ZONE_ABBREVIATIONS = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
_LED_BY = {
    "chair": ("dipimpin ketua kelompok", "led by the group chair"),
    "other": ("dipimpin orang lain", "led by someone else"),
    "facilitator": ("dipimpin pendamping", "led by the facilitator"),
}
# An activity's status in words (the plan contract's values never reach a reader raw).
_ACTIVITY_STATUS = {
    "not_started": ("belum dimulai", "not started"),
    "in_progress": ("sedang berjalan", "in progress"),
    "blocked": ("terhambat", "blocked"),
    "done": ("selesai", "done"),
}
_SEVERITY = {"info": ("info", "info"), "warning": ("peringatan", "warning"), "critical": ("KRITIS", "CRITICAL")}


@dataclass(frozen=True)
class AlertContext:
    """What the texts may mention; names come from the registry projection."""

    rule: str
    severity: str
    group_name: str
    village_name: str | None
    facilitator_name: str
    details: dict[str, Any]
    time_zone: str


def _local(moment_iso: Any, time_zone: str, *, english: bool) -> str:
    if not moment_iso:
        return "?"
    try:
        moment = datetime.fromisoformat(str(moment_iso)).astimezone(ZoneInfo(time_zone))
    except ValueError:
        return str(moment_iso)
    zone = _ZONE_ABBREVIATIONS.get(time_zone, time_zone)
    if english:
        return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}, {moment:%H:%M} {zone}"
    return f"{moment.day} {_MONTHS_ID[moment.month - 1]} {moment.year}, pukul {moment:%H.%M} {zone}"


def _day(value: Any, *, english: bool) -> str:
    if not value:
        return "?"
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    months = _MONTHS_EN if english else _MONTHS_ID
    return f"{day.day} {months[day.month - 1]} {day.year}"


def _status(value: Any, *, english: bool) -> str:
    words = _ACTIVITY_STATUS.get(str(value))
    if words is None:
        return "status tidak diketahui" if not english else "status unknown"
    return words[1] if english else words[0]


def _period(value: Any, *, english: bool) -> str:
    """A meeting period (`2026-11`, or a day for weekly schedules) in words."""
    text = str(value or "?")
    months = _MONTHS_EN if english else _MONTHS_ID
    if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12:
        return f"{months[int(text[5:]) - 1]} {text[:4]}"
    if len(text) == 7 and text[4:6] == "-Q" and text[:4].isdigit() and text[6] in "1234":
        return f"Q{text[6]} {text[:4]}" if english else f"triwulan ke-{text[6]} {text[:4]}"
    if len(text) == 10:
        return _day(text, english=english)
    return text


def _percent(ratio: Any) -> str:
    try:
        return f"{round(float(ratio) * 100)}%"
    except (TypeError, ValueError):
        return "?"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "?" if value is None else str(value).replace(".", ",") if isinstance(value, float) else str(value)


def _number_en(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "?" if value is None else str(value)


Texts = tuple[str, str]
_Renderer = Callable[[AlertContext, str], Texts]


def _facilitator_absent(c: AlertContext, place: str) -> Texts:
    d = c.details
    led_id, led_en = _LED_BY.get(str(d.get("led_by")), _LED_BY["other"])
    in_a_row = int(d.get("absences_in_a_row") or 1)
    again_id = f" Ini {in_a_row} kali berturut-turut." if in_a_row > 1 else ""
    again_en = f" This is {in_a_row} times in a row." if in_a_row > 1 else ""
    return (
        f"Pertemuan {place} pada {_local(d.get('meeting_started_at'), c.time_zone, english=False)} berlangsung "
        f"tanpa pendamping {c.facilitator_name} ({led_id}).{again_id}",
        f"The meeting of {place} on {_local(d.get('meeting_started_at'), c.time_zone, english=True)} was held "
        f"without facilitator {c.facilitator_name} ({led_en}).{again_en}",
    )


def _overdue(c: AlertContext, place: str) -> Texts:
    d = c.details
    zone = str(d.get("time_zone") or c.time_zone)
    late_id = f" Sudah {d['days_overdue']} hari terlambat." if d.get("days_overdue") else ""
    late_en = f" Now {d['days_overdue']} days late." if d.get("days_overdue") else ""
    return (
        f"Belum ada laporan pertemuan {place} untuk periode {_period(d.get('period'), english=False)}; jadwalnya "
        f"{_local(d.get('due_at'), zone, english=False)}. Pendamping: {c.facilitator_name}.{late_id}",
        f"No meeting report from {place} for period {_period(d.get('period'), english=True)}; it was due "
        f"{_local(d.get('due_at'), zone, english=True)}. Facilitator: {c.facilitator_name}.{late_en}",
    )


def _low_attendance(c: AlertContext, place: str) -> Texts:
    d = c.details
    return (
        f"Pertemuan {place} pada {_local(d.get('meeting_started_at'), c.time_zone, english=False)} hanya dihadiri "
        f"{d.get('present', '?')} dari {d.get('members', '?')} anggota ({_percent(d.get('attendance_ratio'))}; "
        f"minimal {_percent(d.get('threshold_ratio'))}). Pendamping: {c.facilitator_name}.",
        f"Only {d.get('present', '?')} of {d.get('members', '?')} members came to the meeting of {place} on "
        f"{_local(d.get('meeting_started_at'), c.time_zone, english=True)} ({_percent(d.get('attendance_ratio'))}; "
        f"minimum {_percent(d.get('threshold_ratio'))}). Facilitator: {c.facilitator_name}.",
    )


def _too_short(c: AlertContext, place: str) -> Texts:
    d = c.details
    return (
        f"Pertemuan {place} pada {_local(d.get('meeting_started_at'), c.time_zone, english=False)} hanya "
        f"{_number(d.get('duration_minutes'))} menit; rencananya {_number(d.get('expected_minutes'))} menit "
        f"(minimal {_number(d.get('minimum_minutes'))}). Pendamping: {c.facilitator_name}.",
        f"The meeting of {place} on {_local(d.get('meeting_started_at'), c.time_zone, english=True)} lasted only "
        f"{_number_en(d.get('duration_minutes'))} minutes; {_number_en(d.get('expected_minutes'))} were planned "
        f"(minimum {_number_en(d.get('minimum_minutes'))}). Facilitator: {c.facilitator_name}.",
    )


def _attendance_declining(c: AlertContext, place: str) -> Texts:
    d = c.details
    ratios = str(d.get("attendance_ratios") or "")
    trend = " → ".join(_percent(part.strip()) for part in ratios.split(",") if part.strip()) or "?"
    fall = _percent(d.get("fall_ratio")).removesuffix("%")
    return (
        f"Kehadiran di {place} terus menurun: {trend} (turun {fall} poin). Pendamping: {c.facilitator_name}.",
        f"Attendance at {place} keeps falling: {trend} (down {fall} points). Facilitator: {c.facilitator_name}.",
    )


def _activity_overdue(c: AlertContext, place: str) -> Texts:
    d = c.details
    title = d.get("activity_title") or d.get("activity_id") or "?"
    return (
        f"Kegiatan '{title}' dalam rencana {place} melewati tenggat {_day(d.get('due_on'), english=False)} "
        f"({_status(d.get('status'), english=False)}). Pendamping: {c.facilitator_name}.",
        f"Activity '{title}' in the plan of {place} is past its due date {_day(d.get('due_on'), english=True)} "
        f"({_status(d.get('status'), english=True)}). Facilitator: {c.facilitator_name}.",
    )


def _activity_at_risk(c: AlertContext, place: str) -> Texts:
    d = c.details
    title = d.get("activity_title") or d.get("activity_id") or "?"
    progress_id = progress_en = ""
    if d.get("indicator_target") is not None:
        progress_id = f": baru {_number(d.get('indicator_value'))} dari target {_number(d.get('indicator_target'))}"
        progress_en = f": {_number_en(d.get('indicator_value'))} of {_number_en(d.get('indicator_target'))} so far"
    return (
        f"Kegiatan '{title}' {place} berisiko tidak selesai sebelum {_day(d.get('due_on'), english=False)}"
        f"{progress_id}. Pendamping: {c.facilitator_name}.",
        f"Activity '{title}' of {place} may miss its due date {_day(d.get('due_on'), english=True)}"
        f"{progress_en}. Facilitator: {c.facilitator_name}.",
    )


def _low_score(c: AlertContext, place: str) -> Texts:
    d = c.details
    score_id = f"rata-rata {_number(d.get('mean_score'))} (batas {_number(d.get('threshold_score'))})"
    score_en = f"mean {_number_en(d.get('mean_score'))} (threshold {_number_en(d.get('threshold_score'))})"
    period_id, period_en = _period(d.get("period"), english=False), _period(d.get("period"), english=True)
    if d.get("direction") == "facilitator_rates_group":
        return (
            f"Pendamping {c.facilitator_name} memberi nilai rendah untuk {place} periode {period_id}: {score_id}.",
            f"Facilitator {c.facilitator_name} rated {place} low for period {period_en}: {score_en}.",
        )
    return (
        f"Pendamping {c.facilitator_name} mendapat nilai rendah dari {place} untuk periode {period_id}: {score_id}.",
        f"Facilitator {c.facilitator_name} was rated low by {place} for period {period_en}: {score_en}.",
    )


def _sustained_success(c: AlertContext, place: str) -> Texts:
    d = c.details
    periods = d.get("periods_in_a_row", "?")
    through_id = _period(d.get("through_period"), english=False)
    through_en = _period(d.get("through_period"), english=True)
    return (
        f"Kabar baik: {place} menjalankan pertemuan sesuai rencana {periods} periode berturut-turut "
        f"(sampai {through_id}). Pendamping: {c.facilitator_name}.",
        f"Good news: {place} has met as planned {periods} periods in a row (through {through_en}). "
        f"Facilitator: {c.facilitator_name}.",
    )


def _many_groups(c: AlertContext, place: str) -> Texts:
    d = c.details
    return (
        f"{d.get('groups_deviating', '?')} kelompok dampingan {c.facilitator_name} sedang bermasalah "
        f"(batas {d.get('threshold_groups', '?')}); terakhir {place}. Perlu perhatian untuk pendampingnya.",
        f"{d.get('groups_deviating', '?')} groups of facilitator {c.facilitator_name} have open problems "
        f"(threshold {d.get('threshold_groups', '?')}); latest {place}. The facilitator needs support.",
    )


def _reporting_lagging(c: AlertContext, place: str) -> Texts:
    d = c.details
    return (
        f"Laporan pertemuan {place} pada {_local(d.get('meeting_started_at'), c.time_zone, english=False)} baru "
        f"masuk {_number(d.get('lag_days'))} hari kemudian (batas {_number(d.get('max_lag_days'))} hari). "
        f"Pendamping: {c.facilitator_name}.",
        f"The report of the meeting of {place} on {_local(d.get('meeting_started_at'), c.time_zone, english=True)} "
        f"arrived {_number_en(d.get('lag_days'))} days later (limit {_number_en(d.get('max_lag_days'))} days). "
        f"Facilitator: {c.facilitator_name}.",
    )


def _generic(c: AlertContext, place: str) -> Texts:
    severity_id, severity_en = _SEVERITY.get(c.severity, (c.severity, c.severity))
    return (
        f"Penyimpangan {c.rule} ({severity_id}) pada {place}, pendamping {c.facilitator_name}.",
        f"Deviation {c.rule} ({severity_en}) for {place}, facilitator {c.facilitator_name}.",
    )


RENDERERS: dict[str, _Renderer] = {
    "meeting.facilitator_absent": _facilitator_absent,
    "meeting.overdue": _overdue,
    "meeting.low_attendance": _low_attendance,
    "meeting.too_short": _too_short,
    "meeting.attendance_declining": _attendance_declining,
    "plan.activity_overdue": _activity_overdue,
    "plan.activity_at_risk": _activity_at_risk,
    "evaluation.low_score": _low_score,
    "recognition.sustained_success": _sustained_success,
    "facilitator.many_groups_deviating": _many_groups,
    "reporting.lagging": _reporting_lagging,
}

# What each kind of update says before the rule's own sentence.
_PREFIXES: dict[str, tuple[str, str]] = {
    "alert.opened": ("", ""),
    "alert.escalated": ("Belum ditanggapi, diteruskan kepada Anda: ", "Not acknowledged, passed on to you: "),
    "alert.updated": ("Memburuk menjadi {severity_id}: ", "Now {severity_en}: "),
    "alert.resolved": ("Selesai: ", "Resolved: "),
}


def fit(text: str, limit: int = MAX_CHARS) -> str:
    """Cut at a word boundary with an ellipsis so the text fits a phone notification."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def render(context: AlertContext, *, kind: str = "alert.opened") -> dict[str, str]:
    """`{"id": …, "en": …}` for one alert message; each at most `MAX_CHARS` characters."""
    place = f"{context.group_name} ({context.village_name})" if context.village_name else context.group_name
    text_id, text_en = RENDERERS.get(context.rule, _generic)(context, place)
    severity_id, severity_en = _SEVERITY.get(context.severity, (context.severity, context.severity))
    prefix_id, prefix_en = _PREFIXES.get(kind, ("", ""))
    prefix_id = prefix_id.format(severity_id=severity_id)
    prefix_en = prefix_en.format(severity_en=severity_en)
    if context.severity == "critical" and kind == "alert.opened":
        prefix_id, prefix_en = "KRITIS: ", "CRITICAL: "
    return {"id": fit(prefix_id + text_id), "en": fit(prefix_en + text_en)}


def render_digest(items: list[dict[str, Any]], *, language: str) -> dict[str, str]:
    """The text of a digest of info items (each an alert body): a count and the first few lines."""
    count = len(items)
    lines_id = [item["message"]["id"] for item in items[:5]]
    lines_en = [item["message"]["en"] for item in items[:5]]
    more_id = f"\n…dan {count - 5} lainnya." if count > 5 else ""
    more_en = f"\n…and {count - 5} more." if count > 5 else ""
    return {
        "id": f"Ringkasan harian Pantau: {count} kabar untuk Anda.\n- " + "\n- ".join(lines_id) + more_id,
        "en": f"Pantau daily digest: {count} items for you.\n- " + "\n- ".join(lines_en) + more_en,
    }


_INCIDENT_PREFIXES = {
    "opened": ("", ""),
    "updated": ("Memburuk menjadi {severity_id}: ", "Now {severity_en}: "),
    "escalated": ("Belum ditanggapi, diteruskan kepada Anda: ", "Not acknowledged, passed on to you: "),
    "resolved": ("Selesai: ", "Resolved: "),
}


def render_incident(
    *,
    kind: str,
    severity: str,
    facilitator_name: str,
    lead: dict[str, str],
    open_items: int,
    group_names: list[str],
    about_facilitator: bool,
) -> dict[str, str]:
    """The text of an incident message: who needs attention and why, in a few words, then the worst
    item's own sentence. `group_names` are the distinct groups with open items."""
    severity_id, severity_en = _SEVERITY.get(severity, (severity, severity))
    prefix_id, prefix_en = _INCIDENT_PREFIXES.get(kind, ("", ""))
    prefix_id = prefix_id.format(severity_id=severity_id)
    prefix_en = prefix_en.format(severity_en=severity_en)
    if severity == "critical" and kind == "opened":
        prefix_id, prefix_en = "KRITIS: ", "CRITICAL: "
    if kind == "resolved":
        head_id = f"semua hal tentang pendamping {facilitator_name} sudah teratasi."
        head_en = f"everything about facilitator {facilitator_name} is cleared."
        return {"id": fit(prefix_id + head_id), "en": fit(prefix_en + head_en)}
    if about_facilitator and len(group_names) > 1:
        head_id = f"Pendamping {facilitator_name}: {len(group_names)} kelompok perlu perhatian ({open_items} hal). "
        head_en = f"Facilitator {facilitator_name}: {len(group_names)} groups need attention ({open_items} items). "
    elif open_items > 1:
        head_id = f"{open_items} hal perlu perhatian. "
        head_en = f"{open_items} items need attention. "
    else:
        head_id = head_en = ""
    return {
        "id": fit(prefix_id + head_id + lead.get("id", "")),
        "en": fit(prefix_en + head_en + lead.get("en", "")),
    }
