"""Who needs the supervisor now (pure): the few facilitators and groups a district supervisor should
turn to first, and why, out of every incident in their scope.

A supervisor who sees 35 of 40 facilitators marked "needing attention" has no work queue: one
low-attendance meeting in one group is the facilitator's to follow up, and the supervisor reads it
when there is time. What needs the *supervisor* is a pattern or something serious. An incident needs
attention when nobody has it in hand yet (not acknowledged, not put aside, not closed) and its open
items of warning or above show at least one of:

- `critical`: something critical is open;
- `facilitator_signal`: a signal about the facilitator themselves (many groups deviating, devices
  silent) is open;
- `many_groups`: the facilitator has open warnings in `MANY_GROUPS` groups or more (across all
  their incidents in hand of nobody): the group count of `facilitator.many_groups_deviating`
  without its share of the facilitator's groups — that rule raises a message, this only ranks;
- `several_problems`: one group has `SEVERAL_PROBLEMS` different rules open at once.

Everything else that is open stays visible ("untuk diketahui": for your information), below the few.
Info-only incidents never count: they are the morning digest's. The console ranks each tier by the
worst severity, then the oldest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.notifications.incidents import INHIBITING_RULES, SEVERITY_RANK

# The group count a facilitator stands out at (`facilitator.many_groups_deviating`'s `groups`).
MANY_GROUPS = 3
SEVERAL_PROBLEMS = 2
LIVE_STATUSES = frozenset({"pending", "open", "acknowledged"})

Reason = Literal["critical", "facilitator_signal", "many_groups", "several_problems"]
Tier = Literal["needs_you", "for_information", "in_hand", "put_aside"]


@dataclass(frozen=True, slots=True)
class Concern:
    """An open item of warning or above, as attention weighs it."""

    group_id: str
    rule: str
    severity: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the console does with one incident: its tier, why, and which groups the why is about."""

    tier: Tier
    reasons: tuple[Reason, ...] = ()
    groups: frozenset[str] = frozenset()  # groups needing attention through this incident
    many_groups: int = 0  # the facilitator's groups with open warnings (for the words)
    several: Mapping[str, int] | None = None  # group → distinct rules open, where that is several

    @property
    def needs_you(self) -> bool:
        """In the few the supervisor should turn to first."""
        return self.tier == "needs_you"


def _concerns(items: Iterable[Mapping[str, Any]]) -> list[Concern]:
    return [
        Concern(str(item["group_id"]), str(item["rule"]), str(item["severity"]))
        for item in items
        if item.get("resolved_at") is None and SEVERITY_RANK.get(str(item.get("severity")), 0) >= 1
    ]


def _unhandled(incident: Mapping[str, Any], now: datetime) -> bool:
    snoozed_until = incident.get("snoozed_until")
    return incident["status"] in ("pending", "open") and (snoozed_until is None or snoozed_until <= now)


def judge(incidents: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, Verdict]:
    """A verdict for every live incident (stored rows: `incident_id`, `facilitator_id`, `status`,
    `snoozed_until`, `items`), weighing each facilitator's incidents together."""
    live = [incident for incident in incidents if incident["status"] in LIVE_STATUSES]
    # What nobody has in hand yet, per facilitator: the pattern is the facilitator's, across incidents.
    open_groups: dict[str, set[str]] = defaultdict(set)
    for incident in live:
        if _unhandled(incident, now):
            open_groups[str(incident["facilitator_id"])].update(c.group_id for c in _concerns(incident["items"]))
    verdicts: dict[str, Verdict] = {}
    for incident in live:
        incident_id = str(incident["incident_id"])
        snoozed_until = incident.get("snoozed_until")
        if snoozed_until is not None and snoozed_until > now:
            verdicts[incident_id] = Verdict("put_aside")
            continue
        if incident["status"] == "acknowledged":
            verdicts[incident_id] = Verdict("in_hand")
            continue
        concerns = _concerns(incident["items"])
        verdicts[incident_id] = _weigh(concerns, len(open_groups[str(incident["facilitator_id"])]))
    return verdicts


def _weigh(concerns: list[Concern], facilitator_groups: int) -> Verdict:
    if not concerns:
        return Verdict("for_information")  # info only: the digest's, never counted
    rules_by_group: dict[str, set[str]] = defaultdict(set)
    for concern in concerns:
        rules_by_group[concern.group_id].add(concern.rule)
    several = {group: len(rules) for group, rules in rules_by_group.items() if len(rules) >= SEVERAL_PROBLEMS}
    critical = {concern.group_id for concern in concerns if concern.severity == "critical"}
    signal = any(concern.rule in INHIBITING_RULES for concern in concerns)
    many = facilitator_groups >= MANY_GROUPS
    reasons: list[Reason] = []
    if critical:
        reasons.append("critical")
    if signal:
        reasons.append("facilitator_signal")
    if many:
        reasons.append("many_groups")
    if several:
        reasons.append("several_problems")
    if not reasons:
        return Verdict("for_information")
    # A pattern about the facilitator is about every group with an open warning; otherwise only the
    # groups that are critical or have several problems need the supervisor.
    groups = set(rules_by_group) if (signal or many) else critical | set(several)
    return Verdict(
        "needs_you",
        tuple(reasons),
        frozenset(groups),
        many_groups=facilitator_groups if many else 0,
        several=several or None,
    )


def why(verdict: Verdict, group_names: Mapping[str, str]) -> dict[str, str] | None:
    """The reasons in words, Bahasa Indonesia and English; None when the incident does not need
    the supervisor."""
    if not verdict.needs_you:
        return None
    parts_id: list[str] = []
    parts_en: list[str] = []
    for reason in verdict.reasons:
        if reason == "critical":
            parts_id.append("ada hal kritis")
            parts_en.append("something critical is open")
        elif reason == "facilitator_signal":
            parts_id.append("ada sinyal tentang pendamping sendiri")
            parts_en.append("a signal about the facilitator themselves")
        elif reason == "many_groups":
            parts_id.append(f"masalah di {verdict.many_groups} kelompok sekaligus")
            parts_en.append(f"problems in {verdict.many_groups} groups at once")
        else:
            for group_id, count in sorted((verdict.several or {}).items()):
                name = group_names.get(group_id, group_id)
                parts_id.append(f"{name} punya {count} masalah sekaligus")
                parts_en.append(f"{name} has {count} problems at once")
    return {"id": "Mengapa: " + "; ".join(parts_id) + ".", "en": "Why: " + "; ".join(parts_en) + "."}


def groups_needing_attention(verdicts: Mapping[str, Verdict]) -> set[str]:
    """The groups the few incidents needing attention are about."""
    return {group for verdict in verdicts.values() if verdict.needs_you for group in verdict.groups}
