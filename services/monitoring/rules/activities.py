"""Plan rules over activities (pure), both tolerant of phones that have not synced.

`plan.activity_overdue`: an activity is past the end of its due day (group's local time) and not
done — and Pantau knows it is not merely waiting on a phone: the facilitator's devices have synced
past the end of the due day *since the plan reached Pantau*, or the offline grace (default 7 days,
from the later of the due day's end and the plan's arrival) has run out. It fires at the later of
the due day's end and that sync (acted on `syncs.SYNC_SETTLE` after the sync, so that progress the
server received just before it is read first: they travel on different topics). A plan imported
with due dates in the past, followed by its progress, therefore raises nothing: a sync from before
the plan existed proves nothing about its progress (the server refuses progress for activities it
does not know). Resolved when the activity is reported done, removed from the plan, or its due date
moves later.

`plan.activity_at_risk`: an early warning before the due date. From the moment a share (default
0.5) of the activity's time has passed, the activity is behind if it has not started, or if its
indicator is further than a margin (default 0.25 of the baseline→target distance) behind the
straight line from baseline at the plan's start to target at the due date (the *risk instant* is
when the line overtakes the last reported value). It fires once Pantau knows no newer progress is
waiting on a phone: the latest report itself was recorded after the risk instant, or the devices
have synced past it since the plan arrived, or the offline grace has run out — and only before the
due day ends (after that it is the overdue rule's business). Resolved when it is back on track,
done, removed, or the due day has passed. It judges an instant with the progress received by then,
even when a replay read a later report first (`progress_windows`).
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Final

from services.monitoring.programmes import ActivityAtRiskConfig, ActivityOverdueConfig
from services.monitoring.rules.calendar import days
from services.monitoring.rules.decisions import Decision, Open, Resolve, deviation_id
from services.monitoring.rules.state import ActivityState, GroupState
from services.monitoring.rules.syncs import (
    SYNC_SETTLE,
    SyncMove,
    SyncQuestion,
    answer_differs,
    synced_past_at,
)

OVERDUE = "plan.activity_overdue"
AT_RISK = "plan.activity_at_risk"
RULES = (OVERDUE, AT_RISK)


def due_end(activity: ActivityState) -> datetime:
    """The end of the activity's due day (local time), as the activity was built with it."""
    return activity.due_end_at


def overdue_from(activity: ActivityState) -> datetime:
    """The first instant the activity is late: the second after its due day ends (local time)."""
    return activity.late_at


def _done_by(activity: ActivityState, instant: datetime) -> bool:
    """Whether the activity was known to be done at `instant` (by when its "done" report arrived)."""
    if activity.done_received_at is not None:
        return activity.done_received_at <= instant
    return activity.status == "done"


def _status_at(activity: ActivityState, instant: datetime) -> str:
    """The status as it stood at `instant`: a "done" that arrived later was not known then."""
    if activity.status == "done" and not _done_by(activity, instant):
        return activity.status_before_done
    return activity.status


def _since_known(activity: ActivityState, instant: datetime) -> datetime:
    """`instant`, or the plan's arrival if that came later: the offline grace counts from there."""
    return instant if activity.known_at is None else max(instant, activity.known_at)


def overdue_instant(
    state: GroupState,
    activity: ActivityState,
    config: ActivityOverdueConfig,
    asked: list[SyncQuestion] | None = None,
) -> tuple[datetime, str]:
    """When a not-done activity is known to be overdue, and on what evidence (`device_synced` or
    `offline_grace_expired`). The caller compares it with the rule clock. What it asks of the
    devices is added to `asked`, when given (`syncs.synced_past_at`)."""
    late = overdue_from(activity)
    base = _since_known(activity, late)
    grace_at = base + days(config.offline_grace_days)
    synced = synced_past_at(state, due_end(activity), reference=base, since=activity.known_at, asked=asked)
    if synced is not None and max(synced, late) < grace_at:
        return max(synced, late), "device_synced"
    return grace_at, "offline_grace_expired"


