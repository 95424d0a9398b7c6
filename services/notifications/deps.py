"""What request handlers depend on, built once in the lifespan (`app.create_app`) and reached
through FastAPI as `Context` — instead of loose `app.state` attributes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from services.notifications.channels.feed import FeedHub
from services.notifications.metrics import NotificationsMetrics
from services.notifications.settings import NotificationsSettings
from services.notifications.timing import Policy
from shared.auth import Principal
from shared.web import Problem


@dataclass(frozen=True)
class NotificationsContext:
    """The service's dependencies: one instance per app."""

    settings: NotificationsSettings
    engine: Engine
    policy: Policy
    metrics: NotificationsMetrics
    feed: FeedHub
    clock: Callable[[], datetime]
    authenticate: Callable[[Request], Awaitable[Principal]]
    wake_outbox: Callable[[], None]
    wake_delivery: Callable[[], None]


def get_context(request: Request) -> NotificationsContext:
    """The app's context (503 before the lifespan built it)."""
    context: NotificationsContext | None = getattr(request.app.state, "context", None)
    if context is None:
        raise Problem(503, "Service starting", "the notifications service is not ready yet")
    return context


Context = Annotated[NotificationsContext, Depends(get_context)]


async def current_principal(request: Request, context: Context) -> Principal:
    """The caller, from the bearer token."""
    return await context.authenticate(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
