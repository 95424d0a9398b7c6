"""`docs/benchmarks.json`: the headline figures as numbers, written by more than one command
(`make bench` for throughput, state and ingestion; `make faults` for scale-out correctness)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tools.stack import REPO_ROOT

FIGURES = REPO_ROOT / "docs" / "benchmarks.json"


def write_figures(figures: dict[str, float], path: Path = FIGURES) -> None:
    """Merge `figures` into the file: keys another command measured stay as they were."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing.update(figures)
    existing["measured_on"] = datetime.now(UTC).date().isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(existing.items())), indent=2) + "\n")
