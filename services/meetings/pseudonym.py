"""The edge where a national ID (NIK) stops: it becomes a keyed HMAC pseudonym and goes no further.

The same NIK always gives the same `member_ref` under one key, so a member is recognised across
meetings without the raw number ever being stored, logged or published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

NIK_PATTERN = re.compile(r"[0-9]{16}")  # used with fullmatch: no trailing newline sneaks through
# 16 digits anywhere: used to refuse NIK-shaped text in free-text and id fields.
NIK_SHAPED = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")


def pseudonymise_nik(nik: str, *, key: str) -> str:
    """`nik` (16 digits) → `kpm-<26 base32 chars>` (130 bits of HMAC-SHA256)."""
    if not NIK_PATTERN.fullmatch(nik):
        raise ValueError("a NIK has exactly 16 digits")
    digest = hmac.new(key.encode(), nik.encode(), hashlib.sha256).digest()
    return "kpm-" + base64.b32encode(digest).decode().lower().rstrip("=")[:26]


def contains_nik_shaped_value(text: str) -> bool:
    """True when the text holds a 16-digit run that could be a national ID."""
    return NIK_SHAPED.search(text) is not None
