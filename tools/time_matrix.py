"""Run test suites at the instants where calendars bite, under libfaketime.

    make test-time                          (or: uv run python -m tools.time_matrix)
    uv run python -m tools.time_matrix --list
    uv run python -m tools.time_matrix --instant leap-day --suite unit

A test that reads the wall clock passes on some days and fails on others. This command runs the
suites with the whole process tree (pytest, the services it starts, the broker) believing it is:

- ``month-start``: 00:30 WIB on the 1st of next month (UTC is still in the old month);
- ``due-time``: 23:59 WIB on the next 10th, the programmes' usual due time;
- ``year-end-wit``: 23:30 WIT on the next 31 December (WIT is already in the new year at 15:00 UTC);
- ``leap-day``: 12:00 UTC on the next 29 February;

and ``today``, the real date. The instants lie ahead of the real date, so records the broker
keeps are never older than its retention.

Why not Debian's ``faketime``: bookworm's libfaketime 0.9.10 makes Python 3.11's ``time.sleep`` fail
with EINVAL (it rewrites ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``) and hangs
``threading.Event.wait`` when the monotonic clock is faked. The ``libfaketime`` wheel on PyPI (a dev
dependency) ships a newer build of the same library, which we preload with the monotonic clock left
real (timeouts and back-offs keep working; only the calendar moves).
"""

from __future__ import annotations

import argparse
import calendar
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
WIB = ZoneInfo("Asia/Jakarta")
WIT = ZoneInfo("Asia/Jayapura")
SUITES = {"unit": "tests/unit", "contract": "tests/contract", "integration": "tests/integration", "e2e": "tests/e2e"}
DEFAULT_SUITES = ("unit", "integration")
# How far the faked clock may be from the instant when the probe reads it: start-up takes seconds.
PROBE_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class Instant:
    """A named moment to run the suites at; ``at`` is None for the real date."""

    name: str
    description: str
    at: datetime | None


def _next_local(now: datetime, zone: ZoneInfo, candidates: list[datetime]) -> datetime:
    """The first candidate (local wall times in `zone`) strictly after `now`, as UTC."""
    for candidate in candidates:
        instant = candidate.replace(tzinfo=zone).astimezone(UTC)
        if instant > now:
            return instant
    raise ValueError("no candidate after now")  # pragma: no cover - callers pass enough candidates


