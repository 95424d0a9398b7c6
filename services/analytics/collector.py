"""Exposes the running sums as Prometheus metrics at scrape time.

The collector reads a `Rollup` (sums over groups, maintained incrementally by the worker) plus the
pipeline-health readings, so the cost of a scrape is proportional to the number of series, never to the
number of groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.analytics import aggregates
from services.analytics.aggregates import LabelKey, Rollup, compliance_series


@dataclass
class PipelineHealth:
    """Readings about the pipeline itself, refreshed by the worker's background tasks."""

    # (service, topic) -> messages not yet consumed by that service's consumer group
    consumer_lag: dict[tuple[str, str], float] = field(default_factory=dict)
    # (service, reason) -> records on that service's dead-letter topic
    dead_letters: dict[tuple[str, str], float] = field(default_factory=dict)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _histogram(
    name: str,
    documentation: str,
    labels: list[str],
    series: Mapping[LabelKey, float],
    bounds: tuple[float, ...],
) -> HistogramMetricFamily:
    """Turn `(*labels, bucket index | "sum" | "count") → value` into a Prometheus histogram."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    prefixes = sorted({key[:-1] for key in series})
    for prefix in prefixes:
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for index, bound in enumerate((*bounds, float("inf"))):
            cumulative += series.get((*prefix, str(index)), 0.0)
            buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cumulative))
        family.add_metric(list(prefix), buckets, sum_value=series.get((*prefix, "sum"), 0.0))
    return family


class AggregatesCollector(Collector):
    """Every aggregate metric of contract §6 that analytics owns (see the service README)."""

    def __init__(
        self,
        rollup: Callable[[], Rollup],
        health: Callable[[], PipelineHealth] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._rollup = rollup
        self._health = health or PipelineHealth
        # "Due time passed" is judged at scrape time: an injected clock in tests, the wall clock live.
        self._clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterable[Metric]:
        rollup = self._rollup()
        yield from self._programme_metrics(rollup)
        yield from self._compliance_metrics(rollup)
        yield from self._distributions(rollup)
        yield from self._pipeline_metrics(self._health())

    @staticmethod
    def _programme_metrics(rollup: Rollup) -> Iterable[Metric]:
        meetings = CounterMetricFamily(
            "pantau_meetings_recorded", "Meeting reports recorded.", labels=["programme", "province"]
        )
        for (programme, province), value in sorted(rollup.get(aggregates.MEETINGS).items()):
            meetings.add_metric([programme, province], value)
        labels = ["rule", "severity", "programme", "province"]
        opened = CounterMetricFamily("pantau_deviations_opened", "Deviations opened.", labels=labels)
        for key, value in sorted(rollup.get(aggregates.OPENED).items()):
            opened.add_metric(list(key), value)
        open_now = GaugeMetricFamily("pantau_deviations_open", "Deviations open now.", labels=labels)
        for key, value in sorted(rollup.get(aggregates.OPEN).items()):
            open_now.add_metric(list(key), value)
        return [meetings, opened, open_now]

    def _compliance_metrics(self, rollup: Rollup) -> Iterable[Metric]:
        periods = aggregates.exposed_periods(
            [key[3] for key in rollup.get(aggregates.SCHEDULED)] + [key[2] for key in rollup.get(aggregates.EXPECTED)]
        )
        labels = ["programme", "province", "kabupaten", "period"]
        due = GaugeMetricFamily(
            "pantau_meeting_groups_due",
            "Groups scheduled in the period whose due time has passed (groups still open are not due yet), "
            "per kabupaten.",
            labels=labels,
        )
        met = GaugeMetricFamily(
            "pantau_meeting_groups_met_on_schedule",
            "Of the groups due, those that met in the period no later than their due time, per kabupaten.",
            labels=labels,
        )
        ratio = GaugeMetricFamily(
            "pantau_meeting_compliance_ratio",
            "Groups met on schedule / groups due, per period; per kabupaten, and per province where "
            'kabupaten="" (never sum this metric: sum the two gauges above). No series before a due time passes.',
            labels=labels,
        )
        province_labels = ["programme", "province", "period"]
        late = GaugeMetricFamily(
            "pantau_meeting_groups_met_late",
            "Of the groups due, those whose first meeting of the period came after the due time, per province.",
            labels=province_labels,
        )
        still_open = GaugeMetricFamily(
            "pantau_meeting_groups_open",
            "Groups scheduled in the period whose due time is still ahead (never a failure), per province.",
            labels=province_labels,
        )
        synced = GaugeMetricFamily(
            "pantau_meeting_groups_synced_past_due",
            "Of the groups due, those whose facilitator's devices synced past the due time (data freshness), "
            "per province.",
            labels=province_labels,
        )
        for key, counts in sorted(compliance_series(rollup, self._clock()).items()):
            if key[3] not in periods:
                continue
            if key[2]:
                if counts.due:
                    due.add_metric(list(key), counts.due)
                    met.add_metric(list(key), counts.on_schedule)
            else:
                short = [key[0], key[1], key[3]]
                if counts.due:
                    late.add_metric(short, counts.late)
                    synced.add_metric(short, counts.synced)
                if counts.open:
                    still_open.add_metric(short, counts.open)
            if counts.ratio is not None:
                ratio.add_metric(list(key), counts.ratio)
        attendance = GaugeMetricFamily(
            "pantau_attendance_ratio",
            "Members present / members of the group, summed over the period's meetings.",
            labels=["programme", "province", "period"],
        )
        present = rollup.get(aggregates.PRESENT)
        for key, expected in sorted(rollup.get(aggregates.EXPECTED).items()):
            if key[2] in periods:
                attendance.add_metric(list(key), _ratio(present.get(key, 0.0), expected))
        return [due, met, ratio, late, still_open, synced, attendance]

    @staticmethod
    def _distributions(rollup: Rollup) -> Iterable[Metric]:
        return [
            _histogram(
                "pantau_evaluation_score",
                "Mean score (1-5) of submitted evaluations, by who rates whom.",
                ["direction", "programme", "province"],
                rollup.get(aggregates.EVALUATION),
                aggregates.EVALUATION_SCORE_BUCKETS,
            ),
            _histogram(
                "pantau_deviation_detection_lag_seconds",
                "Event time of a deviation's evidence → the rule firing (includes offline delay). "
                "Not pantau_detection_latency_seconds, which monitoring measures as accepted → published.",
                ["rule", "severity"],
                rollup.get(aggregates.DETECTION_LAG),
                aggregates.DETECTION_LAG_BUCKETS,
            ),
            _histogram(
                "pantau_alert_ack_seconds",
                "Seconds from an alert's first delivery to the supervisor's acknowledgement.",
                ["severity", "escalation_level"],
                rollup.get(aggregates.ACK),
                aggregates.ACK_SECONDS_BUCKETS,
            ),
        ]

    @staticmethod
    def _pipeline_metrics(health: PipelineHealth) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "pantau_consumer_lag_messages",
            "Records on a topic not yet consumed by a Pantau service's consumer group (Kafka admin API).",
            labels=["service", "topic"],
        )
        for key, value in sorted(health.consumer_lag.items()):
            lag.add_metric(list(key), value)
        dead = CounterMetricFamily(
            "pantau_dead_letter_records",
            "Records on the services' dead-letter topics (read from the topics, so it survives restarts).",
            labels=["service", "reason"],
        )
        for key, value in sorted(health.dead_letters.items()):
            dead.add_metric(list(key), value)
        return [lag, dead]
