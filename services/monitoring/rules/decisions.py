"""What a rule can decide, and how a deviation's id is derived."""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Severity = Literal["info", "warning", "critical"]
Concerns = Literal["group", "facilitator"]
DetailValue = str | int | float | bool | None

# Fixed namespace: the same (rule, subject, occurrence) gives the same id in every process, forever.
_DEVIATION_NAMESPACE = uuid.UUID("6f1d3c52-8a4e-4f7b-9a51-5e0c1f2a7b90")


_NAMESPACE_BYTES = _DEVIATION_NAMESPACE.bytes


@functools.lru_cache(maxsize=131072)
def deviation_id(rule: str, subject: str, occurrence: str) -> str:
    """Derived id: redelivering the evidence can never make a second deviation.

    `uuid.uuid5(namespace, "rule|subject|occurrence").hex`, computed without building a `UUID` (its
    constructor was most of the cost; a worker holding more groups than the cache asks often)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{rule}|{subject}|{occurrence}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return "dev-" + digest.hex()


@dataclass(frozen=True, init=False)
class Open:
    """Open a deviation for an occurrence (a meeting, a period, an activity, an evaluation).

    `evidence_at` is the event time of the evidence; `at` is the instant the evidence became enough
    (the detection instant, on the rule clock). Both come from the evidence, never from when the code
    happened to run, so a replay detects at the same instants as live processing.
    """

    rule: str
    subject: str
    occurrence: str
    severity: Severity
    evidence_at: datetime
    details: dict[str, DetailValue] = field(default_factory=dict)
    concerns: Concerns = "group"
    at: datetime | None = None
    memory: dict[str, DetailValue] = field(default_factory=dict)  # kept with the open deviation for the rule

    # Written out, not generated: see `state.ActivityState.__init__` (a decision is built at many records).
    def __init__(
        self,
        rule: str,
        subject: str,
        occurrence: str,
        severity: Severity,
        evidence_at: datetime,
        details: dict[str, DetailValue] | None = None,
        concerns: Concerns = "group",
        at: datetime | None = None,
        memory: dict[str, DetailValue] | None = None,
    ) -> None:
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "occurrence", occurrence)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "evidence_at", evidence_at)
        object.__setattr__(self, "details", {} if details is None else details)
        object.__setattr__(self, "concerns", concerns)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "memory", {} if memory is None else memory)

    @property
    def deviation_id(self) -> str:
        return deviation_id(self.rule, self.subject, self.occurrence)


@dataclass(frozen=True, init=False)
class Escalate:
    """Raise an open deviation's severity."""

    deviation_id: str
    rule: str
    previous_severity: Severity
    severity: Severity
    reason: str
    details: dict[str, DetailValue] = field(default_factory=dict)
    at: datetime | None = None

    # Written out, not generated: see `state.ActivityState.__init__` (a decision is built at many records).
    def __init__(
        self,
        deviation_id: str,
        rule: str,
        previous_severity: Severity,
        severity: Severity,
        reason: str,
        details: dict[str, DetailValue] | None = None,
        at: datetime | None = None,
    ) -> None:
        object.__setattr__(self, "deviation_id", deviation_id)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "previous_severity", previous_severity)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "details", {} if details is None else details)
        object.__setattr__(self, "at", at)


@dataclass(frozen=True, init=False)
class Resolve:
    """Close an open deviation because its evidence cleared."""

    deviation_id: str
    rule: str
    severity: Severity
    reason: str
    at: datetime | None = None

    # Written out, not generated: see `state.ActivityState.__init__` (a decision is built at many records).
    def __init__(
        self, deviation_id: str, rule: str, severity: Severity, reason: str, at: datetime | None = None
    ) -> None:
        object.__setattr__(self, "deviation_id", deviation_id)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "at", at)


Decision = Open | Escalate | Resolve