def instants(now: datetime) -> list[Instant]:
    """The matrix's instants for a real `now` (aware). Pure: the unit tests pin it."""
    now = now.astimezone(UTC)
    local = now.astimezone(WIB)
    months = [(local.year + (local.month - 1 + step) // 12, (local.month - 1 + step) % 12 + 1) for step in range(3)]
    month_start = _next_local(now, WIB, [datetime(year, month, 1, 0, 30) for year, month in months])
    due_time = _next_local(now, WIB, [datetime(year, month, 10, 23, 59) for year, month in months])
    year_end = _next_local(now, WIT, [datetime(local.year + step, 12, 31, 23, 30) for step in range(2)])
    leap_year = next(year for year in range(now.year, now.year + 9) if calendar.isleap(year))
    leap_day = datetime(leap_year, 2, 29, 12, 0, tzinfo=UTC)
    if leap_day <= now:
        leap_year = next(year for year in range(leap_year + 1, leap_year + 9) if calendar.isleap(year))
        leap_day = datetime(leap_year, 2, 29, 12, 0, tzinfo=UTC)
    return [
        Instant("month-start", "the 1st of a month, 00:30 WIB", month_start),
        Instant("due-time", "the 10th, 23:59 WIB (a due time)", due_time),
        Instant("year-end-wit", "31 December, 23:30 WIT", year_end),
        Instant("leap-day", "29 February, 12:00 UTC", leap_day),
        Instant("today", "the real date", None),
    ]


def libfaketime_path() -> Path:
    """The preload library shipped in the `libfaketime` wheel (see the module docstring)."""
    import libfaketime

    path = Path(libfaketime.__file__).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    if not path.exists():
        raise SystemExit(f"time_matrix: {path} is missing; run `make setup` (the libfaketime dev dependency)")
    return path


def faked_environment(at: datetime, base: dict[str, str], *, now: datetime) -> dict[str, str]:
    """Environment that moves the process tree's calendar by `at - now` (then it runs at normal speed).

    An offset, not a start instant: every process started with "@<instant>" would begin at that
    instant whenever it starts, so a service launched ten minutes into the run would live ten minutes
    behind the test that talks to it (and refuse its tokens as issued in the future)."""
    env = dict(base)
    preload = str(libfaketime_path())
    env["LD_PRELOAD"] = f"{preload} {env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else preload
    env["FAKETIME"] = f"{round((at - now).total_seconds()):+d}"
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"  # timeouts and back-offs stay real
    env["FAKETIME_NO_CACHE"] = "1"
    env["TZ"] = "UTC"  # nothing may depend on the machine's zone; the matrix pins it
    return env


def without_faketime(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without libfaketime, for the few programs that run on the real calendar inside a faked
    run: the broker's JVM and librdkafka's kcat hang under the preload, and neither needs a calendar
    of its own (record timestamps come from the clients)."""
    clean = {name: value for name, value in env.items() if not name.startswith("FAKETIME")}
    preload = [lib for lib in clean.pop("LD_PRELOAD", "").split() if "faketime" not in lib]
    if preload:
        clean["LD_PRELOAD"] = " ".join(preload)
    return clean


def probe(env: dict[str, str]) -> datetime:
    """What `datetime.now` says in a process started with `env` (proves the preload took effect)."""
    out = subprocess.run(
        [sys.executable, "-c", "from datetime import UTC, datetime; print(datetime.now(UTC).isoformat())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return datetime.fromisoformat(out.stdout.strip())


@dataclass
class Outcome:
    instant: Instant
    seen_at: datetime
    exit_code: int
    seconds: float
    summary: str


def _last_summary(output: str) -> str:
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_at(instant: Instant, suites: list[str], pytest_args: list[str]) -> Outcome:
    env = (
        dict(os.environ)
        if instant.at is None
        else faked_environment(instant.at, dict(os.environ), now=datetime.now(UTC))
    )
    seen = probe(env)
    if instant.at is not None and abs(seen - instant.at) > PROBE_TOLERANCE:
        raise SystemExit(f"time_matrix: the clock reads {seen.isoformat()} instead of {instant.at.isoformat()}")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[SUITES[s] for s in suites]]
    command += pytest_args
    started = time.monotonic()
    # Output streams through so a long run shows its progress; the tail gives the summary line.
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        sys.stdout.write(f"  [{instant.name}] {line}")
        tail = [*tail[-20:], line]
    code = process.wait()
    return Outcome(instant, seen, code, time.monotonic() - started, _last_summary("".join(tail)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.time_matrix",
        description="Run test suites at month starts, due times, the year's end in WIT and a leap day, "
        "under libfaketime, and at the real date.",
        epilog="Arguments after `--` go to pytest, e.g. `-- -x -k scheduling`.",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        help=f"suites to run (repeatable; default {' and '.join(DEFAULT_SUITES)})",
    )
    parser.add_argument("--instant", action="append", help="only these instants (repeatable; see --list)")
    parser.add_argument("--list", action="store_true", help="print the instants and exit")
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [arg for arg in pytest_args if arg != "--"]

    matrix = instants(datetime.now(UTC))
    if args.list:
        for instant in matrix:
            when = instant.at.isoformat() if instant.at else "now"
            print(f"{instant.name:13} {instant.description:34} {when}")
        return 0
    if args.instant:
        unknown = set(args.instant) - {instant.name for instant in matrix}
        if unknown:
            parser.error(f"unknown instant(s) {', '.join(sorted(unknown))}; see --list")
        matrix = [instant for instant in matrix if instant.name in args.instant]
    suites = args.suite or list(DEFAULT_SUITES)

    outcomes = []
    for number, instant in enumerate(matrix, 1):
        when = instant.at.isoformat() if instant.at else "the real date"
        print(f"==> [{number}/{len(matrix)}] {' + '.join(suites)} at {instant.description} ({when})", flush=True)
        outcomes.append(run_at(instant, suites, pytest_args))

    print("\ninstant        clock read at start              exit  seconds  pytest")
    for outcome in outcomes:
        print(
            f"{outcome.instant.name:13}  {outcome.seen_at.isoformat(timespec='seconds'):31}  "
            f"{outcome.exit_code:4}  {outcome.seconds:7.0f}  {outcome.summary}"
        )
    failed = [outcome.instant.name for outcome in outcomes if outcome.exit_code != 0]
    if failed:
        print(f"time_matrix: failed at {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
