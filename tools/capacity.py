"""The volumes a national programme puts on Pantau's topics, for the capacity plan (docs/scaling.md).

Generates months of a programme at ``--scale`` with the project's generator (the same records the
meetings outbox would publish, encoded by the one serializer), counts records and bytes per topic
and type and the busiest hour and minute by publication time (registry snapshot aside), and scales
the counts to 40,000 facilitators. The generator simulates each facilitator on its own, so volumes
are linear in the scale; peaks scale linearly too only if the nation syncs in the sample's waves
(stated in the output). Writes ``docs/capacity.json``.

    uv run python -m tools.capacity --scale 0.01
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.generator.behaviour import Rates
from tools.generator.kafka_driver import spool_programme
from tools.generator.programme import Shape

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = REPO_ROOT / "docs" / "capacity.json"
NATIONAL_SCALE = 1.0
REGISTRY_TOPIC = "registry.events"


@dataclass
class Volumes:
    """Counts of one generated sample."""

    records: Counter[str] = field(default_factory=Counter)
    value_bytes: Counter[str] = field(default_factory=Counter)
    per_hour: Counter[str] = field(default_factory=Counter)
    per_minute: Counter[str] = field(default_factory=Counter)


def read_spool(directory: Path) -> Volumes:
    """Counts from the generator's day files (``stamp, sequence, topic, key, type, value`` lines)."""
    volumes = Volumes()
    for path in sorted(directory.glob("*.tsv")):
        with path.open("rb") as handle:
            for line in handle:
                stamp, _sequence, topic, key, _type, value = line.rstrip(b"\n").split(b"\t", 5)
                name = topic.decode()
                volumes.records[name] += 1
                volumes.value_bytes[name] += len(value) + len(key)
                if name == REGISTRY_TOPIC:
                    continue  # one snapshot at the start, not traffic
                at = datetime.fromtimestamp(int(stamp) / 1_000_000, tz=UTC)
                volumes.per_hour[at.strftime("%Y-%m-%dT%H")] += 1
                volumes.per_minute[at.strftime("%Y-%m-%dT%H:%M")] += 1
    return volumes


def national(
    volumes: Volumes, *, scale: float, months: int, facilitators: int, groups: int, by_type: Counter[str]
) -> dict[str, Any]:
    """The sample's figures and their linear extrapolation to ``NATIONAL_SCALE``."""
    factor = NATIONAL_SCALE / scale
    topics = {
        name: {
            "records_per_month_sample": volumes.records[name] / months,
            "bytes_per_record": round(volumes.value_bytes[name] / volumes.records[name]),
            "records_per_month_national": round(volumes.records[name] / months * factor),
            "gib_per_month_national": round(volumes.value_bytes[name] / months * factor / 2**30, 2),
        }
        for name in sorted(volumes.records)
    }
    busiest_hour = max(volumes.per_hour.values(), default=0)
    busiest_minute = max(volumes.per_minute.values(), default=0)
    total = sum(volumes.records.values())
    return {
        "sample": {"scale": scale, "months": months, "facilitators": facilitators, "groups": groups, "records": total},
        "topics": topics,
        "types": {name: round(count / months * factor) for name, count in sorted(by_type.items())},
        "records_per_month_national": round(total / months * factor),
        "gib_per_month_national": round(sum(volumes.value_bytes.values()) / months * factor / 2**30, 2),
        "busiest_hour_records_sample": busiest_hour,
        "busiest_minute_records_sample": busiest_minute,
        "busiest_hour_per_s_national": round(busiest_hour * factor / 3600, 1),
        "busiest_minute_per_s_national": round(busiest_minute * factor / 60, 1),
        "method": (
            "generator volumes are linear in the scale (each facilitator simulated on its own); "
            "peaks are the sample's busiest hour and minute by publication time times 1/scale, which "
            "assumes the nation syncs in the same waves as the sample"
        ),
    }


def measure(*, scale: float, months: int, seed: int = 7) -> dict[str, Any]:
    """Generate, count, extrapolate."""
    shape = Shape(scale=scale, months=months, seed=seed)
    with tempfile.TemporaryDirectory(prefix="pantau-capacity-") as tmp:
        spool, spooled = spool_programme(shape, Rates(), Path(tmp), show_progress=False)
        volumes = read_spool(spool.directory)
    return national(
        volumes,
        scale=scale,
        months=months,
        facilitators=spooled.facilitators,
        groups=spooled.groups,
        by_type=spooled.by_type,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.01, help="sample size (1.0 = 40,000 facilitators)")
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    figures = measure(scale=args.scale, months=args.months, seed=args.seed)
    figures["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
