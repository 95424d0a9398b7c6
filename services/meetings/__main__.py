"""`python -m services.meetings`: serve the meetings API with uvicorn, in `PANTAU_MEETINGS_WORKERS`
processes (each builds its own app from the environment; they share the PostgreSQL database)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.logs import configure_logging


def worker_app() -> FastAPI:
    """The app of one of several worker processes (each spawned fresh: its logging set up again)."""
    configure_logging("meetings")
    return create_app(MeetingsSettings())


def main() -> None:
    configure_logging("meetings")
    settings = MeetingsSettings()
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
        return
    # Several processes: uvicorn imports the factory in each worker, which reads the same environment.
    uvicorn.run(
        "services.meetings.__main__:worker_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
