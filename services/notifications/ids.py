"""Derived ids: the same deviation, level and message always get the same id, so every step is idempotent."""

from __future__ import annotations

import uuid

_ALERT_NAMESPACE = uuid.UUID("1c0f6a8e-55b2-4c47-8f0e-3a8d2b6e9d14")


def alert_id_for(deviation_id: str, level: str, supervisor_id: str | None = None) -> str:
    """One alert per deviation and escalation level (for the level's primary supervisor); another
    supervisor of the same level and region gets their own (`supervisor_id`)."""
    tail = f"|{supervisor_id}" if supervisor_id is not None else ""
    return "alert-" + uuid.uuid5(_ALERT_NAMESPACE, f"{deviation_id}|{level}{tail}").hex


def message_id_for(alert_id: str, kind: str, channel: str) -> str:
    """The `webhook-id`: the same on every retry of the same message."""
    return "msg_" + uuid.uuid5(_ALERT_NAMESPACE, f"{alert_id}|{kind}|{channel}").hex


def digest_id_for(supervisor_id: str, alert_ids: list[str]) -> str:
    """A digest is identified by whom it is for and what it contains, so a re-run makes the same one."""
    return "digest-" + uuid.uuid5(_ALERT_NAMESPACE, f"{supervisor_id}|{'|'.join(sorted(alert_ids))}").hex
