"""The field app's routes: enrolment (admin mints, device exchanges), the worklist, and the shell
at `/app/`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from services.meetings import db
from services.meetings.deps import Context, CurrentPrincipal, require_admin
from services.meetings.field_app.enrolment import (
    InvalidEnrolment,
    device_token,
    mint_enrolment_code,
    read_enrolment_code,
)
from services.meetings.field_app.models import DeviceSession, EnrolmentIn, EnrolmentLink, ExchangeIn, Worklist
from services.meetings.field_app.shell import AppShell
from services.meetings.field_app.worklist import build_worklist
from shared.events.base import ID_PATTERN
from shared.web import Problem

router = APIRouter(tags=["field app"])
FacilitatorId = Annotated[str, Path(pattern=ID_PATTERN)]


def _facilitator_name(context: Context, facilitator_id: str) -> str:
    with context.engine.connect() as connection:
        name = connection.execute(
            select(db.facilitators.c.name).where(db.facilitators.c.id == facilitator_id)
        ).scalar_one_or_none()
    if name is None:
        raise Problem.invalid_field("facilitator_id", f"no facilitator {facilitator_id}", status=404)
    return str(name)


@router.post("/facilitators/{facilitator_id}/enrolments", response_model=EnrolmentLink, status_code=201)
def post_enrolment(
    facilitator_id: FacilitatorId,
    context: Context,
    principal: CurrentPrincipal,
    request: Request,
    body: EnrolmentIn | None = None,
) -> EnrolmentLink:
    """An enrolment link for one facilitator's phone (admin only). Valid until `expires_at`."""
    require_admin(principal)
    _facilitator_name(context, facilitator_id)
    now = context.clock()
    hours = (body.valid_hours if body else None) or context.settings.enrolment_hours
    ttl = timedelta(hours=hours)
    code = mint_enrolment_code(context.settings.auth, facilitator_id=facilitator_id, now=now, ttl=ttl)
    # The code rides in the fragment: it never reaches a server log or a Referer header.
    url = f"{str(request.base_url).rstrip('/')}/app/#masuk={code}"
    return EnrolmentLink(facilitator_id=facilitator_id, code=code, url=url, expires_at=now + ttl)


@router.post("/enrolments/exchange", response_model=DeviceSession)
def exchange_enrolment(body: ExchangeIn, context: Context) -> DeviceSession:
    """The device trades an enrolment code for its facilitator token (no bearer token needed)."""
    now = context.clock()
    try:
        facilitator_id = read_enrolment_code(context.settings.auth, body.code, now=now)
    except InvalidEnrolment as exc:
        raise Problem.invalid_field("code", str(exc), status=401) from exc
    name = _facilitator_name(context, facilitator_id)
    ttl = timedelta(days=context.settings.device_token_days)
    token = device_token(context.settings.auth, facilitator_id=facilitator_id, now=now, ttl=ttl)
    return DeviceSession(token=token, facilitator_id=facilitator_id, facilitator_name=name, expires_at=now + ttl)


@router.get("/facilitators/{facilitator_id}/worklist", response_model=Worklist)
def get_worklist(facilitator_id: FacilitatorId, context: Context, principal: CurrentPrincipal) -> Worklist:
    """Everything the facilitator's app needs offline: groups with members (display names for this
    facilitator only), due meetings, plan activities, open deviations and the programmes' modules."""
    allowed = principal.role == "admin" or (principal.role == "facilitator" and principal.subject == facilitator_id)
    if not allowed:
        raise Problem(403, "Forbidden", "a facilitator reads only their own worklist")
    with context.engine.connect() as connection:
        return build_worklist(connection, facilitator_id=facilitator_id, now=context.clock())


def shell_router(shell: AppShell) -> APIRouter:
    """`/app/…`: the shell's files; `sw.js` and the page carry the version and are never cached by HTTP
    (the service worker is the cache), the rest may be cached briefly."""
    app_router = APIRouter(include_in_schema=False)

    @app_router.get("/app")
    def app_root() -> RedirectResponse:
        return RedirectResponse("/app/", status_code=308)

    @app_router.get("/app/{name:path}")
    def app_file(name: str, request: Request) -> Response:
        found = shell.get(name)
        if found is None:
            raise Problem(404, "Not found", f"no file {name} in the field app")
        headers = {"Cache-Control": "no-cache", "X-App-Version": shell.version, "Vary": "Accept-Encoding"}
        if name == "sw.js":
            headers["Service-Worker-Allowed"] = "/app/"
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(found.gzipped, media_type=found.media_type, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)

    return app_router
