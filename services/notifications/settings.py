"""Notifications settings: `PANTAU_NOTIFICATIONS_*` (plus the shared `PANTAU_KAFKA_*`, `PANTAU_AUTH_*`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

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

    @model_validator(mode="after")
    def _webhook_secret_is_real(self) -> NotificationsSettings:
        refuse_development_secrets(self.runtime.environment, webhook_secret=self.webhook_secret)
        return self
