#!/usr/bin/env bash
# Measures what tracing costs: integration/bench calls main.work in a tight loop, once
# without gotel and once with gotel attached, and this compares the two. Not part of
# scripts/test.sh: it takes about a minute and its numbers depend on the machine.
#
#   sudo ./scripts/bench.sh
#
# Environment:
#   BENCH_DURATION    how long each run calls work (default 5s)
#   BENCH_GOROUTINES  space-separated goroutine counts to measure (default "1 2")
#   BENCH_PROBE_EXTRA extra YAML lines for the probe, e.g. '    args: []' (4-space indent)
#
# Root is required: gotel attaches uprobes, and the BPF run-time statistics
# (kernel.bpf_stats_enabled) are switched on for the traced part of each run.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "bench.sh: must run as root (gotel attaches eBPF uprobes): sudo $0" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs what is missing; exports PATH (cargo) and GOTEL_GO_TOOLCHAINS.
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

duration=${BENCH_DURATION:-5s}
goroutine_counts=${BENCH_GOROUTINES:-1 2}

work=$(mktemp -d -t gotel-bench.XXXXXX)
app_pid=""
gotel_pid=""
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
# Whatever happens, leave nothing running, restore the BPF stats switch (it costs
# every BPF program on the machine two clock reads per run) and remove temp files.
cleanup() {
  local rc=$?
  [[ -z "$gotel_pid" ]] || kill -KILL "$gotel_pid" 2>/dev/null || true
  [[ -z "$app_pid" ]] || kill -KILL "$app_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$stats_before" || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'bench.sh: %s\n' "$*" >&2
  exit 1
}

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

# CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
cpu_seconds() {
  local stat fields
  stat=$(<"/proc/$1/stat")
  # Fields after the parenthesised comm, which may itself contain spaces.
  read -ra fields <<<"${stat##*) }"
  # utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
  awk -v u="${fields[11]}" -v s="${fields[12]}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", (u + s) / hz }'
}

# The value of key $1 in the app's result line "calls=… seconds=… rate=…".
field() { sed -n "s/.*\<$1=\([0-9.]*\).*/\1/p" "$2"; }

say "Building gotel: cargo build --release -p gotel"
cargo build --release -p gotel
gotel=target/release/gotel

# Debian's Go is the oldest supported toolchain, and what the demo uses.
debian_go=${GOTEL_GO_TOOLCHAINS%%:*}
say "Building integration/bench with $("$debian_go" version) into target/bench/bench"
mkdir -p target/bench
(cd integration/bench && "$debian_go" build -o ../../target/bench/bench .)
app=target/bench/bench

results=$work/results

# Runs the app without gotel; starts its line in $results with the rate.
# (Called directly, not in $(…): die and the cleanup trap must act on this shell.)
baseline() {
  local goroutines=$1 out=$work/baseline-$1.out
  say "Baseline: $app -duration $duration -goroutines $goroutines -no-wait"
  "$app" -duration "$duration" -goroutines "$goroutines" -no-wait >"$out"
  cat "$out" >&2
  printf 'goroutines=%s base_rate=%s ' "$goroutines" "$(field rate "$out")" >>"$results"
}

