"""Pantau's benchmark suite: `uv run python -m tools.bench` (see `__main__.py`)."""
