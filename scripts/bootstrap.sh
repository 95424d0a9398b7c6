#!/usr/bin/env bash
# Set up a fresh machine for Pantau's development and tests:
# Debian tools (kcat, prometheus/promtool, docker-compose, PostgreSQL for the storage tests, chromium for the console test
# and the PDF reports, poppler-utils to look at those PDFs), uv and the Python environment, and the
# Kafka broker jars from Maven Central. Idempotent: a second run does nothing and says little.
# It never starts services (not even Debian's prometheus unit); the tests run their own instances.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.9"
PYTHON_VERSION="3.11"
APT_PACKAGES=(kcat prometheus docker-compose postgresql chromium poppler-utils gcc)

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# --- Debian packages ---------------------------------------------------------------------------
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
# Debian's chromium, driven by Playwright in the console's browser test (no browser download).
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
# pdftoppm turns the monthly report's PDF into images, for its test and for people checking it.
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
# A C compiler: mypyc compiles the monitoring's rules with it (python -m tools.native build).
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if ((${#missing[@]} > 0)); then
    if [[ "$(id -u)" -eq 0 ]]; then
        log "installing Debian packages: ${APT_PACKAGES[*]} (missing: ${missing[*]})"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
    else
        log "missing commands for ${missing[*]}; install them with:"
        log "  sudo apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}"
    fi
fi

# --- Java and Maven (the local Kafka broker) ---------------------------------------------------
if [[ "$(id -u)" -eq 0 ]] && { ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; }; then
    log "installing Java 17 and Maven from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
fi
command -v java >/dev/null 2>&1 \
    || die "'java' (17+) is not on PATH; the local Kafka broker needs it (e.g. apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null 2>&1 \
    || die "'mvn' is not on PATH; it downloads the Kafka broker jars once (e.g. apt-get install maven)"

# --- uv and the Python environment -------------------------------------------------------------
if ! command -v uv >/dev/null 2>&1; then
    log "installing uv ${UV_VERSION}"
    python3 -m pip install --quiet "uv==${UV_VERSION}"
    # pip may have put it in ~/.local/bin, which a fresh shell may not have on PATH yet.
    command -v uv >/dev/null 2>&1 || export PATH="${HOME}/.local/bin:${PATH}"
    command -v uv >/dev/null 2>&1 || die "uv was installed but is not on PATH"
fi
uv sync --quiet --frozen --python "${PYTHON_VERSION}"

# --- Kafka broker jars (downloaded once into .cache/) ------------------------------------------
uv run --quiet python -m tools.kafka_broker fetch >/dev/null

# --- The monitoring rules compiled (mypyc, into .cache/native; again only when they changed) -----
# The worker uses this build by default (PANTAU_MONITORING_NATIVE) and runs the sources, saying why,
# when it is missing or of other sources. About half a minute the first time, a second after.
uv run --quiet python -m tools.native build >/dev/null 2>&1 \
    || log "could not compile the monitoring rules (python -m tools.native build); the worker runs them from the sources"

log "ready (kcat, promtool, docker-compose, java, mvn, uv, .venv, Kafka jars, compiled rules)"
