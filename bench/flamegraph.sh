#!/usr/bin/env bash
# Capture-to-SVG speed of `holter flamegraph`, next to `perf script | inferno-collapse-perf |
# inferno-flamegraph` on a perf.data of a real CPU workload.
#
#   bench/flamegraph.sh [SAMPLES] [WORKLOAD_SECONDS] [HZ]     (defaults: 1000000, 20 and 4999)
#
# 1. A synthetic capture of SAMPLES samples (analyzer/examples/synth_capture.rs: 8 processes,
#    20,000 distinct stacks 8-40 frames deep, a third with kernel frames) → `holter flamegraph`.
# 2. `perf record -e cpu-clock -F HZ -g` of bench/flame-workload.c (2 threads) for
#    WORKLOAD_SECONDS (a high rate, so that fixed start-up costs do not dominate) → perf script | inferno-collapse-perf | inferno-flamegraph
#    (install with `cargo install inferno`; skipped with a note when absent or without perf).
# 3. Where holter-agent records samples, the same workload recorded by holter-agent →
#    `holter flamegraph`, for the same-workload comparison.
# Each timing is the best of 3 runs (by wall time); figures are samples per second of wall and
# of CPU time (user + sys of the whole pipeline).
set -euo pipefail
SAMPLES=${1:-1000000}
SECS=${2:-20}
HZ=${3:-4999}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/holter-flamebench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
cargo build --release -q -p holter --bin holter --example synth_capture
HOLTER=$ROOT/target/release/holter

# best_of3 CMD...: prints "WALL CPU" in seconds, of the run with the best wall time
# (CPU = user + sys, all processes: less sensitive than wall to other load on the machine).
best_of3() {
	local best="1e9 0" TIMEFORMAT='%R %U %S' t
	for _ in 1 2 3; do
		t=$( { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{printf "%.3f %.3f", $1, $2+$3}')
		best=$(echo "$t $best" | awk '{print ($1<$3) ? $1" "$2 : $3" "$4}')
	done
	echo "$best"
}
# report WHAT SAMPLES "WALL CPU"
report() {
	echo "$1 $2 $3" | awk '{printf "%s: %.3f s wall, %.3f s CPU; %.0f samples/s wall, %.0f samples/s CPU\n", $1, $3, $4, $2/$3, $2/$4}'
}

echo "== holter flamegraph, synthetic capture of $SAMPLES samples"
"$ROOT/target/release/examples/synth_capture" "$WORK/synth.holter" "$SAMPLES" 2>/dev/null
ls -l "$WORK/synth.holter" | awk '{printf "capture: %d bytes (%.1f bytes/sample)\n", $5, $5/'"$SAMPLES"'}'
"$HOLTER" flamegraph "$WORK/synth.holter" -o "$WORK/synth.svg" >/dev/null
report capture-\>SVG "$SAMPLES" "$(best_of3 "$HOLTER" flamegraph "$WORK/synth.holter" -o "$WORK/synth.svg")"
report capture-\>folded "$SAMPLES" "$(best_of3 "$HOLTER" flamegraph "$WORK/synth.holter" --folded -o "$WORK/synth.folded")"

gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$WORK/flame-workload" bench/flame-workload.c

echo "== perf script | inferno-collapse-perf | inferno-flamegraph, ${SECS} s of bench/flame-workload.c at $HZ Hz"
if ! command -v perf >/dev/null || ! command -v inferno-collapse-perf >/dev/null || ! command -v inferno-flamegraph >/dev/null; then
	echo "skipped: needs perf, inferno-collapse-perf and inferno-flamegraph on PATH (cargo install inferno)"
else
	perf record -q -e cpu-clock -F "$HZ" -g -o "$WORK/perf.data" -- "$WORK/flame-workload" "$SECS" 2>/dev/null
	n=$(perf script -F tid -i "$WORK/perf.data" 2>/dev/null | wc -l)
	pipeline() { perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph > "$WORK/perf.svg"; }
	echo "perf.data: $(stat -c %s "$WORK/perf.data") bytes, $n samples"
	report perf.data-\>SVG "$n" "$(best_of3 pipeline)"
fi

echo "== holter-agent + holter flamegraph, same workload"
if cargo build --release -q -p holter-agent 2>/dev/null &&
	"$ROOT/target/release/holter-agent" record --frequency "$HZ" -o "$WORK/real.holter" --force -- "$WORK/flame-workload" "$SECS" >/dev/null 2>&1; then
	n=$("$HOLTER" info "$WORK/real.holter" --json | grep -o '"samples": [0-9][0-9]*' | head -1 | grep -o '[0-9]*$' || true)
	if [ "${n:-0}" -gt 0 ]; then
		echo "capture: $(stat -c %s "$WORK/real.holter") bytes, $n samples"
		report capture-\>SVG "$n" "$(best_of3 "$HOLTER" flamegraph "$WORK/real.holter" -o "$WORK/real.svg")"
	else
		echo "skipped: this holter-agent recorded no samples"
	fi
else
	echo "skipped: holter-agent record failed (needs root and a sampling-capable agent)"
fi
