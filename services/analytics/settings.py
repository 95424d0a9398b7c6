"""Analytics settings: `PANTAU_ANALYTICS_*` (plus the shared `PANTAU_KAFKA_*` and `PANTAU_AUTH_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings
from shared.topics import GROUP_KEYED_PARTITIONS


class AnalyticsSettings(ServiceSettings):
    """Configuration of the analytics worker."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_ANALYTICS_", extra="ignore")

    app_id: str = Field(default="pantau-analytics", description="Faust app id = consumer group name.")
    web_host: str = Field(default="127.0.0.1", description="Interface the worker's web server binds.")
    web_port: int = Field(default=8004, description="Port of /healthz, /readyz, /metrics and /api/v1/reports.")
    data_dir: Path = Field(default=Path("var/analytics"), description="Faust's local data directory.")
    partitions: int = Field(default=GROUP_KEYED_PARTITIONS, description="Partitions of group-keyed topics.")
    alerts_partitions: int = Field(default=12, description="Partitions of notifications.alerts.")
    registry_partitions: int = Field(default=12, description="Partitions of registry.events.")
    dead_letter_partitions: int = Field(default=3, description="Partitions of each dead-letter topic.")
    consumer_groups: str = Field(
        default="monitoring=pantau-monitoring,notifications=pantau-notifications,analytics=pantau-analytics",
        description="`service=group` pairs whose consumer lag is measured (names before the topic prefix).",
    )
    lag_interval_seconds: float = Field(default=15.0, gt=0, description="How often consumer lag is read.")
    log_level: str = Field(default="info", description="Worker log level.")
    chromium_path: str = Field(
        default="/usr/bin/chromium", description="Chromium that prints the monthly report to PDF (`format=pdf`)."
    )
