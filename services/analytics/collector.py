"""Exposes the table's aggregates as Prometheus metrics, computed at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.analytics.aggregates import GroupFacts, totals


class AggregatesCollector(Collector):
    """`pantau_meetings_recorded_total`, `pantau_deviations_opened_total`, `pantau_deviations_open`."""

    def __init__(self, groups: Callable[[], Iterable[GroupFacts]]) -> None:
        self._groups = groups

    def collect(self) -> Iterable[Metric]:
        summed = totals(list(self._groups()))
        meetings = CounterMetricFamily(
            "pantau_meetings_recorded", "Meeting reports recorded.", labels=["programme", "province"]
        )
        for (programme, province), value in sorted(summed.meetings.items()):
            meetings.add_metric([programme, province], value)
        labels = ["rule", "severity", "programme", "province"]
        opened = CounterMetricFamily("pantau_deviations_opened", "Deviations opened.", labels=labels)
        for key, value in sorted(summed.opened.items()):
            opened.add_metric(list(key), value)
        open_now = GaugeMetricFamily("pantau_deviations_open", "Deviations open now.", labels=labels)
        for key, value in sorted(summed.open_now.items()):
            open_now.add_metric(list(key), value)
        return [meetings, opened, open_now]
