"""Alert texts people want to read (pure): natural Bahasa Indonesia and English, specific (group and
village, facilitator, what is wrong, since when), short enough for a phone notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_MONTHS_ID = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip
_ZONE_ABBREVIATIONS = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
_LED_BY = {
    "chair": ("dipimpin ketua kelompok", "led by the group chair"),
    "other": ("dipimpin orang lain", "led by someone else"),
    "facilitator": ("dipimpin pendamping", "led by the facilitator"),
}


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


def _local(moment_iso: str | None, time_zone: str, *, english: bool) -> str:
    if not moment_iso:
        return "?"
    moment = datetime.fromisoformat(moment_iso).astimezone(ZoneInfo(time_zone))
    zone = _ZONE_ABBREVIATIONS.get(time_zone, time_zone)
    if english:
        return f"{moment.day} {moment.strftime('%B')} {moment.year}, {moment:%H:%M} {zone}"
    return f"{moment.day} {_MONTHS_ID[moment.month - 1]} {moment.year}, pukul {moment:%H.%M} {zone}"


def render(context: AlertContext) -> dict[str, str]:
    """`{"id": …, "en": …}` for an opened deviation."""
    place = f"{context.group_name} ({context.village_name})" if context.village_name else context.group_name
    details = context.details
    if context.rule == "meeting.facilitator_absent":
        led_id, led_en = _LED_BY.get(str(details.get("led_by")), _LED_BY["other"])
        when_id = _local(details.get("meeting_started_at"), context.time_zone, english=False)
        when_en = _local(details.get("meeting_started_at"), context.time_zone, english=True)
        in_a_row = int(details.get("absences_in_a_row") or 1)
        again_id = f" Ini {in_a_row} kali berturut-turut." if in_a_row > 1 else ""
        again_en = f" This is {in_a_row} times in a row." if in_a_row > 1 else ""
        return {
            "id": (
                f"Pertemuan {place} pada {when_id} berlangsung tanpa pendamping "
                f"{context.facilitator_name} ({led_id}).{again_id}"
            ),
            "en": (
                f"The meeting of {place} on {when_en} was held without facilitator "
                f"{context.facilitator_name} ({led_en}).{again_en}"
            ),
        }
    who = context.facilitator_name
    return {
        "id": f"Penyimpangan {context.rule} ({context.severity}) pada {place}, pendamping {who}.",
        "en": f"Deviation {context.rule} ({context.severity}) for {place}, facilitator {who}.",
    }
