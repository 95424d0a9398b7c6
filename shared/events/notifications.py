"""Alert facts on `notifications.alerts` (keyed by supervisor id)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared import topics
from shared.events.base import EntityId, EventData, Severity, SupervisorLevel, UtcDatetime

Channel = Literal["webhook", "email", "feed"]


class AlertEvent(EventData):
    """Common fields of every alert fact. With incidents on, `alert_id` is the incident's id and
    `deviation_id`/`group_id`/`rule` are those of its worst item."""

    kafka_topic = topics.NOTIFICATIONS_ALERTS

    alert_id: EntityId = Field(description="Derived from (deviation, escalation level).")
    deviation_id: EntityId = Field(description="The deviation the alert is about.")
    supervisor_id: EntityId = Field(description="The supervisor the alert is for.")
    group_id: EntityId = Field(description="The group concerned.")
    rule: str = Field(description="Rule id of the deviation.")
    severity: Severity = Field(description="Severity of the deviation.")
    escalation_level: SupervisorLevel = Field(description="Level of the supervisor.")

    def kafka_key(self) -> str:
        return self.supervisor_id


class AlertSent(AlertEvent):
    """An alert was delivered on a channel."""

    event_type = "notifications.alert_sent.v1"

    channel: Channel = Field(description="Channel it was delivered on.")
    channel_name: str | None = Field(
        default=None,
        max_length=40,
        description="The channel's registered name (`webhook`, `email`, or an added one such as `whatsapp`); "
        "`channel` keeps the contract's values and says `webhook` for channels it does not list.",
    )
    message_id: str = Field(description="Channel message id (the `webhook-id` for webhooks).")
    attempts: int = Field(ge=1, description="Delivery attempts it took.")
    sent_at: UtcDatetime = Field(description="When the delivery succeeded.")
    detected_at: UtcDatetime = Field(description="When the deviation was detected.")


class AlertAcknowledged(AlertEvent):
    """A supervisor acknowledged an alert; escalation stops."""

    event_type = "notifications.alert_acknowledged.v1"

    acknowledged_at: UtcDatetime = Field(description="When it was acknowledged.")
    ack_seconds: float = Field(ge=0, description="Seconds from first delivery to acknowledgement.")


class AlertEscalated(AlertEvent):
    """An unacknowledged alert climbed to the next administrative level."""

    event_type = "notifications.alert_escalated.v1"

    from_supervisor_id: EntityId = Field(description="The supervisor who did not acknowledge.")
    escalated_at: UtcDatetime = Field(description="When it escalated.")


class DeliveryFailed(AlertEvent):
    """Delivery on a channel gave up after its retry bound."""

    event_type = "notifications.delivery_failed.v1"

    channel: Channel = Field(description="Channel that failed.")
    channel_name: str | None = Field(
        default=None,
        max_length=40,
        description="The channel's registered name (`webhook`, `email`, or an added one such as `whatsapp`); "
        "`channel` keeps the contract's values and says `webhook` for channels it does not list.",
    )
    message_id: str = Field(description="Channel message id (the `webhook-id` for webhooks).")
    attempts: int = Field(ge=1, description="Attempts made.")
    last_error: str = Field(max_length=500, description="Last error, without personal data.")
    failed_at: UtcDatetime = Field(description="When delivery gave up.")
