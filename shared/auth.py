"""Bearer tokens: the claims Pantau's HTTP services agree on, and how to mint and read them.

A token is an HS256 JWT with `sub`, `role` (`admin`, `facilitator`, `supervisor`), `scope` (a region
code for supervisors, the facilitator's own id for facilitators, `*` for admins), `iss`, `aud`,
`iat` and `exp`. Who may do what with a principal is each service's business.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field

from shared.settings import AuthSettings

Role = Literal["admin", "facilitator", "supervisor"]


class Principal(BaseModel):
    """Who is calling, as proven by their token."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="User id: the facilitator or supervisor id for those roles.")
    role: Role
    scope: str = Field(description="Region code (supervisor), facilitator id (facilitator) or `*` (admin).")

    def covers_region(self, region_code: str) -> bool:
        """True when the principal's region scope contains the region (codes nest by prefix)."""
        if self.role == "admin":
            return True
        return region_code == self.scope or region_code.startswith(self.scope + ".")


class InvalidToken(Exception):
    """The token is missing, malformed, expired or signed with another key."""


def mint_token(
    settings: AuthSettings,
    *,
    subject: str,
    role: Role,
    scope: str,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    """A signed token for a principal (for the CLI, the demo and tests)."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "role": role,
        "scope": scope,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def read_token(settings: AuthSettings, token: str) -> Principal:
    """Verify a token and return its principal; raises `InvalidToken` with a short reason."""
    return verify_token(settings, token)[0]


def verify_token(settings: AuthSettings, token: str) -> tuple[Principal, float]:
    """`read_token`, with the token's expiry (POSIX seconds) for callers that remember it."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
        principal = Principal(subject=claims["sub"], role=claims["role"], scope=claims["scope"])
        return principal, float(claims["exp"])
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise InvalidToken("token invalid") from exc
