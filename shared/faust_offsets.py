"""Keeping Faust's offset bookkeeping true across rebalances.

Wired into both workers by `install_offset_guard(app, registry=registry)` in each `create_app`;
the agents call `overtaken` and `read_again` before storing a batch's state.

Faust commits a partition up to the first hole in the offsets its streams acknowledged. Two faults
run fault (`python -m tools.faults --case analytics-pair-kill`) showed that after a rebalance that
bookkeeping can stop matching what was read, and the partition then stops committing for good, with
no error logged (issue 14's "never processed partition 10"). Seen in the survivor of a pair, through
`/debug/partitions` (committed offset, acknowledged offsets):

- **a hole nobody will fill**: committed 234, acknowledged from 238 on. Records 234–237 were
  fetched in an earlier generation, their read position kept, and were never delivered in the new
  one (Faust moves the read position even when a delivery was cut short by a rebalance, and skips
  what it believes it has read), so nothing will ever acknowledge them: no commit ever again, and
  for monitoring those records' facts are never folded;
- **acknowledgements kept twice, or from a previous assignment**: after a takeover the survivor's
  list of acknowledged offsets held every offset twice and one below the committed offset (records
  acknowledged after their partition was revoked are kept: a revoked partition has no committed
  offset to compare with). Faust commits the first run of consecutive offsets, and a repeated offset
  ends the run, so it committed one offset per commit interval (2.8 s) instead of all of them: a
  catch-up of minutes where seconds were enough.

Two remedies, both within at-least-once (every record processed at least once; processing is
idempotent in every worker):

- `GuardedConsumer.ack` ignores acknowledgements of records delivered in an earlier generation:
  since then the partition was sought back to its committed offset, so the record comes again;
- `review` (pure) and `OffsetGuard` (its shell, a timer in each worker): acknowledgements below the
  committed offset are dropped, repeated ones kept once, and a hole that stays while nothing inside
  it is being processed sends the partition back to its committed offset, so the missing records
  are read again. Each rewind is logged and counted (`pantau_partition_rewinds_total`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from faust.types import TP, Message

from shared.faust_app import recovered
from shared.faust_start import RetryingConsumer

log = logging.getLogger(__name__)

# A hole must stay this long, with nothing inside it in a stream, before the partition is re-read.
PATIENCE_S = 10.0


class _ReadOffsets(defaultdict[Any, int | None]):
    """Faust's read position per partition (it skips records at or below it as already read), which
    a delivery overtaken by a seek may not move."""

    def __init__(self) -> None:
        super().__init__(lambda: None)
        self.refused: set[tuple[Any, int]] = set()

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if offset is not None and (tp, offset) in self.refused:
            self.refused.discard((tp, offset))
            return
        super().__setitem__(tp, offset)


class GuardedConsumer(RetryingConsumer):
    """Faust's aiokafka consumer with its read positions kept true across seeks (and, as every
    Pantau worker's consumer, one that waits for an unreachable broker at start-up:
    `shared.faust_start.RetryingConsumer`; a guarded consumer without it exited when a link reset
    met its bootstrap).

    Faust's fetch loop takes a batch of records, hands each to the streams and then moves the
    partition's read position to it. A rebalance seeks every partition back to its committed offset
    while such a batch may still be in hand (recovery resumes fetching before it seeks); the rest of
    the batch was then delivered and moved the read position past records that the seek was about to
    fetch again, and those were skipped as already read: a hole of a whole batch (90 records in one
    run) that nothing would ever process. Here the records of a partition sought since its batch
    was fetched are dropped and the partition sought back to the first of them (so they come again
    whether the fetch came before the seek or after it), and a delivery overtaken by a
    seek of its partition does not move the read position. Only partitions that really moved count:
    a partition never committed is sought to its beginning (aiokafka would leave it where it was,
    and records delivered before the rebalance would never come again). Acknowledgements of records
    that come again are refused (`comes_again`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epochs: defaultdict[TP, int] = defaultdict(int)  # seeks per partition so far
        self._delivering = 0  # the epoch, at fetch, of the partition whose record is being delivered
        self._read_offset: _ReadOffsets = _ReadOffsets()
        self._fetched_under: dict[TP, int] = {}  # each partition's epoch when the batch came in hand
        self._sought_to: dict[TP, int] = {}  # each partition's last seek target
        self._sought_again: set[TP] = set()  # partitions of the batch in hand sought back by `_read_again_from`
        self._deliver = self.callback  # Faust's: hands a record to the streams
        self.callback = self._guarded

    async def _guarded(self, message: Any) -> None:
        fetched_under = self._delivering
        if fetched_under != self._epochs[message.tp]:  # sought since `getmany` let it through
            await self._read_again_from(message.tp, message.offset)
            self._read_offset.refused.add((message.tp, message.offset))
            return
        await self._deliver(message)
        if fetched_under != self._epochs[message.tp]:  # a seek came while it was being handed over
            self._read_offset.refused.add((message.tp, message.offset))

    async def _wait_next_records(self, timeout: float) -> Any:  # noqa: ASYNC109 (Faust's signature)
        before = dict(self._epochs)
        records, active = await super()._wait_next_records(timeout)
        # Taken when the records are in hand: a later seek of their partition makes them stale.
        self._fetched_under = {tp: self._epochs[tp] for tp in records or ()}
        unsure = [tp for tp in self._fetched_under if self._fetched_under[tp] != before.get(tp, 0)]
        if unsure:
            # A seek came while these records were being fetched: whether they were fetched before
            # it (stale) or after it cannot be told. Drop them and read the partition again from
            # whichever is earlier, the seek's target or the first of them: nothing skipped either
            # way (a record read twice is processed idempotently).
            kept = dict(records or {})
            for tp in unsure:
                dropped = kept.pop(tp)
                if dropped:
                    first = dropped[0].offset
                    target = min(first, self._sought_to.get(tp, first))
                    log.info(
                        "%s[%d]: a seek came during a fetch; reading again from %d", tp.topic, tp.partition, target
                    )
                    await self.seek(tp, target)
            records = kept
        return records, active

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109 (Faust's signature)
        self._fetched_under = {}
        self._sought_again = set()
        async for tp, message in super().getmany(timeout):
            fetched_under = self._fetched_under.get(tp, self._epochs[tp])
            if self._epochs[tp] != fetched_under:
                # This partition was sought while the batch was in hand: its records are dropped.
                await self._read_again_from(tp, message.offset)
                continue
            self._delivering = fetched_under
            yield tp, message

    async def _read_again_from(self, tp: TP, offset: int) -> None:
        """A record at `offset` of `tp`, fetched before the partition's last seek was counted, is
        dropped: seek the partition back to it (or to that seek's target, if earlier) so it surely
        comes again, once per batch (the batch's later records of `tp` lie beyond it).

        Counting on the seek itself to bring such records back lost them for good. A rebalance's
        `seek_to_committed` asks the broker for each partition's committed offset in turn, moving
        each one's fetch position as it goes, and is counted only once all are done; meanwhile a
        fetch could bring a partition's records from its new position, to the end of the partition,
        and they looked stale once the seek was counted. The fetch position stood past them and
        nothing was acknowledged beyond them for `OffsetGuard` to notice a hole: the survivor of a
        pair on RocksDB, whose recovery is quick enough to overlap that seek with a fetch, stopped
        committing partitions it took over (read position behind the committed offset, aiokafka's
        fetch position at the end). Seeking back when the records were in fact fetched before the
        seek only reads them again, which is processed idempotently."""
        if tp in self._sought_again:
            return
        self._sought_again.add(tp)
        target = min(offset, self._sought_to.get(tp, offset))
        log.info(
            "%s[%d]: records in hand when the partition was sought; reading again from %d",
            tp.topic,
            tp.partition,
            target,
        )
        await self.seek(tp, target)

    async def perform_seek(self) -> None:
        """Faust's (every stream partition to its committed offset, as read positions and as the
        committed offsets Faust keeps), except that a committed offset Faust keeps never goes back.
        `seek_to_committed` asks the broker partition after partition (two seconds for sixty
        partitions on a busy broker) while the streams go on reading, processing and committing;
        Faust then stored the offsets the seek had read, older than the commits made meanwhile. A
        partition read to its end and committed in that window looked unread for good (nothing left
        to acknowledge, so never committed again): the monitoring clock counted it as lagging and its
        partition's at-risk and overdue deviations never opened after a restart (8 to 69 missing in
        3 of 19 restart runs inside the test suite). The commits are this worker's own
        (a revoked partition's entry is dropped), so the later of the two is the true one."""
        committed = await self.seek_to_committed()
        self._read_offset.update(
            {tp: offset if offset is not None and offset >= 0 else None for tp, offset in committed.items()}
        )
        kept = self._committed_offset
        for tp, offset in committed.items():
            if offset is None:
                continue
            key = TP(tp.topic, tp.partition)
            newer = kept.get(key)  # Faust's own commit since the seek read `offset`, if any
            kept[key] = max(offset, newer) if offset and newer is not None else (offset or newer)

    async def seek_to_committed(self) -> Any:
        """Every partition back to its committed offset, and (unlike aiokafka, which leaves a
        partition never committed where it is) one never committed back to its beginning, as a
        fresh assignment would read it. So after every rebalance each record delivered before it
        comes again, and a batch overtaken by it can be dropped whole without losing anything."""
        committed = await super().seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        streams = [tp for tp in committed if tp.topic not in changelogs]
        fresh = [tp for tp in streams if not committed[tp]]
        if fresh:
            await self._thread.seek_to_beginning(*fresh)  # Faust resets their read offsets itself
        for tp in streams:
            self._sought(tp, committed[tp] or 0)
        return committed

    def _sought(self, tp: TP, offset: int) -> None:
        """Bookkeeping of a seek of a stream partition: its epoch, its target, and the app's hook
        (`install_offset_guard(on_seek=…)`: the monitoring clock forgets what it had read beyond)."""
        self._epochs[tp] += 1
        self._sought_to[tp] = offset
        hook = getattr(self.app, "pantau_on_seek", None)
        if hook is not None:
            hook(tp)

    async def seek(self, partition: TP, offset: int) -> None:
        self._sought(partition, offset)
        await super().seek(partition, offset)

    async def _seek(self, partition: TP, offset: int) -> None:
        # Faust's own `_seek` calls aiokafka's `seek` straight from this (the app's) thread, while
        # the aiokafka consumer lives on the consumer thread's loop, whose futures are not
        # thread-safe. With it, a restarted worker once stopped fetching for good (every partition
        # read up to its committed offset, nothing more fetched for 90 s). `seek_wait` runs the seek
        # on the consumer's own loop.
        await self._thread.seek_wait({partition: offset})

    async def seek_to_beginning(self, *partitions: TP) -> None:
        for tp in partitions:
            self._sought(tp, 0)
            self._read_offset.pop(tp, None)
        await self._thread.seek_to_beginning(*partitions)

    def comes_again(self, message: Message) -> bool:
        """Whether a rebalance came since this record was delivered: its partition was (or, during
        recovery, is about to be) sought back, so the record is read again."""
        return bool(message.generation_id != self.app.consumer_generation_id)

    def ack(self, message: Message) -> bool:
        if self.comes_again(message):
            # Delivered before the last rebalance, and its partition was sought back to the
            # committed offset since: the record is read again and acknowledged then.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        return bool(super().ack(message))


def overtaken(app: Any, events: Iterable[Any]) -> set[int]:
    """The partition numbers of `events` that a rebalance since their delivery sent back to the
    committed offset (their tables rebuilt from the changelogs meanwhile): what was folded from them
    must not be stored, and they are read again. Partition numbers, not topic partitions: a group's
    events of every topic share one partition number and one state. Not `app.rebalancing`: after a
    restart Faust can leave that flag raised, and every batch would be read again forever."""
    consumer = app.consumer
    if not isinstance(consumer, GuardedConsumer):
        return set()
    return {event.message.partition for event in events if consumer.comes_again(event.message)}


async def read_again(app: Any, events: Iterable[Any]) -> None:
    """Leave these records unacknowledged for good, so their offsets are never committed, and make
    sure they are read again: those delivered before the last rebalance come again from its seek;
    for any delivered since (a batch that spans the rebalance), their partition is sought back to its
    committed offset here."""
    consumer = app.consumer
    unacked: set[Any] = getattr(consumer, "_unacked_messages", set())
    behind: set[TP] = set()
    for event in events:
        message = event.message
        message.acked = True  # Faust's own acknowledgement then does nothing
        unacked.discard(message)
        if isinstance(consumer, GuardedConsumer) and not consumer.comes_again(message):
            behind.add(message.tp)
    for tp in sorted(behind):
        committed = consumer._committed_offset.get(tp)
        log.info("%s[%d]: a batch spanned a rebalance; reading again from %s", tp.topic, tp.partition, committed or 0)
        if committed:
            await consumer.seek(tp, committed)
        else:
            await consumer.seek_to_beginning(tp)


@dataclass(frozen=True)
class Book:
    """What the consumer holds about one partition."""

    committed: int | None  # the next offset to commit from (Faust's `_committed_offset`)
    acked: tuple[int, ...]  # acknowledged offsets not committed yet, in any order
    in_flight: tuple[int, ...]  # offsets delivered to a stream and not acknowledged yet
    gaps: tuple[tuple[int, int], ...] = ()  # [begin, end) ranges with no record (Faust's `_gap`)


@dataclass(frozen=True)
class Verdict:
    stale: tuple[int, ...] = ()  # acknowledged offsets below the committed one: drop them
    repeated: bool = False  # an offset is in the list twice: keep one of each
    hole: tuple[int, int] | None = None  # [first, last] offsets nobody acknowledged or processes
    rewind: bool = False  # the hole outlasted the patience: re-read from the committed offset
    hole_since: float | None = None  # when the hole was first seen (carry it to the next review)


def review(book: Book, *, now: float, hole_since: float | None, patience: float = PATIENCE_S) -> Verdict:
    """Judge one partition. Faust commits up to the first gap after `committed` (it lets one offset
    go: the record at the committed position itself). A gap wider than that, with none of its
    offsets still in a stream, can only be closed by reading it again."""
    if book.committed is None or not book.acked:
        return Verdict()
    stale = tuple(sorted({offset for offset in book.acked if offset < book.committed}))
    repeated = len(set(book.acked)) != len(book.acked)
    live = [offset for offset in book.acked if offset >= book.committed]
    if not live:
        return Verdict(stale=stale, repeated=repeated)
    first = min(live)
    healthy = Verdict(stale=stale, repeated=repeated)
    if first - book.committed <= 1:
        return healthy
    hole = (book.committed, first - 1)
    if _covered(hole, book.gaps):
        return healthy  # offsets without records (markers, compaction): Faust skips them
    if any(hole[0] <= offset <= hole[1] for offset in book.in_flight):
        return healthy  # still being processed: not a hole yet
    since = hole_since if hole_since is not None else now
    return Verdict(stale=stale, repeated=repeated, hole=hole, rewind=now - since >= patience, hole_since=since)


@dataclass(frozen=True)
class Standstill:
    """A partition with records waiting and nothing of it moving: its committed offset, and since
    when it has stood there."""

    committed: int
    since: float


def review_standstill(
    committed: int | None,
    highwater: int | None,
    *,
    busy: bool,
    now: float,
    previous: Standstill | None,
    patience: float = PATIENCE_S,
) -> tuple[Standstill | None, bool]:
    """Whether a partition has stopped: records wait past its committed offset (the broker's
    `highwater` is beyond it), none of them is being processed or acknowledged (`busy`), and the
    committed offset has stood still for `patience`. Then re-reading from the committed offset is
    the only way on (nothing else will deliver those records again), and costs at most a re-read.

    Why: after a rebalance a survivor of a pair stopped committing four partitions with its read
    position behind the committed offset and the fetcher at the partitions' end (1 of 4 runs with
    5,000-record replay batches, 2026-12-03): a record path that drops records without seeking back,
    which the hole check cannot see since nothing past the committed offset was acknowledged. Returns
    what to remember for the next review and whether to re-read now."""
    if committed is None or highwater is None or highwater <= committed + 1 or busy:
        return None, False
    if previous is None or previous.committed != committed:
        return Standstill(committed, now), False
    if now - previous.since >= patience:
        return None, True
    return previous, False


def _covered(hole: tuple[int, int], gaps: Iterable[tuple[int, int]]) -> bool:
    """Every offset of the hole after its first lies in a gap (the first Faust lets go anyway)."""
    position = hole[0] + 1
    for begin, end in sorted(gaps):
        if begin <= position < end:
            position = end
    return position > hole[1]


class OffsetGuard:
    """Reviews every assigned partition of `consumer` (call `check` from a timer); drops stale
    acknowledgements and rewinds partitions with a lasting hole."""

    def __init__(
        self,
        app: Any,
        *,
        on_rewind: Callable[[TP], None] = lambda tp: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._on_rewind = on_rewind
        self._clock = clock
        self._holes: dict[TP, tuple[tuple[int, int], float]] = {}
        self._standstills: dict[TP, Standstill] = {}

    async def check(self) -> None:
        app = self._app
        if not recovered(app):
            self._holes.clear()  # a rebalance seeks every partition anyway
            self._standstills.clear()
            return
        await self._check_holes()
        await self._check_standstills()

    async def _check_standstills(self) -> None:
        """Re-read a partition that has records waiting and has not moved for the patience."""
        consumer = self._app.consumer
        now = self._clock()
        acks_enabled_for = self._app.topics.acks_enabled_for
        committed_by_tp: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})
        acked_by_tp: dict[TP, list[int]] = getattr(consumer, "_acked", {})
        in_flight = {message.tp for message in list(getattr(consumer, "_unacked_messages", ()))}
        paused = set(getattr(consumer, "_paused_partitions", ()))
        standstills: dict[TP, Standstill] = {}
        for tp in consumer.assignment():
            if not acks_enabled_for(tp.topic) or tp in paused:
                continue  # a table's changelog or standby (no stream reads it), or held on purpose
            committed = committed_by_tp.get(tp)
            busy = tp in in_flight or any(offset >= (committed or 0) for offset in acked_by_tp.get(tp) or ())
            standstill, reread = review_standstill(
                committed, _highwater(consumer, tp), busy=busy, now=now, previous=self._standstills.get(tp)
            )
            if standstill is not None:
                standstills[tp] = standstill
            if reread and committed is not None:
                log.warning(
                    "%s[%d]: records wait past the committed offset %d and none has moved for %.0f s; "
                    "reading the partition again from there",
                    tp.topic,
                    tp.partition,
                    committed,
                    PATIENCE_S,
                )
                await consumer.seek(tp, committed)
                self._on_rewind(tp)
        self._standstills = standstills

    async def _check_holes(self) -> None:
        app = self._app
        consumer = app.consumer
        now = self._clock()
        in_flight: dict[TP, list[int]] = {}
        for message in list(getattr(consumer, "_unacked_messages", ())):
            in_flight.setdefault(message.tp, []).append(message.offset)
        acked_by_tp: dict[TP, list[int]] = getattr(consumer, "_acked", {})
        committed_by_tp: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})
        gaps_by_tp: dict[TP, Any] = getattr(consumer, "_gap", {})
        seen: set[TP] = set()
        for tp in list(acked_by_tp):
            acked = acked_by_tp.get(tp) or []
            gaps = tuple((interval.begin, interval.end) for interval in gaps_by_tp.get(tp) or ())
            book = Book(committed_by_tp.get(tp), tuple(acked), tuple(in_flight.get(tp, ())), gaps)
            previous = self._holes.get(tp)
            verdict = review(book, now=now, hole_since=previous[1] if previous else None)
            if verdict.stale or verdict.repeated:
                log.info(
                    "%s[%d]: tidied the acknowledged offsets (%d below the committed offset %s, repeats: %s)",
                    tp.topic,
                    tp.partition,
                    len(verdict.stale),
                    book.committed,
                    verdict.repeated,
                )
                _tidy(consumer, tp, verdict.stale)
            if previous is not None and previous[0] != verdict.hole:
                verdict = review(book, now=now, hole_since=None)  # a different hole: start again
            hole, since = verdict.hole, verdict.hole_since
            if hole is None or since is None:
                continue
            seen.add(tp)
            self._holes[tp] = (hole, since)
            if verdict.rewind and tp in consumer.assignment():
                first, last = hole
                log.warning(
                    "%s[%d]: offsets %d-%d were never processed after a rebalance (acknowledged from %d on); "
                    "reading the partition again from %d",
                    tp.topic,
                    tp.partition,
                    first,
                    last,
                    last + 1,
                    first,
                )
                await consumer.seek(tp, first)
                self._on_rewind(tp)
                seen.discard(tp)
                self._holes.pop(tp, None)
        for tp in list(self._holes):
            if tp not in seen:
                self._holes.pop(tp, None)


