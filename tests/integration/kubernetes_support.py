"""Rendering deploy/kubernetes/ once per test session with the real kustomize, for the manifest tests.

The tools come from `scripts/k8s-tools.sh` (`make k8s`, which `make test` runs first). Missing, they
skip the tests on a laptop and fail them under `CI=true`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tests.fixtures.kafka import skip_or_fail
from tools import k8s


def require_k8s_tools() -> None:
    """kustomize, kubeconform and the schema cache, or skip/fail."""
    for name in ("kustomize", "kubeconform"):
        try:
            k8s.tool(name)
        except FileNotFoundError as error:
            skip_or_fail(str(error))
    if not (k8s.SCHEMAS_DIR / "kubernetes").is_dir() or not (k8s.SCHEMAS_DIR / "crds").is_dir():
        skip_or_fail(f"no schemas in {k8s.SCHEMAS_DIR}: run scripts/k8s-tools.sh (make k8s does)")


@functools.cache
def rendered_text(directory: Path) -> str:
    """``kustomize build`` of a kustomization, once per session."""
    return k8s.render(directory)


def rendered(directory: Path) -> list[dict[str, Any]]:
    """The resources of a kustomization, rendered."""
    return k8s.parse_resources(rendered_text(directory))


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """``{name: resource}`` of one kind."""
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}