# Runs the app with gotel attached to main.work; ends its line in $results with
# key=value results.
traced() {
  local goroutines=$1 dir=$work/traced-$1
  mkdir -p "$dir"
  say "Traced: $app -duration $duration -goroutines $goroutines, gotel on main.work"
  # The app waits for a newline on stdin before its loop; a FIFO held open read-write
  # here lets us send it later without either side blocking on open.
  mkfifo "$dir/start"
  exec 3<>"$dir/start"
  "$app" -duration "$duration" -goroutines "$goroutines" <&3 >"$dir/app.out" 2>&1 &
  app_pid=$!
  ready() { grep -qx ready "$dir/app.out" || ! alive "$app_pid"; }
  if ! wait_for 10 ready || ! grep -qx ready "$dir/app.out"; then
    die "the bench app did not print ready: $(cat "$dir/app.out")"
  fi

  cat >"$dir/gotel.yaml" <<EOF
probes:
  - function: main.work
    target: { pid: $app_pid }
${BENCH_PROBE_EXTRA:-}
EOF
  # Background jobs of a script start with SIGINT ignored; restore the default so the
  # SIGINT below stops gotel as a Ctrl-C would. stderr is a file, so gotel logs JSON.
  env --default-signal=INT "$gotel" run --config "$dir/gotel.yaml" \
    >"$dir/calls.jsonl" 2>"$dir/gotel.log" 3>&- &
  gotel_pid=$!
  # -s: the shell creates gotel.log in the child, possibly after the first poll.
  attached() { grep -qs '"attached"' "$dir/gotel.log" || ! alive "$gotel_pid"; }
  if ! wait_for 15 attached || ! grep -q '"attached"' "$dir/gotel.log"; then
    cat "$dir/gotel.log" >&2
    die "gotel did not log \"attached\" within 15 s"
  fi

  # gotel's start-up (loading and attaching) is a one-off cost, reported apart.
  local startup_cpu
  startup_cpu=$(cpu_seconds "$gotel_pid")
  # Count BPF run time only for the measured loop, not for attaching.
  sysctl -qw kernel.bpf_stats_enabled=1
  echo >&3
  exec 3>&-
  wait "$app_pid" || die "the bench app failed: $(cat "$dir/app.out")"
  app_pid=""
  cat "$dir/app.out" >&2

  # Let gotel drain the ring buffer: wait until its output stops growing.
  local size=-1 now
  for _ in $(seq 1 300); do
    now=$(stat -c %s "$dir/calls.jsonl")
    [[ "$now" == "$size" ]] && break
    size=$now
    sleep 0.2
  done
  # Only this gotel's programs: a concurrent test run may have its own gotel_probe.
  local bpf
  bpf=$(bpftool prog show --json | jq -r --argjson pid "$gotel_pid" '
    [.[] | select(.name == "gotel_probe")
         | select((.pids // []) | length == 0 or any(.pid == $pid))]
    | "\(length) \(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0)"')
  local gotel_cpu
  gotel_cpu=$(awk -v a="$(cpu_seconds "$gotel_pid")" -v b="$startup_cpu" 'BEGIN { printf "%.2f", a - b }')
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"

  kill -INT "$gotel_pid"
  gone() { ! alive "$gotel_pid"; }
  wait_for 30 gone || die "gotel still running 30 s after SIGINT"
  wait "$gotel_pid" || die "gotel exited with status $?: $(tail -n 5 "$dir/gotel.log")"
  gotel_pid=""

  local stopped
  stopped=$(grep '"stopped"' "$dir/gotel.log" | tail -n 1)
  [[ -n "$stopped" ]] || die "gotel logged no \"stopped\" record: $(tail -n 5 "$dir/gotel.log")"
  # tracing-subscriber's JSON puts the record's fields under "fields".
  stopped=$(jq -r '(.fields // .) | "\(.calls) \(.events) \(.dropped) \(.read_faults) \(.unmatched_returns) \(.evicted_entries)"' <<<"$stopped")
  grep -E '"level":"(WARN|ERROR)"' "$dir/gotel.log" | head -n 5 >&2 || true
  say "first captured call: $(head -n 1 "$dir/calls.jsonl")"

  # What gotel reports as the duration of a call that takes a few ns untraced.
  local median_ns
  median_ns=$(jq -s 'map(.duration_ns // empty) | sort | if length > 0 then .[length / 2 | floor] else 0 end' \
    "$dir/calls.jsonl")

  local progs run_time_ns run_cnt calls events dropped faults unmatched evicted
  read -r progs run_time_ns run_cnt <<<"$bpf"
  read -r calls events dropped faults unmatched evicted <<<"$stopped"
  printf 'app_calls=%s seconds=%s rate=%s lines=%s gotel_calls=%s events=%s dropped=%s' \
    "$(field calls "$dir/app.out")" "$(field seconds "$dir/app.out")" \
    "$(field rate "$dir/app.out")" "$(wc -l <"$dir/calls.jsonl")" "$calls" "$events" "$dropped"
  printf ' read_faults=%s unmatched=%s evicted=%s progs=%s run_time_ns=%s run_cnt=%s startup_cpu=%s gotel_cpu=%s median_ns=%s\n' \
    "$faults" "$unmatched" "$evicted" "$progs" "$run_time_ns" "$run_cnt" "$startup_cpu" "$gotel_cpu" \
    "$median_ns"
}

for g in $goroutine_counts; do
  baseline "$g"
  traced "$g" >>"$results"
done

# One column per goroutine count; derived figures computed here so the raw ones above
# stay exactly what each side reported.
echo
echo "gotel overhead on main.work (duration $duration per run, $(nproc) CPUs)"
awk '
  {
    n++
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[n, kv[1]] = kv[2] }
  }
  function row(label, fmt, expr_key,   i) {
    printf "%-36s", label
    for (i = 1; i <= n; i++) printf fmt, val(i, expr_key)
    printf "\n"
  }
  function val(i, k,   b, t) {
    b = v[i, "base_rate"]; t = v[i, "rate"]
    if (k == "slowdown") return b / t
    if (k == "overhead_us") return (1 / t - 1 / b) * 1e6
    if (k == "lines_per_s") return v[i, "lines"] / v[i, "seconds"]
    if (k == "events_per_s") return v[i, "events"] / v[i, "seconds"]
    if (k == "ns_per_run") return v[i, "run_cnt"] ? v[i, "run_time_ns"] / v[i, "run_cnt"] : 0
    if (k == "runs_per_call") return v[i, "app_calls"] ? v[i, "run_cnt"] / v[i, "app_calls"] : 0
    if (k == "lost") return v[i, "app_calls"] - v[i, "lines"]
    if (k == "cpu_pct") return 100 * v[i, "gotel_cpu"] / v[i, "seconds"]
    return v[i, k]
  }
  END {
    row("goroutines", "%16d", "goroutines")
    row("baseline calls/s", "%16.0f", "base_rate")
    row("traced calls/s", "%16.0f", "rate")
    row("slowdown (baseline/traced)", "%16.1f", "slowdown")
    row("overhead per call (us)", "%16.3f", "overhead_us")
    row("app calls (traced run)", "%16d", "app_calls")
    row("JSON lines printed", "%16d", "lines")
    row("app calls - JSON lines", "%16d", "lost")
    row("gotel calls (stopped)", "%16d", "gotel_calls")
    row("gotel events (stopped)", "%16d", "events")
    row("gotel dropped (ring full)", "%16d", "dropped")
    row("read_faults", "%16d", "read_faults")
    row("unmatched_returns", "%16d", "unmatched")
    row("evicted_entries", "%16d", "evicted")
    row("median duration_ns in the JSON", "%16d", "median_ns")
    row("JSON lines/s delivered", "%16.0f", "lines_per_s")
    row("events/s (stopped.events/secs)", "%16.0f", "events_per_s")
    row("gotel_probe programs", "%16d", "progs")
    row("BPF run_cnt", "%16d", "run_cnt")
    row("BPF runs per app call", "%16.3f", "runs_per_call")
    row("BPF run_time_ns", "%16d", "run_time_ns")
    row("BPF ns per run", "%16.0f", "ns_per_run")
    row("gotel start-up CPU s (to attached)", "%16.2f", "startup_cpu")
    row("gotel CPU s during run+drain", "%16.2f", "gotel_cpu")
    row("  as % of the app run time", "%16.1f", "cpu_pct")
  }' "$results"
