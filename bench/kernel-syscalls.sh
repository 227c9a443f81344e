#!/bin/sh
# Slowdown of a syscall-heavy fixed workload (N getpid, tests/workloads/syscalls.c
# `timed`) under `holter-agent record --syscalls=kernel` (raw_syscalls
# tracepoints), `--syscalls=ptrace`, `strace -f -c` and `perf trace -s`, side
# by side in one run, each tracer launching the workload.
#
#   bench/kernel-syscalls.sh                 # N=200000, each run 5 times
#   N=1000000 REPEAT=3 bench/kernel-syscalls.sh
#
# The workload times its own loop (so a tracer's start-up and its report at
# the end are left out); slowdown = loop time traced / loop time untraced,
# the median of REPEAT runs, runs of the tracers interleaved so that a burst
# of load on the machine hits them alike. The last column is kernel mode's
# slowdown as a fraction of each one's (the goal: <= 0.3 of ptrace mode's),
# and kernel mode's added time per call as a fraction of each one's.
# Needs root, cc, strace and perf (apt-get install strace linux-perf).
set -eu
N=${N:-200000}
REPEAT=${REPEAT:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${AGENT:-$ROOT/target/release/holter-agent}
if [ ! -x "$AGENT" ]; then
    (cd "$ROOT" && cargo build --release -p holter-agent)
fi
for t in strace perf cc; do
    command -v $t >/dev/null || { echo "bench/kernel-syscalls.sh: $t is not installed (scripts/deps.sh)" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O2 -o "$TMP/wl" "$ROOT/tests/workloads/syscalls.c"

REC="$AGENT record --no-samples --force -o $TMP/out.holter"
run() { # name: one timed run of the workload under that tracer, in ns
    rm -f "$TMP/t" "$TMP/out"*
    case $1 in
        untraced) "$TMP/wl" timed "$N" "$TMP/t" ;;
        kernel) $REC --syscalls=kernel -- "$TMP/wl" timed "$N" "$TMP/t" ;;
        ptrace) $REC --syscalls=ptrace -- "$TMP/wl" timed "$N" "$TMP/t" ;;
        strace) strace -f -c -o "$TMP/out.c" "$TMP/wl" timed "$N" "$TMP/t" ;;
        perf) perf trace -s -o "$TMP/out.perf" -- "$TMP/wl" timed "$N" "$TMP/t" ;;
    esac >/dev/null 2>&1
    cat "$TMP/t"
}

TRACERS="untraced kernel ptrace strace perf"
. "$ROOT/bench/lib.sh"
# shellcheck disable=SC2086 # the names are words
interleave "$REPEAT" $TRACERS
BASE=$(median_of untraced)
KERNEL=$(median_of kernel)
printf '%-32s %9s %9s %14s %14s\n' tracer ns/call slowdown "kernel/this" "kernel/this" 
printf '%-32s %9s %9s %14s %14s\n' "" "" "" "(slowdown)" "(added time)"
for t in $TRACERS; do
    case $t in
        untraced) name="untraced" ;;
        kernel) name="holter-agent --syscalls=kernel" ;;
        ptrace) name="holter-agent --syscalls=ptrace" ;;
        strace) name="strace -f -c" ;;
        perf) name="perf trace -s" ;;
    esac
    m=$(median_of $t)
    awk -v n="$name" -v m="$m" -v b="$BASE" -v k="$KERNEL" -v c="$N" \
        'BEGIN { s = m / b; ks = k / b; printf "%-32s %9.0f %8.1fx %14.2f %14.2f\n", n, m / c, s, ks / s, (s > 1 ? (ks - 1) / (s - 1) : 0) }'
done
echo "(N=$N getpid, median of $REPEAT interleaved runs; slowdown = loop time traced / untraced;"
echo " kernel/this: kernel mode's slowdown, and its added time per call, over this tracer's; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
