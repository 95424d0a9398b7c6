"""Analytics settings: `PANTAU_ANALYTICS_*` (plus the shared `PANTAU_KAFKA_*`)."""

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
    web_port: int = Field(default=8004, description="Port of /healthz, /readyz and /metrics.")
    data_dir: Path = Field(default=Path("var/analytics"), description="Faust's local data directory.")
    partitions: int = Field(default=GROUP_KEYED_PARTITIONS, description="Partitions of group-keyed topics.")
    log_level: str = Field(default="info", description="Worker log level.")
