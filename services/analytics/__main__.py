"""`python -m services.analytics`: run the analytics worker."""

from __future__ import annotations

import sys

from services.analytics.app import create_app
from services.analytics.settings import AnalyticsSettings


def main() -> None:
    settings = AnalyticsSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    # Faust's CLI reads sys.argv; the worker's own settings come from AnalyticsSettings.
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.log_level]
    app.main()


if __name__ == "__main__":
    main()
