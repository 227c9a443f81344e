#!/usr/bin/env bash
# Whole stacks without frame pointers: holter's in-agent DWARF unwinding side by
# side with perf, in one run, on the same work, for two Debian programs built
# without frame pointers: python3 running a pure-Python loop, and `xz -T1`.
#   (a) median user-stack depth and share of stacks reaching a root (_start,
#       start_thread, clone3, main...): holter --unwind dwarf vs
#       `perf record --call-graph dwarf` (999 Hz captures);
#   (b) overhead at 99 and 999 Hz: the workload's wall and CPU time under each
#       profiler over its time alone, and the profiler's own CPU time:
#       holter --unwind dwarf, holter --unwind fp, `perf record -g`,
#       `perf record --call-graph dwarf`;
#   (c) capture bytes per sample of each (999 Hz captures).
# Needs root, perf (Debian: linux-perf), python3, xz-utils, libc6-dbg (so that
# perf names libc's start_thread/clone3 as holter's unwinder finds them).
# Knobs: RUNS (default 3, the median is reported), PY_ROUNDS (default 1500:
# ~2 s), XZ_LINES (default 500000: ~2 s).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
PY_ROUNDS=${PY_ROUNDS:-1500}
XZ_LINES=${XZ_LINES:-500000}
for c in perf python3 xz; do
    command -v "$c" >/dev/null || { echo "bench/unwind.sh: needs $c (scripts/deps.sh, apt-get install linux-perf python3 xz-utils)" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p holter-agent -p holter)
AGENT=$ROOT/target/release/holter-agent
HOLTER=$ROOT/target/release/holter

WORK=$(mktemp -d -t holter-bench-unwind-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/loop.py" <<'PY'
import sys
def leaf(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def mid(n):
    return leaf(n) + 1
def top(k):
    t = 0
    for _ in range(k):
        t += mid(20000)
    return t
top(int(sys.argv[1]))
PY
seq 1 "$XZ_LINES" >"$WORK/xz.in"
PY=(python3 "$WORK/loop.py" "$PY_ROUNDS")
XZ=(xz -T1 -c "$WORK/xz.in")

# Runs PROFILER... -- the workload under /usr/bin/time; prints
# "workload_wall,workload_cpu,profiler_cpu" (seconds).
timed() {
    local out=$1; shift
    /usr/bin/time -f '%e %U %S' -o "$WORK/outer" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    read -r _ ou os <"$WORK/outer"
    read -r iw iu is <"$WORK/inner"
    echo "$iw,$(echo "$iu + $is" | bc -l),$(echo "$ou + $os - $iu - $is" | bc -l)" >>"$out"
}
INNER=(/usr/bin/time -f '%e %U %S' -o "$WORK/inner")

run_config() { # NAME HZ FILE -- workload...
    local name=$1 hz=$2 file=$3; shift 4
    case $name in
    base) timed "$WORK/t.$W.$name.$hz" "${INNER[@]}" "$@" ;;
    holter-dwarf) timed "$WORK/t.$W.$name.$hz" "$AGENT" record --unwind dwarf --frequency "$hz" --force -o "$file" -- "${INNER[@]}" "$@" ;;
    holter-fp) timed "$WORK/t.$W.$name.$hz" "$AGENT" record --unwind fp --frequency "$hz" --force -o "$file" -- "${INNER[@]}" "$@" ;;
    perf-g) timed "$WORK/t.$W.$name.$hz" perf record -q -g -F "$hz" -o "$file" -- "${INNER[@]}" "$@" ;;
    perf-dwarf) timed "$WORK/t.$W.$name.$hz" perf record -q --call-graph dwarf -F "$hz" -o "$file" -- "${INNER[@]}" "$@" ;;
    esac
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
med() { cut -d, -f"$2" "$1" | median; }
configs=(holter-dwarf holter-fp perf-g perf-dwarf)

# Stack statistics, the same rule for both tools: "COUNT<TAB>frame;frame..." lines
# (user frames, outermost first) -> "median_depth rooted_percent samples". A stack
# reached a root when its outermost frame is one (by name), or when the frame
# below it is __libc_start_main (the outermost is then the executable's
# unnamed _start, as in stripped binaries).
cat >"$WORK/stats.py" <<'PY'
import sys
ROOTS = {"_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main", "start_thread",
         "clone", "clone3", "__clone", "__clone3", "thread_start", "main", "runtime.goexit", "runtime.rt0_go",
         "runtime.mstart", "_dl_start_user"}
START = {"__libc_start_main", "__libc_start_main_impl"}
depths, rooted, total = [], 0, 0
for line in sys.stdin:
    count, _, stack = line.rstrip("\n").partition("\t")
    n = int(count)
    f = [x for x in stack.split(";") if x]
    depths.append((len(f), n))
    total += n
    if f and (f[0] in ROOTS or (len(f) > 1 and f[1] in START)):
        rooted += n
