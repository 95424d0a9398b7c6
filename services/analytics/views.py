"""The reports API on the worker's web server: `GET /api/v1/reports/compliance` (JSON or CSV) and
`GET /api/v1/reports/facilitators/{id}/monthly` (JSON or printable HTML). Bearer tokens as everywhere
in Pantau; errors are RFC 9457 problem details naming the field."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import faust
import orjson

from services.analytics import monthly, overview, reports, words
from services.analytics.aggregates import GroupFacts
from services.analytics.directory import Directory
from services.analytics.pdf import PdfUnavailable, render_pdf
from services.analytics.state import AnalyticsState
from shared.auth import InvalidToken, Principal, read_token
from shared.settings import AuthSettings

# The programme's plausible window, as at the meetings edge: 2000-01 to 2099-12.
PERIOD = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])$")
REGION = re.compile(r"^[0-9]{2}(\.[0-9]{2})?$")
CSV = "text/csv; charset=utf-8"
HTML = "text/html; charset=utf-8"
PROBLEM = "application/problem+json"
PDF = "application/pdf"


@dataclass(frozen=True)
class Reply:
    """What a report handler answers: status, content type and body."""

    status: int
    content_type: str
    body: bytes
    filename: str | None = None  # offered as a download (Content-Disposition: attachment)

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Reply:
        return cls(status, "application/json", orjson.dumps(document))

    @classmethod
    def problem(cls, status: int, title: str, detail: str, field: str | None = None) -> Reply:
        document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        if field:
            document["errors"] = [{"field": field, "message": detail}]
        return cls(status, PROBLEM, orjson.dumps(document))


class ReportError(Exception):
    """A request the reports refuse; carries the problem reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body.decode())
        self.reply = reply


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _principal(auth: AuthSettings, headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> Principal:
    value = headers.get("authorization", "")
    if not value and query and query.get("token"):
        value = f"Bearer {query['token']}"  # a page opened in a browser carries its token in the link
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ReportError(Reply.problem(401, "Unauthorized", "a bearer token is required"))
    try:
        return read_token(auth, token.strip())
    except InvalidToken as exc:
        raise ReportError(Reply.problem(401, "Unauthorized", str(exc))) from exc


def _period(query: Mapping[str, str]) -> str:
    period = query.get("period", "")
    if not PERIOD.match(period):
        raise ReportError(Reply.problem(422, "Invalid request", "period must be YYYY-MM, 2000-01 to 2099-12", "period"))
    return period


def _wants(query: Mapping[str, str], headers: Mapping[str, str], fmt: str, media_type: str) -> bool:
    return query.get("format") == fmt or media_type in headers.get("accept", "")


def _language(query: Mapping[str, str]) -> words.Language:
    """Bahasa Indonesia unless `lang=en` is asked for."""
    return "en" if query.get("lang") == "en" else "id"


class ReportViews:
    """The report handlers, independent of the web framework (tested directly and served by Faust)."""

    def __init__(
        self,
        *,
        state: AnalyticsState,
        group: Callable[[str], GroupFacts | None],
        auth: AuthSettings,
        partitions: int,
        directory: Directory | None = None,
        clock: Callable[[], datetime] | None = None,
        chromium_path: str = "/usr/bin/chromium",
    ) -> None:
        self._state = state
        self._group = group
        self._auth = auth
        self._partitions = partitions
        self._directory = directory or Directory()
        # Whether a due time has passed is judged at the request's "now" (injected in tests).
        self._clock = clock or (lambda: datetime.now(UTC))
        self._chromium_path = chromium_path

    def _complete(self) -> None:
        # Reports read this worker's table partitions; a partial table would give a wrong answer.
        held = sorted(self._state.active_group_partitions)
        if held != list(range(self._partitions)):
            raise ReportError(
                Reply.problem(
                    503,
                    "Reports unavailable",
                    f"this worker holds partitions {held} of {self._partitions}; reports need all of them "
                    "(analytics runs as a single worker, see services/analytics/README.md)",
                )
            )

    def compliance(self, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        """`GET /api/v1/reports/compliance?period=YYYY-MM&level=province|kabupaten&region=…&programme=…`."""
        headers = _lower(headers)
        try:
            principal = _principal(self._auth, headers, query)
            period = _period(query)
            level = query.get("level", "province")
            if level not in ("province", "kabupaten"):
                raise ReportError(Reply.problem(422, "Invalid request", "level must be province or kabupaten", "level"))
            region = query.get("region") or None
            if region is not None and not REGION.match(region):
                raise ReportError(
                    Reply.problem(422, "Invalid request", "region must be a province or kabupaten code", "region")
                )
            if principal.role == "facilitator":
                raise ReportError(Reply.problem(403, "Forbidden", "compliance reports are for supervisors"))
            if principal.role == "supervisor":
                region = region or principal.scope
                if not principal.covers_region(region):
                    raise ReportError(Reply.problem(403, "Forbidden", f"region {region} is outside your scope"))
            self._complete()
        except ReportError as error:
            return error.reply
        report = reports.compliance_report(
            self._state.rollup(),
            period=period,
            level=cast(reports.Level, level),
            now=self._clock(),
            region=region,
            programme=query.get("programme") or None,
            directory=self._directory,
        )
        if _wants(query, headers, "csv", "text/csv"):
            return Reply(200, CSV, reports.compliance_csv(report).encode())
        if _wants(query, headers, "html", "text/html"):
            return Reply(200, HTML, reports.compliance_html(report, language=_language(query)).encode())
        return Reply.json(report)

    def overview(self, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        """`GET /reports/overview?period=YYYY-MM[&region=18|18.71][&lang=en][&token=…]`: the manager's page."""
        headers = _lower(headers)
        try:
            principal = _principal(self._auth, headers, query)
            now = self._clock()
            period = query.get("period") or now.strftime("%Y-%m")
            if not PERIOD.match(period):
                raise ReportError(
                    Reply.problem(422, "Invalid request", "period must be YYYY-MM, 2000-01 to 2099-12", "period")
                )
            region = query.get("region") or None
            if region is not None and not REGION.match(region):
                raise ReportError(
                    Reply.problem(422, "Invalid request", "region must be a province or kabupaten code", "region")
                )
            if principal.role == "facilitator":
                raise ReportError(Reply.problem(403, "Forbidden", "the overview is for supervisors and managers"))
            if principal.role == "supervisor":
                region = region or principal.scope
                if not principal.covers_region(region):
                    raise ReportError(Reply.problem(403, "Forbidden", f"region {region} is outside your scope"))
            self._complete()
        except ReportError as error:
            return error.reply
        groups = []
        if region is not None and "." in region:
            for group_id in sorted(self._state.kabupaten_groups.get(region, ())):
                facts = self._group(group_id)
                if facts is not None:
                    groups.append((group_id, facts))
        document = overview.overview(
            self._state.rollup(), period=period, now=now, region=region, groups=groups, directory=self._directory
        )
        if query.get("format") == "json" or "application/json" in headers.get("accept", ""):
            return Reply.json(document)
        carried = {"token": query["token"]} if query.get("token") else {}
        return Reply(
            200, HTML, overview.overview_html(document, language=_language(query), link_query=carried).encode()
        )

    async def facilitator_monthly_download(
        self, facilitator_id: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        """The monthly report, as a PDF when `format=pdf` or `Accept: application/pdf` asks for it."""
        if not _wants(query, _lower(headers), "pdf", PDF):
            return self.facilitator_monthly(facilitator_id, query, headers)
        page = self.facilitator_monthly(facilitator_id, {**query, "format": "html"}, headers)
        if page.status != 200:
            return page
        try:
            body = await render_pdf(page.body.decode(), chromium_path=self._chromium_path)
        except PdfUnavailable as exc:
            return Reply.problem(503, "PDF unavailable", f"{exc}; the printable page is format=html")
        filename = f"laporan-bulanan-{re.sub(r'[^A-Za-z0-9-]+', '-', facilitator_id)}-{query.get('period')}.pdf"
        return Reply(200, PDF, body, filename=filename)

    def facilitator_monthly(self, facilitator_id: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        """`GET /api/v1/reports/facilitators/{id}/monthly?period=YYYY-MM[&format=html|pdf][&lang=en]`."""
        headers = _lower(headers)
        try:
            principal = _principal(self._auth, headers, query)
            period = _period(query)
            self._complete()
            groups = []
            for group_id in sorted(self._state.facilitator_groups.get(facilitator_id, ())):
                facts = self._group(group_id)
                if facts is not None:
                    groups.append((group_id, facts))
            if not groups and self._directory.entry("facilitator", facilitator_id) is None:
                # Neither the registry nor any group knows this facilitator: there is no report to sign.
                raise ReportError(Reply.problem(404, "Not found", f"no facilitator {facilitator_id}", "facilitator_id"))
            allowed = (
                principal.role == "admin"
                or (principal.role == "facilitator" and principal.subject == facilitator_id)
                or (
                    principal.role == "supervisor"
                    and all(principal.covers_region(facts.kabupaten) for _, facts in groups)
                )
            )
            if not allowed:
                raise ReportError(Reply.problem(403, "Forbidden", "this report is outside your scope"))
        except ReportError as error:
            return error.reply
        language = _language(query)
        report = monthly.facilitator_report(
            facilitator_id, period, groups, now=self._clock(), directory=self._directory, language=language
        )
        if _wants(query, headers, "html", "text/html"):
            return Reply(200, HTML, monthly.facilitator_report_html(report).encode())
        return Reply.json(report)


def install_report_pages(app: faust.App, views: ReportViews) -> None:
    """Serve the report handlers on the Faust worker's web server."""

    def respond(web: Any, reply: Reply) -> Any:
        headers = {"Content-Type": reply.content_type}
        if reply.filename:
            headers["Content-Disposition"] = f'attachment; filename="{reply.filename}"'
        return web.bytes(reply.body, status=reply.status, headers=headers)

    @app.page("/api/v1/reports/compliance")
    async def compliance(web: Any, request: Any) -> Any:
        return respond(web, views.compliance(dict(request.query), dict(request.headers)))

    @app.page("/reports/overview")
    async def overview_page(web: Any, request: Any) -> Any:
        return respond(web, views.overview(dict(request.query), dict(request.headers)))

    @app.page("/api/v1/reports/facilitators/{facilitator_id}/monthly")
    async def facilitator_monthly(web: Any, request: Any, facilitator_id: str) -> Any:
        reply = await views.facilitator_monthly_download(facilitator_id, dict(request.query), dict(request.headers))
        return respond(web, reply)
