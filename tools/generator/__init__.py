"""A synthetic national programme in a box: registry, behaviour over time, the oracle of the
deviations it must cause, and drivers onto HTTP or Kafka. `uv run python -m tools.generator --help`."""
