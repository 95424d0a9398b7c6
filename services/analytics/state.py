"""The worker's in-memory view over its tables: running sums per partition and a facilitator → groups
index. Maintained incrementally as events are folded, rebuilt from the tables after every recovery
(partition assignment), so scrapes and reports never iterate every group."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.analytics.aggregates import (
    Contribution,
    GroupFacts,
    Rollup,
    SupervisorFacts,
    contribution,
    supervisor_contribution,
)
from services.analytics.collector import PipelineHealth


@dataclass
class AnalyticsState:
    """Sums of the tables' contributions, kept per source partition so a revoked partition's groups
    leave the sums at the next rebuild."""

    group_rollups: dict[int, Rollup] = field(default_factory=dict)
    supervisor_rollups: dict[int, Rollup] = field(default_factory=dict)
    facilitator_groups: dict[str, set[str]] = field(default_factory=dict)
    kabupaten_groups: dict[str, set[str]] = field(default_factory=dict)  # the manager page's facilitator level
    active_group_partitions: set[int] = field(default_factory=set)
    health: PipelineHealth = field(default_factory=PipelineHealth)
    rebuilds: int = 0

    def rollup(self) -> Rollup:
        """Everything this worker holds, summed (size: the label space, not the groups)."""
        return Rollup.merged([*self.group_rollups.values(), *self.supervisor_rollups.values()])

    def group_changed(self, group_id: str, before: GroupFacts | None, after: GroupFacts) -> None:
        """Apply one group's change to the sums and the index."""
        old: Contribution = contribution(before) if before is not None else {}
        self.group_rollups.setdefault(after.partition, Rollup()).replace(old, contribution(after))
        self._index(group_id, after)

    def supervisor_changed(self, before: SupervisorFacts | None, after: SupervisorFacts) -> None:
        """Apply one supervisor's change to the sums."""
        old: Contribution = supervisor_contribution(before) if before is not None else {}
        self.supervisor_rollups.setdefault(after.partition, Rollup()).replace(old, supervisor_contribution(after))

    def rebuild_groups(self, groups: Iterable[tuple[str, GroupFacts]], active: set[int]) -> None:
        """Recompute the group sums and the index from the table, counting only active partitions
        (a standby copy of another worker's partition is not ours to count)."""
        rollups: dict[int, Rollup] = {}
        self.facilitator_groups = {}
        self.kabupaten_groups = {}
        for group_id, facts in groups:
            if facts.partition not in active:
                continue
            rollups.setdefault(facts.partition, Rollup()).apply(contribution(facts))
            self._index(group_id, facts)
        self.group_rollups = rollups
        self.active_group_partitions = set(active)
        self.rebuilds += 1

    def rebuild_supervisors(self, supervisors: Iterable[SupervisorFacts], active: set[int]) -> None:
        """Recompute the acknowledgement sums from the table (active partitions only)."""
        rollups: dict[int, Rollup] = {}
        for facts in supervisors:
            if facts.partition in active:
                rollups.setdefault(facts.partition, Rollup()).apply(supervisor_contribution(facts))
        self.supervisor_rollups = rollups

    def _index(self, group_id: str, facts: GroupFacts) -> None:
        ids = {facts.facilitator_id, *(month.facilitator_id for month in facts.periods.values())}
        for facilitator_id in ids - {""}:
            self.facilitator_groups.setdefault(facilitator_id, set()).add(group_id)
        for kabupaten in {facts.kabupaten, *(month.kabupaten for month in facts.periods.values())} - {""}:
            self.kabupaten_groups.setdefault(kabupaten, set()).add(group_id)