def risk_instant(activity: ActivityState, config: ActivityAtRiskConfig) -> datetime | None:
    """When the activity is (or will be, without new progress) behind pace; None if never before due."""
    # Asked of the same (frozen) activity at many records; kept beside it for the config it was
    # derived under (the programme's own object, nearly always). A timedelta times a float made it
    # 4.5 % of the loop worker's time (py-spy, 2026-12-04).
    known: tuple[ActivityAtRiskConfig, datetime | None] | None = activity._risk_instant
    if known is not None and known[0] is config:
        return known[1]
    if (
        known is not None
        and known[0].from_elapsed_share == config.from_elapsed_share
        and known[0].margin_ratio == config.margin_ratio
    ):
        # Derived under a config with the same shares (the default programme's, before the group's
        # own was known): kept, now under this one, so that later calls find it by identity. The
        # two shares are all `_risk_instant` reads (a whole config's `==` is pydantic's, and slow).
        object.__setattr__(activity, "_risk_instant", (config, known[1]))
        return known[1]
    instant = _risk_instant(activity, config)
    object.__setattr__(activity, "_risk_instant", (config, instant))
    return instant


def _risk_instant(activity: ActivityState, config: ActivityAtRiskConfig) -> datetime | None:
    if activity.status == "done":
        return None
    start = activity.start_at
    end = activity.due_end_at
    span = end - start
    if span.total_seconds() <= 0:
        return None
    earliest = start + span * config.from_elapsed_share
    if activity.status in ("not_started", "blocked") or activity.reported_on is None:
        instant = earliest
    elif activity.baseline is not None and activity.target is not None and activity.value is not None:
        distance = activity.target - activity.baseline
        if distance == 0:
            return None
        done_share = (activity.value - activity.baseline) / distance
        instant = max(earliest, start + span * max(0.0, done_share + config.margin_ratio))
    else:
        return None  # in progress without an indicator: nothing measurable to be behind on
    return instant if instant < end else None


def progress_windows(activity: ActivityState) -> list[tuple[ActivityState, datetime | None]]:
    """The activity as Pantau knew it from one progress receipt to the next: each progress a report
    read ahead of the rule clock replaced (`ActivityState.superseded`), with the receipt that ended
    it, then the latest (ending never). Without progress read ahead: the activity alone."""
    if not activity.superseded:
        return [(activity, None)]
    # Asked for each activity at every record while a replay holds progress read ahead: the earlier
    # windows are built once per activity (frozen; a new report makes a new activity) and kept beside
    # its fields. Not the last one: an activity holding itself is a reference cycle, which only a full
    # collection frees (every replaced activity waited for one, and over 40,000 groups a full
    # collection stopped the worker past its consumer group's session timeout).
    earlier_windows: list[tuple[ActivityState, datetime | None]] | None = activity._windows
    if earlier_windows is not None:
        return [*earlier_windows, (activity, None)]
    windows: list[tuple[ActivityState, datetime | None]] = [
        (
            activity.evolve(
                status=earlier.status,
                value=earlier.value,
                reported_on=earlier.reported_on,
                progress_recorded_at=earlier.recorded_at,
                progress_received_at=earlier.received_at,
                superseded=(),
            ),
            earlier.until,
        )
        for earlier in activity.superseded
    ]
    object.__setattr__(activity, "_windows", windows)
    return [*windows, (activity, None)]


def risk_decision(
    state: GroupState, activity: ActivityState, config: ActivityAtRiskConfig, asked: list[SyncQuestion] | None = None
) -> tuple[int, ActivityState, datetime, str] | None:
    """The first progress window (`progress_windows`) in which Pantau knew the activity behind: its
    index, the activity as known then, when it was known (`risk_known_at`) and on what evidence. A
    window ended by a newer report counts only if the evidence came before that report: what
    living through it would have seen. None if the activity is never behind before its due day."""
    for index, (known, until) in enumerate(progress_windows(activity)):
        instant = risk_instant(known, config)
        if instant is None or (until is not None and instant >= until):
            continue
        at, evidence = risk_known_at(state, known, instant, config, asked)
        if until is None or at < until:
            return index, known, at, evidence
    return None


def _window_at(activity: ActivityState, instant: datetime | None) -> int:
    """The index of the progress window (`progress_windows`) `instant` fell in (None: the latest)."""
    if instant is None:
        return len(activity.superseded)
    return sum(1 for earlier in activity.superseded if earlier.until <= instant)


