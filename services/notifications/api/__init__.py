"""The notifications service's HTTP endpoints, one concern per module (the service's README maps
each endpoint to its module). `router` is the `/api/v1` API, `console_router` the console page."""

from __future__ import annotations

from fastapi import APIRouter

from services.notifications.api import alerts, deliveries, incidents, overview
from services.notifications.api.console import console_router
from services.notifications.api.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=PROBLEM_RESPONSES)
# In this order, the OpenAPI document lists the operations as it always has.
for part in (alerts.router, incidents.router, overview.router, deliveries.router):
    router.include_router(part)

__all__ = ["console_router", "router"]
