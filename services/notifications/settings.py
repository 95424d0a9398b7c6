"""Notifications settings: `PANTAU_NOTIFICATIONS_*` (plus the shared `PANTAU_KAFKA_*`, `PANTAU_AUTH_*`)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.notifications.calendar import DEFAULT_HOLIDAYS_FILE, WorkingCalendar, load_holidays, weekday_numbers
from shared.settings import DEVELOPMENT_WEBHOOK_SECRET, ServiceSettings, refuse_development_secrets


class NotificationsSettings(ServiceSettings):
    """Configuration of the notifications service."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_NOTIFICATIONS_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8003, description="HTTP port.")
    database_url: str = Field(default="sqlite:///var/notifications.db", description="SQLAlchemy URL of the store.")
    webhook_secret: str = Field(
        default=DEVELOPMENT_WEBHOOK_SECRET,
        pattern=r"^whsec_[A-Za-z0-9+/=]{16,}$",
        description="Standard Webhooks signing secret (`whsec_` + base64).",
    )
    public_base_url: str = Field(default="http://127.0.0.1:8003", description="Base of links in alerts.")
    consumer_group: str = Field(default="pantau-notifications", description="Kafka consumer group.")
    source: str = Field(default="/pantau/notifications", description="CloudEvents `source` of published events.")
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, description="Per-attempt HTTP timeout.")
    webhook_max_attempts: int = Field(default=8, ge=1, description="Attempts before giving up.")
    retry_initial_seconds: float = Field(default=1.0, gt=0, description="First back-off; doubles each attempt.")
    retry_max_seconds: float = Field(default=300.0, gt=0, description="Back-off ceiling.")
    delivery_concurrency: int = Field(default=16, ge=1, description="Deliveries in flight at once.")
    ack_deadline_critical_seconds: float = Field(
        default=2 * 3600, ge=0, description="Unacknowledged critical alerts climb a level after this; 0 = never."
    )
    ack_deadline_warning_seconds: float = Field(
        default=24 * 3600, ge=0, description="Unacknowledged warnings climb a level after this; 0 = never."
    )
    ack_deadline_info_seconds: float = Field(default=0, ge=0, description="Info items climb after this; 0 = never.")
    quiet_hours_enabled: bool | None = Field(
        default=None,
        description="Hold non-critical alerts outside working hours; unset = on everywhere but `development`.",
    )
    working_hours_start: time = Field(default=time(7, 0), description="Local start of working hours.")
    working_hours_end: time = Field(default=time(20, 0), description="Local end of working hours.")
    rest_days: str = Field(default="sunday", description="Comma-separated weekdays without alerts, e.g. `sunday`.")
    holidays_file: Path = Field(default=DEFAULT_HOLIDAYS_FILE, description="YAML calendar of national holidays.")
    digest_local_time: time = Field(default=time(7, 0), description="Local time of the daily digest of info items.")
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, description="How often escalations/digests run.")
    incidents_enabled: bool = Field(
        default=True,
        description="Group deviations into incidents (one message per incident); off = one message per deviation.",
    )
    incident_group_by: Literal["group", "facilitator"] = Field(
        default="facilitator",
        description="`facilitator`: one incident per facilitator for all their groups; `group`: one per group "
        "(plus one per facilitator for what concerns them), inhibited while a facilitator-level signal is open.",
    )
    incident_group_wait_seconds: float = Field(
        default=300, ge=0, description="A new incident waits this long before its first message."
    )
    incident_group_interval_seconds: float = Field(
        default=4 * 3600, ge=0, description="At most one update message per incident in this interval."
    )
    incident_send_resolved: bool = Field(default=True, description="Push a message when an incident clears.")
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail alerts; unset = no e-mail.")
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_from: str = Field(default="pantau@localhost", description="Sender address of e-mail alerts.")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, description="Per-attempt SMTP timeout.")
    feed_heartbeat_seconds: float = Field(default=15.0, gt=0, description="Comment line interval on the live feed.")

    def ack_deadline_seconds(self, severity: str) -> float:
        """The acknowledgement deadline for a severity (0 = the alert never climbs)."""
        return {
            "critical": self.ack_deadline_critical_seconds,
            "warning": self.ack_deadline_warning_seconds,
        }.get(severity, self.ack_deadline_info_seconds)

    def working_calendar(self) -> WorkingCalendar:
        """Working hours, rest days and the holiday file, as one pure value."""
        enabled = self.quiet_hours_enabled
        if enabled is None:
            enabled = self.runtime.environment != "development"
        return WorkingCalendar(
            start=self.working_hours_start,
            end=self.working_hours_end,
            rest_weekdays=weekday_numbers(self.rest_days.split(",")),
            holidays=load_holidays(self.holidays_file),
            enabled=enabled,
        )

    @model_validator(mode="after")
    def _webhook_secret_is_real(self) -> NotificationsSettings:
        refuse_development_secrets(self.runtime.environment, webhook_secret=self.webhook_secret)
        return self