def _risk_ended(
    activity: ActivityState, opened_in: int, late: datetime, config: ActivityAtRiskConfig
) -> tuple[str, datetime] | None:
    """Why and when an at-risk warning opened in progress window `opened_in` ended in a later one:
    the first report after it that was done or back on track, before the due day ended."""
    windows = progress_windows(activity)
    for (_, received), (known, _) in zip(windows[opened_in:], windows[opened_in + 1 :], strict=False):
        assert received is not None  # only the last window has no end
        if received >= late:
            break
        if known.status == "done":
            return "activity_done", received
        instant = risk_instant(known, config)
        if instant is None or instant > received:
            return "back_on_track", received
    return None


def risk_known_at(
    state: GroupState,
    activity: ActivityState,
    instant: datetime,
    config: ActivityAtRiskConfig,
    asked: list[SyncQuestion] | None = None,
) -> tuple[datetime, str]:
    """When Pantau knows the activity is behind at `instant` and not merely waiting on a phone, and
    on what evidence: the earliest of the latest report's arrival (if it was recorded after
    `instant`), a sync past `instant` since the plan arrived, and the offline grace; never before the
    evidence it judges."""
    base = _since_known(activity, instant)
    candidates = [(base + days(config.offline_grace_days), "offline_grace_expired")]
    recorded, received = activity.progress_recorded_at, activity.progress_received_at
    if recorded is not None and received is not None and recorded >= instant:
        candidates.append((received, "report"))
    synced = synced_past_at(state, instant, reference=base, since=activity.known_at, asked=asked)
    if synced is not None:
        candidates.append((synced, "device_synced"))
    first, evidence = min(candidates)
    floor = received or activity.known_at or instant  # the decision cannot predate what it is about
    return max(instant, floor, first), evidence


def decided_at(at: datetime, evidence: str) -> datetime:
    """When the rule may act on evidence found at `at` (a sync's is left to settle, see syncs.py)."""
    return at + SYNC_SETTLE if evidence == "device_synced" else at


def evaluate(
    state: GroupState,
    now: datetime,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
    evidence_at: datetime | None = None,
) -> list[Decision]:
    """Decisions for every activity as of `now`; `evidence_at` is when new progress arrived, if any."""
    decisions: list[Decision] = []
    for key, open_ in sorted(state.open.items()):
        if open_.rule in (OVERDUE, AT_RISK) and open_.occurrence not in state.activities:
            decisions.append(Resolve(key, open_.rule, open_.severity, "activity_removed", at=evidence_at or now))
    for activity in sorted(state.activities.values(), key=lambda a: a.activity_id):
        decisions += _overdue(state, activity, now, overdue, group_id=group_id, evidence_at=evidence_at)
        decisions += _at_risk(state, activity, now, at_risk, group_id=group_id, evidence_at=evidence_at)
    return decisions


def _overdue(
    state: GroupState,
    activity: ActivityState,
    now: datetime,
    config: ActivityOverdueConfig,
    *,
    group_id: str,
    evidence_at: datetime | None,
) -> list[Decision]:
    late = overdue_from(activity)
    key = deviation_id(OVERDUE, group_id, activity.activity_id)
    open_ = state.open.get(key)
    if open_ is not None:
        if activity.status == "done":
            return [Resolve(key, OVERDUE, open_.severity, "activity_done", at=evidence_at or now)]
        if now < late and open_.memory.get("due_on") not in (None, activity.due_on.isoformat()):
            return [Resolve(key, OVERDUE, open_.severity, "due_date_moved", at=evidence_at or now)]
        return []
    if key in state.closed or now < late:
        return []
    at, evidence = overdue_instant(state, activity, config)
    if decided_at(at, evidence) > now or _done_by(activity, at):
        return []  # not yet known (a phone may still hold the "done"), or it was done in time
    decisions: list[Decision] = [
        Open(
            rule=OVERDUE,
            subject=group_id,
            occurrence=activity.activity_id,
            severity=config.severity,
            evidence_at=late,
            at=at,
            details={
                "activity_id": activity.activity_id,
                "activity_title": activity.title,
                "plan_id": activity.plan_id,
                "due_on": activity.due_on.isoformat(),
                "status": _status_at(activity, at),
                "evidence": evidence,
            },
            memory={"due_on": activity.due_on.isoformat()},
        )
    ]
    if activity.done_received_at is not None:
        # Reported done after it was known late: late, then done (as living through it would see).
        decisions.append(Resolve(key, OVERDUE, config.severity, "activity_done", at=activity.done_received_at))
    return decisions


