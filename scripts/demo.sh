#!/usr/bin/env bash
# The README walkthrough, end to end on this machine: build gotel and a Go HTTP app,
# start both, send three requests, and show the calls of main.computeE and its
# HTTP handler that gotel captured.
#
#   sudo ./scripts/demo.sh
#
# Root is required: gotel loads BPF programs and attaches uprobes to the app.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "demo.sh: must run as root (gotel attaches eBPF uprobes): sudo $0" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs what is missing; exports PATH (cargo) and GOTEL_GO_TOOLCHAINS.
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

step() { printf '\n==> %s\n' "$*"; }

work=$(mktemp -d -t gotel-demo.XXXXXX)
app_pid=""
gotel_pid=""
# Whatever happens, leave no demo app or gotel running and no temp files behind.
cleanup() {
  local rc=$?
  [[ -z "$gotel_pid" ]] || kill -KILL "$gotel_pid" 2>/dev/null || true
  [[ -z "$app_pid" ]] || kill -TERM "$app_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# Polls (every 0.1 s, up to $1 seconds) until the command "${@:2}" succeeds.
wait_for() {
  local deadline=$(($1 * 10)) i
  for ((i = 0; i < deadline; i++)); do
    "${@:2}" && return 0
    sleep 0.1
  done
  return 1
}

alive() { kill -0 "$1" 2>/dev/null; }

step "Building gotel: cargo build --release -p gotel"
cargo build --release -p gotel

# The app must be named `app`: config/demo.yaml selects processes by `exe: app`.
debian_go=${GOTEL_GO_TOOLCHAINS%%:*}
step "Building the demo app with $("$debian_go" version) into target/demo/app"
mkdir -p target/demo
(cd integration/demo && "$debian_go" build -o ../../target/demo/app .)

step "Starting the demo app: target/demo/app -addr 127.0.0.1:0"
target/demo/app -addr 127.0.0.1:0 >"$work/app.out" 2>&1 &
app_pid=$!
app_addr() { grep -q '^listening on ' "$work/app.out" || ! alive "$app_pid"; }
wait_for 10 app_addr || true
addr=$(sed -n 's/^listening on //p' "$work/app.out")
if [[ -z "$addr" ]]; then
  echo "demo.sh: the demo app did not report its address within 10 s; its output:" >&2
  cat "$work/app.out" >&2
  exit 1
fi
echo "listening on $addr (pid $app_pid)"

step "Starting gotel: target/release/gotel run --config config/demo.yaml"
sed 's/^/    /' config/demo.yaml
# Background jobs of a script start with SIGINT ignored; restore the default so the
# SIGINT below reaches gotel exactly as a Ctrl-C would.
env --default-signal=INT target/release/gotel run --config config/demo.yaml \
  >"$work/calls.jsonl" 2>"$work/gotel.log" &
gotel_pid=$!
# One "attached" line per probe in the config.
probes=$(grep -c '^  - function:' config/demo.yaml)
all_attached() { (($(grep -cw attached "$work/gotel.log" 2>/dev/null || true) >= probes)); }
attached() { all_attached || ! alive "$gotel_pid"; }
if ! wait_for 15 attached || ! all_attached; then
  if alive "$gotel_pid"; then
    echo "demo.sh: gotel did not log 'attached' within 15 s; its stderr:" >&2
  else
    gotel_rc=0
    wait "$gotel_pid" || gotel_rc=$?
    echo "demo.sh: gotel exited (status $gotel_rc) before attaching; its stderr:" >&2
  fi
  cat "$work/gotel.log" >&2
  exit 1
fi
grep -w attached "$work/gotel.log" | sed 's/^/    /'

step "Calling the app (each request runs computeE once)"
for query in "?iters=2" "?iters=200" ""; do
  url="http://$addr/e$query"
  echo "\$ curl -s '$url'"
  curl -sS --max-time 10 "$url"
done

# Let the last events drain from the ring buffer, then stop gotel as Ctrl-C would;
# it flushes its output on exit.
sleep 1
step "Stopping gotel (SIGINT)"
kill -INT "$gotel_pid"
gone() { ! alive "$gotel_pid"; }
if ! wait_for 10 gone; then
  echo "demo.sh: gotel still running 10 s after SIGINT; sending SIGTERM" >&2
  kill -TERM "$gotel_pid" 2>/dev/null || true
  wait_for 5 gone || kill -KILL "$gotel_pid" 2>/dev/null || true
fi
gotel_rc=0
wait "$gotel_pid" || gotel_rc=$?
gotel_pid=""

step "Captured calls: gotel's stdout, one JSON object per call"
cat "$work/calls.jsonl"

step "Summary"
PYTHONIOENCODING=utf-8 python3 - "$work/calls.jsonl" <<'PY'
import json, sys

def duration(ns):
    if ns is None:
        return "?"  # no return event (e.g. the call panicked)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.1f}{unit}"
    return f"{ns}ns"

with open(sys.argv[1], encoding="utf-8") as lines:
    for line in lines:
        if not line.strip():
            continue
        call = json.loads(line)
        args = ", ".join(
            f"{name}={json.dumps(value, ensure_ascii=False)}"
            for name, value in (call.get("args") or {}).items()
        )
        print(f"{call.get('function')}({args}) took {duration(call.get('duration_ns'))}")
PY

calls=$(grep -c . "$work/calls.jsonl" || true)
if ((gotel_rc != 0)); then
  echo "demo.sh: gotel exited with status $gotel_rc; its stderr:" >&2
  cat "$work/gotel.log" >&2
  exit 1
fi
if ((calls < 3)); then
  echo "demo.sh: expected 3 captured calls, got $calls; gotel's stderr:" >&2
  cat "$work/gotel.log" >&2
  exit 1
fi
echo "demo.sh: OK, $calls calls captured"
