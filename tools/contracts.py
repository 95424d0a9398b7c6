"""Event schema snapshots and the compatibility check that guards them.

`python -m tools.contracts check` compares every event class with its committed JSON-schema
snapshot in `shared/schemas/`; `python -m tools.contracts update` rewrites the snapshots, but
refuses an incompatible change (a removed or retyped field, a newly required field): such a change
needs a new major version of the event type, with the old one kept readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.events import ALL_EVENT_CLASSES, EventData

SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "shared" / "schemas"
# Keys that document a schema without changing what it accepts.
_DOCUMENTATION_KEYS = frozenset({"title", "description", "default", "examples"})

Schema = dict[str, Any]


def schema_of(event_class: type[EventData]) -> Schema:
    """The JSON schema of an event payload, as snapshots store it."""
    return event_class.model_json_schema(mode="serialization")


def snapshot_path(event_type: str, directory: Path = SNAPSHOT_DIR) -> Path:
    """Where an event type's snapshot lives."""
    return directory / f"{event_type}.json"


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline every `$ref` so that nested models are compared by content, not by name."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _resolve(defs[name], defs)
        return {key: _resolve(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    return node


def _strip_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _strip_docs(value)
            for key, value in node.items()
            if key not in _DOCUMENTATION_KEYS or key == "properties"
        }
    if isinstance(node, list):
        return [_strip_docs(item) for item in node]
    return node


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Why `new` cannot replace `old` for readers and writers of the same major version.

    Allowed: new optional fields, documentation changes. Refused: a removed field, a changed type
    (including enum or format changes), a field that becomes required.
    """
    old_resolved = _strip_docs(_resolve(old, old.get("$defs", {})))
    new_resolved = _strip_docs(_resolve(new, new.get("$defs", {})))
    return list(_compare(old_resolved, new_resolved, "$"))


def _compare(old: Any, new: Any, path: str) -> Iterable[str]:
    if isinstance(old, dict) and isinstance(new, dict) and "properties" in old:
        if "properties" not in new:
            yield f"{path}: no longer an object with fields"
            return
        old_props: dict[str, Any] = old["properties"]
        new_props: dict[str, Any] = new["properties"]
        for name, old_schema in old_props.items():
            if name not in new_props:
                yield f"{path}.{name}: removed"
            else:
                yield from _compare(old_schema, new_props[name], f"{path}.{name}")
        newly_required = set(new.get("required", ())) - set(old.get("required", ()))
        for name in sorted(newly_required):
            yield f"{path}.{name}: newly required"
        rest_old = {k: v for k, v in old.items() if k not in ("properties", "required")}
        rest_new = {k: v for k, v in new.items() if k not in ("properties", "required")}
        if rest_old != rest_new:
            yield f"{path}: object constraints changed"
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in ("items", "additionalProperties"):
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                yield from _compare(old[key], new[key], f"{path}[]")
        if "anyOf" in old and "anyOf" in new and len(old["anyOf"]) == len(new["anyOf"]):
            for index, (old_option, new_option) in enumerate(zip(old["anyOf"], new["anyOf"], strict=True)):
                yield from _compare(old_option, new_option, f"{path}|{index}")
            scalars_old = {k: v for k, v in old.items() if k != "anyOf"}
            scalars_new = {k: v for k, v in new.items() if k != "anyOf"}
            if scalars_old != scalars_new:
                yield f"{path}: retyped"
            return
        nested = ("items", "additionalProperties")
        shallow_old = {k: v for k, v in old.items() if k not in nested or not isinstance(v, dict)}
        shallow_new = {k: v for k, v in new.items() if k not in nested or not isinstance(v, dict)}
        if shallow_old != shallow_new or set(old) != set(new):
            yield f"{path}: retyped"
        return
    if old != new:
        yield f"{path}: retyped"


def check_all(directory: Path = SNAPSHOT_DIR) -> tuple[list[str], list[str]]:
    """(incompatible changes, outdated or missing snapshots) over every event class."""
    broken: list[str] = []
    outdated: list[str] = []
    for event_class in ALL_EVENT_CLASSES:
        path = snapshot_path(event_class.event_type, directory)
        current = schema_of(event_class)
        if not path.exists():
            outdated.append(f"{event_class.event_type}: no snapshot")
            continue
        snapshot = json.loads(path.read_text())
        broken.extend(f"{event_class.event_type} {why}" for why in incompatibilities(snapshot, current))
        if snapshot != current:
            outdated.append(f"{event_class.event_type}: snapshot differs (compatible change)")
    return broken, outdated


def update(directory: Path = SNAPSHOT_DIR, *, allow_incompatible: bool = False) -> list[str]:
    """Rewrite snapshots from the event classes; refuses incompatible changes unless allowed."""
    broken, _ = check_all(directory)
    if broken and not allow_incompatible:
        raise SystemExit(
            "refusing incompatible schema changes (make a new major version instead):\n  " + "\n  ".join(broken)
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_class in ALL_EVENT_CLASSES:
        path = snapshot_path(event_class.event_type, directory)
        path.write_text(json.dumps(schema_of(event_class), indent=2, sort_keys=True) + "\n")
        written.append(path.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contracts", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="compare event classes with their committed snapshots")
    update_parser = sub.add_parser("update", help="rewrite the snapshots (compatible changes only)")
    update_parser.add_argument(
        "--allow-incompatible", action="store_true", help="only for a brand-new, never-published type"
    )
    args = parser.parse_args(argv)
    if args.command == "update":
        for name in update(allow_incompatible=args.allow_incompatible):
            print(f"wrote shared/schemas/{name}")
        return 0
    broken, outdated = check_all()
    for line in broken:
        print(f"INCOMPATIBLE {line}")
    for line in outdated:
        print(f"OUTDATED     {line}")
    if not broken and not outdated:
        print(f"{len(ALL_EVENT_CLASSES)} event schemas match their snapshots")
    return 1 if broken or outdated else 0


if __name__ == "__main__":
    sys.exit(main())
