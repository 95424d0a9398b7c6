"""Monitoring's settings: small batches live, large ones in a replay unless set; the compiled rules by default."""

from __future__ import annotations

import pytest

from services.monitoring.native import DEFAULT_BUILD
from services.monitoring.settings import REPLAY_BATCH_SECONDS, REPLAY_BATCH_SIZES, MonitoringSettings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_batch_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLOCK", "BATCH_SIZE", "BATCH_SECONDS", "NATIVE"):
        monkeypatch.delenv(f"PANTAU_MONITORING_{name}", raising=False)


def test_live_batches_wait_twenty_milliseconds_at_most() -> None:
    settings = MonitoringSettings()
    assert (settings.batch_size, settings.batch_seconds) == (1000, 0.02)


def test_a_replay_takes_larger_batches_the_loop_consumer_larger_still() -> None:
    settings = MonitoringSettings(clock="event")
    assert (settings.batch_size, settings.batch_seconds) == (400_000, 3.0)
    faust = MonitoringSettings(clock="event", consumer="faust")
    assert (faust.batch_size, faust.batch_seconds) == (5000, 0.25)
    assert REPLAY_BATCH_SIZES == {"faust": 5000, "loop": 400_000}
    assert REPLAY_BATCH_SECONDS == {"faust": 0.25, "loop": 3.0}


def test_what_is_set_is_kept_in_a_replay_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_MONITORING_CLOCK", "event")
    monkeypatch.setenv("PANTAU_MONITORING_BATCH_SIZE", "300")
    settings = MonitoringSettings()
    assert (settings.batch_size, settings.batch_seconds) == (300, REPLAY_BATCH_SECONDS["loop"])


def test_the_compiled_rules_are_used_by_default_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MonitoringSettings().native == DEFAULT_BUILD  # where `make setup` builds them
    for off in ("off", "", "none"):
        monkeypatch.setenv("PANTAU_MONITORING_NATIVE", off)
        assert MonitoringSettings().native is None
    monkeypatch.setenv("PANTAU_MONITORING_NATIVE", "/app/.cache/native")
    assert str(MonitoringSettings().native) == "/app/.cache/native"
