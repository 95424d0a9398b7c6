"""What a national ID (NIK) looks like, for every service's edge and log lines.

A NIK has 16 digits; people write it whole (`1871015501800002`) or grouped with spaces, dots or
dashes the way it is printed or read aloud: 4-4-4-4 (`1871 0155 0180 0002`), by its parts
(province, regency, district, birth date, serial: `18.71.01.550180.0002`) or 6-6-4
(`187101-550180-0002`). Anything of that shape is treated as one: a false alarm costs a retyped
field, a miss costs a reportable leak (UU PDP 27/2022). A UUID (`8-4-4-4-12` hex, what field apps
use for ids) is never read as one, though its groups can be all digits.
"""

from __future__ import annotations

import re

NIK_SHAPED = re.compile(
    r"(?P<uuid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})"
    r"|(?<![0-9])(?P<nik>"
    r"[0-9]{16}"
    r"|[0-9]{4}(?P<s1>[ .\-])[0-9]{4}(?P=s1)[0-9]{4}(?P=s1)[0-9]{4}"
    r"|[0-9]{2}(?P<s2>[ .\-])[0-9]{2}(?P=s2)[0-9]{2}(?P=s2)[0-9]{6}(?P=s2)[0-9]{4}"
    r"|[0-9]{6}(?P<s3>[ .\-])[0-9]{6}(?P=s3)[0-9]{4}"
    r")(?![0-9])"
)
NIK_REDACTED = "[NIK disamarkan]"


def contains_nik_shaped_value(text: str) -> bool:
    """True when the text holds anything shaped like a national ID, whole or grouped."""
    if len(text) < 16:  # every form has 16 digits; most keys, refs and statuses are shorter
        return False
    return any(match.group("nik") for match in NIK_SHAPED.finditer(text))


def nik_digits(text: str) -> str | None:
    """The 16 digits when the whole text (surrounding spaces aside) is one NIK-shaped value, else None."""
    match = NIK_SHAPED.fullmatch(text.strip())
    if match is None or not match.group("nik"):
        return None
    return re.sub(r"[ .\-]", "", match.group("nik"))


def redact_niks(text: str) -> str:
    """The text with every NIK-shaped value replaced, for log lines and echoed paths."""
    return NIK_SHAPED.sub(lambda match: NIK_REDACTED if match.group("nik") else match.group(), text)
