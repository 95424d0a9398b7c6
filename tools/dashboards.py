"""Read Grafana dashboards and the PromQL inside them, for checks without a running Grafana.

There is no runnable Grafana on our machines, so dashboards are checked two ways: structurally
(tests/integration/test_deploy.py) and by evaluating every panel's PromQL against a real Prometheus
scraping the real services. This module is the shared reading side of both:

- :func:`iter_panels` / :func:`iter_panel_queries` walk a dashboard, rows included;
- :func:`iter_variable_queries` gives the PromQL behind the template variables;
- :func:`expand_variables` turns a panel's expr into plain PromQL that Prometheus' HTTP API accepts;
- :func:`promql_metric_names` lists the metric names a PromQL expression reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"

#: Grafana's built-in interval variables, replaced by fixed durations when a query runs outside
#: Grafana. One minute covers at least four scrapes at the 15 s scrape interval.
DEFAULT_VARIABLE_VALUES: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "60000",
}

# $name, ${name} and ${name:format}; [[name]] is the deprecated form.
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*\w+\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\(\s*(?P<query>.+)\s*\)\s*$", re.DOTALL)

# Pieces of PromQL that are never metric names.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
_BRACES = re.compile(r"\{[^}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE)
_OFFSET = re.compile(r"\boffset\s+-?[\w.]+", re.IGNORECASE)
_AT = re.compile(r"@\s*(?:[\d.]+|start\(\s*\)|end\(\s*\))")
# Whole identifiers only (no backtracking into "rat" of "rate("), not followed by a call's "(".
_IDENTIFIER = re.compile(r"(?<![\w.$:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "atan2", "group_left", "group_right", "offset", "inf", "nan"})


def load_dashboard(path: Path) -> dict[str, Any]:
    """Parse one dashboard JSON file (the format provisioned from deploy/grafana/dashboards)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a dashboard must be a JSON object")
    return data


def dashboard_files(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    """Every dashboard JSON file under ``directory``, sorted, so tests can parametrise over them."""
    return sorted(directory.rglob("*.json"))


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel that shows data, depth first; row panels themselves are not yielded.

    Rows appear in two shapes: an expanded row is followed by its panels at the top level, a
    collapsed row holds them in its own ``panels`` list. Both are covered.
    """
    yield from _walk(dashboard.get("panels", []))


def _walk(panels: Any) -> Iterator[dict[str, Any]]:
    for panel in panels or []:
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "row":
            yield from _walk(panel.get("panels", []))
        else:
            yield panel
            # Library or legacy nested panels, should a dashboard ever have them.
            yield from _walk(panel.get("panels", []))


def iter_row_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the row panels (also useful to check ids: rows share the id space with panels)."""
    for panel in dashboard.get("panels", []) or []:
        if isinstance(panel, dict) and panel.get("type") == "row":
            yield panel


def iter_panel_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(panel title, expr)`` for every PromQL target of every panel, rows included.

    Targets without an ``expr`` (another datasource's query) are skipped; an empty ``expr`` is
    yielded as is so that a check can flag it. The expr is raw: Grafana variables such as
    ``$province`` or ``$__rate_interval`` are still in it (see :func:`expand_variables`).
    """
    for panel in iter_panels(dashboard):
        title = str(panel.get("title", f"panel {panel.get('id')}"))
        for target in panel.get("targets", []) or []:
            if isinstance(target, dict) and "expr" in target:
                yield title, str(target["expr"])


def iter_variable_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(variable name, PromQL)`` for each query-type template variable.

    Grafana's ``label_values(selector, label)`` and ``query_result(query)`` wrappers are
    unwrapped to the PromQL Prometheus evaluates; ``label_values(label)`` (no selector) reads no
    metric and is skipped.
    """
    templating = dashboard.get("templating", {}) or {}
    for variable in templating.get("list", []) or []:
        if not isinstance(variable, dict) or variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        text = str(query or variable.get("definition", ""))
        if match := _LABEL_VALUES.match(text):
            yield str(variable.get("name")), match.group("selector")
        elif match := _QUERY_RESULT.match(text):
            yield str(variable.get("name")), match.group("query")
        elif text.strip() and not text.strip().startswith(("label_values(", "label_names(", "metrics(")):
            yield str(variable.get("name")), text


def expand_variables(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables in ``expr`` so Prometheus can evaluate it directly.

    ``values`` wins over :data:`DEFAULT_VARIABLE_VALUES`; any other dashboard variable becomes
    ``.*`` (what "All" means for the ``=~`` matchers our panels use).
    """
    merged = {**DEFAULT_VARIABLE_VALUES, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return merged.get(name, ".*")

    return _VARIABLE.sub(replace, expr)


def promql_metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression selects.

    A deliberately small lexical reading, not a parser: label matchers, ranges, grouping
    clauses, strings and function or aggregation calls are removed, and what is left that looks
    like an identifier is a metric name. ``{__name__="…"}`` matchers are honoured. Good enough to
    hold dashboards and rules to the ``pantau_`` naming rule; Prometheus itself is the real judge.
    """
    names = {a or b for a, b in _NAME_MATCHER.findall(expr)}
    text = expand_variables(expr)
    text = _STRING.sub('""', text)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _AT.sub(" ", text)
    for name in _IDENTIFIER.findall(text):
        if name.lower() not in _KEYWORDS:
            names.add(name)
    return names
