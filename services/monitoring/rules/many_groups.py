"""`facilitator.many_groups_deviating`: a facilitator stands out when several of their groups have
open deviations of some weight at once — at least `groups` of them (default 3) *and* at least a
share of all their groups (`share_of_groups`), counting only deviations of `from_severity` (default
warning) or above. A facilitator with twelve groups of which three had one warning each is
ordinary; one whose groups are mostly in trouble is a systemic signal about the facilitator rather
than about any one group.

Fed by a stream re-keyed by facilitator id: each group says so when it first appears under its
facilitator and whenever it starts or stops counting, so no process ever scans all groups. The
deviation is published under the group whose change tipped the balance, and concerns the
facilitator; resolved when either condition no longer holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mypy_extensions import mypyc_attr

from services.monitoring.programmes import ManyGroupsConfig
from services.monitoring.rules.decisions import Decision, DetailValue, Open, Resolve, Severity, deviation_id

RULE = "facilitator.many_groups_deviating"
# Rules that do not count towards the facilitator's systemic signal.
NOT_COUNTED = frozenset({RULE, "recognition.sustained_success"})
SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}


@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class FacilitatorState:
    """The facilitator's groups, those with open deviations that count, and the signal's deviation."""

    deviating_groups: dict[str, list[str]] = field(default_factory=dict)  # group id -> [region, programme]
    open_deviation_id: str | None = None
    open_group_id: str | None = None
    episode: int = 0
    groups: dict[str, list[str]] = field(default_factory=dict)  # every group heard of -> [region, programme]

    def place_of(self, group_id: str) -> tuple[str, str] | None:
        """(region code, programme) of a group, if known."""
        place = self.deviating_groups.get(group_id) or self.groups.get(group_id)
        return (place[0], place[1]) if place else None

    @property
    def group_count(self) -> int:
        """Groups of the facilitator known here (at least those deviating)."""
        return len(self.groups.keys() | self.deviating_groups.keys())

    def stands_out(self, config: ManyGroupsConfig) -> bool:
        """Both thresholds: enough groups, and enough of the facilitator's groups."""
        deviating = len(self.deviating_groups)
        return deviating >= config.groups and deviating >= config.share_of_groups * self.group_count

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FacilitatorState:
        return cls(**data) if data else cls()


@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class GroupSignal:
    """One group's news for its facilitator's stream."""

    facilitator_id: str
    group_id: str
    region_code: str
    programme: str
    deviating: bool
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupSignal:
        return cls(**{**data, "at": datetime.fromisoformat(data["at"])})


def counts(severity: Severity, config: ManyGroupsConfig) -> bool:
    """Whether an open deviation of this severity makes its group count."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[config.from_severity]


def on_signal(
    state: FacilitatorState, signal: GroupSignal, config: ManyGroupsConfig
) -> tuple[FacilitatorState, list[tuple[str, Decision]]]:
    """The new state and (group id to publish under, decision) pairs. The group a resolution is
    published under is the one the opening was published under."""
    place = [signal.region_code, signal.programme]
    groups = {**state.groups, signal.group_id: place}
    deviating = dict(state.deviating_groups)
    if signal.deviating:
        deviating[signal.group_id] = place
    else:
        deviating.pop(signal.group_id, None)
    state = replace(state, deviating_groups=deviating, groups=groups)
    details: dict[str, DetailValue] = {
        "groups_deviating": len(deviating),
        "groups_total": state.group_count,
        "threshold_groups": config.groups,
        "threshold_share": config.share_of_groups,
    }
    if state.open_deviation_id is None and state.stands_out(config):
        episode = state.episode + 1
        opened = Open(
            rule=RULE,
            subject=signal.facilitator_id,
            occurrence=f"{signal.facilitator_id}#{episode}",
            severity="warning",
            evidence_at=signal.at,
            at=signal.at,
            concerns="facilitator",
            details=details,
        )
        new_state = replace(
            state, open_deviation_id=opened.deviation_id, open_group_id=signal.group_id, episode=episode
        )
        return new_state, [(signal.group_id, opened)]
    if state.open_deviation_id is not None and not state.stands_out(config):
        resolved = Resolve(state.open_deviation_id, RULE, "warning", "fewer_groups_deviating", at=signal.at)
        group_id = state.open_group_id or signal.group_id
        return replace(state, open_deviation_id=None, open_group_id=None), [(group_id, resolved)]
    return state, []


def signal_deviation_id(facilitator_id: str, episode: int) -> str:
    return deviation_id(RULE, facilitator_id, f"{facilitator_id}#{episode}")
