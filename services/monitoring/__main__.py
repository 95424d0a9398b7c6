"""`python -m services.monitoring`: run the monitoring worker."""

from __future__ import annotations

import sys

from services.monitoring.app import create_app
from services.monitoring.settings import MonitoringSettings


def main() -> None:
    settings = MonitoringSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    # Faust's CLI reads sys.argv; the worker's own settings come from MonitoringSettings.
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.log_level]
    app.main()


if __name__ == "__main__":
    main()
