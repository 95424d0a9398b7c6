"""A real HTTP webhook receiver that checks Standard Webhooks signatures, for the demo and tests.

`python -m tools.webhook_receiver --port 9999` prints every alert it receives; in code,
`WebhookReceiver` runs in a thread and keeps what arrived (optionally failing the first N attempts,
to exercise the notifier's retries).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.notifications.signing import InvalidSignature, verify
from shared.settings import DEVELOPMENT_WEBHOOK_SECRET


@dataclass
class ReceivedWebhook:
    """One delivery attempt as the receiver saw it."""

    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float
    signature_valid: bool
    answered: int


@dataclass
class WebhookReceiver:
    """Threaded receiver on 127.0.0.1; `received` holds every attempt, `accepted` the answered-2xx ones."""

    secret: str = DEVELOPMENT_WEBHOOK_SECRET
    port: int = 0
    fail_first: int = 0
    log_path: Path | None = None
    echo: bool = False
    received: list[ReceivedWebhook] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/pantau"

    @property
    def accepted(self) -> list[ReceivedWebhook]:
        with self._lock:
            return [item for item in self.received if 200 <= item.answered < 300]

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    verify(receiver.secret, headers=headers, body=raw, now=int(time.time()))
                    valid = True
                except InvalidSignature:
                    valid = False
                with receiver._lock:
                    attempt = len(receiver.received) + 1
                    status = 503 if attempt <= receiver.fail_first else (204 if valid else 401)
                    item = ReceivedWebhook(headers, json.loads(raw or b"{}"), time.time(), valid, status)
                    receiver.received.append(item)
                self.send_response(status)
                self.end_headers()
                if status == 204:
                    receiver._record(item)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the receiver prints alerts itself
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def _record(self, item: ReceivedWebhook) -> None:
        if self.log_path is not None:
            with self.log_path.open("a") as log:
                log.write(json.dumps({"headers": item.headers, "body": item.body}, ensure_ascii=False) + "\n")
        if self.echo:
            body = item.body
            print(
                f"  ALERT {body.get('type')} [{body.get('severity')}] {body.get('rule')} "
                f"→ {body.get('supervisor_id')}: {body.get('message', {}).get('id')}",
                flush=True,
            )

    def wait_for(self, count: int, timeout: float) -> list[ReceivedWebhook]:
        """Block until `count` deliveries were accepted (or the timeout passes); returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.accepted) < count:
            time.sleep(0.05)
        return self.accepted

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.webhook_receiver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9999, help="port on 127.0.0.1 (default 9999)")
    parser.add_argument("--secret", default=DEVELOPMENT_WEBHOOK_SECRET, help="whsec_ secret to verify with")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 503 to the first N attempts")
    args = parser.parse_args(argv)
    receiver = WebhookReceiver(secret=args.secret, port=args.port, fail_first=args.fail_first, echo=True).start()
    print(f"receiving webhooks at {receiver.url} (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
