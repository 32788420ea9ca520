#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go
# module in hack/controlplane into a cache outside the work tree, keyed by the
# pinned versions, so only the first build on a machine is slow.
# Prints the directory holding the binaries on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mod="$here/controlplane"
k8s_version="$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$mod/go.mod")"
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$mod/go.mod")"
cache_root="${SAGEMETER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sagemeter}"
sum="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
out="$cache_root/controlplane/k8s-${k8s_version}-etcd-${etcd_version}-${sum}"
bins=(kube-apiserver kube-controller-manager kubectl etcd)

complete=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || complete=0; done
if [ "$complete" = 1 ]; then
  echo "control plane: cached (Kubernetes $k8s_version, etcd $etcd_version)" >&2
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the control plane" >&2; exit 1; }
mkdir -p "$out.partial"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
cd "$mod"
echo "control plane: downloading modules (Kubernetes $k8s_version, etcd $etcd_version)" >&2
go mod download
i=0
for pkg in go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kubectl \
           k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager; do
  i=$((i + 1))
  name="$(basename "$pkg")"; [ "$name" = v3 ] && name=etcd
  echo "control plane: [$i/4] building $name ..." >&2
  start=$SECONDS
  go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$k8s_version \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2)" \
    -o "$out.partial/$name" "$pkg"
  echo "control plane: [$i/4] $name built in $((SECONDS - start))s" >&2
done
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
