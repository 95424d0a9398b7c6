"""HTTP plumbing shared by Pantau's FastAPI services: RFC 9457 problem details, a body-size
limit, bearer-token reading and the health endpoints. No business rules here."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import AfterValidator, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import InvalidToken, Principal, verify_token
from shared.privacy import redact_niks
from shared.settings import AuthSettings

PROBLEM_JSON = "application/problem+json"


def _served_in_utc(moment: datetime) -> datetime:
    # Stores hold UTC instants; SQLite hands them back without their offset.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# An instant in an answer: always with its offset (`2026-11-04T10:00:00Z`), as `date-time` promises.
ServedInstant = Annotated[datetime, AfterValidator(_served_in_utc)]


class Problem(Exception):
    """An RFC 9457 problem; `errors` name the offending fields (`{"field": ..., "message": ...}`)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = list(errors)
        self.headers = headers

    @classmethod
    def invalid_field(cls, field: str, message: str, *, status: int = 422) -> Problem:
        """A request whose named field is wrong."""
        return cls(
            status,
            "Invalid request",
            f"{field}: {message}",
            type_="https://pantau.id/problems/invalid-field",
            errors=[{"field": field, "message": message}],
        )

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem as a JSON document."""
        document: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            document["detail"] = self.detail
        if instance:
            # The path is the caller's input too: a NIK typed into a URL is not sent back.
            document["instance"] = redact_niks(instance)
        if self.errors:
            document["errors"] = self.errors
        return document

    def response(self, instance: str | None = None) -> JSONResponse:
        """The problem as an HTTP response."""
        return JSONResponse(self.body(instance), status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers)


# Pydantic names the member of a union that failed (`str`, `NikRef`, `function-after[…]`) in an
# error's location; that is the model's inside, not a field the caller sent.
_UNION_MEMBER = re.compile(r"^(?:[A-Z][A-Za-z0-9]*|str|int|float|bool|constrained-str|.*[\[(].*)$")
# Errors that only say "not this member of the union" come after the one that says what is wrong.
_TYPE_MISMATCH = frozenset({"string_type", "model_type", "dict_type", "model_attributes_type", "is_instance_of"})


def field_path(location: Sequence[str | int]) -> str:
    """FastAPI's error location → `reports[3].attendance[0].member_ref` (without `body`)."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, str) and _UNION_MEMBER.match(part):
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(body)"


def field_errors(errors: Sequence[Any], prefix: str = "") -> list[dict[str, str]]:
    """Pydantic errors → `[{"field", "message"}]`, one per field, the most telling message first;
    never the input (it could be personal data)."""
    ranked = sorted(errors, key=lambda error: error.get("type") in _TYPE_MISMATCH)
    named: dict[str, str] = {}
    for error in ranked:
        named.setdefault(prefix + field_path(error["loc"]), error["msg"])
    order = list(dict.fromkeys(prefix + field_path(error["loc"]) for error in errors))
    return [{"field": field, "message": named[field]} for field in order]


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json naming the field; nothing leaks as a bare 500 page."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return exc.response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = field_errors(exc.errors())
        detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
        problem = Problem(
            422, "Invalid request", detail, type_="https://pantau.id/problems/invalid-field", errors=errors
        )
        return problem.response(request.url.path)

    @app.exception_handler(ValidationError)
    async def _contract(request: Request, exc: ValidationError) -> Response:
        # A value the request's shape let through but an event contract refuses: still the caller's
        # field, so a 422 naming it, never a 500 (and never the input, which could be personal data).
        errors = field_errors(exc.errors(include_input=False, include_url=False))
        detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
        problem = Problem(
            422, "Invalid request", detail, type_="https://pantau.id/problems/invalid-field", errors=errors
        )
        return problem.response(request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        problem = Problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
        return problem.response(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return Problem(500, "Internal error", "the error was logged").response(request.url.path)


class BodySizeLimit:
    """Refuses request bodies above a limit with 413 before reading them whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        exceeded = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # The framework turns our exception into its own error response (a 400 while parsing the
            # body); once the limit was hit, that response is replaced by the 413 problem.
            nonlocal refused
            if not exceeded:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(scope, send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not refused:
                refused = True
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = Problem(413, "Request body too large", f"the limit is {self.max_bytes} bytes")
        response = problem.response(scope.get("path"))
        await response(scope, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


# Verified tokens remembered per process (one per signed-in phone or user at a time is plenty).
VERIFIED_TOKENS = 10_000


def bearer_principal(
    auth: AuthSettings, *, clock: Callable[[], float] = time.time
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency that turns `Authorization: Bearer …` into a principal or a 401 problem."""

    # A phone sends the same token with every request: verified once, it is remembered (bounded)
    # until its own expiry, checked again on every use exactly as the JWT library checks it.
    verified: dict[str, tuple[Principal, float]] = {}

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        remembered = verified.get(token)
        if remembered is not None and clock() < remembered[1]:
            return remembered[0]
        try:
            principal, expires = verify_token(auth, token)
        except InvalidToken as exc:
            verified.pop(token, None)
            raise Problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        if len(verified) >= VERIFIED_TOKENS:
            verified.pop(next(iter(verified)), None)  # the oldest remembered token goes first
        verified[token] = (principal, expires)
        return principal

    return dependency


def install_health_routes(
    app: FastAPI,
    *,
    registry: CollectorRegistry,
    readiness: Callable[[], Awaitable[dict[str, bool]]],
) -> None:
    """`/healthz` (alive), `/readyz` (dependencies reachable: 503 naming the ones that are not) and
    `/metrics` (Prometheus text format from the service's own registry)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` name the offending fields, never quoting their values.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_ANSWERS = {
    "400": "Malformed request",
    "401": "Missing, expired or foreign bearer token",
    "403": "Outside the token's role or scope",
    "404": "No such resource",
    "422": "A field is invalid: the problem names it",
}


def problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI document with the truth about refusals: every operation's 4xx answers (those above,
    413 where it takes a body, and any it declares, such as 409) as `application/problem+json`."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            answers = dict(_PROBLEM_ANSWERS)
            if "requestBody" in operation:
                answers["413"] = "Request body too large"
            for status, description in answers.items():
                responses[status] = {"description": description, "content": problem}
            for status, response in responses.items():
                if status.startswith("4") and status not in answers:
                    response["content"] = problem
    return document


def install_problem_openapi(app: FastAPI) -> None:
    """Serve the app's OpenAPI document with `problem_responses` applied."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
