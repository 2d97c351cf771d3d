#!/usr/bin/env bash
# Creates (once) the Python virtualenv with the pinned schemathesis that `npm run test:fuzz` runs,
# outside the repository so a fresh clone stays clean and CI keeps it between runs. Prints the
# path of its `schemathesis` executable. Bump SCHEMATHESIS_VERSION here only, on purpose: a new
# fuzzer version generates other data, so an upgrade is a change to review like any other.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
VENV="${TASKSTREAM_FUZZ_VENV:-$HOME/.cache/taskstream/schemathesis-venv}"
BIN="$VENV/bin/schemathesis"

installed() { [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; }

if ! installed; then
  command -v python3 >/dev/null || { echo "python3 (3.10 or newer) is needed for the API fuzz test" >&2; exit 1; }
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
  installed || { echo "schemathesis $SCHEMATHESIS_VERSION did not install into $VENV" >&2; exit 1; }
fi
echo "$BIN"
