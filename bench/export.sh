#!/usr/bin/env bash
# Speed of `holter export` (speedscope, pprof, firefox) on a synthetic capture of SAMPLES samples,
# next to `holter flamegraph --folded` on the same capture in the same run (the ratio is the figure).
#
#   bench/export.sh [SAMPLES]     (default: 1000000)
#
# The capture comes from analyzer/examples/synth_capture.rs (8 processes of 4 threads, 20,000
# distinct stacks 8-40 frames deep, a third with kernel frames), as bench/flamegraph.sh uses.
# Each timing is the best of 3 runs (by wall time); figures are samples per second of wall and of
# CPU time (user + sys), and the size of the output.
set -euo pipefail
SAMPLES=${1:-1000000}
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
report flamegraph--folded "$SAMPLES" "$(best_of3 "$HOLTER" flamegraph "$WORK/synth.holter" --folded -o "$WORK/synth.folded")" "$WORK/synth.folded"
for f in speedscope pprof firefox; do
	if "$HOLTER" export "$WORK/synth.holter" --format "$f" -o "$WORK/synth.$f" >/dev/null 2>"$WORK/err"; then
		report "export-$f" "$SAMPLES" "$(best_of3 "$HOLTER" export "$WORK/synth.holter" --format "$f" -o "$WORK/synth.$f")" "$WORK/synth.$f"
	else
		echo "export-$f: failed: $(head -c 300 "$WORK/err")"
	fi
done
