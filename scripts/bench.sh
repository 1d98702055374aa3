#!/usr/bin/env bash
# Measures what tracing costs, side by side in one run. integration/bench calls a
# //go:noinline function in a tight loop on one goroutine; each row runs it for
# BENCH_DURATION with one tracer attached (or none):
#
#   untraced          main.work, nothing attached
#   floor             the same two traps per call (entry + RET) running an empty BPF program
#   gotel             3 ints + a 40-byte string at entry, the int result + latency at the RET
#   bpftrace          the same values, the same two sites, printed per call
#   untraced nested   main.workNested(*Order, int), nothing attached
#   gotel nested      the nested struct (a string, an int) and a 3-element slice of structs
#   gotel entry-only  main.work with `returns: false` + `latency: false`: one trap per call
#   gotel entry-stack the same with `stack: 8`: the callers walked at each entry
#
# and prints ns/call, ns/call added, the ratios gotel/floor and gotel/bpftrace, and the
# kernel's own BPF run time per hit (bpf_stats). Then the userspace side alone, on one
# core, fed synthetic records: decode + JSONL (events/s) and OTLP export to a local
# receiver (calls/s), with the time per stage (sidecar/examples/userspace_bench.rs).
# Not part of scripts/test.sh: it takes a few minutes and its numbers depend on the
# machine.
#
#   sudo ./scripts/bench.sh
#
# Environment:
#   BENCH_DURATION    how long each row calls the function (default 5s)
#   BENCH_GOROUTINES  goroutines calling it (default 1)
#   BENCH_ROWS        the rows to run, by key (default: all of them, in the order above):
#                     untraced floor gotel bpftrace untraced-nested gotel-nested gotel-entry
#                     (on request: gotel-entry-stack; untraced-float gotel-float
#                     gotel-float-off: main.workFloat's float64 argument and result read
#                     at their landing sites, four traps a call, against
#                     `float_landing: false`, two; untraced-inlined gotel-inlined:
#                     main.workInlined, inlined into the loop, probed at the inlined
#                     site's start and exit; gotel-bare: main.work timed with no
#                     values, entry + RET records holding only what every record
#                     holds (time, goroutine, frame, ids): the fixed cost of a hit)
#   BENCH_USERSPACE   0: skip the userspace measurement (default 1)
#   BENCH_GOTEL       a gotel binary to use instead of building the release one (with
#                     BENCH_USERSPACE=0; the BPF program is the same in any build)
#   BENCH_PERF        1: also `perf record` the userspace measurement and print its top
#                     symbols (needs perf, Debian package linux-perf)
#
# Root is required: the tracers attach uprobes, and the BPF run-time statistics
# (kernel.bpf_stats_enabled) are switched on for the measured part of each row.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "bench.sh: must run as root (the tracers attach eBPF uprobes): sudo $0" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs what is missing; exports PATH (cargo) and GOTEL_GO_TOOLCHAINS.
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

duration=${BENCH_DURATION:-5s}
goroutines=${BENCH_GOROUTINES:-1}
rows=${BENCH_ROWS:-untraced floor gotel bpftrace untraced-nested gotel-nested gotel-entry}

