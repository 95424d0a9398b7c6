"""Each deviation's own alert climbing its chain (the per-deviation mode; with incidents on, the
incident climbs instead, `incidents.py`): an alert still open at its `escalate_at` gets a new alert
for every supervisor of the next level, an `alert.escalated` message and `alert_escalated` event.
The schedule is the rows' `escalate_at`, so a restart resumes it exactly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.notifications import outbox, store
from services.notifications.bodies import ack_url, rerender
from services.notifications.delivery_queue import queue
from services.notifications.ids import alert_id_for
from services.notifications.projection import supervisor_row, supervisors_by_scope
from services.notifications.routing import LEVELS, Level, route
from services.notifications.timing import Policy
from shared.events import AlertEscalated

log = logging.getLogger(__name__)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Escalation:
    """One climb: `from_alert_id` was not acknowledged in time, `to_alert_id` (None at the top)."""

    from_alert_id: str
    to_alert_id: str | None
    to_level: Level | None
    due_at: datetime
    at: datetime


def escalate_due(connection: Connection, *, policy: Policy, now: datetime, limit: int = 500) -> list[Escalation]:
    """Climb every open alert whose acknowledgement deadline has passed (durable: the schedule is rows)."""
    due = (
        connection.execute(
            select(store.alerts)
            .where(
                store.alerts.c.status == "open",
                store.alerts.c.escalate_at <= now,
                store.alerts.c.escalated_to.is_(None),
            )
            .order_by(store.alerts.c.escalate_at)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    scopes = supervisors_by_scope(connection) if due else {}
    done = []
    for alert in due:
        due_at = _utc(alert["escalate_at"])
        level = alert["escalation_level"]
        above = LEVELS[LEVELS.index(level) + 1 :] if level in LEVELS else ()
        chosen = (
            route(alert["region_code"] or alert["payload"]["region"]["code"], scopes, from_level=above[0])
            if above
            else None
        )
        if chosen is None:
            connection.execute(
                update(store.alerts).where(store.alerts.c.alert_id == alert["alert_id"]).values(escalate_at=None)
            )
            log.warning("alert %s unacknowledged at the top of the chain (%s): nobody above", alert["alert_id"], level)
            done.append(Escalation(alert["alert_id"], None, None, due_at, now))
            continue
        new_id = alert_id_for(alert["deviation_id"], chosen.level)
        connection.execute(
            update(store.alerts)
            .where(store.alerts.c.alert_id == alert["alert_id"])
            .values(escalate_at=None, escalated_to=new_id, updated_at=now)
        )
        for supervisor_id in chosen.supervisor_ids:
            own_id = (
                new_id
                if supervisor_id == chosen.supervisor_id
                else alert_id_for(alert["deviation_id"], chosen.level, supervisor_id)
            )
            _climb(connection, alert, own_id, supervisor_id, chosen.level, policy=policy, now=now)
        done.append(Escalation(alert["alert_id"], new_id, chosen.level, due_at, now))
    return done


def _climb(
    connection: Connection,
    alert: Any,
    alert_id: str,
    supervisor_id: str,
    level: Level,
    *,
    policy: Policy,
    now: datetime,
) -> None:
    """The next level's alert for one of its supervisors (nothing if it exists: a re-run)."""
    exists = connection.execute(select(store.alerts.c.alert_id).where(store.alerts.c.alert_id == alert_id)).first()
    if exists is not None:
        return
    supervisor = supervisor_row(connection, supervisor_id)
    payload = {
        **alert["payload"],
        "type": "alert.escalated",
        "alert_id": alert_id,
        "escalation_level": level,
        "supervisor_id": supervisor_id,
        "from_supervisor_id": alert["supervisor_id"],
        "escalated_from": alert["alert_id"],
        "ack_url": ack_url(policy, alert_id),
    }
    payload["message"] = rerender(connection, payload, kind="alert.escalated")
    released = policy.release_at(alert["severity"], supervisor, now)
    connection.execute(
        insert(store.alerts).values(
            alert_id=alert_id,
            deviation_id=alert["deviation_id"],
            supervisor_id=supervisor_id,
            group_id=alert["group_id"],
            rule=alert["rule"],
            severity=alert["severity"],
            escalation_level=level,
            status="open",
            payload=payload,
            detected_at=alert["detected_at"],
            created_at=now,
            updated_at=now,
            region_code=alert["region_code"],
            facilitator_id=alert["facilitator_id"],
            concerns=alert["concerns"],
            escalate_at=policy.escalate_at(alert["severity"], released, level),
        )
    )
    queue(
        connection,
        alert_id=alert_id,
        kind="alert.escalated",
        body=payload,
        supervisor=supervisor,
        now=now,
        deliver_at=released,
        policy=policy,
    )
    outbox.add(
        connection,
        AlertEscalated(
            alert_id=alert_id,
            deviation_id=alert["deviation_id"],
            supervisor_id=supervisor_id,
            group_id=alert["group_id"],
            rule=alert["rule"],
            severity=alert["severity"],
            escalation_level=level,
            from_supervisor_id=alert["supervisor_id"],
            escalated_at=now,
        ),
        source=policy.settings.source,
        now=now,
    )
    log.info(
        "alert %s not acknowledged by %s in time: escalated to %s (%s) as %s",
        alert["alert_id"],
        alert["supervisor_id"],
        supervisor_id,
        level,
        alert_id,
    )
