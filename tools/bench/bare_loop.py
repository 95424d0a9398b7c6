"""`python -m tools.bench.bare_loop BUILD PAYLOAD`: the bench's bare rules loop
(`measure.bare_rules_loop`) with the rules compiled by mypyc, as the worker runs them.

A process of its own because the compiled modules must be put ahead of the sources before anything
imports the rules (`services/monitoring/native.py`), and the bench's process has imported them from
the sources long before. `PAYLOAD` is JSON: the broker and the end offsets to read to. Prints one
JSON line: the seconds it took, the groups and the bytes of their stored states.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.monitoring import native


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build, payload = Path(args[0]), json.loads(args[1])
    why_not = native.activate(build)
    if why_not is not None:
        print(f"the rules cannot run compiled: {why_not}", file=sys.stderr)
        return 1
    # Imported only now: these import the rules.
    from aiokafka.structs import TopicPartition

    from tools.bench.measure import bare_rules_loop, streaming_collector

    assert native.is_compiled()
    ends = {TopicPartition(topic, partition): end for topic, partition, end in payload["ends"]}
    with streaming_collector():  # the worker's collector settings (shared/heap.py)
        run = bare_rules_loop(payload["bootstrap"], ends)
    print(json.dumps({"seconds": run.seconds, "groups": run.groups, "state_bytes": run.state_bytes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
