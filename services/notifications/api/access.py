"""Who sees and acknowledges what, in one place for every endpoint.

Supervisor tokens carry `scope`, a region code, `*` nationally. An alert (or incident) is visible
to — and may be acknowledged by — its own supervisor, any supervisor whose scope contains its
region (a provincial supervisor covers every kabupaten alert of the province; a national one with
scope `*` covers all), and admins. Acknowledging at any level stops the deviation's escalation
chain. Facilitators see no alerts.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from services.notifications import store
from shared.auth import Principal


def covers(scope: str, region_code: str | None) -> bool:
    """Whether a region code (or prefix) `scope` contains `region_code`; `*` contains every region."""
    if scope == "*":
        return True
    return bool(region_code) and (region_code == scope or str(region_code).startswith(scope + "."))


def may_see(principal: Principal, *, supervisor_id: str | None, region_code: str | None) -> bool:
    """The scoping rule of this module's docstring, for one alert."""
    if principal.role == "admin":
        return True
    if principal.role != "supervisor":
        return False
    return principal.subject == supervisor_id or covers(principal.scope, region_code)


def visible(principal: Principal) -> ColumnElement[bool] | None:
    """`may_see` as a condition on `store.alerts`; None when the caller sees every alert."""
    if principal.role == "admin" or principal.scope == "*":
        return None
    return or_(
        store.alerts.c.supervisor_id == principal.subject,
        store.alerts.c.region_code == principal.scope,
        store.alerts.c.region_code.like(principal.scope + ".%"),
    )
