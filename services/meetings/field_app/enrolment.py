"""Enrolment: an admin mints a link for one facilitator; the device exchanges it for a token.

The enrolment code is itself a signed JWT with its own audience, so it cannot be used as a bearer
token and the service keeps no table of codes: it is valid until it expires, and an admin revokes a
device the same way as any token (by rotating the secret). The device token lasts long enough for a
month in the field without signal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from shared.auth import mint_token
from shared.settings import AuthSettings

ENROLMENT_AUDIENCE_SUFFIX = ":enrolment"


class InvalidEnrolment(Exception):
    """The code is malformed, expired or was not minted here."""


def mint_enrolment_code(auth: AuthSettings, *, facilitator_id: str, now: datetime, ttl: timedelta) -> str:
    """A code that names one facilitator and expires at `now + ttl`."""
    claims = {
        "sub": facilitator_id,
        "iss": auth.jwt_issuer,
        "aud": auth.jwt_audience + ENROLMENT_AUDIENCE_SUFFIX,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, auth.jwt_secret, algorithm="HS256")


def read_enrolment_code(auth: AuthSettings, code: str, *, now: datetime) -> str:
    """The facilitator id a valid code names; raises `InvalidEnrolment` with a short reason."""
    try:
        claims = jwt.decode(
            code,
            auth.jwt_secret,
            algorithms=["HS256"],
            audience=auth.jwt_audience + ENROLMENT_AUDIENCE_SUFFIX,
            issuer=auth.jwt_issuer,
            options={"require": ["sub", "exp", "iss", "aud"], "verify_exp": False},
        )
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise InvalidEnrolment("code invalid") from exc
    # Expiry against the service's clock (injectable), not the library's wall clock.
    if int(claims["exp"]) <= now.timestamp():
        raise InvalidEnrolment("code expired")
    return str(claims["sub"])


def device_token(auth: AuthSettings, *, facilitator_id: str, now: datetime, ttl: timedelta) -> str:
    """The facilitator's bearer token, kept on the device."""
    return mint_token(auth, subject=facilitator_id, role="facilitator", scope=facilitator_id, ttl=ttl, now=now)