depths.sort()
half, acc, med = (total + 1) // 2, 0, 0
for d, n in depths:
    acc += n
    if acc >= half:
        med = d
        break
print(med, round(100.0 * rooted / max(total, 1), 1), total)
PY
# perf script -> stack lines for stats.py.
perf_stacks() {
    perf script -i "$1" -F comm,tid,ip,sym,dso --no-inline 2>/dev/null | python3 -c '
import sys
user = []
def flush():
    if user:
        print("1\t" + ";".join(reversed(user)))
for line in sys.stdin:
    if not line.strip():
        flush(); user = []; continue
    if not line.startswith((" ", "\t")):
        continue
    parts = line.split()
    if "kernel.kallsyms" in parts[-1]:
        continue
    sym = parts[1] if len(parts) > 2 else "[unknown]"
    user.append(sym.split("+0x")[0].split("@")[0])
flush()
' | python3 "$WORK/stats.py"
}
# holter flamegraph --folded -> stack lines for stats.py (names only, not the agent's root flag).
holter_stacks() {
    "$HOLTER" flamegraph "$1" --folded --debuginfo /usr/lib/debug 2>/dev/null | python3 -c '
import sys
for line in sys.stdin:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    f = [x.split(" (")[0] for x in stack.split(";")[1:] if not x.endswith("_[k]")]
    print(count + "\t" + ";".join(f))
' | python3 "$WORK/stats.py"
}
samples_holter() { "$HOLTER" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])'; }
rooted_holter() { "$HOLTER" info "$1" --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["unwind"]["rooted_percent"] or 0, 1))'; }

for W in python xz; do
    if [ $W = python ]; then CMD=("${PY[@]}"); else CMD=("${XZ[@]}"); fi
    "${CMD[@]}" >/dev/null # warms the page cache
    for run in $(seq "$RUNS"); do
        # Interleaved, so that a busy moment hits every configuration alike.
        run_config base 0 - -- "${CMD[@]}"
        for hz in 99 999; do
            for c in "${configs[@]}"; do
                ext=holter; [[ $c == perf* ]] && ext=data
                run_config "$c" "$hz" "$WORK/$W.$c.$hz.$ext" -- "${CMD[@]}"
            done
        done
    done
done

echo "== holter $(git -C "$ROOT" rev-parse --short HEAD), $(perf version), $(python3 --version), $(xz --version | head -1); $(nproc) CPUs, median of $RUNS runs"
for W in python xz; do
    case $W in python) what="python3 pure-Python loop ($PY_ROUNDS rounds)" ;; xz) what="xz -T1 of $XZ_LINES lines" ;; esac
    echo
    echo "== $what"
    echo "(a) stacks at 999 Hz, user frames   median depth   reached a root   samples"
    for c in holter-dwarf holter-fp perf-dwarf perf-g; do
        if [[ $c == perf* ]]; then
            read -r d r n < <(perf_stacks "$WORK/$W.$c.999.data")
        else
            read -r d r n < <(holter_stacks "$WORK/$W.$c.999.holter")
        fi
        printf '    %-29s %12s %15s%% %9s\n' "$c" "$d" "$r" "$n"
    done
    echo "    (holter info, counting the unwinder's own end-of-stack: $(rooted_holter "$WORK/$W.holter-dwarf.999.holter")% of stacks reached a root)"
    bw=$(med "$WORK/t.$W.base.0" 1); bc_=$(med "$WORK/t.$W.base.0" 2)
    echo "(b) overhead (alone: ${bw}s wall, ${bc_}s CPU)   workload wall   workload CPU   profiler CPU"
    for hz in 99 999; do
        for c in "${configs[@]}"; do
            f="$WORK/t.$W.$c.$hz"
            printf '    %-13s %4s Hz %20.3fx %13.3fx %12.3fs\n' "$c" "$hz" "$(echo "$(med "$f" 1) / $bw" | bc -l)" "$(echo "$(med "$f" 2) / $bc_" | bc -l)" "$(med "$f" 3)"
        done
    done
    echo "(c) bytes per sample at 999 Hz"
    for c in "${configs[@]}"; do
        if [[ $c == perf* ]]; then
            file="$WORK/$W.$c.999.data"; n=$(perf script -i "$file" -F tid 2>/dev/null | wc -l)
        else
            file="$WORK/$W.$c.999.holter"; n=$(samples_holter "$file")
        fi
        b=$(stat -c %s "$file")
        printf '    %-13s %10d B / %6d samples = %8.1f B/sample\n' "$c" "$b" "$n" "$(echo "$b / $n" | bc -l)"
    done
done
