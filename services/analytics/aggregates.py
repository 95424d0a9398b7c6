"""Per-group facts that the metrics are sums of (pure). Kept in a Faust table keyed by group id, so a
restart recovers them from the changelog and every counter survives it.

Labels are bounded by construction: programme, province and kabupaten codes, rule, severity.
Nothing per group, member or facilitator ever becomes a label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared import regions
from shared.events import DeviationOpened, DeviationResolved, MeetingRecorded

# Enough to recognise a redelivered report or deviation; older ids are long past any redelivery.
REMEMBERED_IDS = 64


@dataclass
class GroupFacts:
    """What analytics knows about one group."""

    programme: str = ""
    province: str = ""
    kabupaten: str = ""
    meetings_recorded: int = 0
    recent_report_ids: list[str] = field(default_factory=list)
    opened: dict[str, int] = field(default_factory=dict)  # "rule|severity" -> deviations opened
    open_deviations: dict[str, str] = field(default_factory=dict)  # deviation id -> "rule|severity"
    recent_deviation_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> GroupFacts:
        return cls(**data) if data else cls()

    def _place(self, programme: str, region_code: str) -> None:
        self.programme = programme
        self.province = regions.province_of(region_code)
        self.kabupaten = regions.kabupaten_of(region_code) or self.province


def _remember(ids: list[str], new_id: str) -> None:
    ids.append(new_id)
    del ids[:-REMEMBERED_IDS]


def on_meeting(facts: GroupFacts, meeting: MeetingRecorded) -> bool:
    """Count a meeting once. True if anything changed."""
    if meeting.report_id in facts.recent_report_ids:
        return False
    facts._place(meeting.programme, meeting.region_code)
    facts.meetings_recorded += 1
    _remember(facts.recent_report_ids, meeting.report_id)
    return True


def on_deviation_opened(facts: GroupFacts, opened: DeviationOpened) -> bool:
    """Count an opened deviation once and hold it as open. True if anything changed."""
    if opened.deviation_id in facts.recent_deviation_ids:
        return False
    facts._place(opened.programme, opened.region_code)
    label = f"{opened.rule}|{opened.severity}"
    facts.opened[label] = facts.opened.get(label, 0) + 1
    facts.open_deviations[opened.deviation_id] = label
    _remember(facts.recent_deviation_ids, opened.deviation_id)
    return True


def on_deviation_resolved(facts: GroupFacts, resolved: DeviationResolved) -> bool:
    """A resolved deviation is no longer open."""
    return facts.open_deviations.pop(resolved.deviation_id, None) is not None


@dataclass(frozen=True)
class Totals:
    """Sums over groups, keyed by label tuples."""

    meetings: Counter[tuple[str, str]]
    opened: Counter[tuple[str, str, str, str]]
    open_now: Counter[tuple[str, str, str, str]]


def totals(groups: list[GroupFacts]) -> Totals:
    """Aggregate per-group facts into metric series."""
    meetings: Counter[tuple[str, str]] = Counter()
    opened: Counter[tuple[str, str, str, str]] = Counter()
    open_now: Counter[tuple[str, str, str, str]] = Counter()
    for facts in groups:
        if facts.meetings_recorded:
            meetings[(facts.programme, facts.province)] += facts.meetings_recorded
        for label, count in facts.opened.items():
            rule, severity = label.split("|")
            opened[(rule, severity, facts.programme, facts.province)] += count
        for label in facts.open_deviations.values():
            rule, severity = label.split("|")
            open_now[(rule, severity, facts.programme, facts.province)] += 1
    return Totals(meetings, opened, open_now)
