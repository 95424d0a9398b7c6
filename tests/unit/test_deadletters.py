"""A refused record's dead-letter headers, built the same way for every worker's kind of record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shared import topics
from shared.deadletters import headers_for


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    headers: Any


@pytest.mark.parametrize(
    "headers",
    [
        [("traceparent", b"00-abc-01")],  # an aiokafka ConsumerRecord's: a sequence of pairs
        {"traceparent": b"00-abc-01"},  # a Faust message's can be a dict
    ],
)
def test_the_record_s_own_headers_come_first_then_why_and_where_from(headers: Any) -> None:
    built = headers_for(
        Record("meetings.events", 3, 41, headers), service="monitoring", reason="invalid", detail="x" * 600
    )
    assert built[0] == ("traceparent", b"00-abc-01")
    named = dict(built[1:])
    assert named[topics.DLQ_SERVICE_HEADER] == b"monitoring"
    assert named[topics.DLQ_REASON_HEADER] == b"invalid"
    assert named[topics.DLQ_DETAIL_HEADER] == b"x" * 500  # bounded
    assert named[topics.DLQ_SOURCE_TOPIC_HEADER] == b"meetings.events"
    assert named[topics.DLQ_SOURCE_PARTITION_HEADER] == b"3"
    assert named[topics.DLQ_SOURCE_OFFSET_HEADER] == b"41"


def test_a_record_without_headers_gets_only_pantau_s(caplog: pytest.LogCaptureFixture) -> None:
    built = headers_for(Record("plans.events", 0, 7, None), service="analytics", reason="bad", detail="")
    assert [name for name, _ in built] == [
        topics.DLQ_SERVICE_HEADER,
        topics.DLQ_REASON_HEADER,
        topics.DLQ_DETAIL_HEADER,
        topics.DLQ_SOURCE_TOPIC_HEADER,
        topics.DLQ_SOURCE_PARTITION_HEADER,
        topics.DLQ_SOURCE_OFFSET_HEADER,
    ]
    assert "dead letter from plans.events[0]@7: bad" in caplog.text
