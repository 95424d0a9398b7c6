"""A lean HTTP/1.1 load generator for the ingestion benchmark.

The server shares two cores with its clients, so the clients must cost as little as possible: a
pool of keep-alive connections on one asyncio loop, each request pre-encoded to bytes, the answer
read by its `Content-Length`. httpx in a thread pool cost about as much CPU per request as the
service itself and so capped the figure it was meant to measure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadRun:
    """Latencies (seconds) of every request, the run's wall time, and the non-2xx answers."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[tuple[int, bytes]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


def encode_request(host: str, port: int, path: str, body: bytes, token: str) -> bytes:
    """One POST as the bytes on the wire."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def _run(host: str, port: int, requests: Sequence[bytes], concurrency: int, keep_bodies: bool) -> LoadRun:
    run = LoadRun()
    cursor = iter(range(len(requests)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index in cursor:
                began = time.perf_counter()
                writer.write(requests[index])
                status, body = await _read_response(reader)
                run.latencies.append(time.perf_counter() - began)
                if not 200 <= status < 300:
                    run.failures.append((status, body[:500]))
                if keep_bodies:
                    run.bodies.append(body)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.elapsed = time.perf_counter() - began
    return run


def post_all(
    host: str, port: int, requests: Sequence[bytes], *, concurrency: int, keep_bodies: bool = False
) -> LoadRun:
    """Send every pre-encoded request over `concurrency` keep-alive connections; blocks until done."""
    return asyncio.run(_run(host, port, requests, concurrency, keep_bodies))
