"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.

The signed content is `{id}.{timestamp}.{body}` under HMAC-SHA256 with the secret's base64 key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


class InvalidSignature(Exception):
    """The signature does not match, or the timestamp is outside the tolerance."""


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for a message."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """All three Standard Webhooks headers plus the content type."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id=message_id, timestamp=timestamp, body=body),
        "content-type": "application/json",
    }


def verify(secret: str, *, headers: dict[str, str], body: bytes, now: int, tolerance_seconds: int = 300) -> None:
    """What a receiver does: check the timestamp window and any of the `v1` signatures."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("missing Standard Webhooks headers") from exc
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature("timestamp outside tolerance")
    expected = sign(secret, message_id=message_id, timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no matching v1 signature")
