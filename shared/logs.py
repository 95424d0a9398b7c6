"""One log format for every service: time, service, level, logger, message."""

from __future__ import annotations

import logging
import os


def configure_logging(service: str, level: str | None = None) -> None:
    """Configure the root logger once per process (idempotent)."""
    chosen = (level or os.environ.get("PANTAU_LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if getattr(root, "_pantau_configured", False):
        root.setLevel(chosen)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    root._pantau_configured = True  # type: ignore[attr-defined]
    # The Kafka clients are chatty at INFO about every connection.
    for noisy in ("kafka", "aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
