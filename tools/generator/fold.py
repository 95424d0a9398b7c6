"""The monitoring engine folded over a generated history, without Kafka: what the rules decide when
every record is read in the order the server received it (the replay's ideal).

A light way to check the oracle and the rules against each other (`accuracy`) and to see how a
facilitator-level threshold behaves on a whole programme (`Folded.facilitators_signalled`), in
seconds instead of a broker replay:

    uv run python -m tools.generator accuracy --scale 0.003 --months 3
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from services.monitoring import engine
from services.monitoring.programmes import ProgrammeConfig, load_programmes, programme_config
from services.monitoring.rules import many_groups
from services.monitoring.rules.decisions import Open
from services.monitoring.rules.many_groups import FacilitatorState
from services.monitoring.rules.state import GroupState
from tools.generator.behaviour import History, Rates, simulate
from tools.generator.events import history_publications
from tools.generator.oracle import ORACLE_RULES, Expected, OracleResult, expected_deviations
from tools.generator.programme import Programme, Shape


@dataclass
class Folded:
    """Deviations opened by the engine, the oracle of the same history, and the facilitators."""

    opened: set[Expected] = field(default_factory=set)
    oracle: OracleResult = field(default_factory=OracleResult)
    facilitators: int = 0
    groups: int = 0
    facilitators_signalled: set[str] = field(default_factory=set)
    opened_by_rule: Counter[str] = field(default_factory=Counter)


def fold_history(history: History, programmes: dict[str, ProgrammeConfig], into: Folded) -> None:
    """Fold one facilitator's history through the engine in receipt order, as app.py does: catch
    up with time, fold the fact, re-key the group's news to the facilitator's rule."""
    states: dict[str, GroupState] = defaultdict(GroupState)
    facilitator = FacilitatorState()
    many = programme_config(programmes, history.facilitator.programme).rules.facilitator_many_groups_deviating
    publications = sorted(history_publications(history), key=lambda item: item.published_at)

    def decided(group_id: str, before: GroupState, after: GroupState, decisions: tuple, now: datetime) -> None:
        nonlocal facilitator
        for decision in decisions:
            if isinstance(decision, Open):
                into.opened.add(Expected(decision.rule, decision.subject, decision.occurrence))
                into.opened_by_rule[decision.rule] += 1
        at = max((decision.at or now for decision in decisions), default=now)
        signal = engine.facilitator_signal(before, after, many, group_id=group_id, at=at)
        if signal is not None:
            facilitator, signalled = many_groups.on_signal(facilitator, signal, many)
            for _, decision in signalled:
                if isinstance(decision, Open):
                    into.facilitators_signalled.add(signal.facilitator_id)
                    into.opened_by_rule[decision.rule] += 1

    for publication in publications:
        fact = publication.event
        group_id = getattr(fact, "group_id", "")
        now = publication.received_at or publication.time
        before = states[group_id]
        programme = programme_config(programmes, getattr(fact, "programme", None) or history.facilitator.programme)
        outcome = engine.step(before, fact, now, programme, group_id=group_id, received_at=now)
        states[group_id] = outcome.state
        decided(group_id, before, outcome.state, outcome.decisions, now)
    for group_id, before in list(states.items()):
        programme = programme_config(programmes, history.facilitator.programme)
        outcome = engine.step(before, None, history.horizon_end, programme, group_id=group_id)
        states[group_id] = outcome.state
        decided(group_id, before, outcome.state, outcome.decisions, history.horizon_end)


def fold_programme(
    shape: Shape, rates: Rates | None = None, programmes: dict[str, ProgrammeConfig] | None = None
) -> Folded:
    """Every facilitator's history, folded, with the oracle of the same histories."""
    programmes = programmes if programmes is not None else load_programmes()
    folded = Folded()
    for facilitator in Programme(shape).facilitators():
        history = simulate(facilitator, shape, rates or Rates())
        folded.facilitators += 1
        folded.groups += len(facilitator.groups)
        folded.oracle.update(expected_deviations(history, programmes))
        fold_history(history, programmes, folded)
    return folded


@dataclass(frozen=True)
class RuleAgreement:
    """One rule: the oracle's certain deviations, what the engine opened, and where they differ
    (the oracle's ambiguous items count neither way)."""

    rule: str
    expected: int
    opened: int
    missed: tuple[Expected, ...]
    extra: tuple[Expected, ...]

    @property
    def precision(self) -> float | None:
        scored = self.opened_scored
        return (scored - len(self.extra)) / scored if scored else None

    @property
    def recall(self) -> float | None:
        return (self.expected - len(self.missed)) / self.expected if self.expected else None

    @property
    def opened_scored(self) -> int:
        return self.expected - len(self.missed) + len(self.extra)


def accuracy(folded: Folded) -> list[RuleAgreement]:
    """Per oracle rule: precision and recall of the engine's openings against the oracle."""
    rows = []
    for rule in ORACLE_RULES:
        certain = {item for item in folded.oracle.certain if item.rule == rule}
        ambiguous = {item for item in folded.oracle.ambiguous if item.rule == rule}
        opened = {item for item in folded.opened if item.rule == rule}
        rows.append(
            RuleAgreement(
                rule,
                len(certain),
                len(opened),
                tuple(sorted(certain - opened)),
                tuple(sorted(opened - certain - ambiguous)),
            )
        )
    return rows
