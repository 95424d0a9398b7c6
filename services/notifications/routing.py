"""Who hears about a deviation (pure): the `kabupaten` supervisor whose region contains the group;
if that region has none, the level above (`provinsi`, then `nasional`), and the climb is reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared import regions

Level = Literal["kabupaten", "provinsi", "nasional"]
LEVELS: tuple[Level, ...] = ("kabupaten", "provinsi", "nasional")


@dataclass(frozen=True)
class Route:
    """The chosen supervisor and whether routing had to climb past the wanted level."""

    supervisor_id: str
    level: Level
    climbed: bool


def region_for_level(region_code: str, level: Level) -> str | None:
    """The code a supervisor of `level` over this region would be registered with."""
    if level == "kabupaten":
        return regions.kabupaten_of(region_code)
    if level == "provinsi":
        return regions.province_of(region_code)
    return None


def route(
    region_code: str,
    supervisors_by_scope: Mapping[tuple[Level, str | None], str],
    *,
    from_level: Level = "kabupaten",
) -> Route | None:
    """The supervisor at `from_level` or, failing that, the nearest level above; None if nobody."""
    start = LEVELS.index(from_level)
    for level in LEVELS[start:]:
        supervisor_id = supervisors_by_scope.get((level, region_for_level(region_code, level)))
        if supervisor_id is not None:
            return Route(supervisor_id=supervisor_id, level=level, climbed=level != from_level)
    return None
