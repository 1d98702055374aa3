#!/usr/bin/env bash
# Builds everything and runs the whole test suite, end-to-end tests included.
#
#   sudo ./scripts/test.sh [cargo test args…]    e.g. ./scripts/test.sh -p gotel decode
#   GOTEL_FULL_MATRIX=1 ./scripts/test.sh        every Go toolchain from 1.21 to the newest
#   ./scripts/test.sh --quick [cargo test args…] the developer loop: unit tests (--lib),
#                                                the C header layout test and the binary
#                                                analysis and plan tests (newest Go only); no root,
#                                                no uprobes, well under a minute once built
#
# Root is required for the full suite: the end-to-end tests load BPF programs and attach
# uprobes.
set -euo pipefail

quick=0
if [[ "${1:-}" == --quick ]]; then
  quick=1
  shift
fi

if [[ $quick == 0 && $(id -u) != 0 ]]; then
  echo "test.sh: must run as root (the tests attach eBPF uprobes): sudo $0${*:+ $*}" >&2
  echo "test.sh: or run the root-free subset: $0 --quick" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs what is missing; exports PATH (cargo) and GOTEL_GO_TOOLCHAINS for the tests.
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

echo "test.sh: Go toolchains: ${GOTEL_GO_TOOLCHAINS//:/ }"
# Two threads: each end-to-end test runs a Go target and gotel's BPF programs at once.
# RUST_TEST_THREADS is `--test-threads` as an env var, so "$@" can carry its own `--`.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
if [[ $quick == 1 ]]; then
  # One toolchain (the newest) keeps the loop short; the full run covers the others.
  export GOTEL_GO_TOOLCHAINS="${GOTEL_GO_TOOLCHAINS##*:}"
  exec cargo test -p gotel --lib --test layout --test analysis --test plan "$@"
fi
# kube-apiserver, kubectl and etcd for sidecar/tests/k8s.rs: built once (long), then cached.
# shellcheck source=scripts/k8s-tools.sh
source scripts/k8s-tools.sh
# The OpenTelemetry Collector and Jaeger for sidecar/tests/jaeger.rs (and the SDK modules
# of integration/otelapp): built once, then cached.
# shellcheck source=scripts/otel-tools.sh
source scripts/otel-tools.sh
cargo build --workspace --all-targets
cargo test --workspace "$@"
