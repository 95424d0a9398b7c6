"""A small TCP proxy that makes a link slow and flaky: latency on every byte, connections reset at
random, and a partition (every connection dropped, new ones refused) for a while. It runs its own
asyncio loop in a thread so blocking test code can steer it.

Kafka clients connect to the broker's *advertised* listener, not to the bootstrap address they were
given, so a proxy only sits on the path if the broker advertises the proxy's address:
`ProxiedBroker` is a local broker that does exactly that.

    proxy = FlakyProxy(upstream_port=broker_port, latency=0.05).start()
    proxy.partition(5.0)   # 5 s without a link
    proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.kafka_broker import LocalKafkaBroker, free_port

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


@dataclass
class LinkStats:
    connections: int = 0
    resets: int = 0
    refused: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class FlakyProxy:
    """127.0.0.1:`port` → 127.0.0.1:`upstream_port` with `latency` seconds each way, and a reset of
    a random open connection every `reset_every` seconds on average (None: never)."""

    upstream_port: int
    port: int = field(default_factory=free_port)
    latency: float = 0.0
    reset_every: float | None = None
    seed: int = 7
    stats: LinkStats = field(default_factory=LinkStats)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.AbstractServer | None = None
    _connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=set)
    _partitioned_until: float = 0.0

    # -- control (any thread) -----------------------------------------------------------------------

    def start(self) -> FlakyProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"flaky-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"proxy on {self.port} did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._close_all(stopping=True)).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = None

    def partition(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for `seconds`."""
        self._partitioned_until = time.monotonic() + seconds
        self._call(self._close_all(stopping=False)).result(10)

    def reset_all(self) -> None:
        self._call(self._close_all(stopping=False)).result(10)

    def _call(self, coroutine: Any) -> Future[Any]:
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    # -- the loop -------------------------------------------------------------------------------------

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        if self.reset_every:
            asyncio.get_running_loop().create_task(self._resets(random.Random(self.seed)))

    async def _resets(self, rng: random.Random) -> None:
        assert self.reset_every is not None
        while True:
            await asyncio.sleep(rng.expovariate(1 / self.reset_every))
            if self._connections:
                client, upstream = rng.choice(sorted(self._connections, key=id))
                self.stats.resets += 1
                _reset(client)
                _reset(upstream)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._partitioned_until:
            self.stats.refused += 1
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self.stats.refused += 1
            _reset(writer)
            return
        self.stats.connections += 1
        pair = (writer, up_writer)
        self._connections.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer, up=True), self._pump(up_reader, writer, up=False))
        finally:
            self._connections.discard(pair)
            for side in pair:
                with contextlib.suppress(Exception):
                    side.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool) -> None:
        """Copy one direction, each chunk delivered `latency` after it arrived (order kept)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        delivery = asyncio.get_running_loop().create_task(deliver())
        try:
            while True:
                data = await reader.read(_CHUNK)
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                queue.put_nowait((time.monotonic() + self.latency, data))
                if not data:
                    break
            await delivery
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            delivery.cancel()
            with contextlib.suppress(Exception):
                writer.close()

    async def _close_all(self, *, stopping: bool) -> None:
        for client, upstream in list(self._connections):
            _reset(client)
            _reset(upstream)
        self._connections.clear()
        if stopping and self._server is not None:
            self._server.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a dropped link or a crashed middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ProxiedBroker(LocalKafkaBroker):
    """A local broker that advertises `advertised_port` (a proxy in front of it) to its clients, so
    every client connection, not only the bootstrap one, goes through the proxy."""

    def __init__(self, data_dir: Path, *, advertised_port: int, **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        self.advertised_port = advertised_port

    def _server_properties(self) -> dict[str, str]:
        properties = super()._server_properties()
        properties["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{self.advertised_port}"
        return properties

    @property
    def proxied_bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"
