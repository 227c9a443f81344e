#!/bin/sh
# Peak RSS and time of `holter info`, `flamegraph` and `report` on each hostile
# capture (analyzer/tests/common/hostile.rs), for the binary given:
#   cargo run --release -p holter --example hostile_captures -- /tmp/bombs
#   bench/hostile.sh target/release/holter /tmp/bombs [TIMEOUT_S]
# Prints: capture, file bytes, command, exit status, seconds, peak RSS (KiB),
# and RSS / (file size) after the 64 MiB allowance.
set -u
bin=$1 dir=$2 limit=${3:-120}
out=$(mktemp -d)
printf '%-14s %9s %-10s %4s %8s %9s %s\n' capture bytes command rc seconds rss_kib "rss-64MiB/size"
for f in "$dir"/*.holter; do
    name=$(basename "$f" .holter)
    size=$(stat -c %s "$f")
    for cmd in info flamegraph report; do
        case $cmd in
            info) args="info $f" ;;
            flamegraph) args="flamegraph $f -o $out/$name.svg" ;;
            report) args="report $f -o $out/$name.html" ;;
        esac
        rm -f "$out/$name.svg" "$out/$name.html"
        # ulimit -v keeps a runaway from exhausting the machine (16 GiB).
        /usr/bin/time -f '%e %M %x' -o "$out/t" sh -c "ulimit -v 16777216; timeout $limit $bin $args >/dev/null 2>$out/err"
        read -r secs rss rc <<EOF2
$(tail -1 "$out/t")
EOF2
        [ "$rc" = 124 ] && secs=">$limit"
        ratio=$(awk -v r="$rss" -v s="$size" 'BEGIN { x = (r * 1024 - 64 * 1048576) / s; printf "%.1f", (x < 0 ? 0 : x) }')
        printf '%-14s %9s %-10s %4s %8s %9s %s\n' "$name" "$size" "$cmd" "$rc" "$secs" "$rss" "$ratio"
    done
done
rm -rf "$out"
