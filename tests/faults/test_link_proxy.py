"""The flaky-link proxy itself, over real TCP: bytes pass in order with the latency added, a
partition drops open connections and refuses new ones until it is over."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tools.faults.proxy import FlakyProxy

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:  # the proxy resets connections on purpose (a partition)
            return


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _round_trip(port: int, payload: bytes) -> tuple[bytes, float]:
    began = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    except (ConnectionResetError, ConnectionRefusedError):
        # A partitioned proxy accepts and resets at once; on a busy machine the reset can
        # arrive before connect() returns, which is the same refusal seen earlier.
        return b"", time.monotonic() - began
    with sock:
        received = b""
        try:
            sock.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):  # a partitioned proxy resets at once
            return received, time.monotonic() - began
        while len(received) < len(payload):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - began


def _dropped(sock: socket.socket) -> bool:
    """Whether the proxy reset (or closed) this open connection: nothing comes back any more."""
    try:
        sock.sendall(b"more")
        return sock.recv(4) == b""
    except OSError:
        return True


def test_bytes_pass_in_order_with_the_latency_added(echo_port: int) -> None:
    proxy = FlakyProxy(upstream_port=echo_port, latency=0.1).start()
    try:
        payload = bytes(range(256)) * 2000  # 512 KB: many chunks, order must hold
        received, seconds = _round_trip(proxy.port, payload)
        assert received == payload
        assert seconds >= 0.2  # 0.1 s each way, at least
        assert proxy.stats.connections == 1
    finally:
        proxy.stop()


def test_a_partition_drops_connections_and_refuses_new_ones_until_it_ends(echo_port: int) -> None:
    proxy = FlakyProxy(upstream_port=echo_port).start()
    try:
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        proxy.partition(1.5)
        assert _dropped(sock)
        sock.close()
        received, _ = _round_trip(proxy.port, b"during")
        assert received == b""  # refused: the proxy accepts and resets at once
        assert proxy.stats.refused >= 1
        time.sleep(1.6)
        received, _ = _round_trip(proxy.port, b"after")
        assert received == b"after"
    finally:
        proxy.stop()
