"""The fault suite's shared world: one generated load on the session's broker and the no-fault
baselines every case is compared with (computed once, on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.faults.cases import World


@pytest.fixture(scope="session")
def fault_world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(kafka_bootstrap, tmp_path_factory.mktemp("faults"))
    try:
        yield world
    finally:
        world.close()


def describe(result: object) -> str:
    """A failed case's figures, for the assertion message."""
    return repr(result)
