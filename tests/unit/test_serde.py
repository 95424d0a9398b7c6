"""`serde.encode_event` writes the document `encode(envelope_for(…))` writes, for every kind of event."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
import pytest

from shared import serde
from shared.events import DeviationEscalated, DeviationOpened, DeviationResolved, EventData
from tools.generator.behaviour import Rates, simulate
from tools.generator.events import history_publications
from tools.generator.programme import Programme, Shape

pytestmark = pytest.mark.unit

COMMON: dict[str, Any] = {
    "group_id": "G-18710110010001",
    "programme": "pkh-p2k2",
    "facilitator_id": "F-001",
    "region_code": "18.71.01.1001",
    "deviation_id": "dev-0a1b",
}
MOMENT = datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC)


def deviations() -> list[EventData]:
    return [
        DeviationOpened(
            **COMMON,
            rule="meeting.overdue",
            severity="warning",
            occurrence="2026-03",
            detected_at=MOMENT,
            evidence_at=MOMENT - timedelta(days=3, microseconds=250),
            details={"days_overdue": 3, "ratio": 0.5, "late": True, "missing": None, "period": "2026-03"},
        ),
        DeviationOpened(
            **COMMON,
            rule="facilitator.many_groups_deviating",
            severity="critical",
            concerns="facilitator",
            occurrence="2026-03",
            detected_at=datetime(2026, 3, 11, 7, tzinfo=timezone(timedelta(hours=7))),
            evidence_at=MOMENT,
        ),
        DeviationEscalated(
            **COMMON,
            rule="meeting.overdue",
            severity="critical",
            previous_severity="warning",
            escalated_at=MOMENT,
            reason="still_missing",
            details={"days_overdue": 14},
        ),
        DeviationResolved(**COMMON, rule="meeting.overdue", severity="info", resolved_at=MOMENT, reason="late_report"),
    ]


def generated() -> list[EventData]:
    shape = Shape(scale=0.003, seed=11, start=date(2026, 1, 1), months=1)
    facilitators = itertools.islice(Programme(shape).facilitators(), 0, 20, 4)
    return [
        item.event
        for facilitator in facilitators
        for item in history_publications(simulate(facilitator, shape, Rates()))
    ]


@pytest.mark.parametrize(
    "time", [MOMENT, datetime(2026, 3, 11, 6, 59, 59, 120000, tzinfo=timezone(timedelta(hours=7)))]
)
def test_an_event_encoded_directly_is_the_document_its_envelope_encodes_to(time: datetime) -> None:
    events = deviations() + generated()
    assert len({event.event_type for event in events}) >= 8
    for event in events:
        direct = orjson.loads(serde.encode_event(event, source="/pantau/monitoring", time=time))
        modelled = orjson.loads(serde.encode(serde.envelope_for(event, source="/pantau/monitoring", time=time)))
        assert UUID(direct.pop("id")).version == 4
        modelled.pop("id")
        assert list(direct.items()) == list(modelled.items()), event.event_type  # the same fields, in the same order
        decoded = serde.decode(serde.encode_event(event, source="/pantau/monitoring", time=time))
        assert decoded.event == event


def test_an_envelope_without_a_source_is_refused() -> None:
    with pytest.raises(ValueError, match="source"):
        serde.encode_event(deviations()[0], source="", time=MOMENT)
