"""The notifications API's OpenAPI document tells the truth about refusals and instants: every
operation lists its 4xx answers as `application/problem+json`, and every instant is a `date-time`
(the answers carry offsets: tests/integration/test_notifications_delivery.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(NotificationsSettings()).openapi()


def test_every_operation_documents_its_refusals_as_problem_details(document: dict[str, Any]) -> None:
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in methods.items()
    ]
    assert len(operations) >= 10
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    for path, method, operation in operations:
        # 400: a body that is not JSON at all is refused before any field can be named.
        for status in ("400", "401", "403", "404", "422"):
            answer = operation["responses"].get(status)
            assert answer is not None, f"{method} {path} lacks {status}"
            assert list(answer["content"]) == ["application/problem+json"], f"{method} {path} {status}"
            schema = answer["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, f"{method} {path} {status}"


def test_single_alerts_and_incidents_can_be_read(document: dict[str, Any]) -> None:
    assert "get" in document["paths"]["/api/v1/alerts/{alert_id}"]
    assert "get" in document["paths"]["/api/v1/incidents/{incident_id}"]


def test_instants_are_date_times(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for model in ("AlertOut", "IncidentOut", "DeliveryOut"):
        for name, schema in schemas[model]["properties"].items():
            if name.endswith("_at"):
                formats = {option.get("format") for option in schema.get("anyOf", [schema])} - {None}
                assert formats == {"date-time"}, (model, name)
