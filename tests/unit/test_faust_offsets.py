"""The offset guard's judgement (`shared.faust_offsets.review`): when Faust's bookkeeping of a
partition can no longer commit by itself, and only then."""

from __future__ import annotations

from shared.faust_offsets import Book, review


def test_nothing_to_judge_without_a_committed_offset_or_acknowledgements() -> None:
    assert review(Book(None, (5, 6), ()), now=0, hole_since=None).hole is None
    assert review(Book(10, (), ()), now=0, hole_since=None).hole is None


def test_a_contiguous_run_from_the_committed_offset_is_healthy() -> None:
    verdict = review(Book(10, (12, 10, 11), ()), now=0, hole_since=None)
    assert verdict.hole is None
    assert verdict.stale == ()
    assert not verdict.rewind


def test_the_record_at_the_committed_offset_itself_may_be_missing() -> None:
    # Faust lets one offset go (the committed position), so this commits by itself.
    assert review(Book(10, (11, 12), ()), now=0, hole_since=None).hole is None


def test_acknowledgements_below_the_committed_offset_are_stale() -> None:
    verdict = review(Book(209, (208, 209, 210), ()), now=0, hole_since=None)
    assert verdict.stale == (208,)
    assert verdict.hole is None


def test_only_stale_acknowledgements_left() -> None:
    verdict = review(Book(300, (207, 208), ()), now=0, hole_since=None)
    assert verdict.stale == (207, 208)
    assert verdict.hole is None


def test_a_hole_is_noticed_then_rewound_once_it_outlasts_the_patience() -> None:
    book = Book(234, (238, 239, 240), ())
    first = review(book, now=100.0, hole_since=None, patience=10)
    assert first.hole == (234, 237)
    assert first.hole_since == 100.0
    assert not first.rewind
    later = review(book, now=109.9, hole_since=first.hole_since, patience=10)
    assert not later.rewind
    assert review(book, now=110.0, hole_since=first.hole_since, patience=10).rewind


def test_a_hole_still_in_a_stream_is_not_a_hole() -> None:
    # Offset 236 was delivered and is being processed (a take buffer): wait for it.
    verdict = review(Book(234, (238,), (236,)), now=100, hole_since=50, patience=10)
    assert verdict.hole is None
    assert not verdict.rewind


def test_in_flight_records_outside_the_hole_do_not_hide_it() -> None:
    verdict = review(Book(234, (238,), (239, 240)), now=100, hole_since=50, patience=10)
    assert verdict.hole == (234, 237)
    assert verdict.rewind


def test_offsets_without_records_are_not_a_hole() -> None:
    # 235-237 are transaction markers or compacted away: Faust merges them in at the next commit.
    assert review(Book(234, (238,), (), gaps=((235, 238),)), now=100, hole_since=50).hole is None
    # A gap covering only part of the hole leaves the rest a hole.
    assert review(Book(234, (238,), (), gaps=((236, 238),)), now=100, hole_since=50).hole == (234, 237)
    # Two gaps that together cover it.
    assert review(Book(234, (240,), (), gaps=((237, 240), (235, 237))), now=0, hole_since=None).hole is None


def test_stale_acknowledgements_and_a_hole_together() -> None:
    verdict = review(Book(234, (230, 231, 238), ()), now=0, hole_since=None)
    assert verdict.stale == (230, 231)
    assert verdict.hole == (234, 237)


def test_offsets_acknowledged_twice_are_kept_once() -> None:
    # Faust commits the first run of consecutive offsets; a repeat ends the run after one offset.
    verdict = review(Book(148, (147, 148, 148, 149, 149, 150), ()), now=0, hole_since=None)
    assert verdict.repeated
    assert verdict.stale == (147,)
    assert verdict.hole is None
    assert not review(Book(148, (148, 149), ()), now=0, hole_since=None).repeated
