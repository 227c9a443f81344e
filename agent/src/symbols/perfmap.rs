//! JIT symbol maps (`/tmp/perf-<pid>.map`): `START SIZE NAME` in hex.

use holter_format::Symbol;

/// Parses a perf map; bad lines are skipped. Sorted by start.
pub fn parse(text: &str) -> Vec<Symbol> {
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let mut out: Vec<Symbol> = text
        .lines()
        .filter_map(|line| {
            let mut it = line.trim().splitn(3, ' ');
            let start = hex(it.next()?)?;
            let size = hex(it.next()?)?;
            let name = it.next()?.trim();
            (!name.is_empty()).then(|| Symbol {
                start,
                size,
                name: name.to_string(),
            })
        })
        .collect();
    out.sort_by_key(|s| s.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_maps() {
        let text = "7f00aa001000 40 LazyCompile:~main app.js:1\n0x7f00aa000000 0x10 stub\nnot a line\n7f 2\n";
        let s = parse(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].start, 0x7f00aa000000);
        assert_eq!(s[0].size, 0x10);
        assert_eq!(s[1].name, "LazyCompile:~main app.js:1");
    }
}
