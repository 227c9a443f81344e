#!/usr/bin/env bash
# Side by side, in one run, on the same workload (tests/workloads/calltree.c):
#   (a) slowdown of a fixed-work CPU workload under holter-agent and under
#       `perf record -g`, at 99 and 999 Hz (the workload times its own work);
#   (b) capture bytes per sample: holter (symbols included) vs `perf record -g -z`;
#   (c) capture -> SVG: `holter flamegraph` vs
#       `perf script | inferno-collapse-perf | inferno-flamegraph`.
# Needs root (or perf_event_paranoid <= -1), perf (Debian: linux-perf) and a C
# compiler; installs inferno with `cargo install inferno` when missing.
# Knobs: ROUNDS (work per run, default 1500: ~1 s on an idle core), RUNS (default 3; the
# median is reported), SVG_SECONDS (length of the (c) captures, default 8).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-1500}
RUNS=${RUNS:-3}
SVG_SECONDS=${SVG_SECONDS:-8}

command -v perf >/dev/null || { echo "bench/sampling.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }
command -v cc >/dev/null || { echo "bench/sampling.sh: needs a C compiler (apt-get install gcc)" >&2; exit 1; }
if ! command -v inferno-flamegraph >/dev/null || ! command -v inferno-collapse-perf >/dev/null; then
    cargo install inferno
fi
(cd "$ROOT" && cargo build --release -q -p holter-agent -p holter)
AGENT=$ROOT/target/release/holter-agent
HOLTER=$ROOT/target/release/holter

WORK=$(mktemp -d -t holter-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O1 -g -fno-omit-frame-pointer -o "$WORK/calltree" "$ROOT/tests/workloads/calltree.c"
W="$WORK/calltree"

# Runs a command; prints the workload's own "wall,cpu" seconds.
work_time() {
    CALLTREE_REPORT=1 "$@" 2>&1 >/dev/null | awk '/^calltree: elapsed/ { print $3 "," $5 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

now() { date +%s.%N; }

declare -A T
configs=(base holter99 perf99 holter999 perf999)
for run in $(seq "$RUNS"); do
    # Interleaved, so that a busy moment of the machine hits every configuration alike.
    for c in "${configs[@]}"; do
        case $c in
        base) t=$(work_time "$W" -n "$ROUNDS") ;;
        holter*) f=${c#holter}
            t=$(work_time "$AGENT" record --frequency "$f" --force -o "$WORK/h$f.holter" -- "$W" -n "$ROUNDS") ;;
        perf*) f=${c#perf}
            t=$(work_time perf record -q -g -F "$f" -o "$WORK/p$f.data" -- "$W" -n "$ROUNDS") ;;
        esac
        T[$c]="${T[$c]:-} $t"
    done
done
# med CONFIG FIELD: median of field 1 (wall) or 2 (CPU) over the runs.
med() { tr ' ' '\n' <<<"${T[$1]}" | grep . | cut -d, -f"$2" | median; }
base=$(med base 1)
basecpu=$(med base 2)

samples_holter() { "$HOLTER" info "$1" --json 2>/dev/null | awk -F'[:,]' '/^  "samples"/ { gsub(/ /, "", $2); print $2 }'; }
samples_perf() { perf report -i "$1" --stats 2>/dev/null | awk '/SAMPLE events/ { print $3; exit }'; }
size() { stat -c %s "$1"; }

echo "== (a) slowdown of a fixed-work CPU workload ($ROUNDS rounds, median of $RUNS; baseline ${base}s wall, ${basecpu}s CPU)"
echo "   wall: the work's elapsed time; CPU: the work's own CPU time (robust when the machine is busy)"
printf '%-8s %12s %12s %12s %12s\n' "Hz" "holter wall" "perf wall" "holter CPU" "perf CPU"
for f in 99 999; do
    printf '%-8s %11.3fx %11.3fx %11.3fx %11.3fx\n' "$f" \
        "$(echo "$(med "holter$f" 1) / $base" | bc -l)" "$(echo "$(med "perf$f" 1) / $base" | bc -l)" \
        "$(echo "$(med "holter$f" 2) / $basecpu" | bc -l)" "$(echo "$(med "perf$f" 2) / $basecpu" | bc -l)"
done

echo
echo "== (b) capture bytes per sample, whole files, symbols included (${SVG_SECONDS}s runs of the workload)"
for f in 99 999; do
    "$AGENT" record --frequency "$f" --force -o "$WORK/b$f.holter" -- "$W" "$SVG_SECONDS" 2>/dev/null
    perf record -q -g -z -F "$f" -o "$WORK/z$f.data" -- "$W" "$SVG_SECONDS" 2>/dev/null >/dev/null
    hs=$(samples_holter "$WORK/b$f.holter"); hb=$(size "$WORK/b$f.holter")
    zs=$(samples_perf "$WORK/z$f.data"); zb=$(size "$WORK/z$f.data")
    # The same without the periodic cgroup and network snapshots (taken at start and end only):
    # what the sampler itself writes, symbols included.
    "$AGENT" record --frequency "$f" --interval 1h --force -o "$WORK/s$f.holter" -- "$W" "$SVG_SECONDS" 2>/dev/null
    ss=$(samples_holter "$WORK/s$f.holter"); sb=$(size "$WORK/s$f.holter")
    printf '%4s Hz: holter %6d B / %5d = %5.1f B/sample | holter, snapshots at start and end only %6d B / %5d = %5.1f B/sample | perf -g -z %6d B / %5d = %5.1f B/sample\n' \
        "$f" "$hb" "$hs" "$(echo "$hb / $hs" | bc -l)" "$sb" "$ss" "$(echo "$sb / $ss" | bc -l)" "$zb" "$zs" "$(echo "$zb / $zs" | bc -l)"
done
echo
echo "== (c) capture -> SVG (${SVG_SECONDS}s captures at 999 Hz)"
"$AGENT" record --frequency 999 --force -o "$WORK/svg.holter" -- "$W" "$SVG_SECONDS" 2>/dev/null
perf record -q -g -F 999 -o "$WORK/svg.data" -- "$W" "$SVG_SECONDS" 2>/dev/null
hs=$(samples_holter "$WORK/svg.holter"); ps=$(samples_perf "$WORK/svg.data")
t0=$(now); "$HOLTER" flamegraph "$WORK/svg.holter" -o "$WORK/holter.svg" >/dev/null 2>&1; t1=$(now)
perf script -i "$WORK/svg.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph >"$WORK/perf.svg"; t2=$(now)
ht=$(echo "$t1 - $t0" | bc -l); pt=$(echo "$t2 - $t1" | bc -l)
printf 'holter flamegraph:                     %6.3f s for %6d samples (%8.0f samples/s)\n' "$ht" "$hs" "$(echo "$hs / $ht" | bc -l)"
printf 'perf script | inferno (collapse, svg): %6.3f s for %6d samples (%8.0f samples/s)\n' "$pt" "$ps" "$(echo "$ps / $pt" | bc -l)"
printf 'speed-up: %.1fx\n' "$(echo "($hs / $ht) / ($ps / $pt)" | bc -l)"
