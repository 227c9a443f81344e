#!/usr/bin/env bash
# Capture size, side by side in one run: bytes per sample of a whole holter
# capture (default snapshots: cgroup and network every 1 s, symbols, process
# records, header, all of it) against `perf record -g -z` (zstd-compressed
# perf.data) of the same workload at the same frequency, at 99 and 999 Hz.
# Goal (issue 13): holter <= 0.5x perf at both.
# Then where holter's bytes go: each record kind's share of the file
# (the file rewritten without that kind, by format/examples/bytes_by_kind.rs).
#
# Needs root (or perf_event_paranoid <= -1), perf (Debian: linux-perf) and a C compiler.
# Knobs: SECONDS_RUN (length of each capture, default 8), RUNS (default 3, interleaved;
# the median ratio is reported), WORKLOAD (a command line; default: tests/workloads/calltree.c,
# a CPU-bound program with a known call tree, run for SECONDS_RUN).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-8}
RUNS=${RUNS:-3}

command -v perf >/dev/null || { echo "bench/bytes.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }
command -v cc >/dev/null || { echo "bench/bytes.sh: needs a C compiler (apt-get install gcc)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -q -p holter-agent -p holter && cargo build --release -q -p holter-format --example bytes_by_kind)
AGENT=$ROOT/target/release/holter-agent
HOLTER=$ROOT/target/release/holter
BY_KIND=$ROOT/target/release/examples/bytes_by_kind

WORK=$(mktemp -d -t holter-bytes-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ -n "${WORKLOAD:-}" ]; then
    read -r -a W <<<"$WORKLOAD"
else
    cc -O1 -g -fno-omit-frame-pointer -o "$WORK/calltree" "$ROOT/tests/workloads/calltree.c"
    W=("$WORK/calltree" "$SECONDS_RUN")
fi

samples_holter() { "$HOLTER" info "$1" --json 2>/dev/null | awk -F'[:,]' '/^  "samples"/ { gsub(/ /, "", $2); print $2 }'; }
samples_perf() { perf report -i "$1" --stats 2>/dev/null | awk '/SAMPLE events/ { print $3; exit }'; }
size() { stat -c %s "$1"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== bytes per sample, whole files, default snapshots; workload: ${W[*]}; $RUNS runs, interleaved"
printf '%-4s %-3s %10s %8s %9s | %10s %8s %9s | %6s\n' Hz run "holter B" samples "B/sample" "perf -z B" samples "B/sample" ratio
declare -A R
for run in $(seq "$RUNS"); do
    for f in 99 999; do
        h="$WORK/h$f-$run.holter"; p="$WORK/p$f-$run.data"
        "$AGENT" record --frequency "$f" --force -o "$h" -- "${W[@]}" >/dev/null 2>&1
        perf record -q -g -z -F "$f" -o "$p" -- "${W[@]}" >/dev/null 2>&1
        hb=$(size "$h"); hs=$(samples_holter "$h")
        pb=$(size "$p"); ps=$(samples_perf "$p")
        hps=$(echo "$hb / $hs" | bc -l); pps=$(echo "$pb / $ps" | bc -l)
        ratio=$(echo "$hps / $pps" | bc -l)
        R[$f]="${R[$f]:-} $ratio"
        printf '%-4s %-3s %10d %8d %9.1f | %10d %8d %9.1f | %5.2fx\n' "$f" "$run" "$hb" "$hs" "$hps" "$pb" "$ps" "$pps" "$ratio"
    done
done
echo
for f in 99 999; do
    printf '%4s Hz: holter / perf -g -z bytes per sample, median of %d: %.2fx (goal <= 0.50x)\n' \
        "$f" "$RUNS" "$(tr ' ' '\n' <<<"${R[$f]}" | grep . | median)"
done
echo
echo "== where holter's bytes go (last run; share = what the file shrinks by without that kind)"
for f in 99 999; do
    "$BY_KIND" "$WORK/h$f-$RUNS.holter"
done
