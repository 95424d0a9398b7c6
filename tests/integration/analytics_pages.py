"""Serve the analytics report handlers over real HTTP for a browser test (support module): a threaded
standard-library server on a free port in front of `ReportViews`, routing the same paths the worker
serves, so Chromium follows the pages' own links."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from services.analytics.views import Reply, ReportViews
from tools.stack import free_port

MONTHLY = re.compile(r"^/api/v1/reports/facilitators/([^/]+)/monthly$")


@contextmanager
def serving(views: ReportViews) -> Iterator[str]:
    """The base URL of a server answering with `views` until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            headers = dict(self.headers.items())
            monthly = MONTHLY.match(parts.path)
            if parts.path == "/reports/overview":
                reply = views.overview(query, headers)
            elif parts.path == "/api/v1/reports/compliance":
                reply = views.compliance(query, headers)
            elif monthly:
                reply = asyncio.run(views.facilitator_monthly_download(monthly.group(1), query, headers))
            else:
                reply = Reply.problem(404, "Not found", parts.path)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
