"""The edge where a national ID (NIK) stops: it becomes a keyed HMAC pseudonym and goes no further.

The same NIK always gives the same `member_ref` under one key, so a member is recognised across
meetings without the raw number ever being stored, logged or published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from shared.privacy import contains_nik_shaped_value

NIK_PATTERN = re.compile(r"[0-9]{16}")  # used with fullmatch: no trailing newline sneaks through

__all__ = ["NIK_PATTERN", "contains_nik_shaped_value", "pseudonymise_nik"]


def pseudonymise_nik(nik: str, *, key: str) -> str:
    """`nik` (16 digits) → `kpm-<26 base32 chars>` (130 bits of HMAC-SHA256)."""
    if not NIK_PATTERN.fullmatch(nik):
        raise ValueError("a NIK has exactly 16 digits")
    digest = hmac.new(key.encode(), nik.encode(), hashlib.sha256).digest()
    return "kpm-" + base64.b32encode(digest).decode().lower().rstrip("=")[:26]
