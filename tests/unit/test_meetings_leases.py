"""Lease keys and the worker-count setting of the meetings service (no database)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.meetings.leases import lease_key
from services.meetings.settings import MeetingsSettings

pytestmark = pytest.mark.unit


def test_lease_keys_are_stable_distinct_signed_bigints() -> None:
    names = ["outbox-relay", "meeting-scheduler", "migrations"]
    keys = [lease_key(name) for name in names]
    assert len(set(keys)) == len(names)
    assert all(-(2**63) <= key < 2**63 for key in keys)
    # Pinned: during a rolling update old and new processes must agree on the key, or both relays run.
    assert lease_key("outbox-relay") == -4585732961999558544


def test_several_workers_need_postgresql() -> None:
    assert MeetingsSettings(workers=4, database_url="postgresql+psycopg://u@h/meetings").workers == 4
    assert MeetingsSettings(workers=1, database_url="sqlite:///var/meetings.db").workers == 1
    with pytest.raises(ValidationError, match="workers > 1 needs a PostgreSQL"):
        MeetingsSettings(workers=2, database_url="sqlite:///var/meetings.db")
    with pytest.raises(ValidationError):
        MeetingsSettings(workers=0)
