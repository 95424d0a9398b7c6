"""`python -m services.notifications`: serve the notifications API and run its Kafka loops."""

from __future__ import annotations

import uvicorn

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared.logs import configure_logging


def main() -> None:
    configure_logging("notifications")
    settings = NotificationsSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
