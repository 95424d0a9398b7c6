"""The synthetic national programme's registry: regions, supervisors, facilitators, groups, members
and plans, generated lazily and deterministically.

Every entity draws from its own random stream seeded by (seed, entity id), so any facilitator and
its groups can be produced on its own, in any order, in any process, and come out identical. Nothing
is held beyond the facilitator being yielded: full scale (40,000 facilitators, ~400,000 groups)
streams in constant memory.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Final, Literal

from tools.generator.geography import PROVINCES, Province, is_kota, place_name, regency_codes, regency_name

FULL_SCALE_FACILITATORS: Final = 40_000
GROUPS_PER_FACILITATOR: Final = (8, 12)  # inclusive range; mean 10 → ~400,000 groups at scale 1.0
FACILITATORS_PER_KECAMATAN: Final = 5
DESA_PER_FACILITATOR: Final = 2
TAIL_DAYS: Final = 12  # the simulation runs this long past the last period, so its overdue meetings surface

Cadence = Literal["monthly", "quarterly"]
Stage = Literal["dialogue", "discovery", "development"]
Responsible = Literal["facilitator", "group", "partner"]

# programme id → (share of facilitators, cadence, members range, expected meeting minutes)
PROGRAMMES: Final[dict[str, tuple[float, Cadence, tuple[int, int], int]]] = {
    "pkh-p2k2": (0.80, "monthly", (15, 25), 120),
    "ssk-pokja": (0.15, "monthly", (8, 15), 90),
    "kkbpk-kemitraan": (0.05, "quarterly", (10, 16), 120),
}

_FIRST_NAMES = (
    "Siti",
    "Agus",
    "Dewi",
    "Budi",
    "Sri",
    "Rahmat",
    "Nur",
    "Yusuf",
    "Ratna",
    "Hendra",
    "Wahyuni",
    "Andi",
    "Baiq",
    "Made",
    "Ketut",
    "Yohana",
    "Fransiska",
    "Muhammad",
    "Fitri",
    "Rizky",
    "Intan",
    "Eko",
    "Putu",
    "Maria",
)
_LAST_NAMES = (
    "Rahmawati",
    "Setiawan",
    "Lestari",
    "Santoso",
    "Hidayah",
    "Saputra",
    "Wulandari",
    "Siregar",
    "Nasution",
    "Pratama",
    "Kurniawan",
    "Hasibuan",
    "Simanjuntak",
    "Wijaya",
    "Manurung",
    "Tanjung",
    "Nugroho",
    "Daeng",
    "Wenda",
    "Mandacan",
)
_MEMBER_NAMES = (
    "Sari",
    "Yuliana",
    "Ratna",
    "Nur Aini",
    "Khodijah",
    "Endang",
    "Wartini",
    "Maryam",
    "Rohmah",
    "Fatimah",
    "Suryani",
    "Lilis",
    "Komariah",
    "Ni Kadek",
    "Yosina",
    "Martha",
)


def member_display_name(member_ref: str) -> str:
    """A recognisable name for a generated member, stable per ref (the field app shows it)."""
    digest = int.from_bytes(hashlib.sha256(member_ref.encode()).digest()[:4], "big")
    return f"Ibu {_MEMBER_NAMES[digest % len(_MEMBER_NAMES)]} {_LAST_NAMES[(digest // 7) % len(_LAST_NAMES)]}"


_FLOWERS = (
    "Mawar",
    "Melati",
    "Anggrek",
    "Kenanga",
    "Cempaka",
    "Dahlia",
    "Flamboyan",
    "Kamboja",
    "Teratai",
    "Seruni",
    "Asoka",
    "Bougenvil",
)
# (stage, title, responsible, indicator name, unit) — the empowerment process of seed 003.
_ACTIVITIES: Final[tuple[tuple[Stage, str, Responsible, str | None, str], ...]] = (
    ("dialogue", "Membangun relasi dan kepercayaan dengan kelompok", "facilitator", None, ""),
    ("dialogue", "Diskusi kelompok terarah (FGD) tentang kebutuhan keluarga", "group", "Keluarga yang ikut FGD", "KK"),
    ("discovery", "Pemetaan sosial partisipatif", "group", "Peta potensi dusun selesai", "peta"),
    ("discovery", "Analisis diagram Venn lembaga desa", "partner", None, ""),
    ("development", "Menyusun rencana aksi kelompok", "group", "Rencana aksi disepakati", "dokumen"),
    ("development", "Monitoring dan evaluasi partisipatif", "facilitator", "Keluarga dengan jamban sehat", "KK"),
)


@dataclass(frozen=True, slots=True)
class Shape:
    """What to generate: how big (`scale` of the national programme), which random world (`seed`),
    and which periods (`months` calendar months from `start`, the first day of a month, UTC)."""

    scale: float = 0.001
    seed: int = 7
    start: date = date(2026, 1, 1)
    months: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1.0:
            raise ValueError("scale must be in (0, 1]")
        if self.months < 1:
            raise ValueError("months must be at least 1")
        if self.start.day != 1:
            raise ValueError("start must be the first day of a month")

    @property
    def facilitator_count(self) -> int:
        """Facilitators in the whole programme at this scale."""
        return max(1, round(FULL_SCALE_FACILITATORS * self.scale))

    def periods(self) -> list[str]:
        """The simulated periods, `YYYY-MM`."""
        result = []
        year, month = self.start.year, self.start.month
        for _ in range(self.months):
            result.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return result

    @property
    def started_at(self) -> datetime:
        """Start of the first period (UTC midnight)."""
        return datetime(self.start.year, self.start.month, 1, tzinfo=UTC)

    @property
    def horizon_end(self) -> datetime:
        """End of the simulation: the last period's end plus `TAIL_DAYS` (UTC)."""
        year, month = map(int, self.periods()[-1].split("-"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return datetime(year, month, 1, tzinfo=UTC) + timedelta(days=TAIL_DAYS)

    @staticmethod
    def ending_before(now: datetime, *, scale: float, seed: int, months: int) -> Shape:
        """The latest shape whose whole horizon lies in the past of `now` (for the HTTP driver:
        the API refuses meetings in the future)."""
        year, month = now.year, now.month
        for _ in range(months + 1):
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        candidate = Shape(scale=scale, seed=seed, start=date(year, month, 1), months=months)
        if candidate.horizon_end + timedelta(hours=1) > now:
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            candidate = Shape(scale=scale, seed=seed, start=date(year, month, 1), months=months)
        return candidate


@dataclass(frozen=True, slots=True)
class Region:
    """A region (wilayah) to register: code, name, level."""

    code: str
    name: str
    level: Literal["provinsi", "kabupaten", "kecamatan", "desa"]


@dataclass(frozen=True, slots=True)
class Supervisor:
    """A supervisor (koordinator) at `kabupaten`, `provinsi` or `nasional` level."""

    supervisor_id: str
    name: str
    level: Literal["kabupaten", "provinsi", "nasional"]
    region_code: str | None
    language: Literal["id", "en"]


@dataclass(frozen=True, slots=True)
class Indicator:
    """A success indicator of an activity: baseline → target, in a unit."""

    name: str
    unit: str
    baseline: float
    target: float


@dataclass(frozen=True, slots=True)
class Activity:
    """One planned activity of a group's plan."""

    activity_id: str
    title: str
    stage: Stage
    due_on: date
    responsible: Responsible
    indicator: Indicator | None


@dataclass(frozen=True, slots=True)
class Plan:
    """A group's facilitation plan (rencana pendampingan): dialogue → discovery → development."""

    plan_id: str
    title: str
    starts_on: date
    ends_on: date
    activities: tuple[Activity, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """An accompanied group with its pseudonymous members, chair, schedule and plan."""

    group_id: str
    name: str
    programme: str
    facilitator_id: str
    region_code: str
    time_zone: str
    member_refs: tuple[str, ...]
    chair_member_ref: str
    cadence: Cadence
    day_of_month: int
    expected_minutes: int
    plan: Plan


@dataclass(frozen=True, slots=True)
class Facilitator:
    """A facilitator (pendamping), their device and the groups they accompany."""

    facilitator_id: str
    name: str
    programme: str
    region_code: str
    time_zone: str
    phone: str
    device_id: str
    groups: tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class _Seat:
    """Where a facilitator sits before their details are drawn: the cheap part of the layout."""

    province: Province
    regency: str
    kecamatan: str
    ordinal: int  # position within the kecamatan


def _rng(shape: Shape, *parts: object) -> random.Random:
    """A random stream private to one entity (str seeds are hashed with SHA-512: process-stable)."""
    return random.Random(":".join(str(part) for part in (shape.seed, *parts)))


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` proportionally to `weights` (largest remainder), deterministically."""
    whole = sum(weights)
    raw = [total * weight / whole for weight in weights]
    counts = [math.floor(value) for value in raw]
    order = sorted(range(len(weights)), key=lambda index: (counts[index] - raw[index], index))
    for index in order[: total - sum(counts)]:
        counts[index] += 1
    return counts


class Programme:
    """The registry of one generated programme. Iterate; nothing is materialised up front."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    @cached_property
    def _layout(self) -> list[tuple[Province, list[str], int]]:
        """Per province: the regencies in use and how many facilitators it has (a few KB)."""
        shares = _allocate(self.shape.facilitator_count, [province.regency_count for province in PROVINCES])
        layout = []
        for province, facilitators in zip(PROVINCES, shares, strict=True):
            codes = regency_codes(province)
            wanted = min(len(codes), max(1, round(len(codes) * self.shape.scale)), max(1, facilitators))
            chosen = [codes[index * len(codes) // wanted] for index in range(wanted)]
            layout.append((province, chosen if facilitators else [], facilitators))
        return layout

    def _seats(self) -> Iterator[_Seat]:
        for province, regencies, facilitators in self._layout:
            if not facilitators:
                continue
            per_regency = _allocate(facilitators, [1] * len(regencies))
            for regency, count in zip(regencies, per_regency, strict=True):
                kecamatan_count = min(99, max(1, math.ceil(count / FACILITATORS_PER_KECAMATAN)))
                for index in range(count):
                    kecamatan = f"{regency}.{index % kecamatan_count + 1:02d}"
                    yield _Seat(province, regency, kecamatan, index // kecamatan_count)

    # -- counts ------------------------------------------------------------------------------------

    def regencies_in_use(self) -> list[str]:
        """Kabupaten/kota codes that have facilitators at this scale."""
        return [code for _, regencies, _ in self._layout for code in regencies]

    # -- regions and supervisors -------------------------------------------------------------------

    def regions(self) -> Iterator[Region]:
        """Every region to register, parents before children: provinces, regencies, kecamatan, desa."""
        for province in PROVINCES:
            yield Region(province.code, province.name, "provinsi")
        for code in self.regencies_in_use():
            yield Region(code, regency_name(code, self.shape.seed), "kabupaten")
        seen: set[str] = set()
        for seat in self._seats():
            if seat.kecamatan not in seen:
                seen.add(seat.kecamatan)
                yield Region(seat.kecamatan, place_name(_rng(self.shape, "name", seat.kecamatan)), "kecamatan")
        for seat in self._seats():
            for desa in self._desa_codes(seat):
                yield Region(desa, self._desa_name(desa, seat), "desa")

    def supervisors(self) -> Iterator[Supervisor]:
        """One `nasional`, one `provinsi` per province and one `kabupaten` per regency in use."""
        yield Supervisor("SUP-NAS", "Koordinator Nasional Pendampingan", "nasional", None, "id")
        for province in PROVINCES:
            yield Supervisor(
                f"SUP-{province.code}", f"Koordinator Wilayah {province.name}", "provinsi", province.code, "id"
            )
        for code in self.regencies_in_use():
            rng = _rng(self.shape, "supervisor", code)
            language: Literal["id", "en"] = "en" if rng.random() < 0.1 else "id"
            name = f"Koordinator {regency_name(code, self.shape.seed)}"
            yield Supervisor(f"SUP-{code.replace('.', '')}", name, "kabupaten", code, language)

    # -- facilitators and groups -------------------------------------------------------------------

    def facilitators(self) -> Iterator[Facilitator]:
        """Every facilitator with their groups, one at a time."""
        for seat in self._seats():
            yield self._facilitator(seat)

    def _desa_codes(self, seat: _Seat) -> list[str]:
        base = 1000 if is_kota(seat.regency) else 2000
        return [
            f"{seat.kecamatan}.{base + seat.ordinal * DESA_PER_FACILITATOR + number:04d}"
            for number in range(1, DESA_PER_FACILITATOR + 1)
        ]

    def _desa_name(self, desa: str, seat: _Seat) -> str:
        kind = "Kelurahan" if is_kota(seat.regency) else "Desa"
        return f"{kind} {place_name(_rng(self.shape, 'name', desa))}"

    def _facilitator(self, seat: _Seat) -> Facilitator:
        facilitator_id = f"PDP-{seat.kecamatan.replace('.', '')}-{seat.ordinal + 1:02d}"
        rng = _rng(self.shape, facilitator_id)
        pick = rng.random()
        programme = "pkh-p2k2"
        cumulative = 0.0
        for candidate, (share, *_rest) in PROGRAMMES.items():
            cumulative += share
            if pick < cumulative:
                programme = candidate
                break
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        desa_codes = self._desa_codes(seat)
        group_count = rng.randint(*GROUPS_PER_FACILITATOR)
        groups = tuple(
            self._group(facilitator_id, programme, desa_codes[index % len(desa_codes)], index, seat)
            for index in range(group_count)
        )
        return Facilitator(
            facilitator_id=facilitator_id,
            name=name,
            programme=programme,
            region_code=seat.kecamatan,
            time_zone=seat.province.time_zone,
            phone=f"+62 8{rng.randint(11, 59)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            device_id=f"hp-{facilitator_id.lower()}",
            groups=groups,
        )

    def _group(self, facilitator_id: str, programme: str, desa: str, index: int, seat: _Seat) -> Group:
        _share, cadence, members_range, minutes = PROGRAMMES[programme]
        prefix = {"pkh-p2k2": "KLP", "ssk-pokja": "POK"}.get(programme, "FKK")
        group_id = f"{prefix}-{desa.replace('.', '')}{index + 1:04d}"
        rng = _rng(self.shape, group_id)
        if programme == "pkh-p2k2":
            name = f"Kelompok {rng.choice(_FLOWERS)} {index + 1}"
        elif programme == "ssk-pokja":
            name = f"Pokja Sanitasi {self._desa_name(desa, seat).split(' ', 1)[1]} {index + 1}"
        else:
            name = f"Forum Kemitraan KB {self._desa_name(desa, seat).split(' ', 1)[1]} {index + 1}"
        members = tuple(member_ref(self.shape.seed, group_id, number) for number in range(rng.randint(*members_range)))
        return Group(
            group_id=group_id,
            name=name,
            programme=programme,
            facilitator_id=facilitator_id,
            region_code=desa,
            time_zone=seat.province.time_zone,
            member_refs=members,
            chair_member_ref=members[0],
            cadence=cadence,
            day_of_month=rng.randint(10, 20),
            expected_minutes=minutes,
            plan=self._plan(group_id, len(members), rng),
        )

    def _plan(self, group_id: str, member_count: int, rng: random.Random) -> Plan:
        starts_on = self.shape.start
        span_days = (self.shape.horizon_end.date() - starts_on).days
        # Spread the six activities over 1.3× the simulated time: the later ones fall due after it.
        horizon_day = self.shape.horizon_end.date()
        dues = []
        for step in range(6):
            due = starts_on + timedelta(days=12 + round(step * (span_days * 1.3 - 12) / 5) + rng.randint(-4, 4))
            if abs((due - horizon_day).days) <= 2:
                due += timedelta(days=5)  # keep due dates clear of the simulation's end
            dues.append(due)
        activities = []
        for number, ((stage, title, responsible, indicator_name, unit), due_on) in enumerate(
            zip(_ACTIVITIES, dues, strict=True), start=1
        ):
            indicator = None
            if indicator_name is not None:
                target = float(member_count if unit == "KK" else 1)
                indicator = Indicator(indicator_name, unit, 0.0, target)
            activities.append(Activity(f"{group_id}-A{number}", title, stage, due_on, responsible, indicator))
        return Plan(
            plan_id=f"RP-{group_id}",
            title="Rencana pendampingan kelompok",
            starts_on=starts_on,
            ends_on=max(dues) + timedelta(days=rng.randint(5, 20)),
            activities=tuple(activities),
        )


def member_ref(seed: int, group_id: str, number: int) -> str:
    """A pseudonymous member ref (`kpm-…`): stable per seed, never derived from a real identifier.

    Base32 like the service's own pseudonyms: sixteen hex characters are all decimal one time in
    two thousand, and a NIK-shaped ref is refused at the API's edge."""
    digest = hashlib.blake2b(f"{seed}:{group_id}:{number}".encode(), digest_size=10).digest()
    return "kpm-" + base64.b32encode(digest).decode().lower()
