"""Per-group state the rules need, kept in a Faust table keyed by group id (stored as compact
bytes by `services/monitoring/stored_state.py`; `to_json`/`from_json` read and write the former form).

Everything is bounded per group: the last few meetings, periods and evaluations, the plan's
activities, the devices of the group's facilitator, open deviations and recently closed ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.monitoring.rules.calendar import end_of_day, start_of_day
from services.monitoring.rules.decisions import Severity

_OLDEST = datetime.min.replace(tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = timedelta(0)
_SECOND = timedelta(seconds=1)

RECENT_MEETINGS_KEPT = 12
PERIODS_KEPT = 14
CLOSED_IDS_KEPT = 128
EVALUATIONS_KEPT = 24
SYNC_MARKS_KEPT = 12  # per device, of the marks the rule clock has passed (see `kept_sync_marks`)
SYNC_MARKS_AHEAD_KEPT = 256  # per device, at most, of those it has not
SUPERSEDED_KEPT = 8  # per activity: reports read ahead of the clock that one replay window holds


def kept_sync_marks(
    history: tuple[tuple[datetime, datetime], ...], clock: datetime, *, received_by: datetime | None = None
) -> tuple[tuple[datetime, datetime], ...]:
    """A device's earlier sync marks (synced through, received), oldest first, as a group keeps them:
    every mark received after the rule clock (the instants it can answer for are still to be judged)
    and the last `SYNC_MARKS_KEPT` of the others.

    Why not simply the last 12: a replay reads a partition's topics at different speeds, and while
    its clock waits for the slowest one a phone's syncs can be read weeks ahead. Cut to the last 12,
    the sync that showed a meeting's report missing was gone before the clock reached the meeting's
    due time, and the overdue meeting was never opened (12 of 1,397 expected deviations in a replay
    read by the loop consumer).

    `received_by`, when given, is no earlier than every mark's receipt (`DeviceWatermark.received_by`):
    once the clock has passed it, no mark is ahead and none needs looking at (a sync is half of all
    records, and live the clock is always past them)."""
    if len(history) <= SYNC_MARKS_KEPT:
        return history  # all of them, however many are ahead
    ahead = 0
    if received_by is None or received_by > clock:
        for _, received_at in history:  # a loop: no generator per sync
            if received_at > clock:
                ahead += 1
    keep = min(len(history), SYNC_MARKS_AHEAD_KEPT, ahead + SYNC_MARKS_KEPT)
    return history[len(history) - keep :]


def pack_instant(moment: datetime | None) -> Any:
    """An instant as stored (`stored_state.py`): integer seconds since the epoch;
    `[seconds, microseconds, offset seconds]` when it has a fraction or a UTC offset; ISO text if it
    is naive (never expected, never lost). Here, not there: a device's mark packs what it adds."""
    if moment is None:
        return None
    # UTC nearly always (the facts are made UTC when read): known without asking the tzinfo.
    offset = _ZERO if moment.tzinfo is UTC else moment.utcoffset()
    if offset is None:
        return moment.isoformat()
    elapsed = moment - _EPOCH
    seconds = elapsed.days * 86_400 + elapsed.seconds
    if elapsed.microseconds == 0 and offset == _ZERO:
        return seconds
    return [seconds, elapsed.microseconds, offset // _SECOND]


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# The parts of a state are compiled classes when the rules are (`services/monitoring/native.py`): a
# compiled class reads its fields from fixed places, a Python class from a dictionary. What is kept
# beside their fields (their stored bytes) has a declared place.
@dataclass(frozen=True)
class GroupContext:
    """Who and where the group is, from the latest group-keyed event."""

    programme: str
    facilitator_id: str
    region_code: str
    partition: int = 0


@dataclass(frozen=True, init=False)
class MeetingSummary:
    """What the rules need to remember of a meeting."""

    report_id: str
    started_at: datetime
    facilitator_present: bool
    ended_at: datetime | None = None
    present: int = 0
    members: int = 0
    received_at: datetime | None = None
    # Its stored bytes, once encoded (`stored_state.py`): a declared place, as a compiled class has no other.
    _packed: Any = field(default=None, init=False, repr=False, compare=False)
    _local_day: Any = field(default=None, init=False, repr=False, compare=False)  # `overdue._local_day`

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(
        self,
        report_id: str,
        started_at: datetime,
        facilitator_present: bool,
        ended_at: datetime | None = None,
        present: int = 0,
        members: int = 0,
        received_at: datetime | None = None,
    ) -> None:
        object.__setattr__(self, "report_id", report_id)
        object.__setattr__(self, "started_at", started_at)
        object.__setattr__(self, "facilitator_present", facilitator_present)
        object.__setattr__(self, "ended_at", ended_at)
        object.__setattr__(self, "present", present)
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "received_at", received_at)
        object.__setattr__(self, "_packed", None)
        object.__setattr__(self, "_local_day", None)

    @property
    def attendance_ratio(self) -> float | None:
        return None if self.members <= 0 else self.present / self.members

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "started_at": self.started_at.isoformat(),
            "facilitator_present": self.facilitator_present,
            "ended_at": _iso(self.ended_at),
            "present": self.present,
            "members": self.members,
            "received_at": _iso(self.received_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeetingSummary:
        return cls(
            report_id=data["report_id"],
            started_at=datetime.fromisoformat(data["started_at"]),
            facilitator_present=data["facilitator_present"],
            ended_at=_dt(data.get("ended_at")),
            present=data.get("present", 0),
            members=data.get("members", 0),
            received_at=_dt(data.get("received_at")),
        )


@dataclass(frozen=True, init=False)
class ScheduledPeriod:
    """A period the group's meeting is due in."""

    period: str
    due_at: datetime
    time_zone: str
    cadence: str = "monthly"
    # When monitoring first learned of the period (rule clock): a period learned long after its due
    # time is history (an import, a group registered late), not something to alarm about now.
    learned_at: datetime | None = None
    # Its stored bytes, once encoded (`stored_state.py`): a declared place, as a compiled class has no other.
    _packed: Any = field(default=None, init=False, repr=False, compare=False)

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(
        self,
        period: str,
        due_at: datetime,
        time_zone: str,
        cadence: str = "monthly",
        learned_at: datetime | None = None,
    ) -> None:
        object.__setattr__(self, "period", period)
        object.__setattr__(self, "due_at", due_at)
        object.__setattr__(self, "time_zone", time_zone)
        object.__setattr__(self, "cadence", cadence)
        object.__setattr__(self, "learned_at", learned_at)
        object.__setattr__(self, "_packed", None)

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "due_at": self.due_at.isoformat(),
            "time_zone": self.time_zone,
            "cadence": self.cadence,
            "learned_at": self.learned_at.isoformat() if self.learned_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduledPeriod:
        return cls(
            data["period"],
            datetime.fromisoformat(data["due_at"]),
            data["time_zone"],
            data.get("cadence", "monthly"),
            _dt(data.get("learned_at")),
        )


@dataclass(frozen=True, init=False)
class DeviceWatermark:
    """How far one of the facilitator's devices has synced, and when we heard so."""

    synced_through: datetime
    received_at: datetime
    facilitator_id: str = ""
    # Earlier (synced_through, received_at) marks, oldest first: when a sync first covered an instant.
    history: tuple[tuple[datetime, datetime], ...] = ()
    # Its stored bytes, once encoded (`stored_state.py`): a declared place, as a compiled class has no other.
    _packed_entry: Any = field(default=None, init=False, repr=False, compare=False)
    # The history's instants as stored (`pack_instant`, flat), once known. A device's next mark keeps
    # the last marks of this history and adds this mark: it takes these values and packs only what it
    # adds. Why: in a replay a device holds up to `SYNC_MARKS_AHEAD_KEPT` marks, and every stored sync
    # packed all of them again.
    _packed_history: Any = field(default=None, init=False, repr=False, compare=False)
    # No earlier than the receipt of every mark (its own and its history's): the latest receipt of
    # any mark the device ever had. Derived, not stored (see `kept_sync_marks`).
    received_by: datetime = field(init=False, repr=False, compare=False)

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(
        self,
        synced_through: datetime,
        received_at: datetime,
        facilitator_id: str = "",
        history: tuple[tuple[datetime, datetime], ...] = (),
        *,
        previous: DeviceWatermark | None = None,
        packed_history: list[Any] | None = None,
    ) -> None:
        object.__setattr__(self, "synced_through", synced_through)
        object.__setattr__(self, "received_at", received_at)
        object.__setattr__(self, "facilitator_id", facilitator_id)
        object.__setattr__(self, "history", history)
        object.__setattr__(self, "_packed_entry", None)
        if packed_history is None and previous is not None:
            packed_history = _history_after(previous, history)
        object.__setattr__(self, "_packed_history", packed_history)
        # The history is the last marks of `previous`'s (when given), so its bound holds for them.
        received_by = received_at if previous is None else max(previous.received_by, received_at)
        if previous is None:
            for _, received in history:
                if received > received_by:
                    received_by = received
        object.__setattr__(self, "received_by", received_by)

    def first_covering(self, needed: datetime, *, after: datetime | None = None) -> datetime | None:
        """When Pantau first heard that this device had synced past `needed` (in a sync received
        after `after`, when given)."""
        if after is None:
            for synced_through, received_at in self.history:
                if synced_through > needed:
                    return received_at
        else:
            for synced_through, received_at in self.history:
                if synced_through > needed and received_at > after:
                    return received_at
        if self.synced_through > needed and (after is None or self.received_at > after):
            return self.received_at
        return None


def _history_after(previous: DeviceWatermark, history: tuple[tuple[datetime, datetime], ...]) -> list[Any] | None:
    """`history`'s packed instants from `previous`'s, when `history` is the last marks of
    `previous.history` followed by `previous`'s own mark (the very objects: an equal instant in
    another offset packs otherwise), and `previous`'s are known; else None (packed when stored)."""
    known = previous._packed_history
    if known is None or not history:
        return None
    last = history[-1]
    if last[0] is not previous.synced_through or last[1] is not previous.received_at:
        return None
    earlier = previous.history
    start = len(earlier) - (len(history) - 1)
    if start < 0:
        return None
    for index in range(len(history) - 1):
        # The instants, not the pairs: compiled, a pair is rebuilt each time it is read.
        mark, known_mark = history[index], earlier[start + index]
        if mark[0] is not known_mark[0] or mark[1] is not known_mark[1]:
            return None
    return [*known[2 * start :], pack_instant(last[0]), pack_instant(last[1])]


@dataclass(frozen=True, init=False)
class SupersededProgress:
    """An activity's progress as it stood until a report read ahead of the rule clock replaced it.

    In a replay a group's progress (plans.events) can be read before its partition's clock, held
    back by a slower topic, reaches that report's receipt. Until the clock gets there, the at-risk
    rule judges the activity as it was known before that receipt (`activities.progress_windows`),
    as living through it did: a report received after the instant the activity fell behind cannot
    hide that it was behind then."""

    status: str
    value: float | None
    reported_on: date | None
    recorded_at: datetime | None  # the progress report's device time (None: no report yet)
    received_at: datetime | None  # and when it reached Pantau
    until: datetime  # when the report that replaced it reached Pantau

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(
        self,
        status: str,
        value: float | None,
        reported_on: date | None,
        recorded_at: datetime | None,
        received_at: datetime | None,
        until: datetime,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "reported_on", reported_on)
        object.__setattr__(self, "recorded_at", recorded_at)
        object.__setattr__(self, "received_at", received_at)
        object.__setattr__(self, "until", until)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "value": self.value,
            "reported_on": None if self.reported_on is None else self.reported_on.isoformat(),
            "recorded_at": _iso(self.recorded_at),
            "received_at": _iso(self.received_at),
            "until": self.until.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SupersededProgress:
        return cls(
            status=data["status"],
            value=data.get("value"),
            reported_on=None if data.get("reported_on") is None else date.fromisoformat(data["reported_on"]),
            recorded_at=_dt(data.get("recorded_at")),
            received_at=_dt(data.get("received_at")),
            until=datetime.fromisoformat(data["until"]),
        )


_ACTIVITY_CALENDAR = frozenset({"starts_on", "due_on", "time_zone"})  # what the derived instants come from


@dataclass(frozen=True, init=False)
class ActivityState:
    """One planned activity and its latest progress."""

    activity_id: str
    plan_id: str
    title: str
    starts_on: date
    due_on: date
    time_zone: str
    status: str = "not_started"
    baseline: float | None = None
    target: float | None = None
    value: float | None = None
    reported_on: date | None = None
    done_received_at: datetime | None = None  # when the first "done" report reached Pantau
    known_at: datetime | None = None  # when the plan bringing it reached Pantau (None: before anything)
    progress_recorded_at: datetime | None = None  # the latest progress report's device time
    progress_received_at: datetime | None = None  # and when it reached Pantau
    status_before_done: str = "not_started"  # the last status reported before "done"
    progress_id: str | None = None  # the latest progress report's id
    # Progress replaced by reports read ahead of the rule clock, oldest first, while the clock has
    # not passed their replacement's receipt (replay only; at most SUPERSEDED_KEPT).
    superseded: tuple[SupersededProgress, ...] = ()
    # Derived from the dates above when the activity is built (a plan or progress changes it), so
    # that the rules, asked at every record, read instants instead of converting calendars.
    start_at: datetime = field(init=False, repr=False, compare=False)  # its first day's start, local
    due_end_at: datetime = field(init=False, repr=False, compare=False)  # its due day's end, local
    late_at: datetime = field(init=False, repr=False, compare=False)  # the first instant it is late
    # Kept beside the fields until the activity changes (`evolve` drops them): its progress windows
    # (`activities.progress_windows`), its stored bytes (`stored_state.py`) and its at-risk instant.
    _windows: Any = field(default=None, init=False, repr=False, compare=False)
    _packed_entry: Any = field(default=None, init=False, repr=False, compare=False)
    _risk_instant: Any = field(default=None, init=False, repr=False, compare=False)  # `activities.risk_instant`

    # Written out, not generated: compiled, a frozen dataclass's generated `__init__` is Python code
    # (about ten times the cost), and `object.__setattr__` on `self` compiles to a plain store.
    def __init__(
        self,
        activity_id: str,
        plan_id: str,
        title: str,
        starts_on: date,
        due_on: date,
        time_zone: str,
        status: str = "not_started",
        baseline: float | None = None,
        target: float | None = None,
        value: float | None = None,
        reported_on: date | None = None,
        done_received_at: datetime | None = None,
        known_at: datetime | None = None,
        progress_recorded_at: datetime | None = None,
        progress_received_at: datetime | None = None,
        status_before_done: str = "not_started",
        progress_id: str | None = None,
        superseded: tuple[SupersededProgress, ...] = (),
        *,
        derived_from: ActivityState | None = None,
    ) -> None:
        object.__setattr__(self, "activity_id", activity_id)
        object.__setattr__(self, "plan_id", plan_id)
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "starts_on", starts_on)
        object.__setattr__(self, "due_on", due_on)
        object.__setattr__(self, "time_zone", time_zone)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "baseline", baseline)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "reported_on", reported_on)
        object.__setattr__(self, "done_received_at", done_received_at)
        object.__setattr__(self, "known_at", known_at)
        object.__setattr__(self, "progress_recorded_at", progress_recorded_at)
        object.__setattr__(self, "progress_received_at", progress_received_at)
        object.__setattr__(self, "status_before_done", status_before_done)
        object.__setattr__(self, "progress_id", progress_id)
        object.__setattr__(self, "superseded", superseded)
        object.__setattr__(self, "_windows", None)
        object.__setattr__(self, "_packed_entry", None)
        object.__setattr__(self, "_risk_instant", None)
        if derived_from is not None:
            # `evolve` with the same calendar: the instants are the same.
            object.__setattr__(self, "start_at", derived_from.start_at)
            object.__setattr__(self, "due_end_at", derived_from.due_end_at)
            object.__setattr__(self, "late_at", derived_from.late_at)
            return
        due_end_at = end_of_day(due_on, time_zone)
        object.__setattr__(self, "start_at", start_of_day(starts_on, time_zone))
        object.__setattr__(self, "due_end_at", due_end_at)
        object.__setattr__(self, "late_at", due_end_at + timedelta(seconds=1))

    def evolve(self, **changes: Any) -> ActivityState:
        """The activity with `changes` (field name → value): `dataclasses.replace` without its
        per-call field walk (a progress report paid about 13 µs for it). What is kept beside the
        fields (its packed form, its progress windows) is dropped, and the derived instants are
        rebuilt only when a date or the time zone changes."""
        if not _ACTIVITY_FIELDS.issuperset(changes):
            raise TypeError(f"ActivityState has no field {sorted(set(changes) - _ACTIVITY_FIELDS)[0]!r}")
        get = changes.get
        return ActivityState(
            get("activity_id", self.activity_id),
            get("plan_id", self.plan_id),
            get("title", self.title),
            get("starts_on", self.starts_on),
            get("due_on", self.due_on),
            get("time_zone", self.time_zone),
            get("status", self.status),
            get("baseline", self.baseline),
            get("target", self.target),
            get("value", self.value),
            get("reported_on", self.reported_on),
            get("done_received_at", self.done_received_at),
            get("known_at", self.known_at),
            get("progress_recorded_at", self.progress_recorded_at),
            get("progress_received_at", self.progress_received_at),
            get("status_before_done", self.status_before_done),
            get("progress_id", self.progress_id),
            get("superseded", self.superseded),
            derived_from=self if _ACTIVITY_CALENDAR.isdisjoint(changes) else None,
        )

    def progressed(
        self,
        status: str,
        value: float | None,
        reported_on: date,
        done_received_at: datetime | None,
        recorded_at: datetime,
        received_at: datetime,
        progress_id: str,
        status_before_done: str,
        superseded: tuple[SupersededProgress, ...],
    ) -> ActivityState:
        """The activity after a progress report: `evolve` of the progress fields, without its keyword
        walk (a progress report is a quarter of all records). The calendar stays, and its derived
        instants with it."""
        return ActivityState(
            self.activity_id,
            self.plan_id,
            self.title,
            self.starts_on,
            self.due_on,
            self.time_zone,
            status,
            self.baseline,
            self.target,
            value,
            reported_on,
            done_received_at,
            self.known_at,
            recorded_at,
            received_at,
            status_before_done,
            progress_id,
            superseded,
            derived_from=self,
        )

    def progress_key(self) -> tuple[date, datetime, datetime, str] | None:
        """Where the latest progress report stands among the activity's reports (None: none yet)."""
        if self.reported_on is None:
            return None
        return (
            self.reported_on,
            self.progress_recorded_at or _OLDEST,
            self.progress_received_at or _OLDEST,
            self.progress_id or "",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "activity_id": self.activity_id,
            "plan_id": self.plan_id,
            "title": self.title,
            "starts_on": self.starts_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "time_zone": self.time_zone,
            "status": self.status,
            "baseline": self.baseline,
            "target": self.target,
            "value": self.value,
            "reported_on": None if self.reported_on is None else self.reported_on.isoformat(),
            "done_received_at": _iso(self.done_received_at),
            "known_at": _iso(self.known_at),
            "progress_recorded_at": _iso(self.progress_recorded_at),
            "progress_received_at": _iso(self.progress_received_at),
            "status_before_done": self.status_before_done,
            "progress_id": self.progress_id,
            "superseded": [item.to_json() for item in self.superseded],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivityState:
        return cls(
            activity_id=data["activity_id"],
            plan_id=data["plan_id"],
            title=data.get("title", ""),
            starts_on=date.fromisoformat(data["starts_on"]),
            due_on=date.fromisoformat(data["due_on"]),
            time_zone=data["time_zone"],
            status=data.get("status", "not_started"),
            baseline=data.get("baseline"),
            target=data.get("target"),
            value=data.get("value"),
            reported_on=None if data.get("reported_on") is None else date.fromisoformat(data["reported_on"]),
            done_received_at=_dt(data.get("done_received_at")),
            known_at=_dt(data.get("known_at")),
            progress_recorded_at=_dt(data.get("progress_recorded_at")),
            progress_received_at=_dt(data.get("progress_received_at")),
            status_before_done=data.get("status_before_done", "not_started"),
            progress_id=data.get("progress_id"),
            superseded=tuple(SupersededProgress.from_json(item) for item in data.get("superseded", ())),
        )


@dataclass(frozen=True, init=False)
class EvaluationSummary:
    """A recent evaluation: for de-duplication and for clearing low scores."""

    evaluation_id: str
    direction: str
    mean_score: float
    received_at: datetime
    # Its stored bytes, once encoded (`stored_state.py`): a declared place, as a compiled class has no other.
    _packed: Any = field(default=None, init=False, repr=False, compare=False)

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(self, evaluation_id: str, direction: str, mean_score: float, received_at: datetime) -> None:
        object.__setattr__(self, "evaluation_id", evaluation_id)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "mean_score", mean_score)
        object.__setattr__(self, "received_at", received_at)
        object.__setattr__(self, "_packed", None)


