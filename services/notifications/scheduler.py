"""The escalation and digest scheduler: a thin loop around `escalation.escalate_due`, `digest.digest_due`
and the incidents' `incident_shell.tick_due`.

Its schedule is the store (`alerts.escalate_at`, `alerts.digest_at`), not timers in memory, so a
restart resumes exactly where it was; its clock is injected, so tests drive it on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from services.notifications import digest, escalation, incident_shell
from services.notifications.timing import Policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tick:
    """What one pass did."""

    escalations: list[escalation.Escalation]
    digests: list[str]
    incident_messages: int = 0


class Scheduler:
    """Runs due escalations and digests every `interval_seconds` (and whenever `tick()` is called)."""

    def __init__(
        self,
        engine: Engine,
        *,
        policy: Policy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_queued: Callable[[], None] = lambda: None,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._clock = clock
        self._on_queued = on_queued
        self._on_event = on_event

    def tick(self) -> Tick:
        """One pass at the clock's `now`; each batch commits in its own transaction."""
        now = self._clock()
        escalations: list[escalation.Escalation] = []
        while True:
            with self._engine.begin() as connection:
                batch = escalation.escalate_due(connection, policy=self._policy, now=now)
            escalations.extend(batch)
            if len(batch) < 500:
                break
        with self._engine.begin() as connection:
            digests = digest.digest_due(connection, policy=self._policy, now=now)
        incident_messages = 0
        if self._policy.settings.incidents_enabled:
            while True:
                with self._engine.begin() as connection:
                    sent = incident_shell.tick_due(connection, policy=self._policy, now=now)
                incident_messages += sent
                if sent == 0:
                    break
        if escalations or digests or incident_messages:
            self._on_queued()
        if any(item.to_alert_id for item in escalations) or incident_messages:
            self._on_event()
        return Tick(escalations, digests, incident_messages)

    async def run(self, stop: asyncio.Event) -> None:
        """Until stopped; a failing pass is logged and retried on the next one."""
        interval = self._policy.settings.scheduler_interval_seconds
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("scheduler pass failed; retrying in %.1fs", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
