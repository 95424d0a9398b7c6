"""What the Faust tests share: an app built as the workers build theirs, never started."""

from __future__ import annotations

from pathlib import Path

import faust

from shared.faust_app import build_app
from shared.settings import KafkaSettings


def unstarted_app(app_id: str) -> faust.App:
    """`build_app` with Pantau's settings; nothing connects (the app is never started)."""
    return build_app(
        app_id,
        kafka=KafkaSettings(),
        web_host="127.0.0.1",
        web_port=8999,  # never bound
        data_dir=Path("/nonexistent"),
        partitions=12,
    )
