#!/usr/bin/env bash
# Builds the five service images into Minikube, installs the chart with values-minikube.yaml,
# waits for the rollout, checks it with verify-deploy.ts and runs a smoke test through the
# Ingress: register, create a task, see its event reach audit and sync through Redpanda.
#
#   bash scripts/deploy-local.sh [--skip-build] [--no-smoke] [--cluster minikube|local] [--tag <tag>]
#
#   --cluster local   the node of scripts/k8s (`npm run k8s:deploy`, which runs this script inside
#                     the node's network namespace): images built by scripts/k8s/images.ts and
#                     loaded into its containerd, values-minikube.yaml plus
#                     scripts/k8s/values-local-node.yaml (Kafka and PostgreSQL on the node's
#                     address, the migrations hook on), the smoke test straight to task-api's
#                     Service (the node has no ingress controller). The rest is the same path.
#   --tag <tag>       the image tag (default: dev-<commit>-<time>; with --skip-build, the deployed one)
#
# Environment: MINIKUBE_PROFILE (taskstream), NAMESPACE (taskstream), RELEASE (taskstream),
# KAFKA_BROKERS (empty: the chart's in-cluster Redpanda; set it to use an external broker, no
# TLS/SASL), SMOKE_PORT (18080, a loopback port for the smoke test's port-forward).
# Run scripts/setup-minikube.sh first. The Secrets are made once with random values and kept.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${MINIKUBE_PROFILE:-taskstream}
NAMESPACE=${NAMESPACE:-taskstream}
RELEASE=${RELEASE:-taskstream}
KAFKA_BROKERS=${KAFKA_BROKERS:-}
SMOKE_PORT=${SMOKE_PORT:-18080}
SERVICES=(task-api recurring notification audit sync payments fraud)
# The chart's object name prefix (taskstream.fullname): the release name, plus "-taskstream" unless it has it.
if [[ $RELEASE == *taskstream* ]]; then FULLNAME=$RELEASE; else FULLNAME="$RELEASE-taskstream"; fi
BUILD=1
SMOKE=1
CLUSTER=minikube
TAG=

log() { printf '[deploy-local] %s\n' "$*"; }
die() { printf '[deploy-local] error: %s\n' "$*" >&2; exit 1; }

while (($#)); do
  case $1 in
    --skip-build) BUILD=0 ;;
    --no-smoke) SMOKE=0 ;;
    --cluster) CLUSTER=${2:-}; shift ;;
    --tag) TAG=${2:-}; shift ;;
    *) die "unknown option $1 (see the header of $0)" ;;
  esac
  shift
done
[[ $CLUSTER == minikube || $CLUSTER == local ]] || die "--cluster minikube|local"

tools=(kubectl curl openssl node)
[[ $CLUSTER == minikube ]] && tools+=(minikube)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
if [[ $CLUSTER == minikube ]]; then
  minikube status --profile "$PROFILE" >/dev/null 2>&1 || die "Minikube profile $PROFILE is not running: bash scripts/setup-minikube.sh"
  kubectl config use-context "$PROFILE" >/dev/null
else
  [[ -n ${K8S_NODE_IP:-} ]] || die "--cluster local runs inside the node's namespace: npm run k8s:deploy"
fi
HELM=$(bash "$REPO/scripts/chart-check/tools.sh" helm)

# A tag per build, so that `helm upgrade` rolls the pods even though the images never leave the node.
TAG_GIVEN=$TAG
[[ -n $TAG ]] || TAG="dev-$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo local)-$(date +%s)"
if ((BUILD)) && [[ $CLUSTER == local ]]; then
  bash "$REPO/scripts/k8s/k8s.sh" images "$TAG"
elif ((BUILD)); then
  for svc in "${SERVICES[@]}"; do
    log "building taskstream/$svc:$TAG in Minikube"
    minikube image build --profile "$PROFILE" -t "taskstream/$svc:$TAG" -f "services/$svc/Dockerfile" "$REPO"
  done
else
  [[ -n $TAG_GIVEN ]] || TAG=$(kubectl -n "$NAMESPACE" get deployment "$FULLNAME-task-api" -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null | sed 's/.*://')
  [[ -n $TAG ]] || die "--skip-build needs an earlier deployment to take the image tag from"
fi

kubectl get namespace "$NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$NAMESPACE"

# make_secret <name> <key=value>...: created once, never overwritten (the database keeps its password).
make_secret() {
  local name=$1
  shift
  if kubectl -n "$NAMESPACE" get secret "$name" >/dev/null 2>&1; then
    return 0
  fi
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl -n "$NAMESPACE" create secret generic "$name" "${args[@]}"
  log "created Secret $name"
}
pg_password=$(openssl rand -hex 16)
# notification refuses to start in production without a Web Push key pair (VAPID).
# shellcheck disable=SC2016 # a JavaScript template literal
mapfile -t vapid < <(node "$REPO/node_modules/web-push/src/cli.js" generate-vapid-keys --json |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const k=JSON.parse(s);console.log(`VAPID_PUBLIC_KEY=${k.publicKey}`);console.log(`VAPID_PRIVATE_KEY=${k.privateKey}`)})')
pg_host="$FULLNAME-postgresql.$NAMESPACE.svc"
# The local node's PostgreSQL runs on the node's address, outside the release.
[[ $CLUSTER == local ]] && pg_host=$K8S_NODE_IP
make_secret taskstream-secrets \
  "POSTGRES_PASSWORD=$pg_password" \
  "DATABASE_URL=postgres://taskstream:$pg_password@$pg_host:5432/taskstream" \
  "STATESTORE_CONNECTION_STRING=host=$pg_host port=5432 user=taskstream password=$pg_password database=dapr sslmode=disable" \
  "JWT_SECRET=$(openssl rand -hex 32)" \
  "${vapid[@]}"
