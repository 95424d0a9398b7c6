"""One log format for every service: time, service, level, logger, message."""

from __future__ import annotations

import logging
import os

from shared.privacy import contains_nik_shaped_value, redact_niks


class RedactNiks(logging.Filter):
    """Last line of defence: no log line carries a NIK-shaped value, whatever a library logs (an
    access log's URL, an exception's repr). The edges refuse or pseudonymise NIKs before this."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if contains_nik_shaped_value(message) or (record.exc_text and contains_nik_shaped_value(record.exc_text)):
            record.msg, record.args = redact_niks(message), None
            if record.exc_text:
                record.exc_text = redact_niks(record.exc_text)
        return True


def configure_logging(service: str, level: str | None = None) -> None:
    """Configure the root logger once per process (idempotent)."""
    chosen = (level or os.environ.get("PANTAU_LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if getattr(root, "_pantau_configured", False):
        root.setLevel(chosen)
        return
    handler = logging.StreamHandler()
    handler.addFilter(RedactNiks())
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    root._pantau_configured = True  # type: ignore[attr-defined]
    # The Kafka clients are chatty at INFO about every connection.
    for noisy in ("kafka", "aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