def _at_risk(
    state: GroupState,
    activity: ActivityState,
    now: datetime,
    config: ActivityAtRiskConfig,
    *,
    group_id: str,
    evidence_at: datetime | None,
) -> list[Decision]:
    late = overdue_from(activity)
    key = deviation_id(AT_RISK, group_id, activity.activity_id)
    instant = risk_instant(activity, config)
    open_ = state.open.get(key)
    if open_ is not None:
        opened_in = _window_at(activity, open_.opened_at)
        if opened_in < len(activity.superseded):
            # Opened before a report read ahead of the clock: the reports since end it as they arrived.
            ended = _risk_ended(activity, opened_in, late, config)
            if ended is not None:
                return [Resolve(key, AT_RISK, open_.severity, ended[0], at=ended[1])]
            return [Resolve(key, AT_RISK, open_.severity, "became_overdue", at=late)] if now >= late else []
        # Opened at a report read ahead (judged at its arrival): the clock, still before, undoes nothing.
        judged_at = now if open_.opened_at is None else max(now, open_.opened_at)
        if activity.status == "done":
            return [Resolve(key, AT_RISK, open_.severity, "activity_done", at=evidence_at or judged_at)]
        if judged_at >= late:
            return [Resolve(key, AT_RISK, open_.severity, "became_overdue", at=late)]
        if instant is None or instant > judged_at:
            return [Resolve(key, AT_RISK, open_.severity, "back_on_track", at=evidence_at or judged_at)]
        return []
    if key in state.closed:
        return []
    # Judged as the progress stood when it was known behind, not as read since (`progress_windows`).
    decision = risk_decision(state, activity, config)
    if decision is None:
        return []
    opened_in, known, at, evidence = decision
    if decided_at(at, evidence) > now or at >= late:
        return []  # not known yet, or only known after the due day (then it is the overdue rule's)
    decisions: list[Decision] = [
        Open(
            rule=AT_RISK,
            subject=group_id,
            occurrence=activity.activity_id,
            severity="info",
            evidence_at=at,
            at=at,
            details={
                "activity_id": activity.activity_id,
                "activity_title": activity.title,
                "due_on": activity.due_on.isoformat(),
                "status": known.status,
                "indicator_value": known.value,
                "indicator_target": known.target,
            },
        )
    ]
    ended = _risk_ended(activity, opened_in, late, config)
    if ended is not None:
        # Opened as the progress stood before a report read ahead that ends it: as living through it.
        reason, ended_at = ended
        decisions.append(Resolve(key, AT_RISK, "info", reason, at=ended_at))
    elif now >= late:
        # First looked at after the due day: the warning came and went, as living through it.
        decisions.append(Resolve(key, AT_RISK, "info", "became_overdue", at=late))
    return decisions


def wake_times(
    state: GroupState, overdue: ActivityOverdueConfig, at_risk: ActivityAtRiskConfig, *, group_id: str
) -> list[datetime]:
    """Instants at which these rules may decide something without a new event (syncs and progress
    are events of their own)."""
    times: list[datetime] = []
    for activity in state.activities.values():
        times += activity_wake_times(state, activity, overdue, at_risk, group_id=group_id)
    return times