work=$(mktemp -d -t gotel-bench.XXXXXX)
app_pid=""
tracer_pid=""
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
# Whatever happens, leave nothing running, restore the BPF stats switch (it costs
# every BPF program on the machine two clock reads per run) and remove temp files.
cleanup() {
  local rc=$?
  [[ -z "$tracer_pid" ]] || kill -KILL "$tracer_pid" 2>/dev/null || true
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

# "<programs> <run_time_ns> <run_cnt>" of the BPF programs process $1 holds: their ids
# from its file descriptors' fdinfo (this bpftool does not name programs' processes),
# so that another tracer's programs (a concurrent test's gotel) never count; uprobes only
# (gotel's exec/exit tracepoint programs are not per call).
bpf_stats() {
  local ids
  ids=$(cat /proc/"$1"/fdinfo/* 2>/dev/null | awk '$1 == "prog_id:" { print $2 }' | sort -un | paste -sd,)
  bpftool prog show --json | jq -r --argjson ids "[$ids]" '
    [.[] | select(.type == "kprobe" and (.id as $i | any($ids[]; . == $i)))]
    | "\(length) \(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0)"'
}

# Waits until file $1 stops growing (the tracer has drained what it was sent).
settle() {
  local size=-1 now
  for _ in $(seq 1 300); do
    now=$(stat -c %s "$1")
    [[ "$now" == "$size" ]] && return 0
    size=$now
    sleep 0.2
  done
}

say "Building gotel: cargo build --release -p gotel --bins --example userspace_bench"
gotel=${BENCH_GOTEL:-target/release/gotel}
[[ -n "${BENCH_GOTEL:-}" ]] || cargo build --release -p gotel --bins --example userspace_bench

# bpftrace is the peer the issue compares with; Debian packages it.
if ! command -v bpftrace >/dev/null; then
  say "apt-get install bpftrace"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends bpftrace >/dev/null || die "apt-get install bpftrace failed"
fi

# Debian's Go is the oldest supported toolchain, and what the demo uses.
debian_go=${GOTEL_GO_TOOLCHAINS%%:*}
say "Building integration/bench with $("$debian_go" version) into target/bench/bench"
mkdir -p target/bench
(cd integration/bench && "$debian_go" build -o ../../target/bench/bench .)
app=$PWD/target/bench/bench
# Debian's bpftrace (0.17) is built without an instruction decoder, so it refuses a
# probe at function+offset (a RET) unless the address belongs to no symbol. A copy
# without the symbol table runs the very same code at the same addresses, and there it
# takes a raw file offset. gotel needs the DWARF, so it traces the original.
stripped=$PWD/target/bench/bench-nosym
objcopy --strip-all "$app" "$stripped"

# File offsets (what a uprobe is placed at) of a function's entry and of its RETs in
# the app: from the symbol table and the disassembly, and the text segment's mapping.
file_offset() {
  # vaddr - segment vaddr + segment file offset, in the LOAD segment holding the address.
  local a=$(($1)) type off va pa filesz memsz
  while read -r type off va pa filesz memsz _; do
    [[ "$type" == LOAD ]] || continue
    if ((a >= va && a < va + memsz)); then
      printf '0x%x\n' $((a - va + off))
      return
    fi
  done < <(readelf -lW "$app")
}
rets_of() {
  objdump -d --no-show-raw-insn "$app" |
    awk -v f="<$1>:" '$2 == f { on = 1; next } on && NF == 0 { exit } on && $2 == "ret" { sub(":", "", $1); print "0x" $1 }'
}
work_entry=$(file_offset "0x$(nm "$app" | awk '$3 == "main.work" { print $1 }')")
mapfile -t work_rets < <(for r in $(rets_of main.work); do file_offset "$r"; done)
[[ -n "$work_entry" && ${#work_rets[@]} -gt 0 ]] || die "main.work's entry or RETs not found in $app"
say "main.work: entry at file offset $work_entry, RETs at ${work_rets[*]}"

results=$work/results
: >"$results"

# Starts the app ($1: work, nested or float) waiting for a newline on fd 3 (a FIFO held open
# read-write here, so that neither side blocks on open); sets app_pid.
start_app() {
  local bin=$1 fn=$2 dir=$3
  mkfifo "$dir/start"
  exec 3<>"$dir/start"
  "$bin" -duration "$duration" -goroutines "$goroutines" -func "$fn" <&3 >"$dir/app.out" 2>&1 &
  app_pid=$!
  ready() { grep -qx ready "$dir/app.out" || ! alive "$app_pid"; }
  if ! wait_for 10 ready || ! grep -qx ready "$dir/app.out"; then
    die "the bench app did not print ready: $(cat "$dir/app.out")"
  fi
}

# Starts the loop, waits for the app to finish, prints its result line.
run_app() {
  local dir=$1
  sysctl -qw kernel.bpf_stats_enabled=1
  echo >&3
  exec 3>&-
  wait "$app_pid" || die "the bench app failed: $(cat "$dir/app.out")"
  app_pid=""
  cat "$dir/app.out" >&2
}

# One row's line in $results: key=value pairs.
row_line() {
  local key=$1 dir=$2 bpf=$3 emitted=$4 cpu=$5 extra=${6:-}
  local progs run_time_ns run_cnt
  read -r progs run_time_ns run_cnt <<<"$bpf"
  printf 'row=%s calls=%s seconds=%s rate=%s emitted=%s progs=%s run_time_ns=%s run_cnt=%s tracer_cpu=%s %s\n' \
    "$key" "$(field calls "$dir/app.out")" "$(field seconds "$dir/app.out")" \
    "$(field rate "$dir/app.out")" "$emitted" "$progs" "$run_time_ns" "$run_cnt" "$cpu" "$extra" >>"$results"
}

untraced() {
  local key=$1 fn=$2 dir=$work/$1
  mkdir -p "$dir"
  say "$key: $app -func $fn, nothing attached"
  "$app" -duration "$duration" -goroutines "$goroutines" -func "$fn" -no-wait >"$dir/app.out"
  cat "$dir/app.out" >&2
  row_line "$key" "$dir" "0 0 0" 0 0
}

# A bpftrace row: $2 is the program. Its probes are on the stripped copy, which only
# this app runs. Not `-p PID`: with it bpftrace detaches as soon as the app exits,
# before its counters are read.
bpftrace_row() {
  local key=$1 program=$2 dir=$work/$1
  mkdir -p "$dir"
  printf '%s\n' "$program" >"$dir/prog.bt"
  say "$key: bpftrace on $stripped: $(tr '\n' ' ' <"$dir/prog.bt")"
  start_app "$stripped" work "$dir"
  # --unsafe: the probes at raw offsets (see $stripped); the RLIMIT_MEMLOCK warning
  # is harmless (the kernel accounts BPF memory to the cgroup).
  env --default-signal=INT bpftrace --unsafe "$dir/prog.bt" \
    >"$dir/out" 2>"$dir/err" 3>&- &
  tracer_pid=$!
  # Loaded programs are attached right after; a second more covers the last one.
  loaded() { [[ $(bpf_stats "$tracer_pid" | cut -d' ' -f1) -ge 2 ]] || ! alive "$tracer_pid"; }
  if ! wait_for 30 loaded || ! alive "$tracer_pid"; then
    die "bpftrace did not load its programs: $(cat "$dir/err" "$dir/out")"
  fi
  sleep 1
  local startup_cpu
  startup_cpu=$(cpu_seconds "$tracer_pid")
  run_app "$dir"
  # The kernel's counters are complete once the app has exited.
  local bpf cpu
  bpf=$(bpf_stats "$tracer_pid")
  settle "$dir/out"
  cpu=$(awk -v a="$(cpu_seconds "$tracer_pid")" -v b="$startup_cpu" 'BEGIN { printf "%.2f", a - b }')
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  kill -INT "$tracer_pid"
  wait "$tracer_pid" || true
  tracer_pid=""
  # Calls delivered: one "r …" line per return; "Lost N events" when its buffer overflowed.
  local lines lost
  lines=$(grep -c '^r ' "$dir/out" || true)
  lost=$(sed -n 's/.*Lost \([0-9]*\) events.*/\1/p' "$dir/out" "$dir/err" | awk '{ n += $1 } END { print n + 0 }')
  [[ "$key" == floor ]] || say "first lines: $(head -n 2 "$dir/out" | tr '\n' '|')"
  row_line "$key" "$dir" "$bpf" "$lines" "$cpu" "lost=$lost"
}

# A gotel row: $2 is the function called, $3 the probe's extra YAML lines.
gotel_row() {
  local key=$1 fn=$2 extra=$3 dir=$work/$1 function=main.work
  [[ "$fn" == nested ]] && function=main.workNested
  [[ "$fn" == float ]] && function=main.workFloat
  [[ "$fn" == inlined ]] && function=main.workInlined
  mkdir -p "$dir"
  say "$key: gotel on $function${extra:+ ($(tr '\n' ' ' <<<"$extra"))}"
  start_app "$app" "$fn" "$dir"
  # The breaker (issue 12) would detach a probe hit this often; the bench measures the
  # cost of tracing every call, so it is set out of reach.
  cat >"$dir/gotel.yaml" <<EOF
probes:
  - function: $function
    target: { pid: $app_pid }
    max_hits_per_second: 1000000000
$extra
EOF
  # Background jobs of a script start with SIGINT ignored; restore the default so the
  # SIGINT below stops gotel as a Ctrl-C would. stderr is a file, so gotel logs JSON.
  env --default-signal=INT "$gotel" run --config "$dir/gotel.yaml" \
    >"$dir/calls.jsonl" 2>"$dir/gotel.log" 3>&- &
  tracer_pid=$!
  # -s: the shell creates gotel.log in the child, possibly after the first poll.
  attached() { grep -qs '"attached"' "$dir/gotel.log" || ! alive "$tracer_pid"; }
  if ! wait_for 15 attached || ! grep -q '"attached"' "$dir/gotel.log"; then
    cat "$dir/gotel.log" >&2
    die "gotel did not log \"attached\" within 15 s"
  fi
  # gotel's start-up (analysis, loading, attaching) is a one-off cost, left out.
  local startup_cpu
  startup_cpu=$(cpu_seconds "$tracer_pid")
  run_app "$dir"
  # The kernel's counters are complete once the app has exited (gotel then detaches).
  local bpf cpu
  bpf=$(bpf_stats "$tracer_pid")
  settle "$dir/calls.jsonl"
  cpu=$(awk -v a="$(cpu_seconds "$tracer_pid")" -v b="$startup_cpu" 'BEGIN { printf "%.2f", a - b }')
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  kill -INT "$tracer_pid"
  gone() { ! alive "$tracer_pid"; }
  wait_for 30 gone || die "gotel still running 30 s after SIGINT"
  wait "$tracer_pid" || die "gotel exited with status $?: $(tail -n 5 "$dir/gotel.log")"
  tracer_pid=""
  local stopped
  stopped=$(grep '"stopped"' "$dir/gotel.log" | tail -n 1)
  [[ -n "$stopped" ]] || die "gotel logged no \"stopped\" record: $(tail -n 5 "$dir/gotel.log")"
  # tracing-subscriber's JSON puts the record's fields under "fields".
  stopped=$(jq -r '(.fields // .) | "dropped=\(.dropped) read_faults=\(.read_faults) unmatched=\(.unmatched_returns)"' <<<"$stopped")
  grep -E '"level":"(WARN|ERROR)"' "$dir/gotel.log" | head -n 5 >&2 || true
  say "first captured call: $(head -n 1 "$dir/calls.jsonl")"
  row_line "$key" "$dir" "$bpf" "$(wc -l <"$dir/calls.jsonl")" "$cpu" "$stopped"
}

# The floor: what any uprobe tracer pays for these two sites before doing anything.
floor_prog="uprobe:$stripped:$work_entry {}"
# What gotel's demo probe captures, the way a bpftrace user would write it: Go's
# register ABI puts a, b, c in RAX, RBX, RCX and the string in RDI (pointer) + RSI
# (length), the result in RAX; the start time is kept per thread for the latency.
bt_prog="uprobe:$stripped:$work_entry {
  @start[tid] = nsecs;
  printf(\"e %d %d %d %s\\n\", reg(\"ax\"), reg(\"bx\"), reg(\"cx\"), str(reg(\"di\"), reg(\"si\")));
}"
for r in "${work_rets[@]}"; do
  floor_prog+=$'\n'"uprobe:$stripped:$r {}"
  bt_prog+=$'\n'"uprobe:$stripped:$r {
  printf(\"r %d %d\\n\", reg(\"ax\"), nsecs - @start[tid]);
}"
done

for r in $rows; do
  case $r in
    untraced) untraced untraced work ;;
    floor) bpftrace_row floor "$floor_prog" ;;
    gotel) gotel_row gotel work "" ;;
    bpftrace) bpftrace_row bpftrace "$bt_prog" ;;
    untraced-nested) untraced untraced-nested nested ;;
    gotel-nested) gotel_row gotel-nested nested "" ;;
    gotel-entry) gotel_row gotel-entry work $'    returns: false\n    latency: false' ;;
    gotel-entry-stack) gotel_row gotel-entry-stack work $'    returns: false\n    latency: false\n    stack: 8' ;;
    gotel-bare) gotel_row gotel-bare work $'    args: []\n    returns: false' ;;
    untraced-float) untraced untraced-float float ;;
    gotel-float) gotel_row gotel-float float "" ;;
    gotel-float-off) gotel_row gotel-float-off float $'    float_landing: false' ;;
    untraced-inlined) untraced untraced-inlined inlined ;;
    gotel-inlined) gotel_row gotel-inlined inlined "" ;;
    *) die "unknown row $r in BENCH_ROWS" ;;
  esac
