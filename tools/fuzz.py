"""Fuzz every service's OpenAPI with schemathesis, as an admin, a facilitator and a supervisor.

    uv run python -m tools.fuzz                    # `make fuzz`: a broker, the stack, 200 cases per operation
    uv run python -m tools.fuzz --max-examples 10  # the size `make test` runs (tests/e2e/test_fuzz_openapi.py)

Each run asks for no server error, and for every answer to match its own OpenAPI document: status
code, content type and body schema. The seed is fixed (`--seed`), so a run is repeatable; the
number of cases, not a clock, bounds it. Reports (JUnit) go under the work directory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from shared.auth import Role, mint_token
from shared.settings import AuthSettings
from tools.kafka_broker import LocalKafkaBroker, ensure_jars
from tools.stack import REPO_ROOT, Stack
from tools.topics import create_topics

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Who fuzzes which service: analytics and notifications answer supervisors and admins; monitoring has
# no API to authorise.
ROLES: dict[str, tuple[Role, str, str]] = {
    "admin": ("admin", "admin-fuzz", "*"),
    "facilitator": ("facilitator", "PDP-FUZZ", "PDP-FUZZ"),
    "supervisor": ("supervisor", "SUP-FUZZ", "18.71"),
}
PLAN = {
    "meetings": ("admin", "facilitator", "supervisor"),
    "analytics": ("admin", "supervisor", "facilitator"),
    "monitoring": ("admin",),
    "notifications": ("admin", "supervisor", "facilitator"),
}
# Operations left out, with why: the live feed is an endless server-sent stream, which a fuzzer can
# only time out on (tests/e2e/test_console.py sees an alert arrive through it in a browser).
EXCLUDED: dict[str, tuple[str, ...]] = {
    "notifications": ("--exclude-path", "/api/v1/alerts/stream"),
}


@dataclass(frozen=True)
class FuzzRun:
    """One schemathesis run: a service's document under one role."""

    service: str
    role: str
    passed: bool
    cases: int
    seconds: float
    output: str


def fuzz_service(
    base_url: str,
    *,
    service: str,
    role: str,
    seed: int,
    max_examples: int,
    report_dir: Path,
    phases: str = "examples,coverage,fuzzing",
) -> FuzzRun:
    """Run schemathesis once against `base_url/openapi.json` with `role`'s token."""
    kind, subject, scope = ROLES[role]
    token = mint_token(AuthSettings(), subject=subject, role=kind, scope=scope)
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str(report_dir / f"{service}-{role}.xml"),
        *EXCLUDED.get(service, ()),
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=report_dir, check=False)
    output = done.stdout + done.stderr
    return FuzzRun(
        service=service,
        role=role,
        passed=done.returncode == 0,
        cases=_cases(output),
        seconds=time.monotonic() - started,
        output=output,
    )


def _cases(output: str) -> int:
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == "generated,":
            return int(words[0])
    return 0


def fuzz_stack(
    urls: dict[str, str],
    *,
    seed: int,
    max_examples: int,
    report_dir: Path,
    services: tuple[str, ...] = tuple(PLAN),
    quick: bool = False,
) -> list[FuzzRun]:
    """Every service in `services` under each of its roles, one after another (the machine is shared).

    `quick` (the test command's size) runs the coverage phase — every boundary and refusal of each
    field, the slow part — as the first role only; the other roles get examples and random cases."""
    return [
        fuzz_service(
            urls[service],
            service=service,
            role=role,
            seed=seed,
            max_examples=max_examples,
            report_dir=report_dir,
            phases="examples,fuzzing" if quick and index > 0 else "examples,coverage,fuzzing",
        )
        for service in services
        for index, role in enumerate(PLAN[service])
    ]


def report(runs: list[FuzzRun], *, seed: int, max_examples: int) -> str:
    """The figures of a run as Markdown (`docs/fuzz.md`)."""
    lines = [
        "# Fuzzing every API",
        "",
        "Written by `uv run python -m tools.fuzz` (`make fuzz`): schemathesis over each service's OpenAPI",
        "document on a fresh stack and broker, as each role, phases examples, coverage and fuzzing, checks",
        f"`{CHECKS}`; seed {seed}, at most {max_examples} cases per operation and phase.",
        "",
        "| service | as | cases | seconds | result |",
        "|---|---|---:|---:|---|",
    ]
    lines += [
        f"| {run.service} | {run.role} | {run.cases} | {run.seconds:.0f} | {'no failure' if run.passed else 'FAILED'} |"
        for run in runs
    ]
    total = sum(run.cases for run in runs)
    failed = sum(1 for run in runs if not run.passed)
    lines += ["", f"{total} cases, {failed} failed runs.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=200, help="cases per operation and phase (200)")
    parser.add_argument("--seed", type=int, default=20261202, help="schemathesis/Hypothesis seed")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "var" / "fuzz")
    parser.add_argument("--service", action="append", choices=tuple(PLAN), help="only these services")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "fuzz.md", help="where the figures go")
    args = parser.parse_args(argv)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    broker = LocalKafkaBroker(args.workdir / "kafka", libs_dir=ensure_jars())
    stack: Stack | None = None
    try:
        broker.start()
        create_topics(broker.bootstrap_servers)
        stack = Stack(bootstrap_servers=broker.bootstrap_servers, workdir=args.workdir / "stack")
        stack.start(timeout=180)
        runs = fuzz_stack(
            {name: stack.url(name) for name in PLAN},
            seed=args.seed,
            max_examples=args.max_examples,
            report_dir=args.workdir / "reports",
            services=tuple(args.service or PLAN),
        )
    finally:
        if stack is not None:
            stack.stop()
        broker.stop()
    args.out.write_text(report(runs, seed=args.seed, max_examples=args.max_examples))
    for run in runs:
        mark = "ok  " if run.passed else "FAIL"
        print(f"{mark} {run.service:<13} as {run.role:<11} {run.cases:>6} cases in {run.seconds:5.1f} s")
        if not run.passed:
            print(run.output[-4000:])
    return 0 if all(run.passed for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