@dataclass(frozen=True, init=False)
class OpenDeviation:
    """A deviation this group has open."""

    rule: str
    occurrence: str
    severity: Severity
    opened_at: datetime | None = None
    concerns: str = "group"
    memory: dict[str, Any] = field(default_factory=dict)
    # Its stored bytes, once encoded (`stored_state.py`): a declared place, as a compiled class has no other.
    _packed_entry: Any = field(default=None, init=False, repr=False, compare=False)

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(
        self,
        rule: str,
        occurrence: str,
        severity: Severity,
        opened_at: datetime | None = None,
        concerns: str = "group",
        memory: dict[str, Any] | None = None,
    ) -> None:
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "occurrence", occurrence)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "opened_at", opened_at)
        object.__setattr__(self, "concerns", concerns)
        object.__setattr__(self, "memory", {} if memory is None else memory)
        object.__setattr__(self, "_packed_entry", None)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "occurrence": self.occurrence,
            "severity": self.severity,
            "opened_at": _iso(self.opened_at),
            "concerns": self.concerns,
            "memory": dict(self.memory),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpenDeviation:
        return cls(
            rule=data["rule"],
            occurrence=data["occurrence"],
            severity=data["severity"],
            opened_at=_dt(data.get("opened_at")),
            concerns=data.get("concerns", "group"),
            memory=dict(data.get("memory", {})),
        )


