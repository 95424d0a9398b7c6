"""Monitoring's batch settings: small batches live, large ones in a replay unless set."""

from __future__ import annotations

import pytest

from services.monitoring.settings import REPLAY_BATCH_SECONDS, REPLAY_BATCH_SIZE, MonitoringSettings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_batch_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLOCK", "BATCH_SIZE", "BATCH_SECONDS"):
        monkeypatch.delenv(f"PANTAU_MONITORING_{name}", raising=False)


def test_live_batches_wait_twenty_milliseconds_at_most() -> None:
    settings = MonitoringSettings()
    assert (settings.batch_size, settings.batch_seconds) == (1000, 0.02)


def test_a_replay_takes_larger_batches() -> None:
    settings = MonitoringSettings(clock="event")
    assert (settings.batch_size, settings.batch_seconds) == (REPLAY_BATCH_SIZE, REPLAY_BATCH_SECONDS)


def test_what_is_set_is_kept_in_a_replay_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_MONITORING_CLOCK", "event")
    monkeypatch.setenv("PANTAU_MONITORING_BATCH_SIZE", "300")
    settings = MonitoringSettings()
    assert (settings.batch_size, settings.batch_seconds) == (300, REPLAY_BATCH_SECONDS)
