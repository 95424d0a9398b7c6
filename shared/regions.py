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

# Official names of the 38 provinces (Kemendagri, after the 2022 Papua split), so a report can say
# "Lampung" beside `18` even before the registry has been read. Kabupaten names come from the registry.
PROVINCE_NAMES: Final[dict[str, str]] = {
    "11": "Aceh",
    "12": "Sumatera Utara",
    "13": "Sumatera Barat",
    "14": "Riau",
    "15": "Jambi",
    "16": "Sumatera Selatan",
    "17": "Bengkulu",
    "18": "Lampung",
    "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau",
    "31": "DKI Jakarta",
    "32": "Jawa Barat",
    "33": "Jawa Tengah",
    "34": "Daerah Istimewa Yogyakarta",
    "35": "Jawa Timur",
    "36": "Banten",
    "51": "Bali",
    "52": "Nusa Tenggara Barat",
    "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat",
    "62": "Kalimantan Tengah",
    "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur",
    "65": "Kalimantan Utara",
    "71": "Sulawesi Utara",
    "72": "Sulawesi Tengah",
    "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara",
    "75": "Gorontalo",
    "76": "Sulawesi Barat",
    "81": "Maluku",
    "82": "Maluku Utara",
    "91": "Papua",
    "92": "Papua Barat",
    "93": "Papua Selatan",
    "94": "Papua Tengah",
    "95": "Papua Pegunungan",
    "96": "Papua Barat Daya",
}


def province_name(code: str) -> str | None:
    """The official name of the province a code lies in, if it is one of the 38."""
    return PROVINCE_NAMES.get(province_of(code))


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
