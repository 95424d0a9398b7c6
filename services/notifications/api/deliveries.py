"""The delivery log, for admins: every message on every channel, and replaying one with the same
`message_id` (`webhook-id`), as the `replay` CLI does."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select, update

from services.notifications import store
from services.notifications.deps import Context, CurrentPrincipal
from shared.auth import Principal
from shared.web import Problem

log = logging.getLogger(__name__)

router = APIRouter(tags=["deliveries"])


class DeliveryOut(BaseModel):
    """One entry of the delivery log."""

    message_id: str
    alert_id: str
    channel: str
    kind: str | None
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    replayed_at: datetime | None


@router.get("/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    context: Context,
    principal: CurrentPrincipal,
    status: Annotated[Literal["pending", "delivered", "failed", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeliveryOut]:
    """The delivery log (admins): every message on every channel, newest first."""
    _require_admin(principal)
    query = select(store.deliveries).order_by(store.deliveries.c.updated_at.desc()).limit(limit)
    if status is not None:
        query = query.where(store.deliveries.c.status == status)
    with context.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [DeliveryOut.model_validate(dict(row)) for row in rows]


@router.post("/deliveries/{message_id}/replay", response_model=DeliveryOut)
def replay_delivery(message_id: str, context: Context, principal: CurrentPrincipal) -> DeliveryOut:
    """Queue a message again (admins), with the same `message_id`/`webhook-id` and a fresh retry budget."""
    _require_admin(principal)
    with context.engine.begin() as connection:
        row = replay(connection, message_id, now=context.clock())
    if row is None:
        raise Problem(404, "Not found", f"no delivery {message_id}")
    log.info("delivery %s replayed by %s", message_id, principal.subject)
    context.wake_delivery()
    return DeliveryOut.model_validate(dict(row))


def replay(connection: Any, message_id: str, *, now: datetime) -> Any:
    """Reset one delivery to pending (shared with the `replay` CLI); None if there is no such row."""
    found = connection.execute(
        update(store.deliveries)
        .where(store.deliveries.c.message_id == message_id)
        .values(status="pending", attempts=0, next_attempt_at=now, replayed_at=now, updated_at=now)
    ).rowcount
    if not found:
        return None
    return (
        connection.execute(select(store.deliveries).where(store.deliveries.c.message_id == message_id)).mappings().one()
    )


def _require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Problem(403, "Forbidden", "the delivery log is for admins")
