"""The delivery queue: one row per channel that has a target for the supervisor, plus the live feed."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from services.notifications import store
from services.notifications.channels.registry import pushed_specs
from services.notifications.ids import message_id_for
from services.notifications.timing import Policy

log = logging.getLogger(__name__)


def queue(
    connection: Connection,
    *,
    alert_id: str,
    kind: str,
    body: dict[str, Any],
    supervisor: Any,
    now: datetime,
    deliver_at: datetime,
    policy: Policy,
    feed: bool = True,
    incident: bool = False,
) -> None:
    """One delivery row per channel the supervisor has (webhook, e-mail) plus the live feed.

    The feed shows everything at once (the console is pull, not a page); the other channels wait
    for `deliver_at` (working hours for non-critical news). With incidents on, only incident
    messages (and digests) are pushed: a deviation's own alert goes to the feed alone.
    """
    pushed = incident or not policy.settings.incidents_enabled or kind == "alert.digest"
    for spec in pushed_specs() if pushed else ():
        target = spec.target(supervisor, policy.settings)
        if target:
            _insert_delivery(
                connection, alert_id=alert_id, kind=kind, channel=spec.name, target=target,
                body=spec.body(body, supervisor), supervisor=supervisor, at=deliver_at, now=now,
            )  # fmt: skip
    if feed:
        queue_feed(connection, alert_id=alert_id, kind=kind, body=body, supervisor=supervisor, now=now)


def queue_feed(
    connection: Connection, *, alert_id: str, kind: str, body: dict[str, Any], supervisor: Any, now: datetime
) -> None:
    """Only the console's live feed (never held)."""
    _insert_delivery(
        connection, alert_id=alert_id, kind=kind, channel="feed", target=supervisor["id"],
        body=body, supervisor=supervisor, at=now, now=now,
    )  # fmt: skip


def _insert_delivery(
    connection: Connection,
    *,
    alert_id: str,
    kind: str,
    channel: str,
    target: str,
    body: dict[str, Any],
    supervisor: Any,
    at: datetime,
    now: datetime,
) -> None:
    message_id = message_id_for(alert_id, kind, channel)
    exists = connection.execute(
        select(store.deliveries.c.message_id).where(store.deliveries.c.message_id == message_id)
    ).first()
    if exists is not None:
        return
    connection.execute(
        insert(store.deliveries).values(
            message_id=message_id,
            alert_id=alert_id,
            channel=channel,
            target=target,
            body=orjson.dumps(body).decode(),
            status="pending",
            attempts=0,
            next_attempt_at=at,
            updated_at=now,
            kind=kind.split(":", 1)[0],
            supervisor_id=supervisor["id"],
        )
    )
    if at > now:
        log.info("%s %s for %s held until %s (working hours)", channel, kind, alert_id, at.isoformat())
