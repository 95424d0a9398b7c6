"""Settings shared by every service. Each service adds its own class with its own env prefix
(`PANTAU_MEETINGS_`, `PANTAU_MONITORING_`, ...) and embeds these. Nothing is read at import: a
service's composition root instantiates its settings once and passes them down.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only defaults. Outside `development` they are refused at start-up.
DEVELOPMENT_JWT_SECRET = "pantau-development-only-jwt-secret-change-me"
DEVELOPMENT_PSEUDONYM_KEY = "pantau-development-only-pseudonym-key"
DEVELOPMENT_WEBHOOK_SECRET = "whsec_cGFudGF1LWRldmVsb3BtZW50LW9ubHk="
DEVELOPMENT_SECRETS = frozenset({DEVELOPMENT_JWT_SECRET, DEVELOPMENT_PSEUDONYM_KEY, DEVELOPMENT_WEBHOOK_SECRET})

Environment = Literal["development", "test", "production"]


class RuntimeSettings(BaseSettings):
    """Where we run: `PANTAU_ENVIRONMENT`."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_", extra="ignore")

    environment: Environment = Field(default="development", description="`production` refuses development secrets.")


class KafkaSettings(BaseSettings):
    """How to reach the broker: `PANTAU_KAFKA_*`."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_KAFKA_", extra="ignore")

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Comma-separated host:port list.")
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prefix of every topic and consumer group (isolates tests on a shared broker).",
    )
    start_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a stream worker waits for an unreachable broker at start-up (retrying) before it exits.",
    )

    def topic(self, name: str) -> str:
        """A contract topic's name on this broker."""
        return f"{self.topic_prefix}{name}"

    def group_id(self, name: str) -> str:
        """A consumer group's name on this broker (fixed names, isolated by the same prefix)."""
        return f"{self.topic_prefix}{name}"


class AuthSettings(BaseSettings):
    """Bearer-token verification shared by the HTTP services: `PANTAU_AUTH_*`."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_AUTH_", extra="ignore")

    jwt_secret: str = Field(default=DEVELOPMENT_JWT_SECRET, min_length=16, description="HS256 signing key.")
    jwt_issuer: str = Field(default="pantau", description="Expected `iss` claim.")
    jwt_audience: str = Field(default="pantau-api", description="Expected `aud` claim.")


def refuse_development_secrets(environment: Environment, **secrets: str) -> None:
    """Outside development, a development default for any secret is a configuration error."""
    if environment == "development":
        return
    placeholders = sorted(name for name, value in secrets.items() if value in DEVELOPMENT_SECRETS)
    if placeholders:
        raise ValueError(
            f"{', '.join(placeholders)} still use development defaults; set real secrets for {environment}"
        )


class ServiceSettings(BaseSettings):
    """Base of every service's settings: the runtime, the broker and auth, each with its own prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @model_validator(mode="after")
    def _secrets_are_real(self) -> ServiceSettings:
        refuse_development_secrets(self.runtime.environment, jwt_secret=self.auth.jwt_secret)
        return self
