"""Per-group state the rules need, kept in a Faust table keyed by group id (plain JSON values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.monitoring.rules.decisions import Severity

RECENT_MEETINGS_KEPT = 12


@dataclass(frozen=True)
class MeetingSummary:
    """What later rules need to remember of a meeting."""

    report_id: str
    started_at: datetime
    facilitator_present: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "started_at": self.started_at.isoformat(),
            "facilitator_present": self.facilitator_present,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeetingSummary:
        return cls(
            report_id=data["report_id"],
            started_at=datetime.fromisoformat(data["started_at"]),
            facilitator_present=data["facilitator_present"],
        )


@dataclass(frozen=True)
class OpenDeviation:
    """A deviation this group has open."""

    rule: str
    occurrence: str
    severity: Severity

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "occurrence": self.occurrence, "severity": self.severity}


@dataclass(frozen=True)
class GroupState:
    """Recent meetings in start order and open deviations by id."""

    meetings: tuple[MeetingSummary, ...] = ()
    open: dict[str, OpenDeviation] = field(default_factory=dict)

    def knows_report(self, report_id: str) -> bool:
        return any(meeting.report_id == report_id for meeting in self.meetings)

    def with_meeting(self, summary: MeetingSummary) -> GroupState:
        """Insert in start order, keeping the most recent few."""
        ordered = sorted((*self.meetings, summary), key=lambda meeting: (meeting.started_at, meeting.report_id))
        return GroupState(meetings=tuple(ordered[-RECENT_MEETINGS_KEPT:]), open=self.open)

    def to_json(self) -> dict[str, Any]:
        return {
            "meetings": [meeting.to_json() for meeting in self.meetings],
            "open": {key: value.to_json() for key, value in self.open.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> GroupState:
        if not data:
            return cls()
        return cls(
            meetings=tuple(MeetingSummary.from_json(item) for item in data.get("meetings", ())),
            open={key: OpenDeviation(**value) for key, value in data.get("open", {}).items()},
        )
