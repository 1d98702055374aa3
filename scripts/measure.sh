#!/usr/bin/env bash
# Measures what analysing a real Go binary costs gotel, in time and memory: for Go's own
# tools built from GOROOT with DWARF (cmd/go, cmd/compile), `gotel functions` (wall time,
# peak RSS), `gotel check` of 20 probes (wall time, peak RSS) and `gotel run` with the
# same 20 probes attached to a running copy (RSS once attached and settled, and peak).
# Prints the README's table (markdown) on stdout. Not part of scripts/test.sh: it builds
# two Go tools (a few minutes the first time) and its numbers depend on the machine.
#
#   sudo ./scripts/measure.sh
#
# Environment:
#   MEASURE_GOTEL     the gotel to measure (default: cargo build --release, target/release/gotel)
#   MEASURE_TOOLS     space-separated GOROOT packages to build and measure (default "cmd/go cmd/compile")
#   MEASURE_SETTLE    seconds to wait after the last probe attached before reading RSS (default 3)
#
# Times and peaks come from /usr/bin/time -v; the steady RSS is VmRSS from /proc/PID/status.
# Root is required: `gotel run` attaches uprobes.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "measure.sh: must run as root (gotel run attaches eBPF uprobes): sudo $0" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

tools=${MEASURE_TOOLS:-cmd/go cmd/compile}
settle=${MEASURE_SETTLE:-3}
# The newest toolchain: its tools are what a user would have at hand.
go=${GOTEL_GO_TOOLCHAINS##*:}

work=$(mktemp -d -t gotel-measure.XXXXXX)
app_pid=""
gotel_pid=""
cleanup() {
  local rc=$?
  [[ -z "$gotel_pid" ]] || kill -KILL "$gotel_pid" 2>/dev/null || true
  [[ -z "$app_pid" ]] || kill -KILL "$app_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'measure.sh: %s\n' "$*" >&2
  exit 1
}
alive() { kill -0 "$1" 2>/dev/null; }

if [[ -n "${MEASURE_GOTEL:-}" ]]; then
  gotel=$MEASURE_GOTEL
else
  say "Building gotel: cargo build --release -p gotel"
  cargo build --release -p gotel
  gotel=target/release/gotel
fi

# Stdlib functions both tools have out of line: strings, slices, interfaces, errors.
probes=('bytes.(*Buffer).Write' 'flag.(*FlagSet).Parse' 'fmt.Sprintf' 'fmt.Fprintf' 'io.ReadAll'
  'os.(*File).Read' 'os.(*File).Write' 'os.Getenv' 'os.OpenFile' 'os.ReadFile' 'os.Stat'
  'strings.Fields' 'strings.Join' 'sort.Strings' 'sort.Slice' 'bufio.(*Writer).Write'
  'strings.Replace' 'strings.(*Builder).WriteString' 'fmt.Sprint' 'strings.Repeat')

# Writes a config of every probe on target $2 to $1.
config() {
  local f
  echo "probes:" >"$1"
  for f in "${probes[@]}"; do
    printf '  - function: "%s"\n    target: %s\n' "$f" "$2" >>"$1"
  done
}

# "wall_seconds peak_MiB" of a /usr/bin/time -v report.
timed() {
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
                                          for (i = 1; i <= n; i++) s = s * 60 + t[i] }
              /Maximum resident set size/ { kib = $2 }
              END { printf "%.2f %.0f", s, kib / 1024 }' "$1"
}

