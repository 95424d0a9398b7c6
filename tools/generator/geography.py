"""Indonesia's administrative geography for the generator: the 38 provinces with their Kemendagri
codes, names and time zones, and how many kabupaten/kota each has (514 in all).

Province facts are real. Kabupaten/kota codes follow Kemendagri's scheme (kabupaten `01`…,
kota `71`…); their names are real where listed in `REAL_KABUPATEN_NAMES` and otherwise generated
from common Indonesian place-name parts, as are kecamatan and desa names. Data, not behaviour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from shared.regions import time_zone_of


@dataclass(frozen=True, slots=True)
class Province:
    """A province (provinsi) and how many regencies (kabupaten) and cities (kota) it has."""

    code: str
    name: str
    kabupaten_count: int
    kota_count: int

    @property
    def time_zone(self) -> str:
        """IANA time zone (WIB/WITA/WIT) from `shared.regions`."""
        return time_zone_of(self.code)

    @property
    def regency_count(self) -> int:
        """Kabupaten plus kota."""
        return self.kabupaten_count + self.kota_count


# code, name, kabupaten, kota (Kemendagri, after the 2022 Papua split: 416 + 98 = 514).
PROVINCES: Final[tuple[Province, ...]] = tuple(
    Province(code, name, kabupaten, kota)
    for code, name, kabupaten, kota in (
        ("11", "Aceh", 18, 5),
        ("12", "Sumatera Utara", 25, 8),
        ("13", "Sumatera Barat", 12, 7),
        ("14", "Riau", 10, 2),
        ("15", "Jambi", 9, 2),
        ("16", "Sumatera Selatan", 13, 4),
        ("17", "Bengkulu", 9, 1),
        ("18", "Lampung", 13, 2),
        ("19", "Kepulauan Bangka Belitung", 6, 1),
        ("21", "Kepulauan Riau", 5, 2),
        ("31", "DKI Jakarta", 1, 5),
        ("32", "Jawa Barat", 18, 9),
        ("33", "Jawa Tengah", 29, 6),
        ("34", "Daerah Istimewa Yogyakarta", 4, 1),
        ("35", "Jawa Timur", 29, 9),
        ("36", "Banten", 4, 4),
        ("51", "Bali", 8, 1),
        ("52", "Nusa Tenggara Barat", 8, 2),
        ("53", "Nusa Tenggara Timur", 21, 1),
        ("61", "Kalimantan Barat", 12, 2),
        ("62", "Kalimantan Tengah", 13, 1),
        ("63", "Kalimantan Selatan", 11, 2),
        ("64", "Kalimantan Timur", 7, 3),
        ("65", "Kalimantan Utara", 4, 1),
        ("71", "Sulawesi Utara", 11, 4),
        ("72", "Sulawesi Tengah", 12, 1),
        ("73", "Sulawesi Selatan", 21, 3),
        ("74", "Sulawesi Tenggara", 15, 2),
        ("75", "Gorontalo", 5, 1),
        ("76", "Sulawesi Barat", 6, 0),
        ("81", "Maluku", 9, 2),
        ("82", "Maluku Utara", 8, 2),
        ("91", "Papua", 8, 1),
        ("92", "Papua Barat", 7, 0),
        ("93", "Papua Selatan", 4, 0),
        ("94", "Papua Tengah", 8, 0),
        ("95", "Papua Pegunungan", 8, 0),
        ("96", "Papua Barat Daya", 5, 1),
    )
)
PROVINCES_BY_CODE: Final[dict[str, Province]] = {province.code: province for province in PROVINCES}
TOTAL_REGENCIES: Final = sum(province.regency_count for province in PROVINCES)

REAL_KABUPATEN_NAMES: Final[dict[str, str]] = {
    "11.71": "Kota Banda Aceh",
    "12.71": "Kota Sibolga",
    "13.71": "Kota Padang",
    "14.71": "Kota Pekanbaru",
    "15.71": "Kota Jambi",
    "16.71": "Kota Palembang",
    "17.71": "Kota Bengkulu",
    "18.01": "Kabupaten Lampung Selatan",
    "18.71": "Kota Bandar Lampung",
    "19.71": "Kota Pangkal Pinang",
    "21.71": "Kota Batam",
    "31.71": "Kota Administrasi Jakarta Selatan",
    "32.71": "Kota Bogor",
    "33.71": "Kota Magelang",
    "34.71": "Kota Yogyakarta",
    "35.71": "Kota Kediri",
    "36.71": "Kota Tangerang",
    "51.71": "Kota Denpasar",
    "52.71": "Kota Mataram",
    "53.71": "Kota Kupang",
    "61.71": "Kota Pontianak",
    "62.71": "Kota Palangka Raya",
    "63.71": "Kota Banjarmasin",
    "64.71": "Kota Balikpapan",
    "65.71": "Kota Tarakan",
    "71.71": "Kota Manado",
    "72.71": "Kota Palu",
    "73.71": "Kota Makassar",
    "74.71": "Kota Kendari",
    "75.71": "Kota Gorontalo",
    "81.71": "Kota Ambon",
    "82.71": "Kota Ternate",
    "91.71": "Kota Jayapura",
    "96.71": "Kota Sorong",
}

_PREFIXES = (
    "Suka",
    "Karang",
    "Tanjung",
    "Sungai",
    "Batu",
    "Teluk",
    "Bukit",
    "Pasir",
    "Lubuk",
    "Muara",
    "Kuala",
    "Padang",
    "Air",
    "Way",
    "Rawa",
    "Tegal",
    "Sido",
    "Wono",
    "Banjar",
    "Mekar",
    "Cempaka",
    "Kampung",
)
_SUFFIXES = (
    "jaya",
    "maju",
    "makmur",
    "mulya",
    "sari",
    "rejo",
    "harjo",
    "asri",
    "indah",
    "baru",
    "agung",
    "raya",
    "lestari",
    "wangi",
    "tengah",
    "utara",
    "selatan",
    "timur",
    "barat",
    "permai",
)


def place_name(rng: random.Random) -> str:
    """A plausible Indonesian place name: `Sukamaju`, `Tanjung Sari`, `Way Harapan`…"""
    prefix = rng.choice(_PREFIXES)
    suffix = rng.choice(_SUFFIXES)
    # Short vowel-final prefixes fuse (Sukamaju, Sidorejo); the others stay two words (Tanjung Sari).
    return prefix + suffix if prefix[-1] in "aeiou" and len(prefix) <= 5 else f"{prefix} {suffix.capitalize()}"


def regency_codes(province: Province) -> list[str]:
    """Every kabupaten/kota code of a province in Kemendagri order: `18.01`…`18.13`, `18.71`, `18.72`."""
    kabupaten = [f"{province.code}.{number:02d}" for number in range(1, province.kabupaten_count + 1)]
    kota = [f"{province.code}.{70 + number:02d}" for number in range(1, province.kota_count + 1)]
    return kabupaten + kota


def regency_name(code: str, seed: int) -> str:
    """The real name where known, else a generated `Kabupaten …` / `Kota …` (stable per seed and code)."""
    known = REAL_KABUPATEN_NAMES.get(code)
    if known is not None:
        return known
    kind = "Kota" if int(code.split(".")[1]) > 70 else "Kabupaten"
    return f"{kind} {place_name(random.Random(f'{seed}:name:{code}'))}"


def is_kota(code: str) -> bool:
    """Whether a regency code denotes a city (kota: numbers 71 and up), whose villages are kelurahan."""
    return int(code.split(".")[1]) > 70
