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
        # The loop worker's batches the broker refused because the group had moved past this worker
        # (`fencing.py`): a worker paused or cut off longer than its session timeout. Not an error by
        # itself; a steady rate means workers keep losing their membership (CPU starved, GC, network).
        self.stale_batches = Counter(
            "pantau_monitoring_stale_batches_total",
            "Batches not committed because the consumer group had moved past this worker.",
            registry=registry,
        )
        self.detection_latency = Histogram(
            "pantau_detection_latency_seconds",
            "From the evidence being accepted by Pantau to the deviation being published.",
            ["rule"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        # How full the batches run: a worker catching up should fill them (few broker round trips per
        # record); a live worker sees small ones. Read beside the processed-records counter.
        self.batch_records = Histogram(
            "pantau_monitoring_batch_records",
            "Records in each batch the group agent processed.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "pantau_monitoring_batch_seconds",
            "Time to process one batch: rules, publications and state writes acknowledged by the broker.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        # Where a batch's time goes, in the order the phases run (`Agents.process_groups`): the rules
        # (decode, fold, the deviations' bytes), the publications acknowledged, the states encoded and
        # written to the table, their changelog writes handed to the producer, and the wait for those
        # to be acknowledged. `rate()` of each over their sum is the share; the bench prints it.
        self.batch_phase_seconds = Counter(
            "pantau_monitoring_batch_phase_seconds",
            "Seconds the group agent spent in each phase of its batches.",
            ["phase"],
            registry=registry,
        )
