"""Who hears about a deviation (pure): the `kabupaten` supervisors whose region contains the group;
if that region has none, the level above (`provinsi`, then `nasional`), and the climb is reported.

Routing never hides an alert: when several supervisors are registered for the same level and region
(two kabupaten coordinators sharing a district), **every one of them hears it**. The first by id is
the *primary*: the alert row and the incident name them, and their time zone sets the deadlines;
the others get the same messages on their own channels and may acknowledge for all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared import regions

Level = Literal["kabupaten", "provinsi", "nasional"]
LEVELS: tuple[Level, ...] = ("kabupaten", "provinsi", "nasional")


@dataclass(frozen=True)
class Route:
    """The chosen supervisors (the primary and the others of the same level and region) and whether
    routing had to climb past the wanted level."""

    supervisor_id: str
    level: Level
    climbed: bool
    others: tuple[str, ...] = ()

    @property
    def supervisor_ids(self) -> tuple[str, ...]:
        """Everyone who hears: the primary first."""
        return (self.supervisor_id, *self.others)


Scopes = Mapping[tuple[Level, str | None], str | tuple[str, ...]]


def region_for_level(region_code: str, level: Level) -> str | None:
    """The code a supervisor of `level` over this region would be registered with."""
    if level == "kabupaten":
        return regions.kabupaten_of(region_code)
    if level == "provinsi":
        return regions.province_of(region_code)
    return None


def route(
    region_code: str,
    supervisors_by_scope: Scopes,
    *,
    from_level: Level = "kabupaten",
) -> Route | None:
    """The supervisors at `from_level` or, failing that, the nearest level above; None if nobody."""
    start = LEVELS.index(from_level)
    for level in LEVELS[start:]:
        found = supervisors_by_scope.get((level, region_for_level(region_code, level)))
        ids = sorted({found} if isinstance(found, str) else set(found or ()))
        if ids:
            return Route(ids[0], level, climbed=level != from_level, others=tuple(ids[1:]))
    return None
