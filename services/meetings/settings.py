"""Meetings service settings: `PANTAU_MEETINGS_*` (plus the shared `PANTAU_KAFKA_*`, `PANTAU_AUTH_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import DEVELOPMENT_PSEUDONYM_KEY, ServiceSettings, refuse_development_secrets


class MeetingsSettings(ServiceSettings):
    """Configuration of the meetings service, read once in its composition root."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_MEETINGS_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8001, description="HTTP port.")
    database_url: str = Field(
        default="sqlite:///var/meetings.db",
        description="SQLAlchemy URL: SQLite file by default, `postgresql+psycopg://…` when configured.",
    )
    pseudonym_key: str = Field(
        default=DEVELOPMENT_PSEUDONYM_KEY,
        min_length=16,
        description="HMAC key that turns a national ID (NIK) into a member_ref at the edge.",
    )
    source: str = Field(default="/pantau/meetings", description="CloudEvents `source` of published events.")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, description="Requests above this get 413.")
    clock_skew_seconds: int = Field(default=300, description="How far in the future a device clock may be.")
    outbox_poll_seconds: float = Field(default=0.2, description="Relay's idle poll interval.")
    outbox_batch_size: int = Field(default=500, description="Outbox rows published per round.")
    publish_events: bool = Field(
        default=True, description="Connect to Kafka: run the outbox relay (and the deviation projection)."
    )
    workers: int = Field(
        default=1,
        ge=1,
        description=(
            "Worker processes serving the API on this host (uvicorn). More than one needs PostgreSQL: "
            "the processes share it, and one of them (any) runs the outbox relay and the scheduler."
        ),
    )
    schedule_interval_seconds: float = Field(
        default=3600, gt=0, description="How often every group's next meetings are (re)scheduled."
    )
    project_deviations: bool = Field(
        default=True, description="Read `monitoring.deviations` to show open deviations on `GET /groups/{id}`."
    )

    field_app_dir: Path = Field(
        default=Path(__file__).resolve().parents[2] / "apps" / "field",
        description="The field app's files, served at `/app/`.",
    )
    enrolment_hours: float = Field(default=72, gt=0, description="How long an enrolment link stays valid.")
    device_token_days: float = Field(
        default=35, gt=0, description="How long a device stays signed in after enrolment (a month offline)."
    )

    @model_validator(mode="after")
    def _pseudonym_key_is_real(self) -> MeetingsSettings:
        refuse_development_secrets(self.runtime.environment, pseudonym_key=self.pseudonym_key)
        return self

    @model_validator(mode="after")
    def _several_workers_need_postgresql(self) -> MeetingsSettings:
        # SQLite has no lease to elect one relay and locks the whole file per write: one process.
        if self.workers > 1 and not self.database_url.startswith("postgresql"):
            raise ValueError("workers > 1 needs a PostgreSQL database_url (SQLite serves one process)")
        return self