done

# Derived figures are computed here so that the raw ones above stay exactly what each
# side reported. ns/call is the loop's own (1e9 / calls per second); "added" is over the
# untraced run of the same function; BPF ns/hit is run_time_ns / run_cnt.
echo
echo "Tracing cost on integration/bench ($duration per row, $goroutines goroutine(s), $(nproc) CPUs, kernel $(uname -r))"
awk '
  {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    r = v["row"]; order[++n] = r
    for (k in v) val[r, k] = v[k]
    delete v
  }
  function ns(r) { return val[r, "rate"] > 0 ? 1e9 / val[r, "rate"] : 0 }
  function base(r) {
    return r ~ /nested/ ? "untraced-nested" : r ~ /float/ ? "untraced-float" : r ~ /inlined/ ? "untraced-inlined" : "untraced"
  }
  function ratio(a, b) { return ns(a) > 0 && ns(b) > 0 ? sprintf("%.3f", ns(a) / ns(b)) : "-" }
  END {
    printf "%-17s %12s %10s %10s %8s %12s %12s %9s %8s\n", "row", "calls/s", "ns/call", "added ns", \
      "BPF ns/hit", "hits/call", "emitted", "lost", "CPU s"
    for (i = 1; i <= n; i++) {
      r = order[i]
      b = base(r)
      hits = val[r, "run_cnt"]; calls = val[r, "calls"]
      perhit = hits > 0 ? sprintf("%.0f", val[r, "run_time_ns"] / hits) : "-"
      perc = calls > 0 && hits > 0 ? sprintf("%.3f", hits / calls) : "-"
      # The floor emits nothing: nothing to lose.
      lost = r ~ /^untraced/ || r == "floor" ? "-" : calls - val[r, "emitted"]
      printf "%-17s %12.0f %10.1f %10s %8s %12s %12s %9s %8s\n", r, val[r, "rate"], ns(r), \
        (ns(b) > 0 && r != b ? sprintf("%.1f", ns(r) - ns(b)) : "-"), perhit, perc, \
        (r ~ /^untraced/ || r == "floor" ? "-" : val[r, "emitted"]), lost, (r ~ /^untraced/ ? "-" : val[r, "tracer_cpu"])
    }
    print ""
    printf "gotel/floor (ns/call)        %s   (target <= 1.05)\n", ratio("gotel", "floor")
    printf "gotel/bpftrace (ns/call)     %s   (target < 1.0)\n", ratio("gotel", "bpftrace")
    printf "gotel-entry/floor (ns/call)  %s\n", ratio("gotel-entry", "floor")
    printf "gotel-nested/gotel (ns/call) %s\n", ratio("gotel-nested", "gotel")
    if (val["gotel-float", "rate"] != "")
      printf "gotel-float/gotel-float-off (ns/call) %s   (what the two landing-site traps add)\n", ratio("gotel-float", "gotel-float-off")
    printf "gotel BPF ns/hit             %s   (target <= 300)\n", \
      (val["gotel", "run_cnt"] > 0 ? sprintf("%.0f", val["gotel", "run_time_ns"] / val["gotel", "run_cnt"]) : "-")
    for (i = 1; i <= n; i++) {
      r = order[i]
      if (r ~ /^gotel/)
        printf "%s: %s\n", r, val[r, "dropped"] == "" ? "" : sprintf("ring dropped %s, read_faults %s, unmatched_returns %s", \
          val[r, "dropped"], val[r, "read_faults"], val[r, "unmatched"])
      if (r == "bpftrace") printf "%s: lost (bpftrace perf buffer) %s\n", r, val[r, "lost"]
    }
  }' "$results"

# The userspace side alone, one core (taskset), fed synthetic records: see the example.
if [[ ${BENCH_USERSPACE:-1} == 1 ]]; then
  echo
  say "Userspace: taskset -c 0 target/release/examples/userspace_bench $app"
  if [[ ${BENCH_PERF:-0} == 1 ]]; then
    command -v perf >/dev/null || die "BENCH_PERF=1 needs perf (apt-get install linux-perf)"
    perf record -q -g -o "$work/perf.data" -- taskset -c 0 target/release/examples/userspace_bench "$app"
    perf report -i "$work/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -n 40
  else
    taskset -c 0 target/release/examples/userspace_bench "$app"
  fi
fi
