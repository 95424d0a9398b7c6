"""What request handlers depend on, built once in `app.create_app` and reached through FastAPI."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Connection, Engine

from services.meetings.outbox import OutboxRelay
from services.meetings.settings import MeetingsSettings
from shared.auth import Principal
from shared.web import Problem


class MeetingsMetrics:
    """Business counters of the meetings service."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.meetings_accepted = Counter(
            "pantau_meeting_reports_accepted_total",
            "Meeting reports accepted by the API, by outcome.",
            ["outcome"],
            registry=registry,
        )


@dataclass
class MeetingsContext:
    """The service's dependencies: one instance per app."""

    settings: MeetingsSettings
    engine: Engine
    relay: OutboxRelay | None
    registry: CollectorRegistry
    metrics: MeetingsMetrics
    clock: Callable[[], datetime]
    authenticate: Callable[[Request], object]
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. On SQLite, request threads queue on an in-process lock first: SQLite
        has one writer at a time, and its own busy handler waits in sleeps of up to 100 ms, which
        turned lock contention into a long latency tail. PostgreSQL needs no such queue."""
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as connection:
                yield connection
            return
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    def events_committed(self) -> None:
        """Wake the relay after a transaction that staged events."""
        if self.relay is not None:
            self.relay.notify()


def get_context(request: Request) -> MeetingsContext:
    context: MeetingsContext = request.app.state.context
    return context


async def get_principal(request: Request) -> Principal:
    context = get_context(request)
    principal = await context.authenticate(request)  # type: ignore[misc]
    assert isinstance(principal, Principal)
    return principal


Context = Annotated[MeetingsContext, Depends(get_context)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: Principal) -> None:
    """Registry writes are for admins only."""
    if principal.role != "admin":
        raise Problem(403, "Forbidden", "only an admin may change the registry")


def writer_scope(principal: Principal) -> str | None:
    """Who may write field records: admins anywhere (None), facilitators for their own groups only."""
    if principal.role == "supervisor":
        raise Problem(403, "Forbidden", "supervisors read; facilitators and admins write field records")
    return principal.subject if principal.role == "facilitator" else None
