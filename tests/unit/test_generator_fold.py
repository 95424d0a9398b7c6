"""The monitoring engine against the generator's oracle on a generated programme, without Kafka,
and the facilitator-level rule's reach on the same programme."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from services.monitoring.programmes import ManyGroupsConfig, load_programmes
from tools.generator.behaviour import Rates, simulate
from tools.generator.fold import Folded, accuracy, fold_history
from tools.generator.oracle import MANY_GROUPS, expected_deviations, oracle_deviations
from tools.generator.programme import Programme, Shape

pytestmark = pytest.mark.unit

PROGRAMMES = load_programmes()
SHAPE = Shape(scale=0.003, seed=7, start=date(2026, 1, 1), months=3)


def test_the_engine_opens_exactly_the_oracles_deviations_read_in_receipt_order() -> None:
    folded = Folded()
    # Every fourth facilitator: all three programmes, offline spells and every injected deviation.
    for facilitator in itertools.islice(Programme(SHAPE).facilitators(), 0, 40, 4):
        history = simulate(facilitator, SHAPE, Rates())
        folded.oracle.update(expected_deviations(history, PROGRAMMES))
        fold_history(history, PROGRAMMES, folded)
    rows = accuracy(folded)
    assert {row.rule: (row.missed, row.extra) for row in rows if row.missed or row.extra} == {}
    plan_rules = {row.rule: row.expected for row in rows if row.rule.startswith("plan.")}
    assert all(plan_rules.values()), plan_rules  # the sample does exercise the plan rules


def test_many_groups_deviating_singles_out_a_minority_of_facilitators() -> None:
    facilitators = SHAPE.facilitator_count
    flagged = {item.facilitator_id for item in oracle_deviations(scale=0.003, months=3) if item.rule == MANY_GROUPS}
    assert 0 < len(flagged) <= facilitators // 5, f"{len(flagged)} of {facilitators}"
    # Before the recalibration (3 groups with anything open, info included) most stood out.
    before = {
        name: config.model_copy(
            update={
                "rules": config.rules.model_copy(
                    update={
                        "facilitator_many_groups_deviating": ManyGroupsConfig(share_of_groups=0, from_severity="info")
                    }
                )
            }
        )
        for name, config in PROGRAMMES.items()
    }
    flagged_before = {
        item.facilitator_id
        for item in oracle_deviations(scale=0.003, months=3, programmes=before)
        if item.rule == MANY_GROUPS
    }
    assert len(flagged_before) > facilitators // 2, f"{len(flagged_before)} of {facilitators}"


def test_oracle_deviations_name_who_hears_of_them_and_when() -> None:
    items = list(oracle_deviations(scale=0.001, months=1, start=None))
    assert items
    for item in items:
        assert item.supervisor_region == ".".join(item.region_code.split(".")[:2])
        assert item.supervisor_id == "SUP-" + item.supervisor_region.replace(".", "")
        assert item.severity in ("info", "warning", "critical")
        assert item.resolved_at is None or item.resolved_at >= item.opened_at
    assert any(item.resolved_at is not None for item in items)