def activity_wake_times(
    state: GroupState,
    activity: ActivityState,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
    asked: list[SyncQuestion] | None = None,
) -> list[datetime]:
    """One activity's share of `wake_times`: it depends on the activity, its own deviations and the
    answers to what it asks of the devices (added to `asked`, when given) only."""
    times: list[datetime] = []
    late = overdue_from(activity)
    overdue_id = deviation_id(OVERDUE, group_id, activity.activity_id)
    done_in_time = activity.done_received_at is not None and activity.done_received_at <= late
    if overdue_id not in state.closed and overdue_id not in state.open and not done_in_time:
        # The one instant it can be decided without news: the sync already seen, or the grace.
        at, evidence = overdue_instant(state, activity, overdue, asked)
        if not _done_by(activity, at):  # undecided (even if "done" came later: it was late first)
            times.append(decided_at(at, evidence))
    risk_id = deviation_id(AT_RISK, group_id, activity.activity_id)
    if risk_id in state.open:
        if activity.status != "done" or activity.superseded:
            times.append(late)  # the due day passing ends the early warning (if no report ends it first)
    elif risk_id not in state.closed:
        decision = risk_decision(state, activity, at_risk, asked)
        if decision is not None:
            _, _, at, evidence = decision
            times.append(decided_at(at, evidence))
    return times


class PlanTimes:
    """What the plan rules know of a group until its activities, devices or deviations change: every
    instant at which time alone may make them decide (`wake_times`, sorted), and the latest instant
    at which `evaluate` found nothing to decide (`quiet_at`). Kept beside the state (never stored:
    rebuilt after a restart), so that a record that does not touch the plan costs the same whatever
    the plan's size."""

    # A plain class, not a frozen dataclass: built for most records, and a compiled frozen dataclass is built by
    # Python code (about 10x the cost of this `__init__`). `Final`: the type check keeps it unchanged.
    __slots__ = ("asked", "at_risk", "by_activity", "group_id", "overdue", "quiet_at", "wakes")

    def __init__(
        self,
        group_id: str,
        overdue: ActivityOverdueConfig,
        at_risk: ActivityAtRiskConfig,
        wakes: tuple[datetime, ...],
        quiet_at: datetime | None = None,
        by_activity: dict[str, tuple[datetime, ...]] | None = None,
        asked: dict[str, tuple[SyncQuestion, ...]] | None = None,
    ) -> None:
        self.group_id: Final = group_id
        self.overdue: Final = overdue
        self.at_risk: Final = at_risk
        self.wakes: Final = wakes
        self.quiet_at: Final = quiet_at
        self.by_activity: Final[dict[str, tuple[datetime, ...]]] = {} if by_activity is None else by_activity
        # What each activity's instants asked of the devices: a sync that answers none of it
        # otherwise leaves them as they are (`carry_quiet_over_sync`).
        self.asked: Final[dict[str, tuple[SyncQuestion, ...]]] = {} if asked is None else asked

    def quiet(self, now: datetime) -> PlanTimes:
        """These times, known quiet at `now`."""
        return PlanTimes(self.group_id, self.overdue, self.at_risk, self.wakes, now, self.by_activity, self.asked)

    def __eq__(self, other: object) -> bool:
        # What was derived for which group and rules; `by_activity` and `asked` are its working.
        return isinstance(other, PlanTimes) and (
            self.group_id,
            self.overdue,
            self.at_risk,
            self.wakes,
            self.quiet_at,
        ) == (other.group_id, other.overdue, other.at_risk, other.wakes, other.quiet_at)

    def __repr__(self) -> str:
        return f"PlanTimes(group_id={self.group_id!r}, wakes={self.wakes!r}, quiet_at={self.quiet_at!r})"

    def fits(self, group_id: str, overdue: ActivityOverdueConfig, at_risk: ActivityAtRiskConfig) -> bool:
        """Whether these times were derived for this group under these rules' configuration."""
        return self.group_id == group_id and _same(self.overdue, overdue) and _same(self.at_risk, at_risk)

    def next_wake(self, now: datetime) -> datetime | None:
        """The first of `wakes` after `now`."""
        index = bisect.bisect_right(self.wakes, now)
        return self.wakes[index] if index < len(self.wakes) else None

    def quiet_through(self, now: datetime) -> bool:
        """Whether `evaluate` (without new evidence) has nothing to decide at `now`: it had nothing
        at `quiet_at`, and no instant at which time alone could change that lies in between."""
        if self.quiet_at is None or self.quiet_at > now:
            return False
        after_quiet = self.next_wake(self.quiet_at)
        return after_quiet is None or after_quiet > now


