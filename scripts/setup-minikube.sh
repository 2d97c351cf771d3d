#!/usr/bin/env bash
# A local Kubernetes for taskstream: Minikube with the ingress and metrics-server addons and the
# Dapr control plane (`dapr init -k`, which includes the scheduler the Jobs API needs).
# Then scripts/deploy-local.sh builds the images into the node and installs the chart.
#
#   bash scripts/setup-minikube.sh [--no-redpanda] [--delete]
#
#   --no-redpanda   do not pre-load the Redpanda and PostgreSQL images of the chart's in-cluster
#                   stores (use when deploy-local.sh will point at an external broker and database)
#   --delete        delete the Minikube profile instead
#
# Environment: MINIKUBE_PROFILE (taskstream), MINIKUBE_CPUS (4), MINIKUBE_MEMORY (8g),
# MINIKUBE_DRIVER (Minikube's default), KUBERNETES_VERSION (v1.33.5), DAPR_VERSION (1.18.2).
# Needs minikube, kubectl and the Dapr CLI on PATH; helm comes from the chart-check cache.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${MINIKUBE_PROFILE:-taskstream}
CPUS=${MINIKUBE_CPUS:-4}
MEMORY=${MINIKUBE_MEMORY:-8g}
KUBERNETES_VERSION=${KUBERNETES_VERSION:-v1.33.5}
DAPR_VERSION=${DAPR_VERSION:-1.18.2}
REDPANDA=1

log() { printf '[setup-minikube] %s\n' "$*"; }
die() { printf '[setup-minikube] error: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  case $arg in
    --no-redpanda) REDPANDA=0 ;;
    --delete)
      log "deleting Minikube profile $PROFILE"
      exec minikube delete --profile "$PROFILE"
      ;;
    *) die "unknown option $arg (see the header of $0)" ;;
  esac
done

for tool in minikube kubectl dapr; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

if minikube status --profile "$PROFILE" >/dev/null 2>&1; then
  log "Minikube profile $PROFILE is running"
else
  log "starting Minikube profile $PROFILE (Kubernetes $KUBERNETES_VERSION, $CPUS CPUs, $MEMORY)"
  args=(start --profile "$PROFILE" --cpus "$CPUS" --memory "$MEMORY" --kubernetes-version "$KUBERNETES_VERSION")
  [[ -n ${MINIKUBE_DRIVER:-} ]] && args+=(--driver "$MINIKUBE_DRIVER")
  minikube "${args[@]}"
fi
kubectl config use-context "$PROFILE" >/dev/null

log "addons: ingress (ingress-nginx, for the chart's Ingresses), metrics-server (for HPAs)"
minikube addons enable ingress --profile "$PROFILE"
minikube addons enable metrics-server --profile "$PROFILE"
kubectl -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout=5m

if kubectl get namespace dapr-system >/dev/null 2>&1 && dapr status -k >/dev/null 2>&1; then
  log "Dapr control plane already installed:"
  dapr status -k
else
  log "installing the Dapr $DAPR_VERSION control plane (dapr init -k)"
  dapr init -k --runtime-version "$DAPR_VERSION" --wait --timeout 600
fi
dapr status -k

if ((REDPANDA)); then
  log "pre-loading the images of the chart's in-cluster Redpanda and PostgreSQL"
  values="$REPO/helm/taskstream/values.yaml"
  for store in redpanda postgresql; do
    repo=$(awk -v s="$store:" '$1==s{f=1} f&&$1=="repository:"{print $2; exit}' "$values")
    tag=$(awk -v s="$store:" '$1==s{f=1} f&&$1=="tag:"{gsub(/"/,"",$2); print $2; exit}' "$values")
    minikube image pull --profile "$PROFILE" "$repo:$tag"
  done
fi

log "ready: now run scripts/deploy-local.sh"
