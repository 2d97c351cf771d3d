#!/usr/bin/env bash
# services/<app id>/Dockerfile is Dockerfile.template with @SERVICE@ set to the app id.
#
#   bash scripts/chart-check/dockerfiles.sh --write   regenerate them
#   bash scripts/chart-check/dockerfiles.sh --check   exit 1 naming each one that differs
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEMPLATE="$REPO/scripts/chart-check/Dockerfile.template"
SERVICES=(task-api recurring notification audit sync payments fraud)

mode=${1:-}
[[ $mode == --write || $mode == --check ]] || {
  echo "usage: dockerfiles.sh --write|--check" >&2
  exit 2
}
stale=0
for svc in "${SERVICES[@]}"; do
  file="$REPO/services/$svc/Dockerfile"
  want=$(sed "s/@SERVICE@/$svc/g" "$TEMPLATE")
  if [[ -f $file && $(cat "$file") == "$want" ]]; then
    continue
  fi
  if [[ $mode == --write ]]; then
    printf '%s\n' "$want" >"$file"
    echo "wrote services/$svc/Dockerfile"
  else
    echo "services/$svc/Dockerfile differs from scripts/chart-check/Dockerfile.template" >&2
    stale=1
  fi
done
((stale == 0))
