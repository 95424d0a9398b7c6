"""Enrolment codes: one facilitator, an expiry read against the service's clock, never a bearer token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.meetings.field_app.enrolment import (
    InvalidEnrolment,
    device_token,
    mint_enrolment_code,
    read_enrolment_code,
)
from shared.auth import InvalidToken, read_token
from shared.settings import AuthSettings

pytestmark = pytest.mark.unit

AUTH = AuthSettings()
NOW = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
LONG = timedelta(days=3650)


def test_a_code_names_its_facilitator_until_it_expires() -> None:
    code = mint_enrolment_code(AUTH, facilitator_id="PDP-1", now=NOW, ttl=timedelta(hours=1))
    assert read_enrolment_code(AUTH, code, now=NOW) == "PDP-1"
    assert read_enrolment_code(AUTH, code, now=NOW + timedelta(minutes=59, seconds=59)) == "PDP-1"
    with pytest.raises(InvalidEnrolment, match="expired"):
        read_enrolment_code(AUTH, code, now=NOW + timedelta(hours=1))


def test_a_code_from_another_key_or_a_bearer_token_is_refused() -> None:
    other = AuthSettings(jwt_secret="another-secret-of-enough-length")
    foreign = mint_enrolment_code(other, facilitator_id="PDP-1", now=NOW, ttl=timedelta(hours=1))
    with pytest.raises(InvalidEnrolment):
        read_enrolment_code(AUTH, foreign, now=NOW)
    bearer = device_token(AUTH, facilitator_id="PDP-1", now=NOW, ttl=timedelta(days=1))
    with pytest.raises(InvalidEnrolment):
        read_enrolment_code(AUTH, bearer, now=NOW)
    with pytest.raises(InvalidEnrolment):
        read_enrolment_code(AUTH, "not-a-code", now=NOW)


def test_a_code_is_not_a_bearer_token_and_the_device_token_is_the_facilitators() -> None:
    # Ten years, so the library's own expiry check (wall clock) cannot be what refuses it.
    code = mint_enrolment_code(AUTH, facilitator_id="PDP-1", now=NOW, ttl=LONG)
    with pytest.raises(InvalidToken):
        read_token(AUTH, code)
    principal = read_token(AUTH, device_token(AUTH, facilitator_id="PDP-1", now=NOW, ttl=LONG))
    assert (principal.subject, principal.role, principal.scope) == ("PDP-1", "facilitator", "PDP-1")
