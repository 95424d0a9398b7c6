"""Names for the reports: the registry's regions, facilitators and groups, folded from `registry.events`
into a table keyed like the topic (`<kind>:<id>`, compacted upstream), so that a report says "Kelompok
Mawar, Kota Bandar Lampung" where the facts only carry ids and codes. Pure, apart from the lookup."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared import regions
from shared.events import EventData, FacilitatorUpserted, GroupUpserted, RegionUpserted, SupervisorUpserted

Lookup = Callable[[str], Mapping[str, Any] | None]


def registry_entry(event: EventData) -> tuple[str, dict[str, Any]] | None:
    """The table key and the little a report needs of one registry upsert (no contact details, no
    member refs: only a member count)."""
    if isinstance(event, RegionUpserted):
        return event.kafka_key(), {"name": event.name, "level": event.level}
    if isinstance(event, FacilitatorUpserted):
        value = {"name": event.name, "programme": event.programme, "region_code": event.region_code}
        return event.kafka_key(), value
    if isinstance(event, GroupUpserted):
        schedule = event.schedule
        return event.kafka_key(), {
            "name": event.name,
            "programme": event.programme,
            "facilitator_id": event.facilitator_id,
            "region_code": event.region_code,
            "members": len(event.member_refs),
            "cadence": schedule.cadence if schedule else None,
            "day_of_month": schedule.day_of_month if schedule else None,
            "time_zone": event.time_zone,
        }
    if isinstance(event, SupervisorUpserted):
        return event.kafka_key(), {"name": event.name, "level": event.level, "region_code": event.region_code}
    return None


class Directory:
    """Reads names through a lookup of table keys (the worker's table, or a dict in tests)."""

    def __init__(self, lookup: Lookup | None = None) -> None:
        self._lookup: Lookup = lookup or (lambda _key: None)

    def entry(self, kind: str, entity_id: str) -> Mapping[str, Any] | None:
        """The stored entry of an entity, if the registry has told us of it."""
        return self._lookup(f"{kind}:{entity_id}")

    def _name(self, kind: str, entity_id: str) -> str | None:
        entry = self.entry(kind, entity_id)
        return str(entry["name"]) if entry and entry.get("name") else None

    def region(self, code: str) -> str:
        """A region's name; a province's official name if the registry has none; else the code."""
        if not code:
            return ""
        name = self._name("region", code)
        if name:
            return name
        if "." not in code:
            return regions.province_name(code) or code
        return f"wilayah {code}"

    def facilitator(self, facilitator_id: str) -> str:
        """A facilitator's name (the id only if the registry has not told us of them)."""
        return self._name("facilitator", facilitator_id) or facilitator_id

    def group(self, group_id: str) -> str:
        """A group's name (the id only if the registry has not told us of it)."""
        return self._name("group", group_id) or group_id

    def cadence(self, group_id: str) -> str | None:
        """`monthly` or `quarterly`, from the group's agreed schedule."""
        entry = self.entry("group", group_id)
        return str(entry["cadence"]) if entry and entry.get("cadence") else None
