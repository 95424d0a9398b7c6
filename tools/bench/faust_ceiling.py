"""Faust's own ceiling: a worker built like monitoring's (same `build_app`, same topics, same
`take_events` batches) whose agent does nothing but count, or only decode.

    uv run python -m tools.bench.faust_ceiling --bootstrap HOST:PORT --prefix bench-replay. \
        --records 77238 --out /tmp/ceiling.json [--decode]

`tools.bench.measure.replay` runs it beside the raw consumer, the bare rules loop and the real worker
over the same replay, so the four figures come from one run. It answers "how fast could the worker
be if the rules and the state cost nothing": whatever the rules, a Faust worker cannot pass it.
Measured on 2026-12-03 (2 cores): ~12,000 events/s with an empty agent, ~11,000 with decoding, while
the broker's raw consumer read ~200,000/s. py-spy puts the difference in Faust's hand-off from the
consumer thread to the stream (a queue and a task per delivery), its per-event `Event` and
acknowledgement, and the event loop waiting between them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.monitoring.settings import REPLAY_BATCH_SECONDS, REPLAY_BATCH_SIZES
from shared import serde, topics
from shared.settings import KafkaSettings

SOURCES = (topics.MEETINGS_EVENTS, topics.PLANS_EVENTS, topics.EVALUATIONS_EVENTS)
# The monitoring worker's batches in a replay (`MonitoringSettings` with the `event` clock).
BATCH_SIZE = REPLAY_BATCH_SIZES["faust"]
BATCH_SECONDS = REPLAY_BATCH_SECONDS["faust"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench.faust_ceiling",
        description="Time a Faust worker whose agent only counts (or only decodes) monitoring's source topics "
        "from the beginning until --records have passed; writes {'per_s', 'seconds', 'records'} as JSON.",
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--prefix", default="", help="topic prefix of the replay")
    parser.add_argument("--records", type=int, required=True, help="records to read before stopping")
    parser.add_argument("--out", type=Path, required=True, help="where to write the figures (JSON)")
    parser.add_argument("--decode", action="store_true", help="decode each record with shared.serde too")
    parser.add_argument("--port", type=int, default=0, help="the Faust web port (default: a free one)")
    parser.add_argument("--data-dir", type=Path, default=None, help="Faust's data directory (default: a temp one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from shared.faust_app import build_app
    from tools.stack import free_port

    args = build_parser().parse_args(argv)
    kafka = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=args.prefix)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="pantau-ceiling-"))
    app = build_app(
        f"pantau-bench-ceiling-{os.getpid()}",  # a new consumer group: read from the beginning
        kafka=kafka,
        web_host="127.0.0.1",
        web_port=args.port or free_port(),
        data_dir=data_dir,
        partitions=12,
    )
    source = app.topic(
        *(kafka.topic(name) for name in SOURCES),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=False,
    )
    seen = {"records": 0}
    began: list[float] = []

    async def count(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            if not began:
                began.append(time.perf_counter())
            if args.decode:
                for event in batch:
                    serde.decode(event.value, key=event.key)
            seen["records"] += len(batch)
            if seen["records"] >= args.records:
                seconds = time.perf_counter() - began[0]
                figures = {"records": seen["records"], "seconds": seconds, "per_s": seen["records"] / seconds}
                args.out.write_text(json.dumps(figures))
                os._exit(0)  # the figure is written; a clean Faust shutdown costs seconds and proves nothing

    app.agent(source, name="count")(count)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
    return 1  # app.main() exits; reaching here means the worker stopped before the records passed


def measure(bootstrap: str, prefix: str, records: int, workdir: Path, *, decode: bool = False) -> float:
    """Run the ceiling worker once in its own process; returns its events per second."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"ceiling-{'decode' if decode else 'empty'}.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "tools.bench.faust_ceiling",
        "--bootstrap",
        bootstrap,
        "--prefix",
        prefix,
        "--records",
        str(records),
        "--out",
        str(out),
        "--data-dir",
        str(workdir / f"faust-{time.monotonic_ns()}"),
        *(["--decode"] if decode else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if not out.exists():
        raise RuntimeError(f"the Faust ceiling run wrote no figures (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return float(json.loads(out.read_text())["per_s"])


if __name__ == "__main__":
    sys.exit(main())