make_secret taskstream-dapr-api-token "token=$(openssl rand -hex 32)"
make_secret taskstream-app-api-token "token=$(openssl rand -hex 32)"

if [[ $CLUSTER == local ]]; then
  # The role and databases the Secret names, with its password (the server is not the release's).
  pg_password=$(kubectl -n "$NAMESPACE" get secret taskstream-secrets -o jsonpath='{.data.POSTGRES_PASSWORD}' | base64 -d)
  bash "$REPO/scripts/k8s/k8s.sh" db-user taskstream "$pg_password"
fi

values=(-f "$REPO/helm/taskstream/values-minikube.yaml" --set "global.image.tag=$TAG")
[[ $CLUSTER == local ]] && values+=(-f "$REPO/scripts/k8s/values-local-node.yaml" --set "kafka.brokers=$K8S_NODE_IP:9092")
if [[ -n $KAFKA_BROKERS ]]; then
  values+=(--set redpanda.enabled=false --set "kafka.brokers=$KAFKA_BROKERS"
    --set kafka.tls.enabled=false --set kafka.sasl.enabled=false)
fi
log "helm upgrade --install $RELEASE (images taskstream/*:$TAG)"
"$HELM" upgrade --install "$RELEASE" "$REPO/helm/taskstream" --namespace "$NAMESPACE" \
  "${values[@]}" --wait --timeout 10m

# A service's workload is a Deployment, or a StatefulSet when it is a broadcast service (sync by
# default; `broadcast` is a value), so ask the cluster which kind the release made of it.
for svc in "${SERVICES[@]}"; do
  workload=$(kubectl -n "$NAMESPACE" get deployments,statefulsets -o name \
    -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=$svc")
  [[ $workload == */"$FULLNAME-$svc" && $workload != *$'\n'* ]] ||
    die "expected one Deployment or StatefulSet $FULLNAME-$svc, found: ${workload:-none}"
  kubectl -n "$NAMESPACE" rollout status "$workload" --timeout=5m
done
(cd "$REPO" && node_modules/.bin/tsx scripts/verify-deploy.ts --namespace "$NAMESPACE" --release "$RELEASE" --timeout 180)

((SMOKE)) || exit 0

# Smoke test through the ingress controller (per-path routing included), reached over a
# port-forward on loopback with the chart's host name. The local node has no ingress
# controller: each service's own Service, reached from the node.
host=$(awk '$1=="host:"{print $2; exit}' "$REPO/helm/taskstream/values-minikube.yaml")
if [[ $CLUSTER == local ]]; then
  service_url() { echo "http://$(kubectl -n "$NAMESPACE" get svc "$FULLNAME-$1" -o jsonpath='{.spec.clusterIP}')"; }
  base=$(service_url task-api)
  audit_base=$(service_url audit)
  sync_base=$(service_url sync)
else
  kubectl -n ingress-nginx port-forward svc/ingress-nginx-controller "127.0.0.1:$SMOKE_PORT:80" >/dev/null 2>&1 &
  forward=$!
  trap 'kill "$forward" 2>/dev/null || true' EXIT
  base="http://127.0.0.1:$SMOKE_PORT"
  audit_base=$base
  sync_base=$base
fi
for _ in $(seq 1 30); do
  curl -fsS -H "Host: $host" "$base/healthz" >/dev/null 2>&1 && break
  sleep 1
done

call() { curl -fsS -H "Host: $host" -H 'Content-Type: application/json' "$@"; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(process.argv[1].split(".").reduce((o,k)=>o?.[k],v)??"")})' "$1"; }

log "smoke: the web UI answers on /"
call -o /dev/null "$base/"
email="smoke-$(date +%s)@taskstream.local"
password="smoke-$(openssl rand -hex 8)"
# Registration answers 202 whether or not the email is taken; the token comes from logging in.
call -o /dev/null -X POST "$base/api/auth/register" \
  -d "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Smoke\"}" || die "smoke: register failed"
token=$(call -X POST "$base/api/auth/login" -d "{\"email\":\"$email\",\"password\":\"$password\"}" | json token)
[[ -n $token ]] || die "smoke: login after registering returned no token"
task_id=$(call -X POST "$base/api/tasks" -H "Authorization: Bearer $token" \
  -d '{"title":"smoke test","priority":"high"}' | json id)
[[ -n $task_id ]] || die "smoke: creating a task returned no id"
log "smoke: created task $task_id; waiting for its event in audit (/api/audit-logs) and sync (/api/sync/events)"
for _ in $(seq 1 60); do
  audit=$(call "$audit_base/api/audit-logs?task_id=$task_id" -H "Authorization: Bearer $token" || true)
  missed=$(call "$sync_base/api/sync/events?since=0" -H "Authorization: Bearer $token" || true)
  if [[ $audit == *"$task_id"* && $missed == *"$task_id"* ]]; then
    log "smoke: passed (task-api -> the broker -> audit and sync, through the $([[ $CLUSTER == local ]] && echo "Services" || echo Ingress))"
    exit 0
  fi
  sleep 2
done
die "smoke: the task's event did not reach audit and sync within 120 s"
