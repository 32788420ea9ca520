#!/usr/bin/env bash
# Builds the pinned command-line tools of hack/tools (helm) into a cache outside
# the work tree, keyed by the pinned versions and go.mod+go.sum, so only the
# first build on a machine is slow. kustomize is not built: kubectl (from
# hack/build-controlplane.sh) has it built in as `kubectl kustomize`.
# Progress goes to stderr; the directory holding the binaries is printed on the
# last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mod="$here/tools"
helm_version="$(awk '$1=="helm.sh/helm/v4" && $2 ~ /^v/ {print $2; exit}' "$mod/go.mod")"
cache_root="${SAGEMETER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sagemeter}"
sum="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
out="$cache_root/tools/helm-${helm_version}-${sum}"
bins=(helm)

complete=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || complete=0; done
if [ "$complete" = 1 ]; then
  echo "tools: cached (helm $helm_version)" >&2
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the tools" >&2; exit 1; }
rm -rf "$out.partial"
mkdir -p "$out.partial"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
cd "$mod"
echo "tools: downloading modules (helm $helm_version)" >&2
go mod download
echo "tools: [1/1] building helm ..." >&2
start=$SECONDS
# The same version stamps helm's own Makefile sets for a release build.
go build -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v4/internal/version.version=$helm_version \
    -X helm.sh/helm/v4/internal/version.metadata= \
    -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$out.partial/helm" helm.sh/helm/v4/cmd/helm
echo "tools: [1/1] helm built in $((SECONDS - start))s" >&2
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