# Bytes of the .debug_* sections of ELF file $1 (readelf's Size column is hex).
debug_bytes() {
  local total=0 size
  for size in $(readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] \.z\{0,1\}debug_[a-z_]* *[A-Z_]* *[0-9a-f]* *[0-9a-f]* *\([0-9a-f]*\) .*/\1/p'); do
    total=$((total + 16#$size))
  done
  echo "$total"
}

# MB (10^6 bytes) of DWARF in $1: as stored (compressed since Go 1.22), and uncompressed.
dwarf_mb() {
  local stored plain
  stored=$(debug_bytes "$1")
  objcopy --decompress-debug-sections "$1" "$work/plain"
  plain=$(debug_bytes "$work/plain")
  rm -f "$work/plain"
  awk -v a="$stored" -v b="$plain" 'BEGIN { printf "%.1f %.1f", a / 1e6, b / 1e6 }'
}

# A copy of tool $1 blocked in open(2) on a FIFO, so that it stays mapped and idle.
start_app() {
  local bin=$1 fifo=$work/fifo
  rm -f "$fifo"
  mkfifo "$fifo"
  case $(basename "$bin") in
    go) "$bin" mod edit -json "$fifo" >/dev/null 2>&1 & ;;
    compile) "$bin" -p main -o "$work/x.o" "$fifo" >/dev/null 2>&1 & ;;
    *) die "do not know how to keep $bin running" ;;
  esac
  app_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(readlink "/proc/$app_pid/exe" 2>/dev/null) == "$bin" ]] && return 0
    sleep 0.1
  done
  die "$bin did not start"
}

stop_app() {
  kill -KILL "$app_pid" 2>/dev/null || true
  wait "$app_pid" 2>/dev/null || true
  app_pid=""
}

say "gotel: $gotel; Go: $("$go" version)"
printf '| binary | size (MB) | DWARF stored / uncompressed (MB) | `functions` wall, peak RSS | `check` 20 probes wall, peak RSS | `run` 20 probes steady RSS (peak) |\n'
printf '|---|---|---|---|---|---|\n'
for pkg in $tools; do
  bin=$work/$(basename "$pkg")
  say "Building $pkg with $go"
  (cd "$("$go" env GOROOT)/src" && GOFLAGS= "$go" build -o "$bin" "$pkg")
  size=$(stat -c %s "$bin")
  read -r dw_stored dw_plain <<<"$(dwarf_mb "$bin")"

  say "gotel functions $bin"
  /usr/bin/time -v -o "$work/functions.time" "$gotel" functions "$bin" >"$work/functions.out"
  read -r f_wall f_peak <<<"$(timed "$work/functions.time")"

  config "$work/check.yaml" "{ exe: $bin }"
  say "gotel check --binary $bin (20 probes)"
  /usr/bin/time -v -o "$work/check.time" "$gotel" check --config "$work/check.yaml" \
    --binary "$bin" >"$work/check.out" || die "gotel check failed: $(grep -m3 error "$work/check.out")"
  read -r c_wall c_peak <<<"$(timed "$work/check.time")"

  start_app "$bin"
  config "$work/run.yaml" "{ pid: $app_pid }"
  say "gotel run, 20 probes on pid $app_pid"
  env --default-signal=INT /usr/bin/time -v -o "$work/run.time" "$gotel" run --config "$work/run.yaml" \
    >/dev/null 2>"$work/run.log" &
  time_pid=$!
  for ((i = 0; i < 300; i++)); do
    gotel_pid=$(pgrep -P "$time_pid" || true)
    [[ -n "$gotel_pid" ]] && break
    sleep 0.1
  done
  [[ -n "$gotel_pid" ]] || die "gotel run did not start"
  for ((i = 0; i < 600; i++)); do
    (($(grep -c '"attached"' "$work/run.log" || true) >= ${#probes[@]})) && break
    alive "$gotel_pid" || die "gotel run exited: $(tail -n 3 "$work/run.log")"
    sleep 0.1
  done
  (($(grep -c '"attached"' "$work/run.log") >= ${#probes[@]})) || die "not every probe attached: $(grep -m3 WARN "$work/run.log")"
  sleep "$settle"
  steady=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$gotel_pid/status")
  kill -INT "$gotel_pid"
  wait "$time_pid" || die "gotel run failed: $(tail -n 3 "$work/run.log")"
  gotel_pid=""
  stop_app
  read -r _ r_peak <<<"$(timed "$work/run.time")"

  printf '| %s | %.1f | %s / %s | %s s, %s MiB | %s s, %s MiB | %s MiB (%s MiB) |\n' \
    "$pkg" "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')" "$dw_stored" "$dw_plain" \
    "$f_wall" "$f_peak" "$c_wall" "$c_peak" "$steady" "$r_peak"
done
