"""The contract's webhook body (§5) of a deviation's alert, and its texts re-rendered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from services.notifications import store
from services.notifications.messages import AlertContext, render
from services.notifications.timing import Policy
from shared import regions as region_facts
from shared.events import (
    DeviationOpened,
)


def ack_url(policy: Policy, alert_id: str) -> str:
    """The link that acknowledges an alert."""
    return f"{policy.settings.public_base_url.rstrip('/')}/api/v1/alerts/{alert_id}/ack"


def rerender(connection: Connection, payload: dict[str, Any], *, kind: str) -> dict[str, str]:
    """The texts of a stored body again, for another kind of message (update, escalation, resolution)."""
    group = connection.execute(
        select(store.groups.c.time_zone).where(store.groups.c.id == payload["group"]["id"])
    ).first()
    return render(
        AlertContext(
            rule=payload["rule"],
            severity=payload["severity"],
            group_name=payload["group"]["name"],
            village_name=payload["region"].get("name"),
            facilitator_name=payload["facilitator"]["name"],
            details=dict(payload.get("details") or {}),
            time_zone=group.time_zone if group else region_facts.WIB,
        ),
        kind=kind,
    )


def webhook_body(
    connection: Connection,
    opened: DeviationOpened,
    *,
    alert_id: str,
    supervisor: Any,
    group: Any,
    policy: Policy,
) -> dict[str, Any]:
    """The body of a deviation's `alert.opened` (contract §5), names from the registry projection."""
    facilitator = connection.execute(
        select(store.facilitators.c.name).where(store.facilitators.c.id == opened.facilitator_id)
    ).first()
    village = connection.execute(select(store.regions.c.name).where(store.regions.c.code == opened.region_code)).first()
    kabupaten_code = region_facts.kabupaten_of(opened.region_code) or opened.region_code
    kabupaten = connection.execute(select(store.regions.c.name).where(store.regions.c.code == kabupaten_code)).first()
    facilitator_name = facilitator.name if facilitator else opened.facilitator_id
    message = render(
        AlertContext(
            rule=opened.rule,
            severity=opened.severity,
            group_name=group["name"],
            village_name=village.name if village else None,
            facilitator_name=facilitator_name,
            details=dict(opened.details),
            time_zone=group["time_zone"],
        )
    )
    return {
        "type": "alert.opened",
        "alert_id": alert_id,
        "deviation_id": opened.deviation_id,
        "rule": opened.rule,
        "severity": opened.severity,
        "escalation_level": supervisor["level"],
        "supervisor_id": supervisor["id"],
        "concerns": opened.concerns,
        "group": {"id": opened.group_id, "name": group["name"]},
        "facilitator": {"id": opened.facilitator_id, "name": facilitator_name},
        "region": {
            "code": opened.region_code,
            "name": village.name if village else None,
            "kabupaten": {"code": kabupaten_code, "name": kabupaten.name if kabupaten else None},
        },
        "detected_at": opened.detected_at.isoformat().replace("+00:00", "Z"),
        "details": dict(opened.details),
        "message": message,
        "ack_url": ack_url(policy, alert_id),
    }