# The plan rules' derived knowledge of a group (`activities.PlanTimes`) is kept beside its state, not
# in it: it is recomputed from these fields, and only when one of them changes.
PLAN_TIMES = "_plan_times"
_PLAN_TIMES_INPUTS = frozenset({"activities", "devices", "open", "closed"})
# Likewise the meeting rules' (`overdue.MeetingTimes`): their instants depend on neither the plan nor
# the devices, so a sync or a progress report leaves them as they are.
MEETING_TIMES = "_meeting_times"
_MEETING_TIMES_INPUTS = frozenset({"meetings", "periods", "open", "closed"})


@dataclass(frozen=True, init=False)
class GroupState:
    """Everything the rules know about one group."""

    meetings: tuple[MeetingSummary, ...] = ()
    open: dict[str, OpenDeviation] = field(default_factory=dict)
    context: GroupContext | None = None
    periods: tuple[ScheduledPeriod, ...] = ()
    devices: dict[str, DeviceWatermark] = field(default_factory=dict)
    activities: dict[str, ActivityState] = field(default_factory=dict)
    evaluations: tuple[EvaluationSummary, ...] = ()
    closed: tuple[str, ...] = ()
    forgotten_before: datetime | None = None  # start of the oldest meeting trimmed away
    wake_at: datetime | None = None  # the next instant time alone may change a decision
    clock_at: datetime | None = None  # in replay: the latest rule-clock instant this group was judged at
    # Kept beside the fields, never stored, not part of equality: the plan rules' and the meeting
    # rules' derived knowledge (`activities.PlanTimes`, `overdue.MeetingTimes`; `evolve` carries each
    # while its inputs stay) and the collections' stored bytes (`stored_state.py`).
    _plan_times: Any = field(default=None, init=False, repr=False, compare=False)
    _meeting_times: Any = field(default=None, init=False, repr=False, compare=False)
    _packed_sections: Any = field(default=None, init=False, repr=False, compare=False)

    # Written out, not generated: see `ActivityState.__init__`.
    def __init__(
        self,
        meetings: tuple[MeetingSummary, ...] = (),
        open: dict[str, OpenDeviation] | None = None,
        context: GroupContext | None = None,
        periods: tuple[ScheduledPeriod, ...] = (),
        devices: dict[str, DeviceWatermark] | None = None,
        activities: dict[str, ActivityState] | None = None,
        evaluations: tuple[EvaluationSummary, ...] = (),
        closed: tuple[str, ...] = (),
        forgotten_before: datetime | None = None,
        wake_at: datetime | None = None,
        clock_at: datetime | None = None,
    ) -> None:
        object.__setattr__(self, "meetings", meetings)
        object.__setattr__(self, "open", {} if open is None else open)
        object.__setattr__(self, "context", context)
        object.__setattr__(self, "periods", periods)
        object.__setattr__(self, "devices", {} if devices is None else devices)
        object.__setattr__(self, "activities", {} if activities is None else activities)
        object.__setattr__(self, "evaluations", evaluations)
        object.__setattr__(self, "closed", closed)
        object.__setattr__(self, "forgotten_before", forgotten_before)
        object.__setattr__(self, "wake_at", wake_at)
        object.__setattr__(self, "clock_at", clock_at)
        object.__setattr__(self, "_plan_times", None)
        object.__setattr__(self, "_meeting_times", None)
        object.__setattr__(self, "_packed_sections", None)

    def evolve(self, *, plan_unchanged: bool = False, meetings_unchanged: bool = False, **changes: Any) -> GroupState:
        """The state with `changes` (field name → value): `dataclasses.replace` without its
        per-call field walk, which the hot path paid several times a record. Derived, unstored
        knowledge of the plan rules (`activities.PlanTimes`) and of the meeting rules
        (`overdue.MeetingTimes`) is carried over only while the fields it was derived from stay, or
        when the caller knows the change leaves those rules' view as it was (`plan_unchanged`,
        `meetings_unchanged`: deviations of other rules opened or closed)."""
        if not _GROUP_FIELDS.issuperset(changes):
            raise TypeError(f"GroupState has no field {sorted(set(changes) - _GROUP_FIELDS)[0]!r}")
        get = changes.get
        evolved = GroupState(
            get("meetings", self.meetings),
            get("open", self.open),
            get("context", self.context),
            get("periods", self.periods),
            get("devices", self.devices),
            get("activities", self.activities),
            get("evaluations", self.evaluations),
            get("closed", self.closed),
            get("forgotten_before", self.forgotten_before),
            get("wake_at", self.wake_at),
            get("clock_at", self.clock_at),
        )
        if plan_unchanged or _PLAN_TIMES_INPUTS.isdisjoint(changes):
            object.__setattr__(evolved, "_plan_times", self._plan_times)
        if meetings_unchanged or _MEETING_TIMES_INPUTS.isdisjoint(changes):
            object.__setattr__(evolved, "_meeting_times", self._meeting_times)
        object.__setattr__(evolved, "_packed_sections", self._packed_sections)
        return evolved

    def with_instants(self, wake_at: datetime | None, clock_at: datetime | None) -> GroupState:
        """The state with these `wake_at` and `clock_at`: `evolve` for the two fields set at nearly
        every record (the next wake-up, the replay's rule clock), without its keyword walk. Nothing
        kept beside the state is derived from them, so all of it is carried."""
        evolved = self._rebuilt(self.devices, self.activities, wake_at, clock_at)
        object.__setattr__(evolved, "_plan_times", self._plan_times)
        object.__setattr__(evolved, "_meeting_times", self._meeting_times)
        return evolved

    def with_devices(self, devices: dict[str, DeviceWatermark]) -> GroupState:
        """`evolve(devices=devices)` without its keyword walk: a sync is half of all records. The
        meeting rules' derived knowledge does not depend on the devices and is carried; the plan
        rules' does, and is left to the caller (`activities.carry_quiet_over_sync`)."""
        evolved = self._rebuilt(devices, self.activities, self.wake_at, self.clock_at)
        object.__setattr__(evolved, "_meeting_times", self._meeting_times)
        return evolved

    def with_activities(self, activities: dict[str, ActivityState]) -> GroupState:
        """`evolve(activities=activities)` without its keyword walk (a progress report is a quarter of
        all records): the meeting rules' derived knowledge does not depend on the plan and is
        carried; the plan rules' is left to the caller (`activities.carry_plan_times`)."""
        evolved = self._rebuilt(self.devices, activities, self.wake_at, self.clock_at)
        object.__setattr__(evolved, "_meeting_times", self._meeting_times)
        return evolved

    def _rebuilt(
        self,
        devices: dict[str, DeviceWatermark],
        activities: dict[str, ActivityState],
        wake_at: datetime | None,
        clock_at: datetime | None,
    ) -> GroupState:
        """The state with these four fields (those a record's hot path sets) and its other fields,
        carrying the collections' stored bytes only (`stored_state.py` checks each against its
        collection); the callers carry what else stays valid."""
        evolved = GroupState(
            self.meetings,
            self.open,
            self.context,
            self.periods,
            devices,
            activities,
            self.evaluations,
            self.closed,
            self.forgotten_before,
            wake_at,
            clock_at,
        )
        object.__setattr__(evolved, "_packed_sections", self._packed_sections)
        return evolved

    def knows_report(self, report_id: str) -> bool:
        return any(meeting.report_id == report_id for meeting in self.meetings)

    def with_meeting(self, summary: MeetingSummary) -> GroupState:
        """Insert in start order, keeping the most recent few."""
        ordered = sorted((*self.meetings, summary), key=lambda meeting: (meeting.started_at, meeting.report_id))
        dropped = ordered[:-RECENT_MEETINGS_KEPT]
        forgotten = self.forgotten_before
        if dropped:
            newest_dropped = dropped[-1].started_at
            forgotten = newest_dropped if forgotten is None else max(forgotten, newest_dropped)
        return self.evolve(meetings=tuple(ordered[-RECENT_MEETINGS_KEPT:]), forgotten_before=forgotten)

    def with_period(self, scheduled: ScheduledPeriod) -> GroupState:
        periods = {period.period: period for period in self.periods}
        known = periods.get(scheduled.period)
        if known is not None and known.learned_at is not None:
            # A re-published period (its due time changed) was still known from the first time.
            scheduled = replace(scheduled, learned_at=known.learned_at)
        periods[scheduled.period] = scheduled
        return self.evolve(periods=tuple(sorted(periods.values(), key=lambda p: p.period)[-PERIODS_KEPT:]))

    def with_closed(self, deviation_ids: list[str]) -> GroupState:
        return self.evolve(closed=(*self.closed, *deviation_ids)[-CLOSED_IDS_KEPT:])

    def open_of(self, rule: str) -> dict[str, OpenDeviation]:
        return {key: value for key, value in self.open.items() if value.rule == rule}

    def to_json(self) -> dict[str, Any]:
        return {
            "meetings": [meeting.to_json() for meeting in self.meetings],
            "open": {key: value.to_json() for key, value in self.open.items()},
            "context": None
            if self.context is None
            else {
                "programme": self.context.programme,
                "facilitator_id": self.context.facilitator_id,
                "region_code": self.context.region_code,
                "partition": self.context.partition,
            },
            "periods": [period.to_json() for period in self.periods],
            "devices": {
                key: {
                    "synced_through": value.synced_through.isoformat(),
                    "received_at": value.received_at.isoformat(),
                    "facilitator_id": value.facilitator_id,
                    "history": [[through.isoformat(), received.isoformat()] for through, received in value.history],
                }
                for key, value in self.devices.items()
            },
            "activities": {key: value.to_json() for key, value in self.activities.items()},
            "evaluations": [
                {
                    "evaluation_id": item.evaluation_id,
                    "direction": item.direction,
                    "mean_score": item.mean_score,
                    "received_at": item.received_at.isoformat(),
                }
                for item in self.evaluations
            ],
            "closed": list(self.closed),
            "forgotten_before": _iso(self.forgotten_before),
            "wake_at": _iso(self.wake_at),
            "clock_at": _iso(self.clock_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> GroupState:
        if not data:
            return cls()
        return cls(
            meetings=tuple(MeetingSummary.from_json(item) for item in data.get("meetings", ())),
            open={key: OpenDeviation.from_json(value) for key, value in data.get("open", {}).items()},
            context=None if not data.get("context") else GroupContext(**data["context"]),
            periods=tuple(ScheduledPeriod.from_json(item) for item in data.get("periods", ())),
            devices={
                key: DeviceWatermark(
                    datetime.fromisoformat(value["synced_through"]),
                    datetime.fromisoformat(value["received_at"]),
                    value.get("facilitator_id", ""),
                    tuple(
                        (datetime.fromisoformat(through), datetime.fromisoformat(received))
                        for through, received in value.get("history", ())
                    ),
                )
                for key, value in data.get("devices", {}).items()
            },
            activities={key: ActivityState.from_json(value) for key, value in data.get("activities", {}).items()},
            evaluations=tuple(
                EvaluationSummary(
                    item["evaluation_id"],
                    item["direction"],
                    item["mean_score"],
                    datetime.fromisoformat(item["received_at"]),
                )
                for item in data.get("evaluations", ())
            ),
            closed=tuple(data.get("closed", ())),
            forgotten_before=_dt(data.get("forgotten_before")),
            wake_at=_dt(data.get("wake_at")),
            clock_at=_dt(data.get("clock_at")),
        )


# What `evolve` may change: the fields a state is built from.
_GROUP_FIELDS = frozenset(item.name for item in fields(GroupState) if item.init)
_ACTIVITY_FIELDS = frozenset(item.name for item in fields(ActivityState) if item.init)
