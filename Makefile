# Pantau's two commands: `make run` and `make test`. Both set up a fresh machine first.
.PHONY: setup run test test-time bench faults fuzz k8s native lint typecheck contracts pytest clean help

help:  ## list the targets
	@awk -F ':.*## ' '/^[a-z0-9-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup:  ## install what Pantau needs (Debian tools, uv, Python env, Kafka jars); idempotent
	@scripts/bootstrap.sh

run: setup  ## run Kafka, the four services and a demo load; Ctrl-C stops
	uv run python -m tools.run

test: setup  ## lint, type check, contract snapshots, Kubernetes manifests (make k8s) and the whole test suite on a real broker
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy
	uv run python -m tools.contracts check
	scripts/k8s-tools.sh
	uv run python -m tools.k8s check
	uv run python -m tools.time_matrix --suite unit --suite contract --instant month-start --instant due-time --instant year-end-wit --instant leap-day
	uv run python -m tools.time_matrix --suite integration --instant month-start -- -k "not kill_9"
	uv run pytest -m "not faults_only"

test-time: setup  ## unit and integration suites under libfaketime at a month's start, a due time, year end in WIT, a leap day, and today
	uv run python -m tools.time_matrix

bench: setup  ## every benchmark (ingestion, replay, latency, memory, accuracy, restart) → docs/benchmarks*.md
	uv run python -m tools.bench

faults: setup  ## kill and cut off each service and the broker under load, 10 runs each → docs/reliability.md
	uv run python -m tools.faults

k8s: setup  ## render deploy/kubernetes (base and overlays) with kustomize and validate it with kubeconform, offline
	scripts/k8s-tools.sh
	uv run python -m tools.k8s check

native: setup  ## compile the monitoring rules with mypyc into .cache/native (a worker uses them with PANTAU_MONITORING_NATIVE=.cache/native)
	uv run python -m tools.native build

fuzz: setup  ## schemathesis over every service's OpenAPI as admin, facilitator and supervisor, 200 cases per operation
	uv run python -m tools.fuzz

lint:  ## ruff only
	uv run ruff check . && uv run ruff format --check .

typecheck:  ## mypy only
	uv run mypy

contracts:  ## rewrite event schema snapshots after a compatible change
	uv run python -m tools.contracts update

clean:  ## remove run data and caches (keeps the Kafka jar cache)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
