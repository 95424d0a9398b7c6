"""A stream worker's clients wait for an unreachable broker at start-up, bounded (`shared.faust_start`):
the back-off, the bound, and which errors are waited out. No broker: the start is a stand-in that
fails as an unreachable broker does (the Kafka side is the flaky-link fault case)."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import KafkaConnectionError

from shared.faust_start import retry_delays, start_retrying, wait_for_broker

pytestmark = pytest.mark.unit


def test_delays_double_up_to_the_ceiling_and_stop_at_the_bound() -> None:
    assert retry_delays(30) == [0.5, 1, 2, 4, 8, 10, 4.5]
    assert sum(retry_delays(300)) == pytest.approx(300)
    assert max(retry_delays(300)) == 10
    assert retry_delays(0.2) == [0.2]


class Flaky:
    """Fails `failures` times as an unreachable broker does, then starts."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")

    async def start(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


async def test_a_broker_back_within_the_bound_is_waited_for_and_each_retry_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = Flaky(failures=3)
    with caplog.at_level(logging.WARNING, logger="shared.faust_start"):
        await start_retrying(client.start, what="worker consumer", timeout_s=60, sleep=sleep)
    assert client.calls == 4
    assert slept == [0.5, 1, 2]
    assert [record.getMessage().split(" (")[0] for record in caplog.records] == [
        "worker consumer: broker not reachable, retrying in 0.5 s",
        "worker consumer: broker not reachable, retrying in 1.0 s",
        "worker consumer: broker not reachable, retrying in 2.0 s",
    ]


async def test_a_broker_away_past_the_bound_ends_the_start_with_its_error() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = Flaky(failures=10**6)
    with pytest.raises(KafkaConnectionError):
        await start_retrying(client.start, what="worker producer", timeout_s=30, sleep=sleep)
    assert sum(slept) == pytest.approx(30)
    assert client.calls == len(slept) + 1


async def test_other_errors_are_not_waited_out() -> None:
    async def sleep(seconds: float) -> None:
        raise AssertionError("no wait for a programming error")

    client = Flaky(failures=1, error=ValueError("bad configuration"))
    with pytest.raises(ValueError, match="bad configuration"):
        await start_retrying(client.start, what="worker consumer", timeout_s=30, sleep=sleep)


def test_the_blocking_wait_returns_the_probe_answer_once_the_broker_answers() -> None:
    answers = iter([OSError("connection refused"), OSError("connection reset"), ["topic-a"]])
    slept: list[float] = []

    def probe() -> list[str]:
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert wait_for_broker(probe, what="creating the worker's topics", timeout_s=60, sleep=slept.append) == ["topic-a"]
    assert slept == [0.5, 1]
