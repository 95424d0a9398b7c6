"""Schemathesis over every service's OpenAPI document, as an admin, a facilitator and a supervisor,
against the real stack on a real broker: no server error, and every answer matches its own
document (status, content type, body); afterwards no 16-digit number is on any topic, in any table
or in any log. A fixed seed and a fixed number of cases per operation keep it repeatable and short;
`make fuzz` runs the same with more cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.privacy_support import sixteen_digit_numbers
from tools.fuzz import fuzz_stack
from tools.stack import Stack

pytestmark = pytest.mark.e2e

SEED = 20261202
MAX_EXAMPLES = 10


@pytest.fixture
def stack(kafka_bootstrap: str, kafka_topics: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(bootstrap_servers=kafka_bootstrap, workdir=tmp_path / "stack", topic_prefix=kafka_topics)
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()


def test_every_api_survives_fuzzing_and_tells_the_truth(
    stack: Stack, tmp_path: Path, kafka_bootstrap: str, kafka_topics: str
) -> None:
    urls = {name: stack.url(name) for name in ("meetings", "analytics", "monitoring", "notifications")}
    runs = fuzz_stack(urls, seed=SEED, max_examples=MAX_EXAMPLES, report_dir=tmp_path / "reports", quick=True)
    failed = [f"{run.service} as {run.role}:\n{run.output[-3000:]}" for run in runs if not run.passed]
    assert not failed, "\n\n".join(failed)
    assert all(run.cases > 0 for run in runs), [(run.service, run.role, run.cases) for run in runs]
    # Whatever the fuzzer sent, no 16-digit number it made up is on a topic, in a table or in a log.
    assert sixteen_digit_numbers(stack.workdir, bootstrap=kafka_bootstrap, prefix=kafka_topics) == []
