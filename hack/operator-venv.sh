#!/usr/bin/env bash
# The operator's runtime environment as the image builds it (see Dockerfile): the hash-pinned
# requirements.lock and the operator itself, nothing else: no test tools, no `cli` extra, so
# no `kubernetes` package for kopf to import. Benchmarks run the operator from it, so what
# they measure is what a cluster runs.
#
#   hack/operator-venv.sh [CHECKOUT] [VENV]    prints the venv's python
#
# CHECKOUT (default: this repository) may be any checkout of sagemeter, e.g. a worktree of an
# earlier commit, so that two versions can be measured back to back on one machine. VENV
# defaults to CHECKOUT/.venv-operator; it is rebuilt when CHECKOUT's requirements.lock changes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkout="$(cd "${1:-$here}" && pwd)"
venv="${2:-$checkout/.venv-operator}"
python="${PYTHON:-python3}"
lock_hash="$(sha256sum "$checkout/requirements.lock" "$checkout/pyproject.toml" | sha256sum | cut -c1-12)"
stamp="$venv/.installed-$lock_hash"
if [[ ! -f "$stamp" ]]; then
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$checkout/requirements.lock" >&2
  # Editable: the checkout's code as it is now, without a rebuild after each change.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$checkout" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
