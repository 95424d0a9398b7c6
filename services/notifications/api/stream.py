"""The live feed: alert changes within the caller's scope as server-sent events, for the console.
EventSource cannot set headers, so the token may come as `?token=`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from services.notifications.api.access import covers, may_see
from services.notifications.channels.feed import FeedHub
from services.notifications.deps import Context, NotificationsContext
from shared.auth import InvalidToken, Principal, read_token
from shared.events.base import Severity
from shared.web import Problem

log = logging.getLogger(__name__)


async def stream_alerts(
    request: Request,
    context: Context,
    token: Annotated[str | None, Query(description="Bearer token, for clients that cannot set headers.")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    region: Annotated[str | None, Query(description="Region code prefix.")] = None,
) -> StreamingResponse:
    """The live feed as server-sent events: one `data:` JSON per alert change within scope."""
    principal = await _stream_principal(request, context, token)
    if principal.role == "facilitator":
        raise Problem(403, "Forbidden", "alerts are for supervisors")
    severities = set(severity or ())

    def wants(item: dict[str, Any]) -> bool:
        body = item.get("body") or {}
        region_code = (body.get("region") or {}).get("code")
        if severities and body.get("severity") not in severities:
            return False
        if region and not covers(region, region_code):
            return False
        return may_see(principal, supervisor_id=body.get("supervisor_id"), region_code=region_code)

    hub: FeedHub = context.feed
    subscriber = hub.subscribe(wants)
    heartbeat = context.settings.feed_heartbeat_seconds
    log.info("feed opened for %s (%s)", principal.subject, principal.role)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 3000\n: connected\n\n"
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(subscriber.queue.get(), timeout=heartbeat)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield b"data: " + orjson.dumps(item) + b"\n\n"
        finally:
            hub.unsubscribe(subscriber)
            log.info("feed closed for %s", principal.subject)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def _stream_principal(request: Request, context: NotificationsContext, token: str | None) -> Principal:
    if token:
        try:
            return read_token(context.settings.auth, token)
        except InvalidToken as exc:
            raise Problem(401, "Unauthorized", str(exc)) from exc
    return await context.authenticate(request)
