"""Notifications' pure parts: routing, Standard Webhooks signing, message texts, derived ids and the
retry back-off."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.backoff import next_retry_delay
from services.notifications.ids import alert_id_for, message_id_for
from services.notifications.messages import AlertContext, render
from services.notifications.routing import Level, Route, region_for_level, route
from services.notifications.signing import InvalidSignature, sign, signed_headers, verify
from shared import regions
from shared.events.base import ID_PATTERN

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------- routing

VILLAGE = "18.71.01.1001"
ALL_LEVELS: dict[tuple[Level, str | None], str] = {
    ("kabupaten", "18.71"): "SUP-1871",
    ("provinsi", "18"): "SUP-18",
    ("nasional", None): "SUP-ID",
}


class TestRouting:
    def test_kabupaten_supervisor_is_chosen(self) -> None:
        assert route(VILLAGE, ALL_LEVELS) == Route("SUP-1871", "kabupaten", climbed=False)

    def test_climbs_to_provinsi_when_kabupaten_has_none(self) -> None:
        scopes = {key: value for key, value in ALL_LEVELS.items() if key[0] != "kabupaten"}
        assert route(VILLAGE, scopes) == Route("SUP-18", "provinsi", climbed=True)

    def test_climbs_to_nasional_when_provinsi_has_none_too(self) -> None:
        assert route(VILLAGE, {("nasional", None): "SUP-ID"}) == Route("SUP-ID", "nasional", climbed=True)

    def test_nobody_registered_is_none(self) -> None:
        assert route(VILLAGE, {}) is None

    def test_supervisors_of_other_regions_are_not_chosen(self) -> None:
        scopes: dict[tuple[Level, str | None], str] = {
            ("kabupaten", "18.72"): "SUP-1872",
            ("kabupaten", "32.71"): "SUP-3271",
            ("provinsi", "32"): "SUP-32",
        }
        assert route(VILLAGE, scopes) is None
        assert route(VILLAGE, {**scopes, ("provinsi", "18"): "SUP-18"}) == Route("SUP-18", "provinsi", True)

    def test_from_level_skips_the_levels_below(self) -> None:
        assert route(VILLAGE, ALL_LEVELS, from_level="provinsi") == Route("SUP-18", "provinsi", climbed=False)
        assert route(VILLAGE, ALL_LEVELS, from_level="nasional") == Route("SUP-ID", "nasional", climbed=False)

    def test_from_level_still_climbs(self) -> None:
        scopes: dict[tuple[Level, str | None], str] = {("nasional", None): "SUP-ID"}
        assert route(VILLAGE, scopes, from_level="provinsi") == Route("SUP-ID", "nasional", climbed=True)
        assert route(VILLAGE, {("kabupaten", "18.71"): "SUP-1871"}, from_level="provinsi") is None

    @pytest.mark.parametrize("code", ["18.71", "18.71.01", "18.71.01.1001"])
    def test_any_code_inside_the_kabupaten_routes_to_it(self, code: str) -> None:
        assert route(code, ALL_LEVELS) == Route("SUP-1871", "kabupaten", climbed=False)

    def test_several_supervisors_of_one_level_all_hear_the_first_by_id_is_primary(self) -> None:
        scopes = {**ALL_LEVELS, ("kabupaten", "18.71"): ("SUP-1871B", "SUP-1871")}
        chosen = route(VILLAGE, scopes)
        assert chosen == Route("SUP-1871", "kabupaten", climbed=False, others=("SUP-1871B",))
        assert chosen is not None
        assert chosen.supervisor_ids == ("SUP-1871", "SUP-1871B")

    def test_region_for_level(self) -> None:
        assert region_for_level(VILLAGE, "kabupaten") == "18.71"
        assert region_for_level(VILLAGE, "provinsi") == "18"
        assert region_for_level(VILLAGE, "nasional") is None


# ---------------------------------------------------------------- signing

SECRET = "whsec_" + base64.b64encode(b"a test key of some thirty bytes").decode()


def reference_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks, written out independently of the module under test."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{message_id}.{timestamp}.{body.decode()}".encode()
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


class TestSigning:
    def test_published_standard_webhooks_test_vector(self) -> None:
        # The vector used by the Standard Webhooks reference libraries.
        signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=1614265330,
            body=b'{"test": 2432232314}',
        )
        assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    @pytest.mark.parametrize(
        ("message_id", "timestamp", "body"),
        [
            ("msg_1", 1_700_000_000, b'{"type":"alert.opened"}'),
            ("msg_" + "f" * 32, 1, '{"teks":"Pertemuan tanpa pendamping — WIB"}'.encode()),
            ("msg_x", 2_000_000_000, b""),
        ],
    )
    def test_matches_an_independent_implementation(self, message_id: str, timestamp: int, body: bytes) -> None:
        assert sign(SECRET, message_id=message_id, timestamp=timestamp, body=body) == reference_signature(
            SECRET, message_id, timestamp, body
        )

    def test_signed_headers(self) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1_700_000_000, body=b"{}")
        assert headers == {
            "webhook-id": "msg_1",
            "webhook-timestamp": "1700000000",
            "webhook-signature": reference_signature(SECRET, "msg_1", 1_700_000_000, b"{}"),
            "content-type": "application/json",
        }
        assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])

    def test_round_trip(self) -> None:
        body = b'{"alert_id":"alert-1"}'
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=body)
        verify(SECRET, headers=headers, body=body, now=1000)
        verify(SECRET, headers=headers, body=body, now=1300)  # at the edge of the tolerance
        verify(SECRET, headers=headers, body=body, now=700)

    def test_header_names_are_case_insensitive(self) -> None:
        body = b"{}"
        headers = {k.title(): v for k, v in signed_headers(SECRET, message_id="m", timestamp=5, body=body).items()}
        verify(SECRET, headers=headers, body=body, now=5)

    def test_tampered_body_is_refused(self) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b'{"severity":"warning"}')
        with pytest.raises(InvalidSignature, match="no matching"):
            verify(SECRET, headers=headers, body=b'{"severity":"critical"}', now=1000)

    def test_tampered_id_is_refused(self) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b"{}")
        with pytest.raises(InvalidSignature):
            verify(SECRET, headers={**headers, "webhook-id": "msg_2"}, body=b"{}", now=1000)

    def test_wrong_secret_is_refused(self) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b"{}")
        other = "whsec_" + base64.b64encode(b"another key entirely, 30 bytes").decode()
        with pytest.raises(InvalidSignature, match="no matching"):
            verify(other, headers=headers, body=b"{}", now=1000)

    @pytest.mark.parametrize("now", [1301, 699, 10_000])
    def test_timestamp_outside_tolerance_is_refused(self, now: int) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b"{}")
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify(SECRET, headers=headers, body=b"{}", now=now)

    def test_tolerance_is_configurable(self) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b"{}")
        verify(SECRET, headers=headers, body=b"{}", now=4000, tolerance_seconds=3600)
        with pytest.raises(InvalidSignature):
            verify(SECRET, headers=headers, body=b"{}", now=1011, tolerance_seconds=10)

    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_missing_header_is_refused(self, missing: str) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b"{}")
        del headers[missing]
        with pytest.raises(InvalidSignature, match="missing"):
            verify(SECRET, headers=headers, body=b"{}", now=1000)

    def test_non_numeric_timestamp_is_refused(self) -> None:
        headers = signed_headers(SECRET, message_id="msg_1", timestamp=1000, body=b"{}")
        with pytest.raises(InvalidSignature):
            verify(SECRET, headers={**headers, "webhook-timestamp": "soon"}, body=b"{}", now=1000)

    def test_any_of_several_space_separated_signatures_may_match(self) -> None:
        body = b"{}"
        good = sign(SECRET, message_id="msg_1", timestamp=1000, body=body)
        rotated = "v1," + base64.b64encode(b"\x00" * 32).decode()
        headers = {"webhook-id": "msg_1", "webhook-timestamp": "1000"}
        verify(SECRET, headers={**headers, "webhook-signature": f"{rotated} {good}"}, body=body, now=1000)
        verify(SECRET, headers={**headers, "webhook-signature": f"{good} {rotated}"}, body=body, now=1000)
        with pytest.raises(InvalidSignature):
            verify(SECRET, headers={**headers, "webhook-signature": f"{rotated} {rotated}"}, body=body, now=1000)

    def test_signature_without_version_prefix_does_not_match(self) -> None:
        body = b"{}"
        good = sign(SECRET, message_id="msg_1", timestamp=1000, body=body)
        headers = {"webhook-id": "msg_1", "webhook-timestamp": "1000", "webhook-signature": good.removeprefix("v1,")}
        with pytest.raises(InvalidSignature):
            verify(SECRET, headers=headers, body=body, now=1000)

    @settings(max_examples=100, deadline=None)
    @given(body=st.binary(max_size=200), message_id=st.from_regex(r"\Amsg_[a-z0-9]{1,30}\Z"), ts=st.integers(0, 2**33))
    def test_round_trip_property(self, body: bytes, message_id: str, ts: int) -> None:
        headers = signed_headers(SECRET, message_id=message_id, timestamp=ts, body=body)
        verify(SECRET, headers=headers, body=body, now=ts)
        with pytest.raises(InvalidSignature):
            verify(SECRET, headers=headers, body=body + b" ", now=ts)


# ---------------------------------------------------------------- messages

STARTED = "2026-11-10T03:00:00+00:00"  # 10.00 WIB, 11.00 WITA, 12.00 WIT


def absent_context(
    *,
    time_zone: str = regions.WIB,
    started_at: str | None = STARTED,
    in_a_row: int | None = 1,
    led_by: str = "chair",
    village: str | None = "Kelurahan Pesawahan",
    group: str = "Kelompok Mawar",
    facilitator: str = "Siti Rahmawati",
    rule: str = "meeting.facilitator_absent",
    severity: str = "warning",
) -> AlertContext:
    return AlertContext(
        rule=rule,
        severity=severity,
        group_name=group,
        village_name=village,
        facilitator_name=facilitator,
        details={
            "report_id": "r-1",
            "led_by": led_by,
            "meeting_started_at": started_at,
            "module": "Kesehatan",
            "absences_in_a_row": in_a_row,
        },
        time_zone=time_zone,
    )


class TestMessages:
    def test_bahasa_indonesia_text(self) -> None:
        text = render(absent_context())["id"]
        assert text == (
            "Pertemuan Kelompok Mawar (Kelurahan Pesawahan) pada 10 November 2026, pukul 10.00 WIB "
            "berlangsung tanpa pendamping Siti Rahmawati (dipimpin ketua kelompok)."
        )

    def test_english_text(self) -> None:
        text = render(absent_context())["en"]
        assert text == (
            "The meeting of Kelompok Mawar (Kelurahan Pesawahan) on 10 November 2026, 10:00 WIB "
            "was held without facilitator Siti Rahmawati (led by the group chair)."
        )

    @pytest.mark.parametrize(
        ("province", "zone", "id_time", "en_time"),
        [
            ("18", "WIB", "pukul 10.00 WIB", "10:00 WIB"),  # Lampung
            ("31", "WIB", "pukul 10.00 WIB", "10:00 WIB"),  # DKI Jakarta
            ("61", "WIB", "pukul 10.00 WIB", "10:00 WIB"),  # Kalimantan Barat
            ("51", "WITA", "pukul 11.00 WITA", "11:00 WITA"),  # Bali
            ("73", "WITA", "pukul 11.00 WITA", "11:00 WITA"),  # Sulawesi Selatan
            ("64", "WITA", "pukul 11.00 WITA", "11:00 WITA"),  # Kalimantan Timur
            ("81", "WIT", "pukul 12.00 WIT", "12:00 WIT"),  # Maluku
            ("91", "WIT", "pukul 12.00 WIT", "12:00 WIT"),  # Papua
            ("96", "WIT", "pukul 12.00 WIT", "12:00 WIT"),  # Papua Barat Daya
        ],
    )
    def test_local_time_in_the_provinces_zone(self, province: str, zone: str, id_time: str, en_time: str) -> None:
        message = render(absent_context(time_zone=regions.time_zone_of(f"{province}.01.01.1001")))
        assert f"10 November 2026, {id_time} " in message["id"]
        assert f"10 November 2026, {en_time} " in message["en"]
        for text in message.values():
            assert re.search(rf"\b{zone}\b", text)
            assert not re.search(r"\bWITA?\b|\bWIB\b", text.replace(zone, "")), text

    def test_local_date_can_be_the_next_day(self) -> None:
        message = render(absent_context(time_zone=regions.WIT, started_at="2026-12-31T20:30:00+00:00"))
        assert "1 Januari 2027, pukul 05.30 WIT" in message["id"]
        assert "1 January 2027, 05:30 WIT" in message["en"]

    @pytest.mark.parametrize(
        ("month", "bahasa", "english"),
        [(1, "Januari", "January"), (5, "Mei", "May"), (8, "Agustus", "August"), (12, "Desember", "December")],
    )
    def test_month_names(self, month: int, bahasa: str, english: str) -> None:
        message = render(absent_context(started_at=f"2026-{month:02}-15T03:00:00+00:00"))
        assert f"15 {bahasa} 2026" in message["id"]
        assert f"15 {english} 2026" in message["en"]

    def test_two_in_a_row_is_said(self) -> None:
        message = render(absent_context(in_a_row=2, severity="critical"))
        assert message["id"].endswith(" Ini 2 kali berturut-turut.")
        assert message["en"].endswith(" This is 2 times in a row.")

    @pytest.mark.parametrize("in_a_row", [1, None, 0])
    def test_a_single_absence_says_nothing_about_a_row(self, in_a_row: int | None) -> None:
        message = render(absent_context(in_a_row=in_a_row))
        assert "berturut-turut" not in message["id"]
        assert "in a row" not in message["en"]

    @pytest.mark.parametrize(
        ("led_by", "bahasa", "english"),
        [
            ("chair", "dipimpin ketua kelompok", "led by the group chair"),
            ("other", "dipimpin orang lain", "led by someone else"),
            ("something-new", "dipimpin orang lain", "led by someone else"),
        ],
    )
    def test_who_led(self, led_by: str, bahasa: str, english: str) -> None:
        message = render(absent_context(led_by=led_by))
        assert f"({bahasa})" in message["id"]
        assert f"({english})" in message["en"]

    def test_without_village_name_only_the_group_is_named(self) -> None:
        message = render(absent_context(village=None))
        assert message["id"].startswith("Pertemuan Kelompok Mawar pada ")
        assert message["en"].startswith("The meeting of Kelompok Mawar on ")
        assert "None" not in message["id"] + message["en"]

    def test_missing_meeting_time_does_not_crash(self) -> None:
        message = render(absent_context(started_at=None))
        assert "pada ?" in message["id"]
        assert "on ?" in message["en"]

    def test_every_name_is_mentioned(self) -> None:
        message = render(absent_context(group="Pokja Sanitasi Melati", village="Desa Sukamaju", facilitator="Budi"))
        for text in message.values():
            assert "Pokja Sanitasi Melati" in text
            assert "Desa Sukamaju" in text
            assert "Budi" in text

    def test_fallback_text_for_rules_this_build_does_not_know(self) -> None:
        # Every rule monitoring publishes has its own text (test_notifications_messages.py); a new one
        # still gets a readable sentence.
        message = render(absent_context(rule="meeting.something_new", severity="warning"))
        assert message == {
            "id": (
                "Penyimpangan meeting.something_new (peringatan) pada Kelompok Mawar (Kelurahan Pesawahan), "
                "pendamping Siti Rahmawati."
            ),
            "en": (
                "Deviation meeting.something_new (warning) for Kelompok Mawar (Kelurahan Pesawahan), "
                "facilitator Siti Rahmawati."
            ),
        }

    @pytest.mark.parametrize(
        ("status", "words_id", "words_en"),
        [
            ("not_started", "belum dimulai", "not started"),
            ("in_progress", "sedang berjalan", "in progress"),
            ("blocked", "terhambat", "blocked"),
            ("something_else", "status tidak diketahui", "status unknown"),
        ],
    )
    def test_activity_statuses_are_words(self, status: str, words_id: str, words_en: str) -> None:
        context = replace(
            absent_context(rule="plan.activity_overdue"),
            details={"activity_title": "Posyandu", "due_on": "2026-11-20", "status": status},
        )
        message = render(context)
        assert f"20 November 2026 ({words_id})" in message["id"]
        assert f"20 November 2026 ({words_en})" in message["en"]
        assert status not in message["id"]
        assert "status:" not in message["id"] + message["en"]

    def test_meeting_periods_are_words(self) -> None:
        context = replace(
            absent_context(rule="meeting.overdue"),
            details={"period": "2026-11", "due_at": "2026-11-10T02:00:00+00:00"},
        )
        message = render(context)
        assert "periode November 2026;" in message["id"]
        assert "period November 2026;" in message["en"]

    @pytest.mark.parametrize("rule", ["meeting.facilitator_absent", "meeting.too_short"])
    def test_texts_fit_a_phone_notification(self, rule: str) -> None:
        # Long but realistic names.
        message = render(
            absent_context(
                rule=rule,
                in_a_row=12,
                severity="critical",
                group="Kelompok PKH Bunga Matahari Sejahtera II",
                village="Kelurahan Sukarame Baru Kedaton",
                facilitator="Raden Ayu Siti Nurhaliza Kartikasari",
                led_by="other",
                time_zone=regions.WITA,
            )
        )
        assert set(message) == {"id", "en"}
        for text in message.values():
            assert 0 < len(text) < 300, (len(text), text)


# ---------------------------------------------------------------- derived ids and retry back-off


class TestDerivedIds:
    def test_alert_id_is_deterministic_and_differs_per_level(self) -> None:
        ids = {level: alert_id_for("dev-1", level) for level in ("kabupaten", "provinsi", "nasional")}
        assert ids == {level: alert_id_for("dev-1", level) for level in ids}
        assert len(set(ids.values())) == 3
        assert alert_id_for("dev-2", "kabupaten") != ids["kabupaten"]
        for value in ids.values():
            assert value.startswith("alert-")
            assert re.fullmatch(ID_PATTERN, value)

    def test_message_id_is_deterministic_and_differs_per_kind_and_channel(self) -> None:
        alert = alert_id_for("dev-1", "kabupaten")
        ids = {
            (kind, channel): message_id_for(alert, kind, channel)
            for kind in ("alert.opened", "alert.resolved", "alert.escalated")
            for channel in ("webhook", "email")
        }
        assert ids == {(k, c): message_id_for(alert, k, c) for k, c in ids}
        assert len(set(ids.values())) == len(ids)
        assert message_id_for(alert_id_for("dev-2", "kabupaten"), "alert.opened", "webhook") not in ids.values()
        for value in ids.values():
            assert re.fullmatch(r"msg_[0-9a-f]{32}", value)


class TestRetryDelay:
    @pytest.mark.parametrize(
        ("attempt", "expected_base"), [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 256.0), (10, 300.0)]
    )
    def test_exponential_and_capped(self, attempt: int, expected_base: float) -> None:
        full = next_retry_delay(attempt, initial_seconds=1.0, max_seconds=300.0, jitter=1.0)
        half = next_retry_delay(attempt, initial_seconds=1.0, max_seconds=300.0, jitter=0.0)
        assert full == timedelta(seconds=expected_base)
        assert half == timedelta(seconds=expected_base / 2)

    def test_grows_with_the_attempt_until_the_cap(self) -> None:
        delays = [next_retry_delay(n, initial_seconds=0.5, max_seconds=60, jitter=0.5) for n in range(1, 12)]
        assert delays == sorted(delays)
        assert delays[1] == 2 * delays[0]
        assert delays[-1] == delays[-2] == timedelta(seconds=60 * 0.75)

    @settings(max_examples=200, deadline=None)
    @given(
        attempt=st.integers(1, 60),
        initial=st.floats(0.01, 100),
        cap=st.floats(0.01, 10_000),
        jitter=st.floats(0, 1, exclude_max=True),
    )
    def test_jitter_stays_between_half_and_all_of_the_base(
        self, attempt: int, initial: float, cap: float, jitter: float
    ) -> None:
        base = min(cap, initial * 2 ** (attempt - 1))
        delay = next_retry_delay(attempt, initial_seconds=initial, max_seconds=cap, jitter=jitter).total_seconds()
        assert 0.5 * base - 1e-6 <= delay <= base + 1e-6
        assert delay <= cap + 1e-6

    def test_very_many_attempts_stay_at_the_cap(self) -> None:
        # `webhook_max_attempts` has no upper bound in the settings: a long retry budget must not overflow.
        delay = next_retry_delay(1100, initial_seconds=1.0, max_seconds=300.0, jitter=1.0)
        assert delay == timedelta(seconds=300)
