"""Reference facts about Indonesian regions that every service may need: the 38 provinces'
time zones (WIB/WITA/WIT) and how a Kemendagri code nests. Data, not behaviour."""

from __future__ import annotations

from typing import Final, Literal

WIB: Final = "Asia/Jakarta"  # UTC+7
WITA: Final = "Asia/Makassar"  # UTC+8
WIT: Final = "Asia/Jayapura"  # UTC+9

_WIB_PROVINCES = (
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
    "21",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "61",
    "62",
)
_WITA_PROVINCES = ("51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76")
_WIT_PROVINCES = ("81", "82", "91", "92", "93", "94", "95", "96")

PROVINCE_TIME_ZONES: Final[dict[str, str]] = {
    **{code: WIB for code in _WIB_PROVINCES},
    **{code: WITA for code in _WITA_PROVINCES},
    **{code: WIT for code in _WIT_PROVINCES},
}

RegionLevel = Literal["provinsi", "kabupaten", "kecamatan", "desa"]
_LEVEL_BY_PARTS: Final[dict[int, RegionLevel]] = {1: "provinsi", 2: "kabupaten", 3: "kecamatan", 4: "desa"}


def level_of(code: str) -> RegionLevel:
    """The administrative level a well-formed Kemendagri code denotes."""
    return _LEVEL_BY_PARTS[len(code.split("."))]


def province_of(code: str) -> str:
    """`18.71.01.1001` → `18`."""
    return code.split(".", 1)[0]


def kabupaten_of(code: str) -> str | None:
    """`18.71.01.1001` → `18.71`; a province has none."""
    parts = code.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


def parent_of(code: str) -> str | None:
    """The enclosing region's code; a province has none."""
    return code.rsplit(".", 1)[0] if "." in code else None


def ancestors(code: str) -> list[str]:
    """The code and every enclosing code, innermost first: desa, kecamatan, kabupaten, provinsi."""
    parts = code.split(".")
    return [".".join(parts[:size]) for size in range(len(parts), 0, -1)]


def time_zone_of(code: str) -> str:
    """IANA time zone of the region's province. Unknown provinces are an error, not WIB by default."""
    try:
        return PROVINCE_TIME_ZONES[province_of(code)]
    except KeyError as exc:
        raise ValueError(f"unknown province code {province_of(code)!r}") from exc
