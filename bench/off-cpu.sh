#!/bin/sh
# Overhead of `holter-agent record --off-cpu` on a context-switch-heavy fixed
# workload (tests/workloads/offcpu.c `pingpong`: two threads pass a byte back
# and forth N times through two pipes, two context switches per round at
# least), side by side in one run with `perf record -e sched:sched_switch -g`
# (perf's own off-CPU recording: every switch with its call chain), each
# launching the workload.
#
#   bench/off-cpu.sh                  # N=100000, each run 5 times
#   N=200000 REPEAT=3 bench/off-cpu.sh
#
# The workload times its own loop (start-up and the tools' end left out);
# slowdown = loop time recorded / untraced, the median of REPEAT runs, the
# tools' runs interleaved so that a burst of load on the machine hits them
# alike. `holter-agent record` (CPU samples only) is shown too: --off-cpu's
# own cost is the difference. The last column is each slowdown over perf's.
# Needs root, cc and perf (apt-get install linux-perf).
set -eu
N=${N:-100000}
REPEAT=${REPEAT:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${AGENT:-$ROOT/target/release/holter-agent}
if [ ! -x "$AGENT" ]; then
    (cd "$ROOT" && cargo build --release -p holter-agent)
fi
for t in perf cc; do
    command -v $t >/dev/null || { echo "bench/off-cpu.sh: $t is not installed (scripts/deps.sh)" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O1 -g -fno-omit-frame-pointer -pthread -o "$TMP/wl" "$ROOT/tests/workloads/offcpu.c"

REC="$AGENT record --force -o $TMP/out.holter"
run() { # name: one timed run of the workload under that tool, in ns
    rm -f "$TMP/t" "$TMP/out"*
    case $1 in
        untraced) "$TMP/wl" pingpong "$N" "$TMP/t" ;;
        samples) $REC -- "$TMP/wl" pingpong "$N" "$TMP/t" ;;
        offcpu) $REC --off-cpu -- "$TMP/wl" pingpong "$N" "$TMP/t" ;;
        perf) perf record -e sched:sched_switch -g -o "$TMP/out.perf" -- "$TMP/wl" pingpong "$N" "$TMP/t" ;;
    esac >/dev/null 2>&1
    cat "$TMP/t"
}

TOOLS="untraced samples offcpu perf"
. "$ROOT/bench/lib.sh"
# shellcheck disable=SC2086 # the names are words
interleave "$REPEAT" $TOOLS
BASE=$(median_of untraced)
PERF=$(median_of perf)
printf '%-42s %10s %9s %12s\n' tool ns/round slowdown "this/perf"
for t in $TOOLS; do
    case $t in
        untraced) name="untraced" ;;
        samples) name="holter-agent record (samples only)" ;;
        offcpu) name="holter-agent record --off-cpu" ;;
        perf) name="perf record -e sched:sched_switch -g" ;;
    esac
    m=$(median_of $t)
    awk -v n="$name" -v m="$m" -v b="$BASE" -v p="$PERF" -v c="$N" \
        'BEGIN { printf "%-42s %10.0f %8.2fx %12.2f\n", n, m / c, m / b, m / p }'
done
echo "(N=$N rounds of pipe ping-pong, median of $REPEAT interleaved runs; slowdown = loop time recorded / untraced;"
echo " holter-agent: default --unwind dwarf, 16 KiB of stack per switch-out; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
