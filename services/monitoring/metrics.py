"""The worker's Prometheus metrics (bounded labels only: service, topic, reason, rule, severity)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.intake import IntakeMetrics

SERVICE = "monitoring"


class MonitoringMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.intake = IntakeMetrics(registry, service=SERVICE)
        self.deviations = Counter(
            "pantau_deviation_events_published_total",
            "Deviation events published, by kind of change.",
            ["rule", "severity", "change"],
            registry=registry,
        )
        self.publish_retries = Counter(
            "pantau_monitoring_publish_retries_total",
            "Batches whose publication had to be retried (broker trouble).",
            registry=registry,
        )
        self.detection_latency = Histogram(
            "pantau_detection_latency_seconds",
            "From the evidence being accepted by Pantau to the deviation being published.",
            ["rule"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
