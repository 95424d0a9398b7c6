"""How the API's refusals are documented: every operation names its 4xx (and the 503 while the
service starts) as RFC 9457 problem details (`shared.web.Problem`), so a client (and the fuzzing
run) knows the shape of a refusal before meeting one."""

from __future__ import annotations

from typing import Any

from shared import web
from shared.web import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": web.PROBLEM_SCHEMA["properties"]["errors"],
    },
}
_PROBLEMS = {
    401: "No valid bearer token",
    403: "Outside the caller's role or region",
    404: "No such alert, incident or delivery",
    422: "A named field is invalid",
    503: "The service is starting",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for status, text in _PROBLEMS.items()
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already resolved or closed", "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
}
