"""Deviation facts on `monitoring.deviations` (keyed by group id)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared import topics
from shared.events.base import EntityId, GroupKeyed, ProgrammeId, RegionCode, Severity, UtcDatetime

DetailValue = str | int | float | bool | None


class DeviationEvent(GroupKeyed):
    """Common fields of every deviation fact."""

    kafka_topic = topics.MONITORING_DEVIATIONS

    deviation_id: EntityId = Field(description="Derived from (rule, subject, period/occurrence).")
    rule: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", description="Stable rule id, e.g. `meeting.facilitator_absent`.")
    severity: Severity = Field(description="Severity now.")
    programme: ProgrammeId
    facilitator_id: EntityId = Field(description="The group's facilitator.")
    region_code: RegionCode = Field(description="The group's village code.")


class DeviationOpened(DeviationEvent):
    """A drift from the plan or the programme's norms was detected (penyimpangan)."""

    event_type = "monitoring.deviation_opened.v1"

    concerns: Literal["group", "facilitator"] = Field(
        default="group",
        description="Whom it is about; `facilitator` routes to the facilitator's supervisor.",
    )
    occurrence: str = Field(min_length=1, max_length=120, description="The period or occurrence it is for.")
    detected_at: UtcDatetime = Field(description="When the rule fired (the rule clock).")
    evidence_at: UtcDatetime = Field(description="Event time of the evidence that made it fire.")
    details: dict[str, DetailValue] = Field(default_factory=dict, description="Facts for the message.")


class DeviationEscalated(DeviationEvent):
    """An open deviation got worse (e.g. warning → critical)."""

    event_type = "monitoring.deviation_escalated.v1"

    previous_severity: Severity = Field(description="Severity before escalation.")
    escalated_at: UtcDatetime = Field(description="When it escalated (the rule clock).")
    reason: str = Field(min_length=1, max_length=120, description="Why, as a stable token.")
    details: dict[str, DetailValue] = Field(default_factory=dict, description="Facts for the message.")


class DeviationResolved(DeviationEvent):
    """The evidence cleared: the deviation is closed."""

    event_type = "monitoring.deviation_resolved.v1"

    resolved_at: UtcDatetime = Field(description="When it cleared (the rule clock).")
    reason: str = Field(min_length=1, max_length=120, description="Why, as a stable token, e.g. `late_report`.")
