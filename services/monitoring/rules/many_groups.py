"""`facilitator.many_groups_deviating`: several of one facilitator's groups have open deviations at
once (default 3): a systemic signal about the facilitator rather than about any one group.

Fed by a stream re-keyed by facilitator id (each group tells whether it has open group-level
deviations), so no process ever scans all groups. The deviation is published under the group whose
change tipped the count, and concerns the facilitator; resolved when fewer groups deviate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.monitoring.programmes import ManyGroupsConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve, deviation_id

RULE = "facilitator.many_groups_deviating"
# Rules that do not count towards the facilitator's systemic signal.
NOT_COUNTED = frozenset({RULE, "recognition.sustained_success"})


@dataclass(frozen=True)
class FacilitatorState:
    """Groups of one facilitator that have open deviations, and the signal's open deviation."""

    deviating_groups: dict[str, list[str]] = field(default_factory=dict)  # group id -> [region, programme]
    open_deviation_id: str | None = None
    open_group_id: str | None = None
    episode: int = 0

    def place_of(self, group_id: str) -> tuple[str, str] | None:
        """(region code, programme) of a deviating group, if known."""
        place = self.deviating_groups.get(group_id)
        return (place[0], place[1]) if place else None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FacilitatorState:
        return cls(**data) if data else cls()


@dataclass(frozen=True)
class GroupSignal:
    """One group's news for its facilitator's stream."""

    facilitator_id: str
    group_id: str
    region_code: str
    programme: str
    deviating: bool
    at: datetime


def on_signal(
    state: FacilitatorState, signal: GroupSignal, config: ManyGroupsConfig
) -> tuple[FacilitatorState, list[tuple[str, Decision]]]:
    """The new state and (group id to publish under, decision) pairs. The group a resolution is
    published under is the one the opening was published under."""
    groups = dict(state.deviating_groups)
    if signal.deviating:
        groups[signal.group_id] = [signal.region_code, signal.programme]
    else:
        groups.pop(signal.group_id, None)
    state = replace(state, deviating_groups=groups)
    if state.open_deviation_id is None and len(groups) >= config.groups:
        episode = state.episode + 1
        occurrence = f"{signal.facilitator_id}#{episode}"
        opened = Open(
            rule=RULE,
            subject=signal.facilitator_id,
            occurrence=occurrence,
            severity="warning",
            evidence_at=signal.at,
            at=signal.at,
            concerns="facilitator",
            details={"groups_deviating": len(groups), "threshold_groups": config.groups},
        )
        new_state = replace(
            state, open_deviation_id=opened.deviation_id, open_group_id=signal.group_id, episode=episode
        )
        return new_state, [(signal.group_id, opened)]
    if state.open_deviation_id is not None and len(groups) < config.groups:
        resolved = Resolve(state.open_deviation_id, RULE, "warning", "fewer_groups_deviating", at=signal.at)
        group_id = state.open_group_id or signal.group_id
        return replace(state, open_deviation_id=None, open_group_id=None), [(group_id, resolved)]
    return state, []


def signal_deviation_id(facilitator_id: str, episode: int) -> str:
    return deviation_id(RULE, facilitator_id, f"{facilitator_id}#{episode}")
