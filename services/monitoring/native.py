"""The monitoring's functional core compiled to C with mypyc, used when asked for and current.

The rules, the engine, the stored state, the rule clock and the fold around them (`COMPILED`) are
plain typed Python; `python -m tools.native build` compiles them with mypyc into a directory of
their own (never beside the sources, where a stale build would shadow an edited rule), with a stamp
of the sources it was built from. A worker started with `PANTAU_MONITORING_NATIVE=<that directory>`
puts those modules ahead of the sources (`activate`) when the stamp matches the sources and this
Python, and otherwise says why and runs the sources: the same decisions either way
(`tests/integration/test_monitoring_native.py`), about a third faster
(`docs/profile-monitoring.md`).

The state's classes are compiled classes too (`rules/state.py`): a compiled class reads a field
from a fixed place where a Python class looks it up in a dictionary. What the rules keep beside a
state (`activities.PlanTimes`, `overdue.MeetingTimes`, progress windows, stored bytes) has declared
fields of its own, and the classes built at every record write their `__init__` out (compiled, a
frozen dataclass's generated one is Python code): `engine.step` 35 → 27 µs a record compiled.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import services.monitoring

PACKAGE = Path(services.monitoring.__file__).resolve().parent
# Modules compiled, relative to the repository; packages' `__init__` stay Python (their paths are
# what `activate` extends).
RULES = sorted(path.name for path in (PACKAGE / "rules").glob("*.py") if path.name != "__init__.py")
COMPILED = (
    *(f"services/monitoring/rules/{name}" for name in RULES),
    "services/monitoring/engine.py",
    "services/monitoring/stored_state.py",
    # The loop around each record and the rule clock it asks at each one: compiled, the loop calls
    # the compiled `engine.step` and the clock directly.
    "services/monitoring/clock.py",
    "services/monitoring/folding.py",
)
STAMP = "stamp.json"
# Where `make setup` (`python -m tools.native build`) puts the build, and where a worker looks by
# default (`PANTAU_MONITORING_NATIVE`; the image sets its own).
DEFAULT_BUILD = PACKAGE.parent.parent / ".cache" / "native"


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def sources_digest(root: Path | None = None) -> str:
    """What a build is of: the compiled sources' bytes, their names and this Python's ABI tag."""
    root = root or PACKAGE.parent.parent
    digest = hashlib.sha256(sys.implementation.cache_tag.encode())
    for path in COMPILED:
        digest.update(path.encode())
        digest.update((root / path).read_bytes())
    return digest.hexdigest()


def stale_because(directory: Path) -> str | None:
    """Why the build in `directory` cannot stand in for the sources, or None when it can."""
    stamp_path = directory / STAMP
    if not stamp_path.is_file():
        return f"no build in {directory} (python -m tools.native build)"
    stamp = json.loads(stamp_path.read_text())
    if stamp.get("sources") != sources_digest():
        return f"the build in {directory} is of other sources or another Python (python -m tools.native build)"
    return None


def activate(directory: Path) -> str | None:
    """Put the compiled modules in `directory` ahead of the sources, before anything imports them.
    Returns None when done, else why not (the sources then run, unchanged)."""
    imported = [module_name(path) for path in COMPILED if module_name(path) in sys.modules]
    if imported:
        return f"already imported from the sources: {', '.join(imported)}"
    reason = stale_because(directory)
    if reason is not None:
        return reason
    import services.monitoring.rules as rules  # a package: its `__init__` is not compiled

    sys.path.insert(0, str(directory))  # mypyc's shared runtime module of this build is top-level
    services.monitoring.__path__.insert(0, str(directory / "services" / "monitoring"))
    rules.__path__.insert(0, str(directory / "services" / "monitoring" / "rules"))
    return None


def is_compiled() -> bool:
    """Whether the engine in use is the compiled one."""
    engine = sys.modules.get("services.monitoring.engine")
    return engine is not None and not str(getattr(engine, "__file__", "")).endswith(".py")
