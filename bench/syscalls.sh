#!/bin/sh
# Slowdown of a syscall-heavy fixed workload (N getpid, tests/workloads/syscalls.c)
# under `holter-agent record --syscalls` against `strace -f -c` and
# `strace -f -o FILE`, launched and attached, side by side in one run.
#
#   bench/syscalls.sh                   # N=100000, each run 3 times
#   N=1000000 REPEAT=1 bench/syscalls.sh
#
# Slowdown = time per call traced / time per call untraced (the untraced
# baseline runs 10 N calls); each line is the median of REPEAT runs (ptrace
# round trips cost several times more when the scheduler puts tracer and
# tracee on different CPUs, so single runs vary a lot). "launched" times the whole tracer command;
# "attached" times from the start signal to the target's exit, the tracer
# attached beforehand. The "no CPU following" line sets
# HOLTER_SYSCALLS_NO_FOLLOW=1 to show what following the tracee's CPU buys.
# Needs root (ptrace), cc and strace.
set -eu
N=${N:-100000}
REPEAT=${REPEAT:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${AGENT:-$ROOT/target/release/holter-agent}
if [ ! -x "$AGENT" ]; then
    (cd "$ROOT" && cargo build --release -p holter-agent)
fi
command -v strace >/dev/null || { echo "bench/syscalls.sh: strace is not installed (apt-get install strace)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O2 -o "$TMP/wl" "$ROOT/tests/workloads/syscalls.c"

now() { date +%s%N; }

# Every thread of $1 traced?
traced() {
    for s in /proc/"$1"/task/*/status; do
        t=$(awk '/^TracerPid:/ { print $2 }' "$s" 2>/dev/null || echo 0)
        [ "${t:-0}" != 0 ] || return 1
    done
}

t0=$(now); "$TMP/wl" heavy $((N * 10)); t1=$(now)
BASE=$(( (t1 - t0) / (N * 10) ))
[ "$BASE" -gt 0 ] || BASE=1
printf '%-34s %-9s %9s %10s %9s\n' tracer mode seconds ns/call slowdown
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
row() { # name mode elapsed_ns
    awk -v n="$1" -v m="$2" -v e="$3" -v c="$N" -v b="$BASE" \
        'BEGIN { printf "%-34s %-9s %9.3f %10.0f %8.1fx\n", n, m, e / 1e9, e / c, e / c / b }'
}
row "untraced" "-" $((BASE * N))

launched_once() { # command...
    rm -f "$TMP/out"*
    t0=$(now); "$@" "$TMP/wl" heavy "$N" >/dev/null 2>&1; t1=$(now)
    echo $((t1 - t0))
}

attached_once() { # command... (the pid is appended)
    rm -f "$TMP/out"*
    "$TMP/wl" counts "$N" 0 0 &
    pid=$!
    "$@" "$pid" >/dev/null 2>&1 &
    tracer=$!
    i=0
    until traced "$pid"; do
        i=$((i + 1)); [ $i -lt 1000 ] || { echo "tracer did not attach" >&2; kill $pid $tracer; exit 1; }
        sleep 0.01
    done
    sleep 0.1
    t0=$(now); kill -USR2 "$pid"; wait "$pid"; t1=$(now)
    wait "$tracer" || true
    echo $((t1 - t0))
}

launched() { # name command...
    name=$1; shift
    t=$(for _ in $(seq "$REPEAT"); do launched_once "$@"; done | median)
    row "$name" launched "$t"
}

attached() { # name command...
    name=$1; shift
    t=$(for _ in $(seq "$REPEAT"); do attached_once "$@"; done | median)
    row "$name" attached "$t"
}

REC="$AGENT record --syscalls --no-samples --force -o $TMP/out.holter"
launched "holter-agent --syscalls" $REC --
attached "holter-agent --syscalls" $REC --pid
launched "holter-agent (no CPU following)" env HOLTER_SYSCALLS_NO_FOLLOW=1 $REC --
attached "holter-agent (no CPU following)" env HOLTER_SYSCALLS_NO_FOLLOW=1 $REC --pid
launched "strace -f -c" strace -f -c -o "$TMP/out.c"
attached "strace -f -c" strace -f -c -o "$TMP/out.c" -p
launched "strace -f -o FILE" strace -f -o "$TMP/out.txt"
attached "strace -f -o FILE" strace -f -o "$TMP/out.txt" -p
echo "(N=$N getpid, median of $REPEAT runs; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
