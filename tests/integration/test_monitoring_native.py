"""The rules compiled with mypyc (`tools.native`, `services/monitoring/native.py`): used only when
the build is of these very sources, and deciding exactly what the sources decide.

Real parts: a real mypyc build with the machine's C compiler (about 20 s, kept in `.cache/native`
while the sources stay the same), run in a process of its own beside the sources over a generated
programme."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.monitoring import native
from tools import native as native_build
from tools.stack import REPO_ROOT

pytestmark = pytest.mark.integration

# Every decision of a generated programme (scale 0.0005, two months: ~200 groups) through
# `engine.step`, in receipt order, and each group's stored state at the end.
DRIVE = """
import gc, hashlib, json, sys, tempfile
from datetime import date
from pathlib import Path
from services.monitoring import native
if sys.argv[1] != "-":
    assert native.activate(Path(sys.argv[1])) is None
from services.monitoring import engine
from services.monitoring.programmes import load_programmes, programme_config
from services.monitoring.rules.state import GroupState
from services.monitoring.stored_state import encode_state
from shared import serde
from tools.bench.engine_profile import records_of
from tools.generator.programme import Shape

records, _ = records_of(Shape(scale=0.0005, seed=11, start=date(2026, 1, 1), months=2))
programmes = load_programmes()
states, decisions = {}, []
gc.collect()
gc.disable()  # what the fold leaves for the collector (the loop worker keeps it away from a fold)
for key, value in records:
    decoded = serde.decode(value, key=key)
    now = decoded.envelope.pantaureceivedat or decoded.envelope.time
    group_id = decoded.envelope.subject
    state = states.get(group_id) or GroupState()
    name = state.context.programme if state.context else getattr(decoded.event, "programme", "default")
    programme = programme_config(programmes, name)
    outcome = engine.step(state, decoded.event, now, programme, group_id=group_id, received_at=now)
    decisions += [f"{type(d).__name__} {d.deviation_id} {d.at}" for d in outcome.decisions]
    states[group_id] = outcome.state
cycles = gc.collect()
# Again as a replay reads them: the rule clock 200 records behind each receipt (a slower topic holds
# a partition's clock back), so progress is read ahead of it and kept beside the activities.
replayed, receipts, read_ahead = {}, [], 0
for index, (key, value) in enumerate(records):
    decoded = serde.decode(value, key=key)
    received = decoded.envelope.pantaureceivedat or decoded.envelope.time
    receipts.append(received)
    group_id = decoded.envelope.subject
    state = replayed.get(group_id) or GroupState()
    name = state.context.programme if state.context else getattr(decoded.event, "programme", "default")
    outcome = engine.step(
        state, decoded.event, receipts[max(0, index - 200)], programme_config(programmes, name),
        group_id=group_id, received_at=received, replay=True,
    )
    read_ahead += any(activity.superseded for activity in outcome.state.activities.values())
    replayed[group_id] = outcome.state
replay_cycles = gc.collect()
print(json.dumps({
    "compiled": native.is_compiled(),
    "cycles": cycles,
    "replay_cycles": replay_cycles,
    "read_ahead": read_ahead,
    "records": len(records),
    "decisions": decisions,
    "states": {g: hashlib.sha1(encode_state(s)).hexdigest() for g, s in sorted(states.items())},
}))
"""


def drive(build: Path | None) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", DRIVE, str(build) if build else "-"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def build() -> Path:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler: make setup installs one (build-essential)")
        pytest.skip("no C compiler")
    # In a process of its own: mypyc runs mypy and setuptools in-process, which this test process
    # has no business keeping (their caches, threads and settings).
    result = subprocess.run(
        [sys.executable, "-m", "tools.native", "build"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return native_build.DEFAULT_OUT


def test_the_compiled_rules_decide_exactly_what_the_sources_decide(build: Path) -> None:
    compiled, sources = drive(build), drive(None)
    assert compiled["compiled"] is True
    assert sources["compiled"] is False
    assert compiled["records"] == sources["records"]
    assert int(str(sources["records"])) > 1000
    assert sources["decisions"], "the programme should make the rules decide something"
    assert compiled["decisions"] == sources["decisions"]
    assert compiled["states"] == sources["states"]
    # Nothing of the fold is freed only by the collector (`shared/heap.BatchCollector.folding`
    # freezes what a fold made): a function nested in a compiled rule left a cycle at every call.
    assert (compiled["cycles"], sources["cycles"]) == (0, 0)
    # Nor of a replay's: an activity's progress windows held the activity itself, and every activity
    # replaced while progress was read ahead of the clock waited for a full collection.
    assert int(str(sources["read_ahead"])) > 0, "the replay should read progress ahead of its clock"
    assert (compiled["replay_cycles"], sources["replay_cycles"]) == (0, 0)


def test_a_build_of_other_sources_is_not_used(build: Path, tmp_path: Path) -> None:
    copy = tmp_path / "native"
    shutil.copytree(build, copy)
    stamp = json.loads((copy / native.STAMP).read_text())
    (copy / native.STAMP).write_text(json.dumps({**stamp, "sources": "0" * 64}))
    assert "other sources" in str(native.stale_because(copy))
    assert native.stale_because(build) is None
    assert "no build" in str(native.stale_because(tmp_path / "nothing-here"))


def test_the_sources_digest_follows_every_compiled_file(tmp_path: Path) -> None:
    for path in native.COMPILED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / path, tmp_path / path)
    assert native.sources_digest(tmp_path) == native.sources_digest()
    edited = tmp_path / native.COMPILED[0]
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert native.sources_digest(tmp_path) != native.sources_digest()


def test_not_activated_once_the_sources_are_imported(build: Path) -> None:
    import services.monitoring.engine  # noqa: F401  (this test process runs the sources)

    assert "already imported" in str(native.activate(build))
    assert not native.is_compiled()
