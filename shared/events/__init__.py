"""Every v1 event type of the contract, and the catalogue consumers decode through."""

from __future__ import annotations

from shared.events.base import EventData, GroupKeyed
from shared.events.evaluations import EvaluationSubmitted
from shared.events.meetings import Attendance, DeviceSynced, MeetingRecorded, MeetingScheduled
from shared.events.monitoring import DeviationEscalated, DeviationOpened, DeviationResolved
from shared.events.notifications import AlertAcknowledged, AlertEscalated, AlertSent, DeliveryFailed
from shared.events.plans import ActivityProgressed, Indicator, PlanAgreed, PlannedActivity, PlanRevised
from shared.events.registry import (
    FacilitatorUpserted,
    GroupUpserted,
    MeetingSchedule,
    RegionUpserted,
    SupervisorUpserted,
)

ALL_EVENT_CLASSES: tuple[type[EventData], ...] = (
    RegionUpserted,
    SupervisorUpserted,
    FacilitatorUpserted,
    GroupUpserted,
    MeetingRecorded,
    MeetingScheduled,
    DeviceSynced,
    PlanAgreed,
    PlanRevised,
    ActivityProgressed,
    EvaluationSubmitted,
    DeviationOpened,
    DeviationEscalated,
    DeviationResolved,
    AlertSent,
    AlertAcknowledged,
    AlertEscalated,
    DeliveryFailed,
)

# type name -> class; every version still in retention must stay listed here.
EVENT_CATALOGUE: dict[str, type[EventData]] = {cls.event_type: cls for cls in ALL_EVENT_CLASSES}

__all__ = [
    "ALL_EVENT_CLASSES",
    "EVENT_CATALOGUE",
    "ActivityProgressed",
    "AlertAcknowledged",
    "AlertEscalated",
    "AlertSent",
    "Attendance",
    "DeliveryFailed",
    "DeviationEscalated",
    "DeviationOpened",
    "DeviationResolved",
    "DeviceSynced",
    "EvaluationSubmitted",
    "EventData",
    "FacilitatorUpserted",
    "GroupKeyed",
    "GroupUpserted",
    "Indicator",
    "MeetingRecorded",
    "MeetingSchedule",
    "MeetingScheduled",
    "PlanAgreed",
    "PlanRevised",
    "PlannedActivity",
    "RegionUpserted",
    "SupervisorUpserted",
]
