"""The one edge every inbound value passes before the meetings service acts on it.

Privacy by construction: a national ID (NIK) shaped value — 16 digits, whole or grouped with
spaces, dots or dashes — is found wherever it is sent (path, query, any JSON string, key or number)
and either pseudonymised or refused naming the field, so it never reaches a topic, a table, a log
line or a metric:

- **pseudonymised** where a member is expected (`nik`, `member_ref`, `members[…]`,
  `chair_member_ref`, `agreed_by[…]`): the whole value is a NIK, it becomes `kpm-…` at once
  (`pseudonym.py`), exactly as `{"nik": …}` does;
- **refused** (422, `https://pantau.id/problems/personal-data`, the field named, the value never
  echoed) everywhere else: ids, names, device ids, free text, keys, numbers, and a NIK inside a
  longer member ref (`kpm-1871…`), which cannot be pseudonymised without guessing.

The types below are the API's own shapes of values the event contract constrains, so what the API
accepts is what the contract accepts (`shared/events/base.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from shared.privacy import contains_nik_shaped_value, nik_digits
from shared.web import Problem

# Lists whose items are answered one by one (an offline batch): a NIK in an item is that item's
# `rejected` result (the item screens itself with `nik_fields`), never a refusal of the whole batch.
ITEM_LISTS = {"/api/v1/meetings/batch": "reports"}
# Keys under which a whole NIK means "this member": pseudonymised, not refused.
MEMBER_KEYS = frozenset({"nik", "member_ref", "members", "chair_member_ref", "agreed_by"})
PERSONAL_DATA = "https://pantau.id/problems/personal-data"
NIK_REFUSED = "must not hold a national ID (NIK); give a member by `nik` or `member_ref`, where it is pseudonymised"

# The programme's plausible window: Indonesian conditional cash transfer programmes began in 2007;
# nothing recorded in Pantau can lie before 2000 or after 2099 (a year `0001` or `9999` is a typo).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# A member ref as the event contract has it (`shared.events.base.MemberRef`).
MEMBER_REF_PATTERN = r"^[A-Za-z0-9._:-]{1,80}$"
# A device id: what field apps generate (`hp-<uuid>`), as long as the contract allows (120).
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,119}$"


def _as_nik_digits(value: Any) -> Any:
    """A grouped NIK (`1871 0155 0180 0002`) becomes its 16 digits before the shape is checked."""
    if isinstance(value, str):
        digits = nik_digits(value)
        if digits is not None:
            return digits
    return value


def _plausible_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must lie between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}")
    return value


def _plausible_instant(value: datetime) -> datetime:
    # Its own calendar date first: year 1 or 9999 with an offset cannot even be moved to UTC.
    _plausible_date(value.date())
    _plausible_date(value.astimezone(UTC).date())
    return value


def _finite(value: float) -> float:
    # `allow_inf_nan=False` refuses NaN and ±Infinity; a JSON `1e999` is parsed as infinity first.
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


NikIn = Annotated[str, BeforeValidator(_as_nik_digits), Field(pattern=r"^[0-9]{16}$")]
MemberRefIn = Annotated[
    str,
    BeforeValidator(_as_nik_digits),
    Field(
        pattern=MEMBER_REF_PATTERN, description="Member ref (letters, digits, `._:-`, ≤ 80); a NIK becomes a pseudonym."
    ),
]
DeviceId = Annotated[
    str, Field(pattern=DEVICE_ID_PATTERN, description="The field app's device id (letters, digits, `._:-`, ≤ 120).")
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False), AfterValidator(_finite)]
PlausibleDate = Annotated[date, AfterValidator(_plausible_date)]


PlausibleInstant = Annotated[AwareDatetime, AfterValidator(_plausible_instant)]


def nik_fields(document: Any, path: str = "", key: str | None = None) -> Iterator[str]:
    """The field paths (`members[2].display_name`) of `document` holding a NIK-shaped value that is
    not a whole NIK where a member is expected. Pure; never returns the values themselves."""
    if isinstance(document, dict):
        for name, value in document.items():
            child = f"{path}.{name}" if path else str(name)
            if contains_nik_shaped_value(str(name)):
                yield path or "(body)"
                continue
            yield from nik_fields(value, child, str(name))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from nik_fields(value, f"{path}[{index}]", key)
    elif isinstance(document, str):
        if contains_nik_shaped_value(document) and not (key in MEMBER_KEYS and nik_digits(document)):
            yield path or "(body)"
    elif (
        isinstance(document, int | float)
        and not isinstance(document, bool)
        and math.isfinite(document)
        and contains_nik_shaped_value(f"{abs(document):.0f}")
    ):
        yield path or "(body)"


def refuse_personal_data(fields: list[str]) -> Problem:
    """The 422 for NIK-shaped values outside a member field; it names the fields, never the values."""
    errors = [{"field": field, "message": NIK_REFUSED} for field in dict.fromkeys(fields)]
    return Problem(
        422, "Personal data refused", f"{errors[0]['field']}: {NIK_REFUSED}", type_=PERSONAL_DATA, errors=errors
    )


async def screen_request(request: Request) -> None:
    """FastAPI dependency on every API route: path, query and JSON body pass `nik_fields` first."""
    found = [name for name, value in request.path_params.items() if contains_nik_shaped_value(str(value))]
    found += [name for name, value in request.query_params.multi_items() if contains_nik_shaped_value(name + value)]
    body = await request.body()
    if body:
        try:
            # The route has parsed a JSON body already and the request keeps it: not parsed twice.
            document = await request.json()
        except ValueError:
            # Not JSON: the route's own validation refuses it; a NIK in it is found as raw text.
            document = None
            if contains_nik_shaped_value(body.decode("utf-8", errors="replace")):
                found.append("(body)")
        items = ITEM_LISTS.get(request.url.path)
        if items is not None and isinstance(document, dict) and isinstance(document.get(items), list):
            # Each item screens itself (its NIK is that item's `rejected` result): not walked twice.
            document = {key: value for key, value in document.items() if key != items}
        if document is not None:
            found += nik_fields(document)
    if found:
        raise refuse_personal_data(found)
