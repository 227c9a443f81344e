# Shared by the bench scripts that time tools side by side: source it after
# defining TMP and `run NAME` (one timed run under that tool, printing ns).

# interleave REPEAT TOOL...: REPEAT rounds, each running every tool once in
# turn (so that a burst of load on the machine hits them alike); appends
# "TOOL VALUE" lines to $TMP/all.
interleave() {
    _rounds=$1
    shift
    for _i in $(seq "$_rounds"); do
        for _t in "$@"; do
            echo "$_t $(run "$_t")" >>"$TMP/all"
        done
    done
}

# median_of TOOL: the median of that tool's values in $TMP/all.
median_of() {
    awk -v t="$1" '$1 == t { print $2 }' "$TMP/all" | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
