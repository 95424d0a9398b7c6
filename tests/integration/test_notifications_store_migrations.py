"""The notifications store's schema on real SQLite: a new store is made by the Alembic revisions; a
store made before Alembic (its own numbered steps, down to the first version) is brought up in
place, keeps its rows and is stamped, so both end with the tables the code expects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from services.notifications import legacy_schema, store

pytestmark = pytest.mark.integration


def _columns(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        return {
            name: {column["name"] for column in inspector.get_columns(name)} for name in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def _expected() -> dict[str, set[str]]:
    return {name: {column.name for column in table.columns} for name, table in store.metadata.tables.items()}


def test_a_new_store_is_made_by_the_alembic_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = store.build_engine(url)
    assert store.migrate(engine) == "0002"  # again: nothing to do
    engine.dispose()
    found = _columns(url)
    assert "schema_version" not in found
    for name, columns in _expected().items():
        assert found[name] == columns, name


def test_a_store_from_the_first_version_is_upgraded_in_place_and_stamped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as connection:
        legacy_schema.schema_version.create(connection)
        legacy_schema.MIGRATIONS[0][1](connection)  # the first version's tables only
        connection.execute(legacy_schema.schema_version.insert().values(version=1, applied_at="2026-01-01"))
        connection.execute(
            text(
                "INSERT INTO alerts (alert_id, deviation_id, supervisor_id, group_id, rule, severity,"
                " escalation_level, status, payload, detected_at, created_at)"
                " VALUES ('alert-1', 'dev-1', 'SUP-1871', 'KLP-1', 'meeting.overdue', 'warning', 'kabupaten',"
                " 'open', '{}', '2026-11-10 02:00:00.000000', '2026-11-10 02:00:00.000000')"
            )
        )
    old.dispose()
    assert "escalate_at" not in _columns(url)["alerts"]

    engine = store.build_engine(url)
    with engine.connect() as connection:
        row = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == "alert-1")).mappings().one()
        assert row["detected_at"] == datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # read back with its offset
        versions = set(connection.execute(select(legacy_schema.schema_version.c.version)).scalars())
        assert versions == {1, 2, 3, 4, 5, 6}
    assert store.migrate(engine) == "0002"
    engine.dispose()
    found = _columns(url)
    for name, columns in _expected().items():
        assert found[name] == columns, name