def plan_times(
    state: GroupState, overdue: ActivityOverdueConfig, at_risk: ActivityAtRiskConfig, *, group_id: str
) -> PlanTimes:
    """The group's `PlanTimes`, computed once for a given plan, devices and deviations."""
    known: PlanTimes | None = state._plan_times
    if known is not None and known.fits(group_id, overdue, at_risk):
        return known
    by_activity: dict[str, tuple[datetime, ...]] = {}
    asked: dict[str, tuple[SyncQuestion, ...]] = {}
    for key, activity in state.activities.items():
        by_activity[key], asked[key] = _instants(state, activity, overdue, at_risk, group_id=group_id)
    times = PlanTimes(group_id, overdue, at_risk, _merged(by_activity), by_activity=by_activity, asked=asked)
    _remember(state, times)
    return times


def _instants(
    state: GroupState,
    activity: ActivityState,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
) -> tuple[tuple[datetime, ...], tuple[SyncQuestion, ...]]:
    """One activity's wake-up instants, and what they asked of the devices."""
    asked: list[SyncQuestion] = []
    times = activity_wake_times(state, activity, overdue, at_risk, group_id=group_id, asked=asked)
    return tuple(times), tuple(asked)


def _merged(by_activity: dict[str, tuple[datetime, ...]]) -> tuple[datetime, ...]:
    return tuple(sorted(moment for times in by_activity.values() for moment in times))


def evaluate_passing(
    state: GroupState, now: datetime, overdue: ActivityOverdueConfig, at_risk: ActivityAtRiskConfig, *, group_id: str
) -> list[Decision]:
    """`evaluate` as time passes (no new evidence), skipped when the plan is known to be quiet
    through `now` (the same reasoning that lets `engine.catch_up` skip a group until its wake-up)."""
    times = plan_times(state, overdue, at_risk, group_id=group_id)
    if times.quiet_through(now):
        return []
    decisions = evaluate(state, now, overdue, at_risk, group_id=group_id)
    if not decisions:
        _remember(state, times.quiet(now))
    return decisions


def evaluate_progress(
    before: GroupState,
    after: GroupState,
    activity_id: str,
    now: datetime,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
    evidence_at: datetime,
) -> list[Decision]:
    """`evaluate(after, now, …, evidence_at=evidence_at)` for a state that differs from `before` in
    one activity's progress only. When `before`'s plan was known quiet through `now`, every other
    activity would decide nothing (progress of one activity says nothing about the others), so only
    the progressed one is judged: a progress report costs the same whatever the plan's size."""
    times: PlanTimes | None = before._plan_times
    if times is None or not times.fits(group_id, overdue, at_risk) or not times.quiet_through(now):
        return evaluate(after, now, overdue, at_risk, group_id=group_id, evidence_at=evidence_at)
    activity = after.activities[activity_id]
    decisions = _overdue(after, activity, now, overdue, group_id=group_id, evidence_at=evidence_at)
    return decisions + _at_risk(after, activity, now, at_risk, group_id=group_id, evidence_at=evidence_at)


def carry_plan_times(
    before: GroupState,
    after: GroupState,
    activity_id: str,
    now: datetime,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
    decided_nothing: bool = False,
) -> None:
    """Give `after` (`before` with one activity's progress folded in as of `now` by
    `evaluate_progress` and its decisions applied) the plan times of `before` with only that
    activity's instants recomputed, when that is sound: `before`'s plan was quiet through `now` (so
    only that activity was judged and only its deviations changed), the devices are the same and no
    closed id was pushed out. Otherwise `after` computes them afresh when asked. `decided_nothing`:
    `evaluate_progress` decided nothing, so `after` is the state it judged and is quiet at `now`
    (nearly every report; judging it again would find the same nothing)."""
    times: PlanTimes | None = before._plan_times
    if times is None or not times.fits(group_id, overdue, at_risk) or not times.quiet_through(now):
        return
    if after.devices is not before.devices or after.closed[: len(before.closed)] != before.closed:
        return
    activity = after.activities[activity_id]
    instants, activity_asked = _instants(after, activity, overdue, at_risk, group_id=group_id)
    by_activity = times.by_activity.copy()
    by_activity[activity_id] = instants
    asked = times.asked.copy()
    asked[activity_id] = activity_asked
    # Quiet still at `now` if the progressed activity, judged again as it now stands, has nothing to say.
    if decided_nothing:
        quiet_at: datetime | None = now
    else:
        judged = _overdue(after, activity, now, overdue, group_id=group_id, evidence_at=None)
        judged += _at_risk(after, activity, now, at_risk, group_id=group_id, evidence_at=None)
        quiet_at = None if judged else now
    _remember(
        after,
        PlanTimes(group_id, overdue, at_risk, _merged(by_activity), quiet_at, by_activity, asked),
    )


