"""The notifier's Prometheus metrics (bounded labels only)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.intake import IntakeMetrics

SERVICE = "notifications"


class NotificationsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.intake = IntakeMetrics(registry, service=SERVICE)
        self.alerts = Counter(
            "pantau_alerts_total", "Deviations accepted, by outcome.", ["outcome", "severity"], registry=registry
        )
        self.routing_climbed = Counter(
            "pantau_alert_routing_climbed_total",
            "Alerts routed above kabupaten level because no supervisor was registered there.",
            ["level"],
            registry=registry,
        )
        self.deliveries = Counter(
            "pantau_alert_deliveries_total",
            "Delivery attempts by channel and result.",
            ["channel", "result"],
            registry=registry,
        )
        self.feedback = Counter(
            "pantau_alert_feedback_total",
            "Supervisors' marks on incident items, per rule: useful or not (precision as readers see it).",
            ["rule", "verdict"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "pantau_alert_delivery_seconds",
            "From deviation detected to alert delivered.",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.pending = Gauge("pantau_alert_deliveries_pending", "Deliveries waiting for an attempt.", registry=registry)
