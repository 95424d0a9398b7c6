"""Envelope ids (`serde.new_event_id`): random version-4 UUIDs, never repeated, not even across a fork."""

from __future__ import annotations

import os
from uuid import UUID

from shared import serde


def test_ids_are_version_4_uuids_in_their_text_form() -> None:
    for _ in range(600):  # more than one block
        text = serde.new_event_id()
        value = UUID(text)
        assert value.version == 4
        assert value.variant == "specified in RFC 4122"
        assert str(value) == text


def test_ids_do_not_repeat() -> None:
    ids = [serde.new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_hand_out_its_parents_ids() -> None:
    serde.new_event_id()  # the parent now holds spare ids
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's exit is its report)
        try:
            os.write(writer, "\n".join(serde.new_event_id() for _ in range(10)).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as stream:
        from_child = set(stream.read().split("\n"))
    os.waitpid(child, 0)
    from_parent = {serde.new_event_id() for _ in range(10)}
    assert len(from_child) == 10
    assert not from_child & from_parent
