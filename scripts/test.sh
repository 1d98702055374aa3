#!/usr/bin/env bash
# Builds everything and runs the whole test suite, end-to-end tests included.
#
#   sudo ./scripts/test.sh [cargo test args…]    e.g. ./scripts/test.sh -p gotel decode
#   GOTEL_FULL_MATRIX=1 ./scripts/test.sh        every Go toolchain from 1.21 to the newest
#
# Root is required: the end-to-end tests load BPF programs and attach uprobes.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "test.sh: must run as root (the tests attach eBPF uprobes): sudo $0${*:+ $*}" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs what is missing; exports PATH (cargo) and GOTEL_GO_TOOLCHAINS for the tests.
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

echo "test.sh: Go toolchains: ${GOTEL_GO_TOOLCHAINS//:/ }"
cargo build --workspace --all-targets
# Two threads: each end-to-end test runs a Go target and gotel's BPF programs at once.
# RUST_TEST_THREADS is `--test-threads` as an env var, so "$@" can carry its own `--`.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
cargo test --workspace "$@"
