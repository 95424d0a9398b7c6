"""Topic names of the contract (without the optional per-deployment prefix).

Partition counts and configs live in `deploy/kafka/topics.yaml`; a contract test keeps the two in
step. Every topic keyed by group id has the same partition count (co-partitioning), because the
stream processors join them in tables keyed by group id.
"""

from __future__ import annotations

from typing import Final

REGISTRY_EVENTS: Final = "registry.events"
MEETINGS_EVENTS: Final = "meetings.events"
PLANS_EVENTS: Final = "plans.events"
EVALUATIONS_EVENTS: Final = "evaluations.events"
MONITORING_DEVIATIONS: Final = "monitoring.deviations"
NOTIFICATIONS_ALERTS: Final = "notifications.alerts"

MONITORING_DLQ: Final = "monitoring.dlq"
NOTIFICATIONS_DLQ: Final = "notifications.dlq"
ANALYTICS_DLQ: Final = "analytics.dlq"

CONTRACT_TOPICS: Final = (
    REGISTRY_EVENTS,
    MEETINGS_EVENTS,
    PLANS_EVENTS,
    EVALUATIONS_EVENTS,
    MONITORING_DEVIATIONS,
    NOTIFICATIONS_ALERTS,
)
DEAD_LETTER_TOPICS: Final = (MONITORING_DLQ, NOTIFICATIONS_DLQ, ANALYTICS_DLQ)

# Topics keyed by group id: processed together, so they must share one partition count.
GROUP_KEYED_TOPICS: Final = (MEETINGS_EVENTS, PLANS_EVENTS, EVALUATIONS_EVENTS, MONITORING_DEVIATIONS)
GROUP_KEYED_PARTITIONS: Final = 12

# Headers every Pantau record carries, and the ones a dead letter adds.
CONTENT_TYPE_HEADER: Final = "content-type"
CLOUDEVENTS_CONTENT_TYPE: Final = "application/cloudevents+json"
EVENT_TYPE_HEADER: Final = "ce_type"
DLQ_REASON_HEADER: Final = "pantau-dlq-reason"
DLQ_DETAIL_HEADER: Final = "pantau-dlq-detail"
DLQ_SOURCE_TOPIC_HEADER: Final = "pantau-dlq-source-topic"
DLQ_SOURCE_PARTITION_HEADER: Final = "pantau-dlq-source-partition"
DLQ_SOURCE_OFFSET_HEADER: Final = "pantau-dlq-source-offset"
DLQ_SERVICE_HEADER: Final = "pantau-dlq-service"


def qualified(topic: str, prefix: str = "") -> str:
    """The topic's name on the broker: a deployment (or a test) may prefix every topic."""
    return f"{prefix}{topic}"
