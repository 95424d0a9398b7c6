"""Programmes' configuration as the monitoring loads it (`services/monitoring/programmes`)."""

from __future__ import annotations

import pytest

from services.monitoring.programmes import DEFAULT_PROGRAMME, RuleConfigs, _sharing_defaults, load_programmes

pytestmark = pytest.mark.unit


def test_a_rule_configured_as_the_default_is_the_defaults_very_object() -> None:
    """What the rules derive for a group is kept for the configuration it was derived under and
    checked by identity first: a group judged under the default programme until its own is known
    finds it again under its programme when that rule's configuration is the default's."""
    for programme in load_programmes().values():
        for name in RuleConfigs.model_fields:
            own, default = getattr(programme.rules, name), getattr(DEFAULT_PROGRAMME.rules, name)
            assert (own is default) == (own == default), (programme.programme, name)


def test_a_rule_configured_otherwise_keeps_its_own() -> None:
    programme = load_programmes()["pkh-p2k2"]
    stricter = programme.rules.meeting_low_attendance.model_copy(update={"threshold_ratio": 0.99})
    changed = programme.model_copy(
        update={"rules": programme.rules.model_copy(update={"meeting_low_attendance": stricter})}
    )
    shared = _sharing_defaults(changed)
    assert shared.rules.meeting_low_attendance is stricter
    assert shared.rules.meeting_overdue is DEFAULT_PROGRAMME.rules.meeting_overdue
    assert shared == changed
