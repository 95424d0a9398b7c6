"""The generated programme and history as the contract's events (shared/events), in the order the
meetings service would publish them: by time of receipt.

Used by the Kafka driver (replay) and by tests (every generated event validates).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from shared import serde, topics
from shared.events import (
    ActivityProgressed,
    Attendance,
    DeviceSynced,
    EvaluationSubmitted,
    FacilitatorUpserted,
    GroupUpserted,
    Indicator,
    MeetingRecorded,
    MeetingSchedule,
    MeetingScheduled,
    PlanAgreed,
    PlannedActivity,
    RegionUpserted,
    SupervisorUpserted,
)
from shared.events.base import EventData
from shared.regions import parent_of, time_zone_of
from tools.generator.behaviour import History
from tools.generator.programme import Group, Programme

SOURCE = "/pantau/meetings"


@dataclass(frozen=True, slots=True)
class Publication:
    """An event, when the meetings service would publish it, and its envelope's times."""

    published_at: datetime
    event: EventData
    time: datetime
    recorded_at: datetime | None = None
    received_at: datetime | None = None

    def encode(self) -> tuple[str, bytes, list[tuple[str, bytes]]]:
        """Kafka key, value and headers through the one serializer."""
        envelope = serde.envelope_for(
            self.event, source=SOURCE, time=self.time, recorded_at=self.recorded_at, received_at=self.received_at
        )
        return self.event.kafka_key(), serde.encode(envelope), serde.kafka_headers(envelope)


def registry_publications(
    programme: Programme, *, at: datetime, webhook_url: str | None = None
) -> Iterator[Publication]:
    """Regions, supervisors, facilitators and groups, all as of `at`."""
    for region in programme.regions():
        event: EventData = RegionUpserted(
            code=region.code,
            name=region.name,
            level=region.level,
            parent_code=parent_of(region.code),
            time_zone=time_zone_of(region.code),
        )
        yield Publication(at, event, at)
    for supervisor in programme.supervisors():
        event = SupervisorUpserted(
            supervisor_id=supervisor.supervisor_id,
            name=supervisor.name,
            level=supervisor.level,
            region_code=supervisor.region_code,
            webhook_url=webhook_url,
            language=supervisor.language,
        )
        yield Publication(at, event, at)
    for facilitator in programme.facilitators():
        yield Publication(
            at,
            FacilitatorUpserted(
                facilitator_id=facilitator.facilitator_id,
                name=facilitator.name,
                programme=facilitator.programme,
                region_code=facilitator.region_code,
            ),
            at,
        )
        for group in facilitator.groups:
            yield Publication(at, group_upserted(group), at)


def group_upserted(group: Group) -> GroupUpserted:
    """A generated group as its registry event."""
    return GroupUpserted(
        group_id=group.group_id,
        name=group.name,
        programme=group.programme,
        facilitator_id=group.facilitator_id,
        region_code=group.region_code,
        member_refs=group.member_refs,
        chair_member_ref=group.chair_member_ref,
        schedule=MeetingSchedule(cadence=group.cadence, day_of_month=group.day_of_month),
        time_zone=group.time_zone,
    )


def history_publications(history: History) -> Iterator[Publication]:
    """One facilitator's history as events (not sorted: callers order by `published_at`)."""
    facilitator = history.facilitator
    groups = {group.group_id: group for group in facilitator.groups}
    plans_at = history.plans_agreed_at
    for group in facilitator.groups:
        plan = group.plan
        yield Publication(
            plans_at,
            PlanAgreed(
                group_id=group.group_id,
                plan_id=plan.plan_id,
                revision=1,
                title=plan.title,
                starts_on=plan.starts_on,
                ends_on=plan.ends_on,
                agreed_by=(facilitator.facilitator_id, group.chair_member_ref),
                activities=tuple(
                    PlannedActivity(
                        activity_id=activity.activity_id,
                        title=activity.title,
                        stage=activity.stage,
                        due_on=activity.due_on,
                        responsible=activity.responsible,
                        indicator=Indicator(
                            name=activity.indicator.name,
                            unit=activity.indicator.unit,
                            baseline=activity.indicator.baseline,
                            target=activity.indicator.target,
                        )
                        if activity.indicator
                        else None,
                    )
                    for activity in plan.activities
                ),
            ),
            plans_at,
        )
    for schedule in history.schedules:
        group = groups[schedule.group_id]
        yield Publication(
            schedule.published_at,
            MeetingScheduled(
                group_id=group.group_id,
                programme=group.programme,
                facilitator_id=facilitator.facilitator_id,
                region_code=group.region_code,
                period=schedule.period,
                due_at=schedule.due_at,
                time_zone=group.time_zone,
            ),
            schedule.published_at,
        )
    for meeting in history.meetings:
        group = groups[meeting.group_id]
        yield Publication(
            meeting.received_at,
            MeetingRecorded(
                group_id=group.group_id,
                report_id=meeting.report_id,
                programme=group.programme,
                facilitator_id=facilitator.facilitator_id,
                region_code=group.region_code,
                started_at=meeting.started_at,
                ended_at=meeting.ended_at,
                facilitator_present=meeting.facilitator_present,
                led_by=meeting.led_by,
                module=meeting.module,
                topic=meeting.topic,
                attendance=tuple(Attendance(member_ref=ref, status=status) for ref, status in meeting.attendance),
                member_count=meeting.member_count,
                device_id=facilitator.device_id,
                recorded_at=meeting.recorded_at,
                received_at=meeting.received_at,
            ),
            # As the meetings service does: the envelope's time is when the meeting ended.
            meeting.ended_at,
            meeting.recorded_at,
            meeting.received_at,
        )
    # Progress before syncs: a sync's watermark claims that everything recorded before it is on the
    # server, so the phone sends its progress first (a batch's meetings are published before it too).
    for progress in history.progress:
        yield Publication(
            progress.received_at,
            ActivityProgressed(
                group_id=progress.group_id,
                progress_id=progress.progress_id,
                plan_id=progress.plan_id,
                activity_id=progress.activity_id,
                reported_on=progress.reported_on,
                status=progress.status,
                indicator_value=progress.indicator_value,
                recorded_at=progress.recorded_at,
                received_at=progress.received_at,
            ),
            progress.received_at,
            progress.recorded_at,
            progress.received_at,
        )
    for sync in history.syncs:
        for group in facilitator.groups:
            yield Publication(
                sync.received_at,
                DeviceSynced(
                    group_id=group.group_id,
                    facilitator_id=facilitator.facilitator_id,
                    device_id=sync.device_id,
                    synced_through=sync.synced_through,
                    received_at=sync.received_at,
                ),
                sync.received_at,
                received_at=sync.received_at,
            )
    for evaluation in history.evaluations:
        group = groups[evaluation.group_id]
        yield Publication(
            evaluation.received_at,
            EvaluationSubmitted(
                group_id=group.group_id,
                evaluation_id=evaluation.evaluation_id,
                facilitator_id=facilitator.facilitator_id,
                programme=group.programme,
                region_code=group.region_code,
                direction=evaluation.direction,
                period=evaluation.period,
                scores=dict(evaluation.scores),
                mean_score=evaluation.mean_score,
                recorded_at=evaluation.recorded_at,
                received_at=evaluation.received_at,
            ),
            evaluation.received_at,
            evaluation.recorded_at,
            evaluation.received_at,
        )


def topic_of(event: EventData) -> str:
    """The contract topic an event goes to (without a deployment prefix)."""
    topic: str = event.kafka_topic
    assert topic in topics.CONTRACT_TOPICS
    return topic
