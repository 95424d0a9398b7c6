"""`python -m services.monitoring`: run the monitoring worker."""

from __future__ import annotations

import asyncio
import logging
import sys

from services.monitoring import native
from services.monitoring.settings import MonitoringSettings
from shared.heap import settle_for_streaming
from shared.logs import configure_logging

log = logging.getLogger("pantau.monitoring")


def main() -> None:
    configure_logging("monitoring")
    settings = MonitoringSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.native is not None:  # before anything imports the rules (the worker's modules below do)
        why_not = native.activate(settings.native)
        if why_not is None:
            log.info("monitoring: the rules run compiled (mypyc build in %s)", settings.native)
        else:
            log.warning("monitoring: the rules run from the sources: %s", why_not)
    if settings.consumer == "loop":
        from services.monitoring.loop import LoopWorker  # aiokafka only: Faust is not started

        configure_logging("monitoring", settings.log_level)  # as Faust's --loglevel does for its worker
        settle_for_streaming()
        asyncio.run(LoopWorker(settings).run())
        return
    from services.monitoring.app import create_app
    from shared.faust_app import ensure_changelog_topics

    app = create_app(settings)
    ensure_changelog_topics(app, settings.kafka)
    settle_for_streaming()  # +9 % events/s in the replay (shared/heap.py)
    # Faust's CLI reads sys.argv; the worker's own settings come from MonitoringSettings.
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.log_level]
    app.main()


if __name__ == "__main__":
    main()
