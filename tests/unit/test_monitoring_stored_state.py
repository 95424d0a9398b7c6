"""A group's state as the worker stores it: compact, exact, and still readable in its former JSON
form (a worker upgraded over an existing changelog)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.monitoring import stored_state
from services.monitoring.rules.decisions import deviation_id
from services.monitoring.rules.state import (
    ActivityState,
    DeviceWatermark,
    EvaluationSummary,
    GroupContext,
    GroupState,
    MeetingSummary,
    OpenDeviation,
    ScheduledPeriod,
    SupersededProgress,
    kept_sync_marks,
)
from services.monitoring.stored_state import (
    decode_state,
    encode_state,
    pack_day,
    pack_id,
    pack_instant,
    stored_schedule,
    unpack_day,
    unpack_id,
    unpack_instant,
)

pytestmark = pytest.mark.unit

WIB = timezone(timedelta(hours=7))
AT = datetime(2026, 3, 10, 16, 59, 59, tzinfo=UTC)
DEVIATION = deviation_id("plan.activity_overdue", "G-1", "A-1")


def full_state() -> GroupState:
    """Every field of every part of a state set, with instants of each kind."""
    return GroupState(
        meetings=(
            MeetingSummary("r-1", AT, True, AT + timedelta(hours=2), 8, 10, AT + timedelta(hours=3)),
            MeetingSummary("r-2", datetime(2026, 4, 2, 9, 30, tzinfo=WIB), False),
        ),
        open={
            DEVIATION: OpenDeviation("plan.activity_overdue", "A-1", "warning", AT, "group", {"due_on": "2026-03-31"}),
            "custom-id": OpenDeviation("meeting.overdue", "2026-03", "critical"),
        },
        context=GroupContext("pkh-p2k2", "F-001", "18.71.01.1001", 7),
        periods=(ScheduledPeriod("2026-03", AT, "Asia/Jakarta", "monthly", AT - timedelta(days=40)),),
        devices={
            "hp-1": DeviceWatermark(
                AT,
                AT + timedelta(seconds=5),
                "F-001",
                ((AT - timedelta(days=2), AT - timedelta(days=1)), (AT - timedelta(hours=5), AT - timedelta(hours=4))),
            )
        },
        activities={
            "A-1": ActivityState(
                "A-1",
                "P-1",
                "Kegiatan A-1",
                date(2026, 1, 1),
                date(2026, 3, 31),
                "Asia/Makassar",
                "done",
                0.0,
                10.5,
                7.25,
                date(2026, 3, 1),
                AT,
                AT - timedelta(days=60),
                AT - timedelta(minutes=1),
                AT,
                "in_progress",
                "PR-77",
                (
                    SupersededProgress("not_started", None, None, None, None, AT - timedelta(days=3)),
                    SupersededProgress(
                        "in_progress",
                        2.5,
                        date(2026, 2, 27),
                        AT - timedelta(days=3, hours=2),
                        AT - timedelta(days=3),
                        AT - timedelta(minutes=1),
                    ),
                ),
            ),
            "A-2": ActivityState("A-2", "P-1", "", date(2026, 2, 1), date(2026, 5, 1), "Asia/Jakarta"),
        },
        evaluations=(EvaluationSummary("ev-1", "group_rates_facilitator", 2.4, AT),),
        closed=(DEVIATION, "dev-not-a-derived-id", deviation_id("meeting.overdue", "G-1", "2026-02")),
        forgotten_before=AT - timedelta(days=400),
        wake_at=AT + timedelta(microseconds=500_000),
        clock_at=AT,
    )


class TestInstants:
    def test_whole_utc_seconds_are_one_integer(self) -> None:
        assert pack_instant(AT) == int(AT.timestamp())
        assert unpack_instant(pack_instant(AT)) == AT

    def test_fractions_and_offsets_come_back_as_they_were(self) -> None:
        for moment in (AT + timedelta(microseconds=1), datetime(2026, 4, 2, 9, 30, tzinfo=WIB)):
            back = unpack_instant(pack_instant(moment))
            assert back == moment
            assert back is not None
            assert back.isoformat() == moment.isoformat()

    def test_utc_comes_back_as_iso_parsing_gives_it(self) -> None:
        back = unpack_instant(pack_instant(AT))
        assert back is not None
        assert back.tzinfo is datetime.fromisoformat(AT.isoformat()).tzinfo

    def test_a_naive_instant_is_kept_as_text(self) -> None:
        naive = datetime(2026, 1, 1, 12)
        assert unpack_instant(pack_instant(naive)) == naive

    def test_none_stays_none(self) -> None:
        assert pack_instant(None) is None
        assert unpack_instant(None) is None

    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    @given(
        moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
        offset_minutes=st.sampled_from([0, 0, 420, 480, 540, -300]),
    )
    def test_any_aware_instant_round_trips(self, moment: datetime, offset_minutes: int) -> None:
        aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
        back = unpack_instant(pack_instant(aware))
        assert back == aware
        assert back is not None
        assert back.isoformat() == datetime.fromisoformat(aware.isoformat()).isoformat()


class TestDaysAndIds:
    def test_days_are_ordinals(self) -> None:
        assert unpack_day(pack_day(date(2026, 3, 31))) == date(2026, 3, 31)
        assert pack_day(None) is None
        assert unpack_day(None) is None

    def test_a_derived_deviation_id_is_its_sixteen_bytes(self) -> None:
        packed = pack_id(DEVIATION)
        assert isinstance(packed, bytes)
        assert len(packed) == 16
        assert unpack_id(packed) == DEVIATION

    @pytest.mark.parametrize(
        "identifier", ["dev-" + "A" * 32, "dev-" + "z" * 32, "dev-123", "group-1", "dev-" + "0" * 31 + "g"]
    )
    def test_any_other_text_stays_text(self, identifier: str) -> None:
        assert pack_id(identifier) == identifier
        assert unpack_id(pack_id(identifier)) == identifier


class TestStates:
    def test_a_full_state_round_trips_exactly(self) -> None:
        state = full_state()
        back = decode_state(encode_state(state))
        assert back == state
        assert back.to_json() == state.to_json()

    def test_an_empty_state_round_trips(self) -> None:
        assert decode_state(encode_state(GroupState())) == GroupState()

    def test_nothing_stored_is_an_empty_state(self) -> None:
        assert decode_state(None) == GroupState()
        assert decode_state(b"") == GroupState()

    def test_is_a_third_of_the_former_json_or_less(self) -> None:
        state = full_state()
        assert len(encode_state(state)) * 3 <= len(orjson.dumps(state.to_json()))

    def test_the_former_json_bytes_still_read(self) -> None:
        # A worker upgraded over a changelog written before states were stored as bytes.
        state = full_state()
        assert decode_state(orjson.dumps(state.to_json())) == state

    def test_the_former_json_already_parsed_still_reads(self) -> None:
        state = full_state()
        assert decode_state(state.to_json()) == state

    def test_an_activity_stored_before_it_kept_superseded_progress_still_reads(self) -> None:
        state = full_state()
        stored = stored_state._decoder.decode(encode_state(state))
        for activity in stored[9]:
            del activity[-1]  # [key, *the 17 fields stored before]
        back = decode_state(stored_state._encoder.encode(stored))
        assert back.activities["A-1"] == dataclasses.replace(state.activities["A-1"], superseded=())
        assert back.activities["A-2"] == state.activities["A-2"]

    def test_an_unknown_format_is_refused(self) -> None:
        stored = bytearray(encode_state(full_state()))
        assert stored[1] == stored_state.FORMAT  # after the array's header
        stored[1] = stored_state.FORMAT + 1
        with pytest.raises(ValueError, match="unknown format"):
            decode_state(bytes(stored))


class TestStoredSchedule:
    def test_reads_partition_wake_up_and_clock_from_both_forms(self) -> None:
        state = full_state()
        expected = (7, state.wake_at, state.clock_at)
        assert stored_schedule(encode_state(state)) == expected
        assert stored_schedule(orjson.dumps(state.to_json())) == expected
        assert stored_schedule(state.to_json()) == expected

    def test_none_without_a_context(self) -> None:
        assert stored_schedule(encode_state(GroupState(wake_at=AT))) is None
        assert stored_schedule(orjson.dumps(GroupState(wake_at=AT).to_json())) is None
        assert stored_schedule(None) is None

    def test_instants_may_be_missing(self) -> None:
        state = GroupState(context=GroupContext("pkh-p2k2", "F-001", "18.71.01.1001", 3))
        assert stored_schedule(encode_state(state)) == (3, None, None)
        assert stored_schedule(orjson.dumps(state.to_json())) == (3, None, None)


class TestPackedParts:
    def test_each_part_is_packed_once_and_a_changed_part_anew(self) -> None:
        state = full_state()
        first = encode_state(state)
        activity = state.activities["A-2"]
        assert getattr(activity, stored_state._PACKED_ENTRY) is not None  # kept beside the frozen part
        assert encode_state(state) == first
        progressed = dataclasses.replace(activity, status="in_progress", value=3.0)
        changed = state.evolve(activities={**state.activities, "A-2": progressed})
        assert decode_state(encode_state(changed)) == changed
        assert decode_state(encode_state(changed)).activities["A-2"].status == "in_progress"

    def test_collections_kept_encoded_give_the_bytes_of_encoding_it_all_anew(self) -> None:
        # What is kept beside a state and its parts must never change what is stored: each state
        # here is encoded with what it carries and, built afresh from its bytes, without.
        state = full_state()
        first = encode_state(state)
        assert getattr(state, stored_state._PACKED_SECTIONS) is not None
        device = next(iter(state.devices.values()))
        synced = dataclasses.replace(device, synced_through=AT + timedelta(days=3), history=((AT, AT),))
        progressed = dataclasses.replace(state.activities["A-2"], status="in_progress", value=3.0)
        evolved = [
            state.evolve(devices={**state.devices, "D-9": synced}),
            state.evolve(activities={**state.activities, "A-2": progressed}),
            state.evolve(closed=(*state.closed, "dev-" + "ab" * 16), open={}),
            state.evolve(wake_at=AT + timedelta(hours=1)),
        ]
        for changed in evolved:
            stored = encode_state(changed)
            assert stored == encode_state(decode_state(stored))
            assert decode_state(stored) == changed
        assert encode_state(evolved[0].evolve(meetings=state.meetings[:1])) == encode_state(
            dataclasses.replace(evolved[0], meetings=state.meetings[:1])
        )
        assert encode_state(state) == first  # the state they evolved from kept its own

    @pytest.mark.parametrize("stored_every", [1, 3, 1000])
    def test_a_devices_history_packed_from_its_previous_mark_is_what_packing_it_anew_gives(
        self, stored_every: int
    ) -> None:
        # A device's next mark takes its predecessor's packed history (`DeviceWatermark.previous`)
        # and packs only the mark it adds: the stored bytes must be those of a state without it,
        # whether or not each mark was stored, through the cut of old marks, for any offset.
        wita = timezone(timedelta(hours=8))
        device = DeviceWatermark(AT, AT, "F-1")
        state = GroupState(devices={"D-1": device})
        for n in range(1, 60):
            through = AT + timedelta(hours=n) if n % 7 else (AT + timedelta(hours=n, microseconds=5)).astimezone(wita)
            history = (*device.history, (device.synced_through, device.received_at))
            clock = AT + timedelta(hours=n // 2)  # lags: some marks stay because the clock is behind them
            device = DeviceWatermark(
                through, AT + timedelta(hours=n), "F-1", kept_sync_marks(history, clock), previous=device
            )
            state = state.evolve(devices={"D-1": device})
            if n % stored_every == 0:
                assert encode_state(state) == encode_state(GroupState.from_json(state.to_json()))
        assert encode_state(state) == encode_state(GroupState.from_json(state.to_json()))
        assert decode_state(encode_state(state)) == state

    def test_a_mark_not_made_from_its_previous_packs_its_own_history(self) -> None:
        earlier = DeviceWatermark(AT, AT, "F-1", ((AT - timedelta(hours=1), AT),))
        encode_state(GroupState(devices={"D-1": earlier}))
        same_instant_other_offset = AT.astimezone(timezone(timedelta(hours=7)))
        later = DeviceWatermark(
            AT + timedelta(hours=1), AT, "F-1", ((same_instant_other_offset, AT),), previous=earlier
        )
        assert later._packed_history is None  # not the very mark: packed when stored
        state = GroupState(devices={"D-1": later})
        assert encode_state(state) == encode_state(GroupState.from_json(state.to_json()))

    def test_a_state_stored_piecewise_is_one_plain_messagepack_array(self) -> None:
        # `encode_state` joins the head's bytes and the collections' kept bytes under one array
        # header: decoded and encoded again as plain values, the bytes must come back identical.
        state = full_state()
        for stored in (
            encode_state(state),
            encode_state(state.evolve(wake_at=AT + timedelta(hours=1), context=None)),
            encode_state(GroupState()),
        ):
            plain = stored_state._decoder.decode(stored)
            assert len(plain) == 12
            assert stored_state._encoder.encode(plain) == stored

    def test_the_packed_form_is_not_part_of_equality(self) -> None:
        state = full_state()
        encode_state(state)
        assert state == full_state()

    @pytest.mark.parametrize(
        ("part", "pack", "sample"),
        [
            (MeetingSummary, stored_state._pack_meeting, lambda s: s.meetings[0]),
            (OpenDeviation, stored_state._pack_open, lambda s: next(iter(s.open.values()))),
            (ScheduledPeriod, stored_state._pack_period, lambda s: s.periods[0]),
            (DeviceWatermark, stored_state._pack_device, lambda s: next(iter(s.devices.values()))),
            (ActivityState, stored_state._pack_activity, lambda s: s.activities["A-1"]),
            (EvaluationSummary, stored_state._pack_evaluation, lambda s: s.evaluations[0]),
            (SupersededProgress, stored_state._pack_superseded, lambda s: s.activities["A-1"].superseded[-1]),
        ],
    )
    def test_every_field_of_every_part_is_stored(self, part: type, pack: object, sample: object) -> None:
        # A field added to a part of the state without a place in its stored array would be lost at
        # the first restart: the arrays must have one element per field the part is built from.
        built_from = [item for item in dataclasses.fields(part) if item.init]
        assert len(pack(sample(full_state()))) == len(built_from)  # type: ignore[operator]

    def test_every_field_of_the_state_is_stored(self) -> None:
        built_from = [item for item in dataclasses.fields(GroupState) if item.init]
        assert len(stored_state._decoder.decode(encode_state(full_state()))) == 1 + len(built_from)
