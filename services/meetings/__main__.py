"""`python -m services.meetings`: serve the meetings API with uvicorn."""

from __future__ import annotations

import uvicorn

from services.meetings.app import create_app
from services.meetings.settings import MeetingsSettings
from shared.logs import configure_logging


def main() -> None:
    configure_logging("meetings")
    settings = MeetingsSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