def carry_quiet_over_sync(
    before: GroupState,
    after: GroupState,
    now: datetime,
    overdue: ActivityOverdueConfig,
    at_risk: ActivityAtRiskConfig,
    *,
    group_id: str,
    move: SyncMove | None,
) -> None:
    """Let `after` (`before` with other device marks, nothing else changed) know that its plan is
    quiet at `now` without judging every activity, when that is sound: `before`'s plan was quiet
    through `now`, and every instant `after`'s plan may decide at is later than `now`. `move` is the
    one device's next sync that makes `after`'s devices of `before`'s (`syncs.sync_move`), or None
    when they differ otherwise (a new device, several moved).

    Why: the devices only move the instants at which a deviation *opens* (the evidence that nothing
    waits on a phone); every resolution depends on progress, the plan and time alone. Resolutions
    at `now` are therefore as they were for `before`: none. And an activity opens at `now` only when
    its decision instant, among `after`'s wake-up instants, is at or before `now`."""
    times: PlanTimes | None = before._plan_times
    if times is None or not times.fits(group_id, overdue, at_risk) or not times.quiet_through(now):
        return
    if after.activities is not before.activities or after.open is not before.open or after.closed is not before.closed:
        return
    if move is not None and _moved_by_sync(before, after, times, now, move):
        return
    fresh = plan_times(after, overdue, at_risk, group_id=group_id)
    if not fresh.wakes or fresh.wakes[0] > now:
        _remember(after, fresh.quiet(now))


def _moved_by_sync(before: GroupState, after: GroupState, times: PlanTimes, now: datetime, move: SyncMove) -> bool:
    """Give `after` its plan times from `before`'s (`times`), quiet at `now` when no instant is due
    by then, when `after` differs from `before` in one device's next sync only (`move`): each
    activity's instants recomputed only if that sync may answer one of its questions to the devices
    otherwise (`syncs.answer_may_change`), and the answer, asked of both states, differs (most of
    what may change is a device counting as active for an instant a month ahead, which changes no
    answer). False when the times do not cover the activities, and `after` is left as it was."""
    if len(times.asked) != len(after.activities) or times.asked.keys() != after.activities.keys():
        return False
    changed: list[str] = []
    for key, questions in times.asked.items():
        for question in questions:
            # Not remembered per question: the questions of a group's activities are nearly always all
            # different (5.3 a sync, 5.3 of them distinct, in the bench's replay), and a sync can answer
            # few otherwise (`may_change`, cheap); the rare repeat is asked again.
            if move.may_change(question) and answer_differs(before, after, question):
                changed.append(key)
                break
    if changed:
        by_activity = dict(times.by_activity)
        asked = dict(times.asked)
        for key in changed:
            by_activity[key], asked[key] = _instants(
                after, after.activities[key], times.overdue, times.at_risk, group_id=times.group_id
            )
        wakes = _merged(by_activity)
    else:
        by_activity, asked, wakes = times.by_activity, times.asked, times.wakes
    quiet_at = now if not wakes or wakes[0] > now else None
    _remember(after, PlanTimes(times.group_id, times.overdue, times.at_risk, wakes, quiet_at, by_activity, asked))
    return True


def _same(known: object, given: object) -> bool:
    return known is given or known == given  # the programme's own config object, nearly always


def _remember(state: GroupState, times: PlanTimes) -> None:
    # Memoised beside the frozen state's fields: `GroupState.evolve` drops it when an input changes.
    object.__setattr__(state, "_plan_times", times)
