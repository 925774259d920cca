#!/usr/bin/env bash
# Builds kube-apiserver and etcd from source through the Go module proxy, because the usual envtest download
# host is not reachable from CI. Output: $1/{kube-apiserver,etcd}. Rebuilds only when a version changes.
set -euo pipefail

dest=${1:?usage: envtest.sh <dir>}
k8s_version=${K8S_VERSION:-1.37.2}
etcd_version=${ETCD_VERSION:-3.6.16}
want="kube-apiserver=v$k8s_version etcd=v$etcd_version"
if [[ -x "$dest/kube-apiserver" && -x "$dest/etcd" && "$(cat "$dest/.versions" 2>/dev/null)" == "$want" ]]; then
  exit 0
fi
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
stamp="$dest/.versions"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off

# kube-apiserver: k8s.io/kubernetes pins its staging modules at v0.0.0 and replaces them with local paths, so
# the throwaway module replaces each one with the published v0.X.Y tag.
mkdir -p "$work/apiserver"
cd "$work/apiserver"
go mod init envtest/apiserver >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@v$k8s_version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
staging_version="v0.${k8s_version#1.}"
{
  echo "require k8s.io/kubernetes v$k8s_version"
  sed -n '/^replace (/,/^)/p' "$gomod" | grep -o '^\s*k8s.io/[a-z0-9-]*' | sed 's/^\s*//' | sort -u |
    while read -r m; do echo "replace $m => $m $staging_version"; done
} >>go.mod
go mod tidy >/dev/null 2>&1 || true
go get "k8s.io/kubernetes/cmd/kube-apiserver@v$k8s_version" >/dev/null
go build -o "$dest/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver

mkdir -p "$work/etcd"
cd "$work/etcd"
go mod init envtest/etcd >/dev/null 2>&1
{
  echo "require go.etcd.io/etcd/server/v3 v$etcd_version"
  for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
    echo "replace go.etcd.io/etcd/$m => go.etcd.io/etcd/$m v$etcd_version"
  done
} >>go.mod
go get "go.etcd.io/etcd/server/v3@v$etcd_version" >/dev/null
go build -o "$dest/etcd" go.etcd.io/etcd/server/v3

echo "$want" >"$stamp"
