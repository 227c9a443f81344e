#!/bin/sh
# Cost of syncing the capture while recording (agent/src/sync.rs: an
# fdatasync at most once a second, on a thread of its own), side by side in
# one run with the same agent with it turned off (HOLTER_NO_SYNC=1), on the
# agent's heaviest writers: a syscall-heavy fixed workload (getpid,
# tests/workloads/syscalls.c `timed`) recorded with CPU samples at 999 Hz and
# `--syscalls=kernel` (N_KERNEL calls), then `--syscalls=ptrace` (N_PTRACE
# calls: ptrace is slower), each launching the workload; about 7-10 s each.
#
#   bench/fsync.sh                 # N_KERNEL=5000000 N_PTRACE=100000, each run 5 times
#   REPEAT=3 DIR=/mnt/disk bench/fsync.sh   # captures in DIR (default /var/tmp)
#
# Per mode: the workload's own loop time (start-up and the end left out) and
# the agent's CPU time (user + system, /usr/bin/time), the median of REPEAT
# interleaved runs, synced over unsynced (the ratio is the cost); the
# capture's size as written, and the syncs of the synced run (`holter info`
# counters sync:fdatasync, sync:longest-us).
# Needs root, cc and python3.
set -eu
N_KERNEL=${N_KERNEL:-5000000}
N_PTRACE=${N_PTRACE:-100000}
REPEAT=${REPEAT:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${AGENT:-$ROOT/target/release/holter-agent}
HOLTER=${HOLTER:-$ROOT/target/release/holter}
if [ ! -x "$AGENT" ] || [ ! -x "$HOLTER" ]; then
    (cd "$ROOT" && cargo build --release -p holter-agent -p holter)
fi
TMP=$(mktemp -d -p "${DIR:-/var/tmp}")
trap 'rm -rf "$TMP"' EXIT
cc -O2 -o "$TMP/wl" "$ROOT/tests/workloads/syscalls.c"

run() { # MODE-synced|MODE-unsynced: one run; prints "loop_ns agent_cpu_ms bytes"
    mode=${1%-*}
    rm -f "$TMP/t" "$TMP/out.holter"
    case $1 in
        *-unsynced) sync=1 ;;
        *) sync=0 ;;
    esac
    case $mode in
        kernel) N=$N_KERNEL ;;
        *) N=$N_PTRACE ;;
    esac
    HOLTER_NO_SYNC=$sync /usr/bin/time -f "%U %S" -o "$TMP/cpu" \
        "$AGENT" record --frequency 999 --syscalls="$mode" --force -o "$TMP/out.holter" \
        -- "$TMP/wl" timed "$N" "$TMP/t" >/dev/null 2>"$TMP/err"
    # The size as written (the summary names it when the capture was repacked at close).
    bytes=$(sed -n 's/.*repacked from \([0-9]*\) bytes.*/\1/p' "$TMP/err")
    [ -n "$bytes" ] || bytes=$(stat -c %s "$TMP/out.holter")
    if [ "$sync" = 0 ]; then
        "$HOLTER" info "$TMP/out.holter" --json | python3 -c \
            'import json, sys; c = json.load(sys.stdin)["counters"]; print(c["sync:fdatasync"], c["sync:longest-us"])' \
            >>"$TMP/syncs.$mode"
    fi
    echo "$(cat "$TMP/t") $(awk '{ printf "%d", ($1 + $2) * 1000 }' "$TMP/cpu") $bytes"
}

interleave() {
    for _i in $(seq "$REPEAT"); do
        for _t in "$@"; do
            echo "$_t $(run "$_t")" >>"$TMP/all"
        done
    done
}
median() { # TOOL COLUMN
    awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$TMP/all" | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

interleave kernel-synced kernel-unsynced ptrace-synced ptrace-unsynced
echo "each run: mode, loop ns, agent CPU ms, bytes"
cat "$TMP/all"
printf '%-24s %12s %12s %12s %12s %16s\n' mode "loop ms" "agent CPU ms" "bytes" "syncs" "longest sync ms"
for m in kernel ptrace; do
    for s in unsynced synced; do
        t=$m-$s
        syncs=-; longest=-
        if [ $s = synced ]; then
            syncs=$(awk '{ print $1 }' "$TMP/syncs.$m" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
            longest=$(awk '{ print $2 }' "$TMP/syncs.$m" | sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1000 }')
        fi
        printf '%-24s %12.0f %12s %12s %12s %16s\n' "$t" "$(($(median $t 2) / 1000000))" "$(median $t 3)" "$(median $t 4)" "$syncs" "$longest"
    done
    awk -v m="$m" -v a="$(median $m-synced 2)" -v b="$(median $m-unsynced 2)" \
        -v c="$(median $m-synced 3)" -v d="$(median $m-unsynced 3)" \
        'BEGIN { printf "%-24s loop time %.3fx, agent CPU %.3fx (synced / unsynced)\n", m, a / b, c / d }'
done
echo "(N_KERNEL=$N_KERNEL, N_PTRACE=$N_PTRACE getpid, samples at 999 Hz, median of $REPEAT interleaved runs; longest sync: of all synced runs;"
echo " capture on $(df --output=source "$TMP" | tail -1); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
