"""Deviations that arrive before the registry knows their group wait here, as their raw records, and
are routed again when registry events come (`consumer.AlertIntake._retry_parked`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from services.notifications import store
from shared.events import DeviationOpened


def park(connection: Connection, opened: DeviationOpened, *, record: bytes, now: datetime) -> bool:
    """Keep the record until the registry knows its group; False if it was already waiting."""
    exists = connection.execute(
        select(store.parked_deviations.c.deviation_id).where(
            store.parked_deviations.c.deviation_id == opened.deviation_id
        )
    ).first()
    if exists is None:
        connection.execute(
            insert(store.parked_deviations).values(
                deviation_id=opened.deviation_id, group_id=opened.group_id, record=record.decode(), parked_at=now
            )
        )
        return True
    return False


def parked_records(connection: Connection) -> list[bytes]:
    """Deviations waiting for the registry (oldest first)."""
    rows = connection.execute(
        select(store.parked_deviations.c.record).order_by(store.parked_deviations.c.parked_at)
    ).all()
    return [row.record.encode() for row in rows]
