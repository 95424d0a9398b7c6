#!/usr/bin/env bash
# Install what `make k8s` needs to render and validate deploy/kubernetes/ offline, into .cache/k8s/:
# kustomize and kubeconform (Go modules, built with `go install`), the CRDs of KEDA and the Prometheus
# Operator (from their Go modules), and standalone JSON schemas built from those CRDs and from the
# kubernetes-validate PyPI package (a dev dependency in uv.lock). Strimzi's and CloudNativePG's CRD
# schemas ship no package any registry carries; they are committed in deploy/kubernetes/schemas/.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

KUBECONFORM_VERSION="v0.8.0"
KUSTOMIZE_VERSION="v5.8.1"
KEDA_MODULE="github.com/kedacore/keda/v2@v2.21.0"
PROMETHEUS_OPERATOR_MODULE="github.com/prometheus-operator/prometheus-operator@v0.85.0"

CACHE=".cache/k8s"
BIN="${CACHE}/bin"
STAMP="${CACHE}/schemas/.built-from"
WANTED="${KUBECONFORM_VERSION} ${KUSTOMIZE_VERSION} ${KEDA_MODULE} ${PROMETHEUS_OPERATOR_MODULE} $(sha256sum tools/k8s.py | cut -c1-16)"

log() { printf 'k8s-tools: %s\n' "$*"; }
die() { printf 'k8s-tools: error: %s\n' "$*" >&2; exit 1; }

if [[ -x "${BIN}/kubeconform" && -x "${BIN}/kustomize" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANTED}" ]]; then
    exit 0
fi

# Go: the machine's own (/usr/local/go) or Debian's golang-go.
export PATH="${PATH}:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]]; then
        log "installing Go from Debian (golang-go)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
    fi
    command -v go >/dev/null 2>&1 || die "'go' is not on PATH; install it (apt-get install golang-go) to build kubeconform and kustomize"
fi

mkdir -p "${BIN}"
BIN_ABS="$(cd "${BIN}" && pwd)"
# -p=1: the build shares a small machine with the tests.
log "building kubeconform ${KUBECONFORM_VERSION} and kustomize ${KUSTOMIZE_VERSION} (once)"
GOBIN="${BIN_ABS}" GOFLAGS=-p=1 go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
GOBIN="${BIN_ABS}" GOFLAGS=-p=1 go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"

log "fetching the CRDs of KEDA and the Prometheus Operator"
keda_dir="$(go mod download -json "${KEDA_MODULE}" | uv run --quiet python -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
operator_dir="$(go mod download -json "${PROMETHEUS_OPERATOR_MODULE}" | uv run --quiet python -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
[[ -f "${keda_dir}/config/crd/bases/keda.sh_scaledobjects.yaml" ]] || die "no KEDA CRDs in ${keda_dir}"
[[ -f "${operator_dir}/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" ]] \
    || die "no Prometheus Operator CRDs in ${operator_dir}"

rm -rf "${CACHE}/schemas"
uv run --quiet python -m tools.k8s schemas \
    --crd-dir "${keda_dir}/config/crd/bases" \
    --crd-dir "${operator_dir}/example/prometheus-operator-crd"
printf '%s' "${WANTED}" >"${STAMP}"
log "ready (${BIN}/kubeconform, ${BIN}/kustomize, ${CACHE}/schemas)"
