"""Shared pure helpers: regions, settings, bearer tokens, error field paths, NIK pseudonyms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.meetings.pseudonym import contains_nik_shaped_value, pseudonymise_nik
from shared import regions
from shared.auth import InvalidToken, Principal, mint_token, read_token
from shared.settings import (
    DEVELOPMENT_JWT_SECRET,
    DEVELOPMENT_PSEUDONYM_KEY,
    DEVELOPMENT_WEBHOOK_SECRET,
    AuthSettings,
    KafkaSettings,
    RuntimeSettings,
    ServiceSettings,
    refuse_development_secrets,
)
from shared.web import field_path

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------- regions

WIB_CODES = {"11", "12", "13", "14", "15", "16", "17", "18", "19", "21", "31", "32", "33", "34", "35", "36", "61", "62"}
WITA_CODES = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
WIT_CODES = {"81", "82", "91", "92", "93", "94", "95", "96"}


class TestRegions:
    @pytest.mark.parametrize(
        ("code", "level"),
        [("18", "provinsi"), ("18.71", "kabupaten"), ("18.71.01", "kecamatan"), ("18.71.01.1001", "desa")],
    )
    def test_level_of(self, code: str, level: str) -> None:
        assert regions.level_of(code) == level

    @pytest.mark.parametrize(
        ("code", "province", "kabupaten", "parent"),
        [
            ("18", "18", None, None),
            ("18.71", "18", "18.71", "18"),
            ("18.71.01", "18", "18.71", "18.71"),
            ("18.71.01.1001", "18", "18.71", "18.71.01"),
        ],
    )
    def test_nesting(self, code: str, province: str, kabupaten: str | None, parent: str | None) -> None:
        assert regions.province_of(code) == province
        assert regions.kabupaten_of(code) == kabupaten
        assert regions.parent_of(code) == parent

    def test_ancestors_innermost_first(self) -> None:
        assert regions.ancestors("18.71.01.1001") == ["18.71.01.1001", "18.71.01", "18.71", "18"]
        assert regions.ancestors("18.71") == ["18.71", "18"]
        assert regions.ancestors("18") == ["18"]

    def test_exactly_38_provinces(self) -> None:
        assert len(regions.PROVINCE_TIME_ZONES) == 38
        assert set(regions.PROVINCE_TIME_ZONES) == WIB_CODES | WITA_CODES | WIT_CODES
        assert len(WIB_CODES) + len(WITA_CODES) + len(WIT_CODES) == 38
        assert all(re.fullmatch(r"[0-9]{2}", code) for code in regions.PROVINCE_TIME_ZONES)

    @pytest.mark.parametrize(
        ("codes", "zone", "offset_hours"),
        [(WIB_CODES, regions.WIB, 7), (WITA_CODES, regions.WITA, 8), (WIT_CODES, regions.WIT, 9)],
    )
    def test_time_zone_sets(self, codes: set[str], zone: str, offset_hours: int) -> None:
        assert {code for code, tz in regions.PROVINCE_TIME_ZONES.items() if tz == zone} == codes
        for code in codes:
            assert regions.time_zone_of(code) == zone
            assert regions.time_zone_of(f"{code}.01.02.2003") == zone
        offset = datetime(2026, 6, 1, tzinfo=ZoneInfo(zone)).utcoffset()
        assert offset == timedelta(hours=offset_hours)

    @pytest.mark.parametrize(
        ("code", "zone"),
        [
            ("31.71", regions.WIB),  # Jakarta
            ("61.71", regions.WIB),  # Pontianak, Kalimantan Barat
            ("62.71", regions.WIB),  # Palangka Raya, Kalimantan Tengah
            ("51.71", regions.WITA),  # Denpasar
            ("63.71", regions.WITA),  # Banjarmasin, Kalimantan Selatan
            ("53.71", regions.WITA),  # Kupang, NTT
            ("81.71", regions.WIT),  # Ambon
            ("94.71", regions.WIT),  # Papua Tengah
        ],
    )
    def test_well_known_places(self, code: str, zone: str) -> None:
        assert regions.time_zone_of(code) == zone

    @pytest.mark.parametrize("code", ["00", "99", "20", "54.01", "97.01.01.1001"])
    def test_unknown_province_raises(self, code: str) -> None:
        with pytest.raises(ValueError, match=f"unknown province code '{code[:2]}'"):
            regions.time_zone_of(code)


# ---------------------------------------------------------------- settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("PANTAU_"):
            monkeypatch.delenv(name)
    return monkeypatch


class TestSettings:
    def test_development_allows_defaults(self) -> None:
        refuse_development_secrets(
            "development",
            jwt_secret=DEVELOPMENT_JWT_SECRET,
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
            webhook_secret=DEVELOPMENT_WEBHOOK_SECRET,
        )

    @pytest.mark.parametrize("environment", ["production", "test"])
    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("jwt_secret", DEVELOPMENT_JWT_SECRET),
            ("pseudonym_key", DEVELOPMENT_PSEUDONYM_KEY),
            ("webhook_secret", DEVELOPMENT_WEBHOOK_SECRET),
        ],
    )
    def test_outside_development_each_default_is_refused_by_name(self, environment: str, name: str, value: str) -> None:
        with pytest.raises(ValueError, match=rf"^{name} still use development defaults; set real secrets for"):
            refuse_development_secrets(environment, **{name: value, "other_secret": "a-real-secret-0123456789"})  # type: ignore[arg-type]

    def test_all_offending_secrets_are_named(self) -> None:
        with pytest.raises(ValueError, match=r"^jwt_secret, webhook_secret still use") as info:
            refuse_development_secrets(
                "production", webhook_secret=DEVELOPMENT_WEBHOOK_SECRET, jwt_secret=DEVELOPMENT_JWT_SECRET
            )
        assert "production" in str(info.value)

    def test_real_secrets_pass(self) -> None:
        refuse_development_secrets(
            "production",
            jwt_secret="a-real-production-jwt-secret-1234",
            pseudonym_key="another-real-key",
            webhook_secret="whsec_cmVhbC1wcm9kdWN0aW9uLXNlY3JldA==",
        )

    def test_topic_and_group_prefixing(self, clean_env: pytest.MonkeyPatch) -> None:
        plain = KafkaSettings()
        assert plain.topic("meetings.events") == "meetings.events"
        assert plain.group_id("pantau-notifications") == "pantau-notifications"
        prefixed = KafkaSettings(topic_prefix="t123-")
        assert prefixed.topic("meetings.events") == "t123-meetings.events"
        assert prefixed.group_id("pantau-notifications") == "t123-pantau-notifications"

    def test_bad_topic_prefix_is_refused(self, clean_env: pytest.MonkeyPatch) -> None:
        with pytest.raises(ValidationError):
            KafkaSettings(topic_prefix="has space")

    def test_defaults_without_environment(self, clean_env: pytest.MonkeyPatch) -> None:
        kafka = KafkaSettings()
        assert kafka.bootstrap_servers == "127.0.0.1:9092"
        assert kafka.topic_prefix == ""
        assert RuntimeSettings().environment == "development"
        assert AuthSettings().jwt_secret == DEVELOPMENT_JWT_SECRET

    def test_environment_variables_are_read(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("PANTAU_KAFKA_BOOTSTRAP_SERVERS", "broker-1:9093,broker-2:9093")
        clean_env.setenv("PANTAU_KAFKA_TOPIC_PREFIX", "ci-42.")
        kafka = KafkaSettings()
        assert kafka.bootstrap_servers == "broker-1:9093,broker-2:9093"
        assert kafka.topic("registry.events") == "ci-42.registry.events"
        assert ServiceSettings().kafka.bootstrap_servers == "broker-1:9093,broker-2:9093"

    def test_service_settings_refuse_the_development_jwt_secret_in_production(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        clean_env.setenv("PANTAU_ENVIRONMENT", "production")
        with pytest.raises(ValidationError, match="jwt_secret still use development defaults"):
            ServiceSettings()
        clean_env.setenv("PANTAU_AUTH_JWT_SECRET", "a-real-production-jwt-secret-1234")
        assert ServiceSettings().runtime.environment == "production"

    def test_webhook_secret_is_refused_in_production(self, clean_env: pytest.MonkeyPatch) -> None:
        from services.notifications.settings import NotificationsSettings

        clean_env.setenv("PANTAU_ENVIRONMENT", "production")
        clean_env.setenv("PANTAU_AUTH_JWT_SECRET", "a-real-production-jwt-secret-1234")
        with pytest.raises(ValidationError, match="webhook_secret still use development defaults"):
            NotificationsSettings()
        clean_env.setenv("PANTAU_NOTIFICATIONS_WEBHOOK_SECRET", "whsec_cmVhbC1wcm9kdWN0aW9uLXNlY3JldA==")
        assert NotificationsSettings().webhook_secret == "whsec_cmVhbC1wcm9kdWN0aW9uLXNlY3JldA=="


# ---------------------------------------------------------------- auth

AUTH = AuthSettings(jwt_secret="unit-test-secret-0123456789abcdef")
NOW = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)


class TestAuth:
    def test_mint_read_round_trip(self) -> None:
        token = mint_token(AUTH, subject="SUP-1871", role="supervisor", scope="18.71")
        assert read_token(AUTH, token) == Principal(subject="SUP-1871", role="supervisor", scope="18.71")

    def test_claims(self) -> None:
        token = mint_token(AUTH, subject="PDP-0001", role="facilitator", scope="PDP-0001", now=NOW)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims == {
            "sub": "PDP-0001",
            "role": "facilitator",
            "scope": "PDP-0001",
            "iss": "pantau",
            "aud": "pantau-api",
            "iat": int(NOW.timestamp()),
            "exp": int((NOW + timedelta(hours=12)).timestamp()),
        }
        assert jwt.get_unverified_header(token)["alg"] == "HS256"

    def test_expired_token(self) -> None:
        token = mint_token(AUTH, subject="a", role="admin", scope="*", ttl=timedelta(minutes=5), now=NOW)
        with pytest.raises(InvalidToken, match="expired"):
            read_token(AUTH, token)

    def test_wrong_secret(self) -> None:
        token = mint_token(AUTH, subject="a", role="admin", scope="*")
        with pytest.raises(InvalidToken, match="invalid"):
            read_token(AuthSettings(jwt_secret="another-secret-0123456789abcdef-xyz"), token)

    def test_wrong_audience(self) -> None:
        token = mint_token(
            AuthSettings(jwt_secret=AUTH.jwt_secret, jwt_audience="other-api"), subject="a", role="admin", scope="*"
        )
        with pytest.raises(InvalidToken, match="invalid"):
            read_token(AUTH, token)

    def test_wrong_issuer(self) -> None:
        token = mint_token(
            AuthSettings(jwt_secret=AUTH.jwt_secret, jwt_issuer="evil"), subject="a", role="admin", scope="*"
        )
        with pytest.raises(InvalidToken, match="invalid"):
            read_token(AUTH, token)

    @pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
    def test_garbage(self, token: str) -> None:
        with pytest.raises(InvalidToken):
            read_token(AUTH, token)

    @pytest.mark.parametrize(
        "claims",
        [
            {"sub": "a", "scope": "*"},  # no role
            {"sub": "a", "role": "root", "scope": "*"},  # unknown role
            {"sub": "a", "role": "admin"},  # no scope
        ],
    )
    def test_incomplete_or_wrong_claims(self, claims: dict[str, str]) -> None:
        full = {**claims, "iss": "pantau", "aud": "pantau-api", "exp": int(datetime.now(UTC).timestamp()) + 600}
        token = jwt.encode(full, AUTH.jwt_secret, algorithm="HS256")
        with pytest.raises(InvalidToken):
            read_token(AUTH, token)

    def test_unsigned_token_is_refused(self) -> None:
        claims = {"sub": "a", "role": "admin", "scope": "*", "iss": "pantau", "aud": "pantau-api", "exp": 2**40}
        with pytest.raises(InvalidToken):
            read_token(AUTH, jwt.encode(claims, None, algorithm="none"))

    @pytest.mark.parametrize(
        ("scope", "region", "covered"),
        [
            ("18.71", "18.71", True),
            ("18.71", "18.71.01", True),
            ("18.71", "18.71.01.1001", True),
            ("18.71", "18.710", False),
            ("18.71", "18.710.01", False),
            ("18.71", "18.7", False),
            ("18.71", "18", False),
            ("18.71", "18.72.01.1001", False),
            ("18", "18.71.01.1001", True),
            ("18", "180", False),
            ("18", "19.01", False),
        ],
    )
    def test_covers_region_by_prefix(self, scope: str, region: str, covered: bool) -> None:
        assert Principal(subject="SUP", role="supervisor", scope=scope).covers_region(region) is covered

    def test_admin_covers_everything(self) -> None:
        admin = Principal(subject="root", role="admin", scope="*")
        assert admin.covers_region("18.71.01.1001")
        assert admin.covers_region("94")

    def test_facilitator_scope_is_not_a_region(self) -> None:
        assert not Principal(subject="PDP-1", role="facilitator", scope="PDP-1").covers_region("18.71")


# ---------------------------------------------------------------- web.field_path


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (("body", "reports", 3, "attendance", 0, "member_ref"), "reports[3].attendance[0].member_ref"),
        (("body", "attendance", 0, "member_ref"), "attendance[0].member_ref"),
        (("body", "group_id"), "group_id"),
        (("query", "limit"), "limit"),
        (("path", "code"), "code"),
        (("header", "authorization"), "authorization"),
        (("body",), "(body)"),
        ((), "(body)"),
        (("body", 0, "report_id"), "[0].report_id"),
        (("body", "members", 2), "members[2]"),
        (("body", "schedule", "day_of_month"), "schedule.day_of_month"),
        # the member of a union that failed is the model's inside, not a field
        (("body", "members", 0, "str"), "members[0]"),
        (("body", "members", 0, "NikRef", "nik"), "members[0].nik"),
        (("body", "members", 0, "function-after[_one_identity(), NamedMember]"), "members[0]"),
        (("body", "attendance", 0, "member_ref", "chain[function-before[f(), str]]"), "attendance[0].member_ref"),
    ],
)
def test_field_path(location: tuple[str | int, ...], expected: str) -> None:
    assert field_path(location) == expected


# ---------------------------------------------------------------- pseudonym

NIK = "3201234567890123"
KEY = "unit-test-pseudonym-key"


class TestPseudonym:
    def test_deterministic_per_key(self) -> None:
        assert pseudonymise_nik(NIK, key=KEY) == pseudonymise_nik(NIK, key=KEY)

    def test_shape(self) -> None:
        assert re.fullmatch(r"kpm-[a-z2-7]{26}", pseudonymise_nik(NIK, key=KEY))

    def test_known_value(self) -> None:
        import base64
        import hashlib
        import hmac

        digest = hmac.new(KEY.encode(), NIK.encode(), hashlib.sha256).digest()
        assert pseudonymise_nik(NIK, key=KEY) == "kpm-" + base64.b32encode(digest).decode().lower()[:26]

    def test_differs_per_key_and_per_nik(self) -> None:
        assert pseudonymise_nik(NIK, key=KEY) != pseudonymise_nik(NIK, key=KEY + "-2")
        assert pseudonymise_nik(NIK, key=KEY) != pseudonymise_nik("3201234567890124", key=KEY)

    @pytest.mark.parametrize(
        "value",
        [
            "320123456789012",  # 15 digits
            "32012345678901234",  # 17 digits
            "3201-2345-6789-0123",
            "32012345678901a3",
            " 3201234567890123",
            "3201234567890123 ",
            "3201234567890123\n",
            "",
            "٣٢٠١٢٣٤٥٦٧٨٩٠١٢٣",  # Arabic-Indic digits
        ],
    )
    def test_rejects_anything_but_16_digits(self, value: str) -> None:
        with pytest.raises(ValueError, match="16 digits"):
            pseudonymise_nik(value, key=KEY)

    @settings(max_examples=200, deadline=None)
    @given(nik=st.from_regex(r"\A[0-9]{16}\Z"), key=st.text(min_size=1, max_size=40))
    def test_output_never_contains_the_nik(self, nik: str, key: str) -> None:
        ref = pseudonymise_nik(nik, key=key)
        assert nik not in ref
        assert not contains_nik_shaped_value(ref)
        assert re.fullmatch(r"kpm-[a-z2-7]{26}", ref)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (NIK, True),
            (f"NIK {NIK} hadir", True),
            (f"m-{NIK}", True),
            (f"a{NIK}b", True),
            ("320123456789012", False),  # 15 digits
            ("32012345678901234", False),  # 17 digits: not a NIK
            ("3201 2345 6789 0123", True),
            ("32.01.23.456789.0123", True),
            ("3201-2345-6789-0123", True),
            ("18.71.01.1001", False),  # a village code
            ("+62 812-3456-7890", False),  # a phone number
            ("2026-11-20T03:00:00+07:00", False),
            ("187101-550180-0002", True),
            ("1871 0155.0180-0002", False),  # one separator throughout, as people group it
            ("12345678-1234-4234-9234-123456789012", False),  # a UUID with all-digit groups
            ("hp-12345678-1234-4234-9234-1234abcdef12", False),
            ("1234-1234-1234-1234-abcd", True),
            ("m-1", False),
            ("", False),
            ("kpm-abcdefghijklmnopqrstuvwxyz", False),
        ],
    )
    def test_contains_nik_shaped_value(self, text: str, expected: bool) -> None:
        assert contains_nik_shaped_value(text) is expected
