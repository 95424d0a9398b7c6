"""The analytics metrics stay bounded and anonymous at national scale.

A synthetic nation — 38 provinces, 514 kabupaten, 3 programmes, 11 rules × 3 severities, 3 evaluation
directions, 3 supervisor levels, 13 months of history — is folded through the real aggregate functions
and exposed through the real collector. The number of series must stay under the bound stated in
services/analytics/README.md, and no label may carry a group, member or facilitator id.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.analytics import aggregates
from services.analytics.aggregates import GroupFacts, Rollup, SupervisorFacts, contribution
from services.analytics.collector import AggregatesCollector, PipelineHealth
from shared import regions
from shared.events import (
    AlertAcknowledged,
    DeviationOpened,
    EvaluationSubmitted,
    MeetingRecorded,
    MeetingScheduled,
)
from tests.samples import SAMPLES

pytestmark = pytest.mark.unit

#: The bound documented in services/analytics/README.md ("Bounds").
SERIES_BOUND = 75_000
SCRAPED_AT = datetime(2027, 1, 15, tzinfo=UTC)

PROVINCES = sorted(regions.PROVINCE_TIME_ZONES)
KABUPATEN_COUNT = 514
PROGRAMMES = ("pkh-p2k2", "ssk-pokja", "kkbpk-kemitraan")
RULES = (
    "meeting.overdue",
    "meeting.facilitator_absent",
    "meeting.low_attendance",
    "meeting.attendance_declining",
    "meeting.too_short",
    "plan.activity_overdue",
    "plan.activity_at_risk",
    "evaluation.low_score",
    "facilitator.many_groups_deviating",
    "reporting.lagging",
    "recognition.sustained_success",
)
SEVERITIES = ("info", "warning", "critical")
DIRECTIONS = ("facilitator_rates_group", "group_rates_facilitator", "supervisor_rates_facilitator")
LEVELS = ("kabupaten", "provinsi", "nasional")
MONTHS = [f"{2025 + (m // 12)}-{m % 12 + 1:02d}" for m in range(12 - 1, 12 + 12)][:13]  # 2025-12 … 2026-12

ALLOWED_LABELS = {
    "programme": re.compile(r"^(pkh-p2k2|ssk-pokja|kkbpk-kemitraan)$"),
    "province": re.compile(r"^[0-9]{2}$"),
    "kabupaten": re.compile(r"^([0-9]{2}\.[0-9]{2})?$"),
    "period": re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
    "rule": re.compile(r"^[a-z_]+\.[a-z_]+$"),
    "severity": re.compile(r"^(info|warning|critical)$"),
    "direction": re.compile(r"^(facilitator_rates_group|group_rates_facilitator|supervisor_rates_facilitator)$"),
    "escalation_level": re.compile(r"^(kabupaten|provinsi|nasional)$"),
    "service": re.compile(r"^(meetings|monitoring|notifications|analytics)$"),
    "topic": re.compile(r"^[a-z]+\.[a-z]+$"),
    "reason": re.compile(r"^[a-z_]+$"),
    "le": re.compile(r"^([0-9.e+]+|\+Inf)$"),
}


def kabupaten_codes() -> list[str]:
    """514 kabupaten spread over the 38 provinces (13 or 14 each), as Kemendagri-shaped codes."""
    return [f"{PROVINCES[n % len(PROVINCES)]}.{n // len(PROVINCES) + 1:02d}" for n in range(KABUPATEN_COUNT)]


def national_scale() -> tuple[Rollup, set[str]]:
    """Fold one group per programme × kabupaten through every kind of fact, for every month.

    Returns the summed rollup and every id used (groups, facilitators, members, reports, deviations).
    """
    meeting_sample, scheduled_sample = SAMPLES[MeetingRecorded], SAMPLES[MeetingScheduled]
    opened_sample, evaluation_sample = SAMPLES[DeviationOpened], SAMPLES[EvaluationSubmitted]
    assert isinstance(meeting_sample, MeetingRecorded)
    assert isinstance(scheduled_sample, MeetingScheduled)
    assert isinstance(opened_sample, DeviationOpened)
    assert isinstance(evaluation_sample, EvaluationSubmitted)
    ids: set[str] = {ref.member_ref for ref in meeting_sample.attendance}
    rollup = Rollup()
    first_of_province: set[tuple[str, str]] = set()
    for number, (programme, kabupaten) in enumerate(
        (programme, kabupaten) for programme in PROGRAMMES for kabupaten in kabupaten_codes()
    ):
        group_id, facilitator_id = f"KLP-{number:06d}", f"PDP-{number:06d}"
        village = f"{kabupaten}.01.1001"
        ids |= {group_id, facilitator_id}
        facts = GroupFacts(partition=number % 12)
        for month in MONTHS:
            year, mon = int(month[:4]), int(month[5:])
            due = datetime(year, mon, 10, 16, 59, 59, tzinfo=UTC)
            place = {"group_id": group_id, "programme": programme, "region_code": village}
            aggregates.on_meeting_scheduled(
                facts,
                scheduled_sample.model_copy(
                    update={**place, "facilitator_id": facilitator_id, "period": month, "due_at": due}
                ),
            )
            report_id = f"rep-{group_id}-{month}"
            ids.add(report_id)
            aggregates.on_meeting(
                facts,
                meeting_sample.model_copy(
                    update={
                        **place,
                        "report_id": report_id,
                        "facilitator_id": facilitator_id,
                        "started_at": due - timedelta(hours=10),
                        "ended_at": due - timedelta(hours=8),
                    }
                ),
            )
        for direction in DIRECTIONS:
            evaluation_id = f"ev-{group_id}-{direction}"
            ids.add(evaluation_id)
            aggregates.on_evaluation(
                facts,
                evaluation_sample.model_copy(
                    update={
                        "group_id": group_id,
                        "evaluation_id": evaluation_id,
                        "facilitator_id": facilitator_id,
                        "programme": programme,
                        "region_code": village,
                        "direction": direction,
                    }
                ),
            )
        province = regions.province_of(kabupaten)
        if (programme, province) not in first_of_province:  # every rule × severity, once per province
            first_of_province.add((programme, province))
            for rule in RULES:
                for severity in SEVERITIES:
                    deviation_id = f"dev-{group_id}-{rule}-{severity}"
                    ids.add(deviation_id)
                    aggregates.on_deviation_opened(
                        facts,
                        opened_sample.model_copy(
                            update={
                                "group_id": group_id,
                                "deviation_id": deviation_id,
                                "rule": rule,
                                "severity": severity,
                                "programme": programme,
                                "facilitator_id": facilitator_id,
                                "region_code": village,
                            }
                        ),
                    )
        rollup.apply(contribution(facts))
    ack_sample = SAMPLES[AlertAcknowledged]
    assert isinstance(ack_sample, AlertAcknowledged)
    supervisor = SupervisorFacts()
    for severity in SEVERITIES:
        for level in LEVELS:
            alert_id = f"alert-{severity}-{level}"
            ids.add(alert_id)
            aggregates.on_alert_acknowledged(
                supervisor,
                ack_sample.model_copy(update={"alert_id": alert_id, "severity": severity, "escalation_level": level}),
            )
    rollup.apply(aggregates.supervisor_contribution(supervisor))
    ids.add(ack_sample.supervisor_id)
    return rollup, ids


@pytest.fixture(scope="module")
def exposition() -> tuple[str, set[str]]:
    rollup, ids = national_scale()
    services = ("monitoring", "notifications", "analytics")
    health = PipelineHealth(
        consumer_lag={
            (s, t): 0.0 for s in services for t in ("meetings.events", "monitoring.deviations", "notifications.alerts")
        },
        dead_letters={
            (s, r): 1.0
            for s in services
            for r in ("malformed_json", "invalid_envelope", "invalid_data", "key_mismatch", "processing_error")
        },
    )
    registry = CollectorRegistry()
    # Scraped after the last month's due time: every period is due (the most series compliance exposes).
    registry.register(AggregatesCollector(lambda: rollup, lambda: health, clock=lambda: SCRAPED_AT))
    return generate_latest(registry).decode(), ids


def test_series_count_at_national_scale_stays_under_the_bound(exposition: tuple[str, set[str]]) -> None:
    text, _ = exposition
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    by_metric: dict[str, int] = {}
    for sample in samples:
        by_metric[sample.name] = by_metric.get(sample.name, 0) + 1
    print(f"{len(samples)} series at national scale: {dict(sorted(by_metric.items()))}")
    assert len(samples) <= SERIES_BOUND
    # The shape is what the README states, so the bound is not met by accident (e.g. nothing exposed).
    assert by_metric["pantau_meeting_groups_due"] == len(PROGRAMMES) * KABUPATEN_COUNT * aggregates.EXPOSED_PERIODS
    assert (
        by_metric["pantau_meeting_compliance_ratio"]
        == len(PROGRAMMES) * (KABUPATEN_COUNT + len(PROVINCES)) * aggregates.EXPOSED_PERIODS
    )
    province_months = len(PROGRAMMES) * len(PROVINCES) * aggregates.EXPOSED_PERIODS
    assert by_metric["pantau_meeting_groups_met_late"] == by_metric["pantau_meeting_groups_synced_past_due"]
    assert by_metric["pantau_meeting_groups_met_late"] == province_months
    # Groups still open exist only for the months whose due time is ahead: at most the same again.
    assert by_metric.get("pantau_meeting_groups_open", 0) == 0
    assert len(samples) + province_months <= SERIES_BOUND
    assert by_metric["pantau_deviations_opened_total"] == len(RULES) * len(SEVERITIES) * len(PROGRAMMES) * len(
        PROVINCES
    )
    assert by_metric["pantau_evaluation_score_count"] == len(DIRECTIONS) * len(PROGRAMMES) * len(PROVINCES)
    assert by_metric["pantau_alert_ack_seconds_count"] == len(SEVERITIES) * len(LEVELS)


def test_no_series_carries_an_id(exposition: tuple[str, set[str]]) -> None:
    text, ids = exposition
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert name in ALLOWED_LABELS, f"{sample.name}: label {name} is not a bounded label"
                assert ALLOWED_LABELS[name].match(value), f"{sample.name}: {name}={value!r}"
                assert value not in ids, f"{sample.name}: {name}={value!r} is an id"
    for marker in ("KLP-", "PDP-", "kpm-", "m-", "rep-", "dev-", "ev-", "alert-"):
        assert f'"{marker}' not in text
