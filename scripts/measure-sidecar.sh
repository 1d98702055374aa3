#!/usr/bin/env bash
# Measures gotel as the demo's sidecar under load: the probes of the sidecar overlay's
# ConfigMap (k8s/overlays/sidecar/gotel.yaml) on the demo app, which integration/loadgen
# keeps busy (GET /e?iters=2 from 8 connections for 30 s). Reports gotel's RSS (idle,
# highest sample under load, VmHWM), its CPU (cores), the app's requests/s, and the calls
# gotel delivered, for two outputs: JSON lines to /dev/null, and OTLP to an endpoint that
# never answers (the export queue fills: the most memory the sidecar can hold), which is
# what sizes the resources in k8s/overlays/*/gotel-sidecar.yaml. Not part of the tests.
#
#   sudo ./scripts/measure-sidecar.sh
#
# Environment: MEASURE_GOTEL (default: cargo build --release), MEASURE_SECONDS (30),
# MEASURE_WORKERS (8).
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "measure-sidecar.sh: must run as root (gotel run attaches eBPF uprobes): sudo $0" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

seconds=${MEASURE_SECONDS:-30}
workers=${MEASURE_WORKERS:-8}
go=${GOTEL_GO_TOOLCHAINS##*:}
work=$(mktemp -d -t gotel-sidecar.XXXXXX)
pids=()
cleanup() {
  local rc=$? p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'measure-sidecar.sh: %s\n' "$*" >&2
  exit 1
}

if [[ -n "${MEASURE_GOTEL:-}" ]]; then
  gotel=$MEASURE_GOTEL
else
  say "Building gotel: cargo build --release -p gotel"
  cargo build --release -p gotel
  gotel=target/release/gotel
fi
for prog in demo loadgen; do
  (cd "integration/$prog" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod "$go" build -o "$work/$prog" .)
done

# Field $2 (1-based) of /proc/$1/status line $3, in KiB.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# CPU seconds (user + system) of process $1.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# Runs one measurement with gotel's outputs $1 (a YAML value) and prints a table row.
measure() {
  local outputs=$1 label=$2
  "$work/demo" -addr 127.0.0.1:0 >"$work/demo.out" 2>&1 &
  local demo=$!
  pids+=("$demo")
  local addr="" i
  for ((i = 0; i < 100; i++)); do
    addr=$(sed -n 's/^listening on //p' "$work/demo.out")
    [[ -n $addr ]] && break
    sleep 0.1
  done
  [[ -n $addr ]] || die "the demo did not start"
  grep -v '^outputs:' k8s/overlays/sidecar/gotel.yaml >"$work/gotel.yaml"
  printf 'outputs: %s\n' "$outputs" >>"$work/gotel.yaml"
  # Tracing every call: at the demo's full speed the default breaker would
  # detach the probe (tens of thousands of hits/s) and measure nothing.
  printf 'defaults:\n  max_hits_per_second: 0\n' >>"$work/gotel.yaml"
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 GOTEL_LOG=gotel=info GOTEL_LOG_FORMAT=json \
    "$gotel" run --config "$work/gotel.yaml" >/dev/null 2>"$work/gotel.err" &
  local g=$!
  pids+=("$g")
  for ((i = 0; i < 300; i++)); do
    grep -q '"message":"attached"' "$work/gotel.err" && break
    sleep 0.1
  done
  grep -q '"message":"attached"' "$work/gotel.err" || die "gotel did not attach: $(cat "$work/gotel.err")"
  sleep 3
  local idle cpu0 peak=0 rss
  idle=$(status_kib "$g" VmRSS)
  cpu0=$(cpu_seconds "$g")
  "$work/loadgen" -url "http://$addr/e?iters=2" -workers "$workers" -duration "${seconds}s" >"$work/load.out" &
  local load=$!
  while kill -0 "$load" 2>/dev/null; do
    rss=$(status_kib "$g" VmRSS)
    ((rss > peak)) && peak=$rss
    sleep 1
  done
  wait "$load"
  local cpu1 hwm requests
  cpu1=$(cpu_seconds "$g")
  hwm=$(status_kib "$g" VmHWM)
  requests=$(awk '{ print $2 }' "$work/load.out")
  kill -INT "$g"
  wait "$g" || true
  kill -KILL "$demo" 2>/dev/null || true
  wait "$demo" 2>/dev/null || true
  local calls
  calls=$(grep '"message":"stopped"' "$work/gotel.err" | grep -o '"calls":[0-9]*' | grep -o '[0-9]*$')
  awk -v l="$label" -v i="$idle" -v p="$peak" -v h="$hwm" -v c0="$cpu0" -v c1="$cpu1" \
    -v s="$seconds" -v r="$requests" -v c="$calls" 'BEGIN {
      printf "| %s | %.0f | %.1f | %.1f | %.1f | %.0f | %s | %.2f |\n",
        l, r / s, i / 1024, p / 1024, h / 1024, c / s, c, (c1 - c0) / s }'
}

echo "| outputs | requests/s | RSS idle (MiB) | RSS under load, highest sample (MiB) | VmHWM (MiB) | calls/s delivered | calls | gotel CPU (cores) |"
echo "|---|---|---|---|---|---|---|---|"
measure '[jsonl]' 'JSON lines (to /dev/null)'
measure '[otlp]' 'OTLP, collector unreachable (queue full)'
