"""The ingestion benchmark's baseline: a bare FastAPI endpoint doing the same inserts on the same
database, to set the meetings service's figures against what the framework and the store cost alone.

`POST /api/v1/meetings` stores the report as the service does (one `meetings` row and one `outbox`
row, one transaction) with none of the service's work: no token, no validation beyond JSON, no
registry lookup, no idempotency, no privacy screen, no event envelope. `POST /api/v1/meetings/batch`
stores every report of a batch with one multi-row insert per table, one transaction. Same uvicorn,
same process count (`PANTAU_BASELINE_WORKERS`), same engine settings (`shared.sql.build_engine`).

`python -m tools.bench.baseline_app` with `PANTAU_BASELINE_DATABASE_URL` (its two tables are created
beside the service's), `PANTAU_BASELINE_PORT` and `PANTAU_BASELINE_WORKERS`.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from sqlalchemy import MetaData

from services.meetings import db
from shared.sql import build_engine


def _rows(report: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    value = orjson.dumps(report)
    meeting = {
        "report_id": report["report_id"],
        "group_id": report["group_id"],
        "body_sha256": hashlib.sha256(value).hexdigest(),
        "record": report,
        "started_at": datetime.fromisoformat(report["started_at"]),
        "recorded_at": datetime.fromisoformat(report["recorded_at"]),
        "received_at": now,
    }
    event = {
        "topic": "baseline.meetings.events",
        "message_key": report["group_id"],
        "message_value": value,
        "headers": [["content-type", "application/json"]],
        "created_at": now,
    }
    return meeting, event


# Copies of the service's two tables (same columns, same types, same keys) under their own names:
# the service's outbox relay must never see the baseline's rows.
_metadata = MetaData()
meetings = db.meetings.to_metadata(_metadata, name="baseline_meetings")
outbox = db.outbox.to_metadata(_metadata, name="baseline_outbox")


def create_app(database_url: str) -> FastAPI:
    """The bare app on one engine."""
    engine = build_engine(database_url)
    app = FastAPI(title="ingestion baseline")

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/api/v1/meetings", status_code=201)
    def post_meeting(report: dict[str, Any]) -> dict[str, Any]:
        meeting, event = _rows(report, datetime.now(UTC))
        with engine.begin() as connection:
            connection.execute(meetings.insert(), meeting)
            connection.execute(outbox.insert(), event)
        return {"report_id": report["report_id"], "group_id": report["group_id"], "status": "recorded"}

    @app.post("/api/v1/meetings/batch")
    def post_batch(body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        rows = [_rows(report, now) for report in body["reports"]]
        with engine.begin() as connection:
            # RETURNING makes SQLAlchemy send multi-row VALUES (insertmanyvalues), as the service does.
            connection.execute(meetings.insert().returning(meetings.c.report_id), [m for m, _ in rows])
            connection.execute(outbox.insert().returning(outbox.c.id), [e for _, e in rows])
        return {"counts": {"created": len(rows)}}

    return app


def prepare(database_url: str) -> None:
    """Create the baseline's tables once, before its workers start."""
    engine = build_engine(database_url)
    _metadata.create_all(engine)
    engine.dispose()


def worker_app() -> FastAPI:
    """One worker's app (uvicorn imports it in each process)."""
    return create_app(os.environ["PANTAU_BASELINE_DATABASE_URL"])


def main() -> None:
    workers = int(os.environ.get("PANTAU_BASELINE_WORKERS", "1"))
    port = int(os.environ["PANTAU_BASELINE_PORT"])
    prepare(os.environ["PANTAU_BASELINE_DATABASE_URL"])
    uvicorn.run(
        "tools.bench.baseline_app:worker_app",
        factory=True,
        workers=workers if workers > 1 else None,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