def _highwater(consumer: Any, tp: TP) -> int | None:
    """The broker's end offset of `tp` as last fetched (None if not known yet or not assigned)."""
    try:
        highwater: int | None = consumer.highwater(tp)
    except Exception:  # aiokafka refuses a partition it no longer holds: nothing to judge
        return None
    return highwater


def _tidy(consumer: Any, tp: TP, stale: Iterable[int]) -> None:
    """Drop stale offsets and keep one of each repeated one, in the list and its index alike."""
    drop = set(stale)
    acked: list[int] = consumer._acked[tp]
    kept = sorted(set(acked) - drop)
    acked[:] = kept
    index: set[int] = consumer._acked_index[tp]
    index.clear()
    index.update(kept)


def install_offset_guard(
    app: Any, *, registry: Any, interval_s: float = 5.0, on_seek: Callable[[TP], None] | None = None
) -> OffsetGuard:
    """Give `app` the guarded consumer and a timer that reviews its partitions every `interval_s`;
    `on_seek(tp)` is called whenever a stream partition is sought (its records from there on will be
    read again). Call while building the app, before it starts (the consumer is created at start)."""
    app.pantau_on_seek = on_seek
    from prometheus_client import Counter

    app.transport.Consumer = GuardedConsumer
    rewinds = Counter(
        "pantau_partition_rewinds_total",
        "Partitions read again from their committed offset because records were skipped after a rebalance.",
        ["topic"],
        registry=registry,
    )
    guard = OffsetGuard(app, on_rewind=lambda tp: rewinds.labels(tp.topic).inc())

    @app.timer(interval=interval_s)
    async def review_offsets() -> None:
        await guard.check()

    return guard
