"""The generator: deterministic by seed, sized by scale, valid codes and ids, events that validate."""

from __future__ import annotations

import itertools
import re
from datetime import date

import pytest

from services.monitoring.programmes import load_programmes
from shared import serde
from shared.events.base import ID_PATTERN, REGION_CODE_PATTERN
from shared.regions import level_of, parent_of, time_zone_of
from tools.generator.behaviour import Rates, simulate
from tools.generator.events import history_publications, registry_publications
from tools.generator.geography import PROVINCES, TOTAL_REGENCIES
from tools.generator.oracle import expected_deviations
from tools.generator.programme import Programme, Shape

pytestmark = pytest.mark.unit

SMALL = Shape(scale=0.0005, seed=11, start=date(2026, 1, 1), months=3)


def test_geography_has_the_38_provinces_and_514_regencies() -> None:
    assert len(PROVINCES) == 38
    assert len({province.code for province in PROVINCES}) == 38
    assert TOTAL_REGENCIES == 514
    assert {province.time_zone for province in PROVINCES} == {"Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"}


def test_same_seed_same_programme_and_history() -> None:
    first = list(itertools.islice(Programme(SMALL).facilitators(), 5))
    again = list(itertools.islice(Programme(SMALL).facilitators(), 5))
    assert first == again
    assert [simulate(f, SMALL, Rates()) for f in first] == [simulate(f, SMALL, Rates()) for f in again]


def test_another_seed_another_programme() -> None:
    other = Shape(scale=SMALL.scale, seed=12, start=SMALL.start, months=SMALL.months)
    assert next(Programme(SMALL).facilitators()) != next(Programme(other).facilitators())


@pytest.mark.parametrize(("scale", "facilitators"), [(1.0, 40_000), (0.1, 4_000), (0.001, 40), (0.00001, 1)])
def test_facilitator_count_scales(scale: float, facilitators: int) -> None:
    assert Shape(scale=scale).facilitator_count == facilitators


def test_full_scale_layout_uses_every_regency() -> None:
    assert len(Programme(Shape(scale=1.0)).regencies_in_use()) == 514


def test_groups_scale_with_facilitators() -> None:
    facilitators = list(Programme(Shape(scale=0.001)).facilitators())
    assert len(facilitators) == 40
    groups = sum(len(facilitator.groups) for facilitator in facilitators)
    assert 8 * 40 <= groups <= 12 * 40


def test_codes_ids_and_time_zones_are_valid() -> None:
    programme = Programme(SMALL)
    regions = list(programme.regions())
    codes = {region.code for region in regions}
    assert len(codes) == len(regions), "region codes are unique"
    for region in regions:
        assert re.match(REGION_CODE_PATTERN, region.code)
        assert level_of(region.code) == region.level
        parent = parent_of(region.code)
        assert parent is None or parent in codes
    ids = set()
    for facilitator in programme.facilitators():
        assert re.match(ID_PATTERN, facilitator.facilitator_id)
        assert facilitator.region_code in codes
        assert level_of(facilitator.region_code) == "kecamatan"
        for group in facilitator.groups:
            assert re.match(ID_PATTERN, group.group_id)
            assert group.group_id not in ids
            ids.add(group.group_id)
            assert group.region_code in codes
            assert level_of(group.region_code) == "desa"
            assert group.region_code.startswith(facilitator.region_code + ".")
            assert group.time_zone == time_zone_of(group.region_code)
            assert all(ref.startswith("kpm-") and re.match(ID_PATTERN, ref) for ref in group.member_refs)
            assert group.chair_member_ref in group.member_refs
            stages = [activity.stage for activity in group.plan.activities]
            assert stages == sorted(stages, key=["dialogue", "discovery", "development"].index)
            for activity in group.plan.activities:
                assert re.match(ID_PATTERN, activity.activity_id)
                assert group.plan.starts_on <= activity.due_on <= group.plan.ends_on
    supervisors = list(programme.supervisors())
    assert {supervisor.level for supervisor in supervisors} == {"nasional", "provinsi", "kabupaten"}


def test_every_generated_event_validates_through_the_serializer() -> None:
    programme = Programme(SMALL)
    seen: set[str] = set()
    publications = list(registry_publications(programme, at=SMALL.started_at, webhook_url="http://127.0.0.1:1/"))
    for facilitator in itertools.islice(programme.facilitators(), 6):
        publications += history_publications(simulate(facilitator, SMALL, Rates()))
    for publication in publications:
        key, value, headers = publication.encode()
        decoded = serde.decode(value, key=key)
        assert decoded.event == publication.event
        assert dict(headers)["ce_type"] == publication.event.event_type.encode()
        seen.add(publication.event.event_type)
    assert seen >= {
        "meetings.region_upserted.v1",
        "meetings.supervisor_upserted.v1",
        "meetings.facilitator_upserted.v1",
        "meetings.group_upserted.v1",
        "meetings.plan_agreed.v1",
        "meetings.meeting_scheduled.v1",
        "meetings.meeting_recorded.v1",
        "meetings.device_synced.v1",
        "meetings.activity_progressed.v1",
        "meetings.evaluation_submitted.v1",
    }


def test_history_stays_within_the_horizon_and_scheduled_before_meetings() -> None:
    for facilitator in itertools.islice(Programme(SMALL).facilitators(), 4):
        history = simulate(facilitator, SMALL, Rates())
        published = {(item.group_id, item.period): item.published_at for item in history.schedules}
        for meeting in history.meetings:
            assert meeting.received_at <= history.horizon_end
            assert meeting.started_at < meeting.ended_at <= meeting.recorded_at <= meeting.received_at
            assert published[(meeting.group_id, meeting.period)] < meeting.started_at


def test_no_injected_deviation_means_an_empty_oracle() -> None:
    programmes = load_programmes()
    for facilitator in itertools.islice(Programme(SMALL).facilitators(), 6):
        result = expected_deviations(simulate(facilitator, SMALL, Rates.none()), programmes)
        assert result.certain == set(), sorted(result.certain)[:5]


def test_injected_deviations_show_in_the_oracle() -> None:
    programmes = load_programmes()
    rates = Rates(chair_led=0.5, too_short=0.5, low_attendance=0.5, skipped_meeting=0.2)
    rules: set[str] = set()
    for facilitator in itertools.islice(Programme(SMALL).facilitators(), 4):
        rules |= {item.rule for item in expected_deviations(simulate(facilitator, SMALL, rates), programmes).certain}
    assert {"meeting.facilitator_absent", "meeting.too_short", "meeting.low_attendance", "meeting.overdue"} <= rules
