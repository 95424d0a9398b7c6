"""Client ids are unique forever: an identical repeat gets the first result back, the same id with a
different body is a 422 naming the id field. Shared by reports, progress and evaluations."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import Column, Connection, Table, select

from shared.web import Problem


def fingerprint(body: BaseModel) -> str:
    """SHA-256 of the body's canonical JSON: identical repeats match, any change does not."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def previous_result(
    connection: Connection,
    *,
    table: Table,
    key_column: Column[Any],
    key: str,
    body_sha256: str,
    field: str,
    result_column: Column[Any],
) -> Any | None:
    """The stored result of an earlier identical request, None if the id is new; 422 on a conflict."""
    row = connection.execute(select(table.c.body_sha256, result_column).where(key_column == key)).first()
    if row is None:
        return None
    require_same_body(key=key, field=field, stored=row[0], given=body_sha256)
    return row[1]


def require_same_body(*, key: str, field: str, stored: str, given: str) -> None:
    """An id already stored may come back only with the same body: 422 naming the id field otherwise."""
    if stored != given:
        raise Problem(
            422,
            "Id already used",
            f"{field} {key} was recorded with a different body",
            type_="https://pantau.id/problems/idempotency-conflict",
            errors=[{"field": field, "message": "already used with a different body"}],
        )
