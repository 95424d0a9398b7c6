"""Leases: which one of several meetings processes sharing a database runs a background job.

The outbox relay and the meeting scheduler must each run in exactly one process at a time: two
relays would publish the same rows twice and could interleave a group's events out of order; two
schedulers would race to stage the same `meeting_scheduled`. On PostgreSQL a lease is a session
advisory lock held on a connection of its own: it is released the moment its process dies (even by
`kill -9`, as the server closes the session), so a standby process takes over on its next try with
nothing to clean up. SQLite is one process by construction (the settings refuse more workers), so
there the lease is always held.
"""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# Advisory lock keys are one bigint namespace per database; ours are "pantau" in the high half.
_KEY_SPACE = zlib.crc32(b"pantau-meetings") << 32


def lease_key(name: str) -> int:
    """The advisory lock key of a lease name: stable across processes and releases."""
    key = _KEY_SPACE | zlib.crc32(name.encode())
    return key - (1 << 64) if key >= 1 << 63 else key  # PostgreSQL bigint is signed


class Lease:
    """An exclusive, crash-released right to run one job (``held()`` before each round)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.name = name
        self._engine = engine
        self._key = lease_key(name)
        self._shared = engine.dialect.name != "postgresql"
        self._connection: Connection | None = None

    def held(self) -> bool:
        """Whether this process holds the lease now, taking it if it is free. Never raises: a
        database it cannot reach means "not held"."""
        if self._shared:
            return True
        try:
            if self._connection is None:
                connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                if not connection.execute(select(func.pg_try_advisory_lock(self._key))).scalar_one():
                    connection.close()
                    return False
                self._connection = connection
                log.info("took the %s lease", self.name)
                return True
            # Still ours only while our session lives (a database restart ends it and frees the lock).
            self._connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            log.warning("lost the %s lease (database unreachable)", self.name, exc_info=True)
            self.release()
            return False

    def release(self) -> None:
        """Give the lease up (closing the session frees the lock)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()  # never back into the pool with a lock still attached
                connection.close()
            except SQLAlchemyError:
                log.debug("closing the %s lease connection failed", self.name, exc_info=True)
