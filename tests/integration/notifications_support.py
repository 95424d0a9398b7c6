"""Helpers for the notifications store tests (escalation, incidents): a small registry over two
time zones, deviations to open, and the store with the policy acting at a simulated time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, select

from services.notifications import alerts, incident_shell, projection, store
from services.notifications.scheduler import Scheduler
from services.notifications.settings import NotificationsSettings
from services.notifications.timing import Policy
from shared.events import (
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
    FacilitatorUpserted,
    GroupUpserted,
    RegionUpserted,
    SupervisorUpserted,
)
from shared.events.base import EventData

# Kota Makassar (Sulawesi Selatan, WITA) and Kota Bandar Lampung (Lampung, WIB); Kabupaten Maros has
# no kabupaten supervisor, so its alerts start at the provincial one.
WITA_VILLAGE = "73.71.01.1001"
WIB_VILLAGE = "18.71.01.1001"
NO_KABUPATEN_VILLAGE = "73.09.01.2001"
# Tuesday 10 November 2026, 23:00 WITA
LATE_EVENING_WITA = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)


def settings_for(tmp_path: Path, **overrides: Any) -> NotificationsSettings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'notifications.db'}",
        "quiet_hours_enabled": True,
        "public_base_url": "http://pantau.test",
    }
    values.update(overrides)
    return NotificationsSettings(**values)


def registry_facts() -> list[EventData]:
    facts: list[EventData] = [
        RegionUpserted(code="73", name="Sulawesi Selatan", level="provinsi", time_zone="Asia/Makassar"),
        RegionUpserted(
            code="73.71", name="Kota Makassar", level="kabupaten", parent_code="73", time_zone="Asia/Makassar",
        ),
        RegionUpserted(
            code=WITA_VILLAGE, name="Kelurahan Mamajang", level="desa", parent_code="73.71.01",
            time_zone="Asia/Makassar",
        ),
        RegionUpserted(code="18", name="Lampung", level="provinsi", time_zone="Asia/Jakarta"),
        RegionUpserted(
            code=WIB_VILLAGE, name="Kelurahan Pesawahan", level="desa", parent_code="18.71.01", time_zone="Asia/Jakarta"
        ),
        SupervisorUpserted(
            supervisor_id="SUP-7371", name="Koordinator Kota Makassar", level="kabupaten", region_code="73.71",
            webhook_url="http://receiver.test/kab", email="kab7371@pantau.test", language="id",
        ),
        SupervisorUpserted(
            supervisor_id="SUP-73", name="Koordinator Sulawesi Selatan", level="provinsi", region_code="73",
            webhook_url="http://receiver.test/prov", language="id",
        ),
        SupervisorUpserted(
            supervisor_id="SUP-1871", name="Koordinator Bandar Lampung", level="kabupaten", region_code="18.71",
            webhook_url="http://receiver.test/kab18", language="en",
        ),
        SupervisorUpserted(
            supervisor_id="SUP-ID", name="Koordinator Nasional", level="nasional", region_code=None,
            webhook_url="http://receiver.test/nas", language="id",
        ),
        # The facilitator works in Makassar but one of her groups sits in Lampung (a border case that
        # makes facilitator-directed routing visible).
        FacilitatorUpserted(
            facilitator_id="PDP-0007", name="Andi Rahman", programme="pkh-p2k2", region_code="73.71.01",
        ),
    ]  # fmt: skip
    for group_id, village, zone in (
        ("KLP-WITA", WITA_VILLAGE, "Asia/Makassar"),
        ("KLP-WIB", WIB_VILLAGE, "Asia/Jakarta"),
        ("KLP-MAROS", NO_KABUPATEN_VILLAGE, "Asia/Makassar"),
    ):
        facts.append(
            GroupUpserted(
                group_id=group_id, name=f"Kelompok {group_id[4:].title()}", programme="pkh-p2k2",
                facilitator_id="PDP-0007", region_code=village, member_refs=("kpm-a", "kpm-b"),
                chair_member_ref="kpm-a", schedule={"cadence": "monthly", "day_of_month": 10}, time_zone=zone,
            )
        )  # fmt: skip
    return facts


def opened(
    deviation_id: str,
    *,
    severity: str = "warning",
    group_id: str = "KLP-WITA",
    village: str = WITA_VILLAGE,
    at: datetime = LATE_EVENING_WITA,
    rule: str = "meeting.low_attendance",
    concerns: str = "group",
) -> DeviationOpened:
    return DeviationOpened(
        group_id=group_id, deviation_id=deviation_id, rule=rule, severity=severity, programme="pkh-p2k2",  # type: ignore[arg-type]
        facilitator_id="PDP-0007", region_code=village, occurrence=deviation_id, detected_at=at, evidence_at=at,
        concerns=concerns,  # type: ignore[arg-type]
        details={"present": 3, "members": 20, "attendance_ratio": 0.15, "threshold_ratio": 0.5,
                 "meeting_started_at": "2026-11-10T01:00:00+00:00"},
    )  # fmt: skip


@dataclass
class Store:
    """The store plus the policy, with helpers to act at a given simulated time."""

    tmp_path: Path
    settings: NotificationsSettings
    engine: Engine = field(init=False)
    policy: Policy = field(init=False)

    def __post_init__(self) -> None:
        self.engine = store.build_engine(self.settings.database_url)
        self.policy = Policy.from_settings(self.settings)
        with self.engine.begin() as connection:
            for fact in registry_facts():
                projection.project_registry(connection, fact)

    def restart(self) -> None:
        self.engine.dispose()
        self.engine = store.build_engine(self.settings.database_url)
        self.policy = Policy.from_settings(self.settings)

    def accept(self, deviation: DeviationOpened, now: datetime) -> alerts.Accepted:
        with self.engine.begin() as connection:
            return alerts.accept_deviation(connection, deviation, record=b"{}", policy=self.policy, now=now)

    def ack(self, alert_id: str, now: datetime, by: str = "SUP-7371") -> bool:
        with self.engine.begin() as connection:
            row = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().one()
            return alerts.acknowledge(connection, row, by=by, now=now, source="/pantau/tests")

    def intake(self, deviation: DeviationOpened, now: datetime) -> alerts.Accepted:
        """What the consumer does with an opened deviation: its alert, then its incident."""
        with self.engine.begin() as connection:
            accepted = alerts.accept_deviation(connection, deviation, record=b"{}", policy=self.policy, now=now)
            if accepted.outcome in ("queued", "digest", "updated"):
                incident_shell.on_opened(connection, deviation, policy=self.policy, now=now)
            return accepted

    def resolve(self, deviation: DeviationOpened, now: datetime) -> None:
        """What the consumer does with `deviation_resolved`."""
        resolved = DeviationResolved(
            group_id=deviation.group_id, deviation_id=deviation.deviation_id, rule=deviation.rule,
            severity=deviation.severity, programme=deviation.programme, facilitator_id=deviation.facilitator_id,
            region_code=deviation.region_code, reason="recovered", resolved_at=now,
        )  # fmt: skip
        with self.engine.begin() as connection:
            alerts.resolve_deviation(connection, resolved, policy=self.policy, now=now)
            incident_shell.on_resolved(connection, resolved, policy=self.policy, now=now)

    def worsen(self, deviation: DeviationOpened, now: datetime, severity: str = "critical") -> None:
        """What the consumer does with `deviation_escalated`."""
        escalated = DeviationEscalated(
            group_id=deviation.group_id, deviation_id=deviation.deviation_id, rule=deviation.rule,
            severity=severity, previous_severity=deviation.severity, programme=deviation.programme,  # type: ignore[arg-type]
            facilitator_id=deviation.facilitator_id, region_code=deviation.region_code, escalated_at=now,
            reason="still_missing", details={},
        )  # fmt: skip
        with self.engine.begin() as connection:
            alerts.update_deviation(connection, escalated, policy=self.policy, now=now)
            incident_shell.on_escalated(connection, escalated, policy=self.policy, now=now)

    def ack_incident(self, incident_id: str, now: datetime, note: str | None = None) -> bool:
        """A supervisor takes an incident in hand."""
        with self.engine.begin() as connection:
            return incident_shell.acknowledge(
                connection, incident_id, by="SUP-7371", note=note, policy=self.policy, now=now
            )

    def alert_for(self, deviation_id: str) -> Any:
        """The first alert row of a deviation."""
        with self.engine.connect() as connection:
            return (
                connection.execute(select(store.alerts).where(store.alerts.c.deviation_id == deviation_id))
                .mappings()
                .first()
            )

    def incident_ticks(self, now: datetime) -> int:
        """One scheduler pass at `now`; the incident messages it queued."""
        return self.scheduler([now]).tick().incident_messages

    def scheduler(self, clock: list[datetime]) -> Scheduler:
        return Scheduler(self.engine, policy=self.policy, clock=lambda: clock[0])

    def alert(self, alert_id: str) -> Any:
        with self.engine.connect() as connection:
            return (
                connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().first()
            )

    def deliveries(self, alert_id: str, channel: str | None = None) -> list[Any]:
        query = select(store.deliveries).where(store.deliveries.c.alert_id == alert_id)
        if channel:
            query = query.where(store.deliveries.c.channel == channel)
        with self.engine.connect() as connection:
            return list(connection.execute(query.order_by(store.deliveries.c.updated_at)).mappings().all())

    def outbox_types(self) -> list[str]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(store.outbox.c.envelope).order_by(store.outbox.c.id)).all()
        return [orjson.loads(row.envelope)["type"] for row in rows]


def utc(moment: Any) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def incidents(engine: Engine) -> list[Any]:
    """Every incident row, oldest first."""
    with engine.connect() as connection:
        return list(connection.execute(select(store.incidents).order_by(store.incidents.c.created_at)).mappings().all())


def pushed(engine: Engine) -> list[Any]:
    """Every delivery row on a pushed channel (webhook, e-mail), oldest first."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(store.deliveries)
                .where(store.deliveries.c.channel != "feed")
                .order_by(store.deliveries.c.next_attempt_at, store.deliveries.c.message_id)
            )
            .mappings()
            .all()
        )


def body_of(row: Any) -> dict[str, Any]:
    """A delivery row's JSON body."""
    return dict(orjson.loads(row["body"]))
