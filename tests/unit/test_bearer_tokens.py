"""A verified bearer token is remembered until its own expiry, never past it."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared import web
from shared.auth import InvalidToken, Principal
from shared.settings import AuthSettings

pytestmark = pytest.mark.unit

EXPIRES = 1_000_000.0


def _request(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


async def test_a_token_is_verified_once_and_again_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verified: list[str] = []
    principal = Principal(subject="PDP-1", role="facilitator", scope="PDP-1")

    def verify(_: AuthSettings, token: str) -> tuple[Principal, float]:
        verified.append(token)
        if len(verified) > 1:
            raise InvalidToken("token expired")
        return principal, EXPIRES

    monkeypatch.setattr(web, "verify_token", verify)
    now = [EXPIRES - 10]
    dependency = web.bearer_principal(AuthSettings(), clock=lambda: now[0])
    assert await dependency(_request("t-1")) == principal
    assert await dependency(_request("t-1")) == principal
    assert verified == ["t-1"]  # remembered
    now[0] = EXPIRES  # the token's own expiry: verified again, and refused
    with pytest.raises(web.Problem) as refused:
        await dependency(_request("t-1"))
    assert refused.value.status == 401
    assert verified == ["t-1", "t-1"]
