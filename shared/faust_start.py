"""A stream worker started while the broker is unreachable waits for it, bounded, instead of exiting.

aiokafka's clients try their bootstrap servers once in `start()`: with the broker away, or the link
to it cut or reset at that moment, the consumer or producer raises and Faust stops the worker (the
flaky-link fault case saw monitoring exit at start-up: docs/reliability.md). Here the worker's Kafka
clients start with retries and back-off, each retry logged ("broker not reachable, retrying in …"),
for up to `KafkaSettings.start_timeout_seconds`; after that the worker exits as before and its
supervisor (Kubernetes, `make run`) starts it again. Once started, aiokafka reconnects by itself.

`build_app` installs `RetryingTransport` as the app's consumer and producer transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

from aiokafka.errors import KafkaError
from faust.exceptions import NotReady
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import Producer as BaseProducer

from shared.faust_sends import OrderedProducerBuffer

log = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT_S = 300.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
# What an unreachable, refusing or resetting broker raises from a client's start (Faust says
# `NotReady` when it has no connected broker to ask).
UNREACHABLE = (KafkaError, OSError, asyncio.TimeoutError, NotReady)


def retry_delays(timeout_s: float, *, first: float = FIRST_DELAY_S, most: float = MAX_DELAY_S) -> list[float]:
    """The waits between attempts within `timeout_s`: doubling from `first` up to `most`, the last
    one cut to what is left of the bound."""
    delays: list[float] = []
    delay, left = first, timeout_s
    while left > 0:
        wait = min(delay, left)
        delays.append(wait)
        left -= wait
        delay = min(delay * 2, most)
    return delays


async def start_retrying(
    start: Callable[[], Awaitable[None]],
    *,
    what: str,
    timeout_s: float,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Call `start` until it returns; while it raises because the broker is unreachable, wait and
    try again (logged) for up to `timeout_s` of waiting, then raise the last error."""
    for wait in [*retry_delays(timeout_s), None]:
        try:
            await start()
            return
        except UNREACHABLE as exc:
            if wait is None:
                log.error("%s: broker not reachable after %.0f s of retries; giving up (%s)", what, timeout_s, exc)
                raise
            log.warning("%s: broker not reachable, retrying in %.1f s (%s)", what, wait, exc)
            await sleep(wait)


def _timeout_of(app: Any) -> float:
    return float(getattr(app, "pantau_start_timeout_s", DEFAULT_START_TIMEOUT_S))


class RetryingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer starts with retries (a fresh client per
    attempt: a client whose start failed half-way cannot be started again)."""

    async def on_start(self) -> None:
        async def attempt() -> None:
            consumer = self._create_consumer(loop=self.thread_loop)
            self._consumer = consumer
            self.time_started = monotonic()
            try:
                await consumer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise

        await start_retrying(attempt, what="worker consumer", timeout_s=_timeout_of(self.app))


class RetryingConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return RetryingConsumerThread(self, loop=self.loop, beacon=self.beacon)


class RetryingProducer(faust_aiokafka.Producer):
    """Faust's producer, whose aiokafka producer starts with retries (a fresh client per attempt),
    with a send buffer that keeps the order of table writes (`shared.faust_sends`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = OrderedProducerBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = self.app

    async def on_start(self) -> None:
        await BaseProducer.on_start(self)  # the send buffer, as Faust's own `on_start` does first

        async def attempt() -> None:
            producer = self._new_producer()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.beacon.add(producer)

        await start_retrying(attempt, what="worker producer", timeout_s=_timeout_of(self.app))


class RetryingTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with clients that wait for the broker at start-up."""

    Consumer = RetryingConsumer
    Producer = RetryingProducer

    async def _create_topic(
        self, owner: Any, client: Any, topic: str, partitions: int, replication: int, **kwargs: Any
    ) -> None:
        # Each table declares its changelog at start-up (it exists already: `ensure_changelog_topics`),
        # asking the controller over the link: a cut link there ended the worker too.
        async def attempt() -> None:
            await super(RetryingTransport, self)._create_topic(owner, client, topic, partitions, replication, **kwargs)

        await start_retrying(attempt, what=f"declaring {topic}", timeout_s=_timeout_of(self.app))


def install(app: Any, *, timeout_s: float) -> None:
    """Give `app` (a `faust.App`) transports whose clients start with retries for `timeout_s`."""
    app.pantau_start_timeout_s = timeout_s
    app.transport = RetryingTransport(app.conf.broker_consumer, app)
    app.producer_transport = RetryingTransport(app.conf.broker_producer, app)


def wait_for_broker(
    probe: Callable[[], Any],
    *,
    what: str,
    timeout_s: float,
    sleep: Callable[[float], Any] = time.sleep,
) -> Any:
    """The blocking twin of `start_retrying`, for work done before the worker's loop runs (creating
    its topics): call `probe` until it returns, waiting and logging while it raises."""
    for wait in [*retry_delays(timeout_s), None]:
        try:
            return probe()
        except Exception as exc:
            if wait is None:
                log.error("%s: broker not reachable after %.0f s of retries; giving up (%s)", what, timeout_s, exc)
                raise
            log.warning("%s: broker not reachable, retrying in %.1f s (%s)", what, wait, exc)
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises
