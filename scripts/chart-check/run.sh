#!/usr/bin/env bash
# chart-check: the Helm chart, its generated files and the deployment scripts, checked offline.
#
#   bash scripts/chart-check/run.sh        (npm run chart:check)
#
# 1. helm lint --strict with every values file (and scripts/k8s's overlay on values-minikube.yaml),
#    which validates each against values.schema.json;
# 2. helm template with every values file (values-*.yaml, ci/*.yaml) at the lowest and newest
#    Kubernetes version the chart supports, and kubeconform -strict on every object against the
#    Kubernetes schemas and the Dapr and Prometheus Operator (PrometheusRule, ServiceMonitor) CRD
#    schemas: zero invalid, zero errors, zero skipped;
# 3. values.yaml alone must refuse to render (no Secret, no brokers); a misspelt value must be
#    refused by the schema;
# 4. kubeconform must reject fixtures/invalid.yaml (a validator that passes everything fails);
# 5. helm/taskstream/README.md's values table, values.schema.json (values-schema.ts) and
#    dapr-components/kubernetes/ match the chart;
# 6. services/*/Dockerfile match Dockerfile.template (dockerfiles.sh);
# 7. shellcheck on the deployment scripts, actionlint on .github/workflows.
# Tools are built or fetched once into ${TASKSTREAM_CACHE:-$HOME/.cache/taskstream} (tools.sh).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART="$REPO/helm/taskstream"
SERVICES=(task-api recurring notification audit sync payments fraud)
START=$SECONDS

# shellcheck source=SCRIPTDIR/tools.sh
source "$REPO/scripts/chart-check/tools.sh"
with_tools_lock ensure_all
export CHART_CHECK_HELM=$HELM

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

passed=0
failed=0
failures=()
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$*"; }
fail() { failed=$((failed + 1)); failures+=("$*"); printf '  FAIL  %s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

kubeconform() {
  "$KUBECONFORM" -strict -summary -kubernetes-version "$1" \
    -schema-location "$K8S_SCHEMAS/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -schema-location "$DAPR_SCHEMAS/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -schema-location "$PROMETHEUS_OPERATOR_SCHEMAS/{{.ResourceKind}}{{.KindSuffix}}.json" \
    "${@:2}"
}

mapfile -t VALUES_FILES < <(cd "$CHART" && ls values-*.yaml ci/*.yaml)

step "helm lint --strict"
for f in "${VALUES_FILES[@]}"; do
  if "$HELM" lint --strict "$CHART" -f "$CHART/$f" >"$OUT/lint.log" 2>&1; then
    pass "lint $f"
  else
    cat "$OUT/lint.log"
    fail "lint $f"
  fi
done
# The local node's overlay (scripts/k8s, deploy-local.sh --cluster local) is only used on Minikube's values.
if "$HELM" lint --strict "$CHART" -f "$CHART/values-minikube.yaml" -f "$REPO/scripts/k8s/values-local-node.yaml" >"$OUT/lint.log" 2>&1; then
  pass "lint values-minikube.yaml + scripts/k8s/values-local-node.yaml"
else
  cat "$OUT/lint.log"
  fail "lint values-minikube.yaml + scripts/k8s/values-local-node.yaml"
fi

step "render and validate (kubeconform -strict; Kubernetes ${KUBE_VERSIONS[*]}, Dapr $DAPR_VERSION and prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs)"
objects=0
for kv in "${KUBE_VERSIONS[@]}"; do
  files=()
  for f in "${VALUES_FILES[@]}"; do
    rendered="$OUT/$kv/$(basename "$f" .yaml).yaml"
    mkdir -p "$OUT/$kv"
    if "$HELM" template taskstream "$CHART" --namespace taskstream -f "$CHART/$f" \
      --kube-version "$kv" >"$rendered" 2>"$OUT/render.log"; then
      files+=("$rendered")
    else
      cat "$OUT/render.log"
      fail "render $f (Kubernetes $kv)"
    fi
  done
  # One kubeconform run per version: it compiles each schema once for all files.
  if report=$(kubeconform "$kv" "${files[@]}" "$REPO/dapr-components/kubernetes" 2>&1) &&
    [[ $report =~ Summary:\ ([0-9]+)\ resources\ found\ in\ ([0-9]+)\ files.*Invalid:\ 0,\ Errors:\ 0,\ Skipped:\ 0 ]]; then
    objects=$((objects + BASH_REMATCH[1]))
    pass "Kubernetes $kv: ${BASH_REMATCH[1]} objects in ${BASH_REMATCH[2]} files valid (${#files[@]} renders: ${VALUES_FILES[*]}; dapr-components/kubernetes)"
  else
    printf '%s\n' "$report"
    fail "Kubernetes $kv: kubeconform"
  fi
done

step "guards"
if "$HELM" template taskstream "$CHART" >"$OUT/default.yaml" 2>"$OUT/default.log"; then
  fail "values.yaml alone rendered; it must demand secrets.existingSecret"
elif grep -q 'secrets.existingSecret is required' "$OUT/default.log"; then
  pass "values.yaml alone refuses to render: $(grep -o 'secrets.existingSecret is required' "$OUT/default.log")"
else
  cat "$OUT/default.log"
  fail "values.yaml alone failed for another reason"
fi
if "$HELM" template taskstream "$CHART" -f "$CHART/values-minikube.yaml" --set serviceDefaults.replica=3 \
  >"$OUT/typo.yaml" 2>"$OUT/typo.log"; then
  fail "a misspelt value (serviceDefaults.replica) rendered; values.schema.json must refuse it"
elif grep -q "additional properties 'replica' not allowed" "$OUT/typo.log"; then
  pass "a misspelt value is refused: $(grep -o "additional properties 'replica' not allowed" "$OUT/typo.log")"
else
  cat "$OUT/typo.log"
  fail "a misspelt value failed for another reason"
fi
report=$(kubeconform 1.29.0 "$REPO/scripts/chart-check/fixtures/invalid.yaml" 2>&1) || true
if [[ $report == *"Valid: 0, Invalid: 5, Errors: 1, Skipped: 0"* ]]; then
  pass "kubeconform rejects all 6 objects of fixtures/invalid.yaml"
else
  printf '%s\n' "$report"
  fail "kubeconform did not reject fixtures/invalid.yaml as expected"
fi

step "generated files"
if (cd "$REPO" && "$REPO/node_modules/.bin/tsx" scripts/chart-check/values-readme.ts --check); then
  pass "helm/taskstream/README.md lists every value"
else
  fail "helm/taskstream/README.md"
fi
if (cd "$REPO" && "$REPO/node_modules/.bin/tsx" scripts/chart-check/values-schema.ts --check); then
  pass "helm/taskstream/values.schema.json matches scripts/chart-check/values-schema.ts"
else
  fail "helm/taskstream/values.schema.json"
fi
if (cd "$REPO" && "$REPO/node_modules/.bin/tsx" scripts/chart-check/components.ts --check); then
  pass "dapr-components/kubernetes matches the chart"
else
  fail "dapr-components/kubernetes"
fi

step "Dockerfiles"
if bash "$REPO/scripts/chart-check/dockerfiles.sh" --check; then
  pass "services/{${SERVICES[*]}}/Dockerfile match scripts/chart-check/Dockerfile.template"
else
  fail "services/*/Dockerfile (bash scripts/chart-check/dockerfiles.sh --write)"
fi

step "shellcheck, actionlint"
scripts=()
for s in scripts/chart-check/run.sh scripts/chart-check/tools.sh scripts/chart-check/dockerfiles.sh scripts/setup-minikube.sh scripts/deploy-local.sh scripts/k8s/k8s.sh scripts/k8s/build.sh; do
  [[ -f $REPO/$s ]] && scripts+=("$s")
done
if (cd "$REPO" && "$SHELLCHECK" -x "${scripts[@]}"); then
  pass "shellcheck ${scripts[*]}"
else
  fail "shellcheck"
fi
if compgen -G "$REPO/.github/workflows/*.yml" >/dev/null; then
  if (cd "$REPO" && "$ACTIONLINT" -shellcheck "$SHELLCHECK" .github/workflows/*.yml); then
    pass "actionlint .github/workflows"
  else
    fail "actionlint .github/workflows"
  fi
fi

printf '\n%s objects validated in %s s\n' "$objects" "$((SECONDS - START))"
if ((failed)); then
  printf 'failed:\n'
  printf '  %s\n' "${failures[@]}"
fi
printf 'chart-check: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
