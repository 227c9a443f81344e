#!/usr/bin/env bash
# Speed of `holter export` (speedscope, pprof, firefox) on a synthetic capture of SAMPLES samples,
# next to `holter flamegraph --folded` on the same capture in the same run (the ratio is the figure).
#
#   bench/export.sh [SAMPLES] [WORKLOAD_SECONDS] [HZ]     (defaults: 1000000, 20 and 4999)
#
# 1. A synthetic capture of SAMPLES samples (below).
# 2. Where holter-agent records samples, bench/flame-workload.c (2 threads) recorded for
#    WORKLOAD_SECONDS at HZ, as bench/flamegraph.sh does: the same exports on a real capture.
#    HOLTER_AGENT=path uses that agent instead of building the release one.
#
# The capture comes from analyzer/examples/synth_capture.rs (8 processes of 4 threads, 20,000
# distinct stacks 8-40 frames deep, a third with kernel frames), as bench/flamegraph.sh uses.
# Each timing is the best of 3 runs (by wall time); figures are samples per second of wall and of
# CPU time (user + sys), and the size of the output.
set -euo pipefail
SAMPLES=${1:-1000000}
SECS=${2:-20}
HZ=${3:-4999}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/holter-exportbench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
cargo build --release -q -p holter --bin holter --example synth_capture
HOLTER=$ROOT/target/release/holter

best_of3() {
	local best="1e9 0" TIMEFORMAT='%R %U %S' t
	for _ in 1 2 3; do
		t=$( { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{printf "%.3f %.3f", $1, $2+$3}')
		best=$(echo "$t $best" | awk '{print ($1<$3) ? $1" "$2 : $3" "$4}')
	done
	echo "$best"
}
report() {
	echo "$1 $2 $3" | awk '{printf "%-22s %.3f s wall, %.3f s CPU; %.0f samples/s wall, %.0f samples/s CPU", $1, $3, $4, $2/$3, $2/$4}'
	[ -n "${4:-}" ] && printf '; output %s bytes' "$(stat -c %s "$4")"
	echo
}

echo "== synthetic capture of $SAMPLES samples"
"$ROOT/target/release/examples/synth_capture" "$WORK/synth.holter" "$SAMPLES" 2>/dev/null
ls -l "$WORK/synth.holter" | awk '{printf "capture: %d bytes\n", $5}'
# exports CAPTURE SAMPLES: the folded stacks, then each export, of one capture.
exports() {
	report flamegraph--folded "$2" "$(best_of3 "$HOLTER" flamegraph "$1" --folded -o "$WORK/out.folded")" "$WORK/out.folded"
	for f in speedscope pprof firefox; do
		if "$HOLTER" export "$1" --format "$f" -o "$WORK/out.$f" >/dev/null 2>"$WORK/err"; then
			report "export-$f" "$2" "$(best_of3 "$HOLTER" export "$1" --format "$f" -o "$WORK/out.$f")" "$WORK/out.$f"
		else
			echo "export-$f: failed: $(head -c 300 "$WORK/err")"
		fi
	done
}
exports "$WORK/synth.holter" "$SAMPLES"

echo "== holter-agent recording of bench/flame-workload.c, ${SECS} s at $HZ Hz"
gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$WORK/flame-workload" bench/flame-workload.c
AGENT=${HOLTER_AGENT:-}
if [ -z "$AGENT" ] && cargo build --release -q -p holter-agent 2>/dev/null; then
	AGENT=$ROOT/target/release/holter-agent
fi
if [ -n "$AGENT" ] &&
	"$AGENT" record --frequency "$HZ" -o "$WORK/real.holter" --force -- "$WORK/flame-workload" "$SECS" >/dev/null 2>&1; then
	n=$("$HOLTER" info "$WORK/real.holter" --json | grep -o '"samples": [0-9][0-9]*' | head -1 | grep -o '[0-9]*$' || true)
	echo "capture: $(stat -c %s "$WORK/real.holter") bytes, $n samples"
	exports "$WORK/real.holter" "$n"
else
	echo "skipped: holter-agent record failed (needs root and a sampling-capable agent)"
fi
