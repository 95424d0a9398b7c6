"""The daily digest: info items are not pushed one by one; at `DIGEST_LOCAL_TIME` on working days
(each alert's `digest_at`, from `timing.Policy.digest_at`), each supervisor's due items go out as
one `alert.digest` whose `items` are the alert bodies."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from services.notifications import store
from services.notifications.delivery_queue import queue
from services.notifications.ids import digest_id_for
from services.notifications.messages import render_digest
from services.notifications.projection import supervisor_row
from services.notifications.timing import Policy

log = logging.getLogger(__name__)


def digest_due(connection: Connection, *, policy: Policy, now: datetime) -> list[str]:
    """Send each supervisor's due info items as one `alert.digest`; returns the digest ids."""
    rows = (
        connection.execute(
            select(store.alerts)
            .where(
                store.alerts.c.status == "open",
                store.alerts.c.severity == "info",
                store.alerts.c.digested_at.is_(None),
                store.alerts.c.digest_at <= now,
            )
            .order_by(store.alerts.c.supervisor_id, store.alerts.c.created_at)
        )
        .mappings()
        .all()
    )
    by_supervisor: dict[str, list[Any]] = {}
    for row in rows:
        by_supervisor.setdefault(row["supervisor_id"], []).append(row)
    digests = []
    for supervisor_id, items in by_supervisor.items():
        supervisor = supervisor_row(connection, supervisor_id)
        alert_ids = [item["alert_id"] for item in items]
        connection.execute(
            update(store.alerts).where(store.alerts.c.alert_id.in_(alert_ids)).values(digested_at=now, updated_at=now)
        )
        if supervisor is None:
            continue
        digest_id = digest_id_for(supervisor_id, alert_ids)
        bodies = [item["payload"] for item in items]
        body = {
            "type": "alert.digest",
            "alert_id": digest_id,
            "digest_id": digest_id,
            "severity": "info",
            "escalation_level": supervisor["level"],
            "supervisor_id": supervisor_id,
            "items": bodies,
            "message": render_digest(bodies, language=supervisor["language"]),
            "sent_for": now.isoformat().replace("+00:00", "Z"),
        }
        queue(
            connection,
            alert_id=digest_id,
            kind="alert.digest",
            body=body,
            supervisor=supervisor,
            now=now,
            deliver_at=now,
            policy=policy,
            feed=False,
        )
        digests.append(digest_id)
        log.info("digest %s of %d info item(s) queued for %s", digest_id, len(items), supervisor_id)
    return digests
