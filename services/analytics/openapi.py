"""The analytics worker's OpenAPI document (served at `/openapi.json`): the reports API as
`views.py` answers it, refusals as `application/problem+json`."""

from __future__ import annotations

from typing import Any

from shared.faust_app import health_openapi
from shared.web import PROBLEM_JSON, PROBLEM_SCHEMA

_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_PERIOD = {
    "name": "period",
    "in": "query",
    "required": True,
    "description": "Calendar month, 2000-01 to 2099-12.",
    "schema": {"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"},
}
_LANG = {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["id", "en"]}}
_TOKEN = {
    "name": "token",
    "in": "query",
    "description": "A bearer token in the link, for pages opened in a browser.",
    "schema": {"type": "string"},
}
_REGION = {
    "name": "region",
    "in": "query",
    "description": "Province (`18`) or kabupaten (`18.71`) code.",
    "schema": {"type": "string", "pattern": "^[0-9]{2}(\\.[0-9]{2})?$"},
}


def _refusals(*statuses: str) -> dict[str, Any]:
    words = {
        "401": "Missing or invalid bearer token",
        "403": "Outside the token's role or scope",
        "404": "No such facilitator",
        "422": "A parameter is invalid: the problem names it",
        "503": "Reports unavailable (the worker does not hold every partition, or no PDF printer)",
    }
    return {status: {"description": words[status], "content": _PROBLEM} for status in statuses}


def _ok(description: str, **media: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {kind: {"schema": schema} for kind, schema in media.items()}}
    }


_TEXT = {"type": "string"}
_OBJECT = {"type": "object"}

PATHS: dict[str, Any] = {
    "/api/v1/reports/compliance": {
        "get": {
            "summary": "Compliance by province or kabupaten (JSON, CSV or printable HTML)",
            "parameters": [
                _PERIOD,
                {"name": "level", "in": "query", "schema": {"type": "string", "enum": ["province", "kabupaten"]}},
                _REGION,
                {"name": "programme", "in": "query", "schema": {"type": "string"}},
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv", "html"]}},
                _LANG,
                _TOKEN,
            ],
            "responses": {
                **_ok("The report", **{"application/json": _OBJECT, "text/csv": _TEXT, "text/html": _TEXT}),
                **_refusals("401", "403", "422", "503"),
            },
        }
    },
    "/reports/overview": {
        "get": {
            "summary": "The programme manager's page (HTML, or JSON with format=json)",
            "parameters": [
                {**_PERIOD, "required": False},
                _REGION,
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "html"]}},
                _LANG,
                _TOKEN,
            ],
            "responses": {
                **_ok("The overview", **{"application/json": _OBJECT, "text/html": _TEXT}),
                **_refusals("401", "403", "422", "503"),
            },
        }
    },
    "/api/v1/reports/facilitators/{facilitator_id}/monthly": {
        "get": {
            "summary": "A facilitator's month in words, to sign (JSON, printable HTML or PDF)",
            "parameters": [
                {"name": "facilitator_id", "in": "path", "required": True, "schema": {"type": "string"}},
                _PERIOD,
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "html", "pdf"]}},
                _LANG,
                _TOKEN,
            ],
            "responses": {
                **_ok(
                    "The report",
                    **{
                        "application/json": _OBJECT,
                        "text/html": _TEXT,
                        "application/pdf": {"type": "string", "format": "binary"},
                    },
                ),
                **_refusals("401", "403", "404", "422", "503"),
            },
        }
    },
}


def analytics_openapi() -> dict[str, Any]:
    """The whole document."""
    document = health_openapi(
        "Pantau analytics service",
        "Compliance and facilitator monthly reports; bearer tokens (or `token=` in a page's link); "
        "errors are RFC 9457 problem details naming the field.",
        PATHS,
    )
    document["components"] = {
        "schemas": {"Problem": PROBLEM_SCHEMA},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    }
    return document
