"""`python -m services.analytics`: run the analytics worker."""

from __future__ import annotations

import sys

from services.analytics.app import create_app
from services.analytics.settings import AnalyticsSettings
from shared.faust_app import ensure_changelog_topics
from shared.logs import configure_logging


def main() -> None:
    configure_logging("analytics")
    settings = AnalyticsSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    ensure_changelog_topics(app, settings.kafka)
    # Faust's CLI reads sys.argv; the worker's own settings come from AnalyticsSettings.
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.log_level]
    app.main()


if __name__ == "__main__":
    main()
