//! Text files of counters as differences of their numbers (format 1.7).
//!
//! A snapshot file (`memory.stat`, `/proc/net/snmp`, ...) mostly keeps its
//! text from one second to the next and changes a few numbers. Its
//! difference from the previous version is then a list of edits on the
//! previous text's **digit runs** (maximal runs of ASCII digits, counted from
//! 0): `(gap, diff)`, where the edited run is the previous edit's run plus
//! `gap` (the first edit: run `gap`), and its new value is the old value plus
//! `diff` (wrapping, as `u64`). A new value is written in decimal, zero-padded
//! to the old run's width when the old run has a leading zero (`0.05`'s `05`).
//! A run preceded by two spaces or more is a right-aligned column
//! (`/proc/net/dev`): the spaces before it shrink or grow by the change of
//! its width, down to one.
//!
//! [`diff`] only returns edits that [`apply`] turns back into exactly the new
//! text (it checks); any other change (a line appeared, a word changed, a
//! number too long for a `u64`) has no edits and is stored as text.

/// One edit: (runs skipped since the previous edit, difference of the value).
pub type Edit = (u32, i64);

/// Byte ranges of the digit runs of `text`.
fn runs(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// The edits that turn `old` into `new`, or `None` when `new` is not `old`
/// with some numbers changed.
pub fn diff(old: &str, new: &str) -> Option<Vec<Edit>> {
    if old == new {
        return Some(Vec::new());
    }
    let (a, b) = (runs(old), runs(new));
    if a.len() != b.len() || a.len() > u32::MAX as usize {
        return None;
    }
    let mut edits = Vec::new();
    let (mut prev_a, mut prev_b, mut last) = (0usize, 0usize, None::<usize>);
    for (i, (&(sa, ea), &(sb, eb))) in a.iter().zip(&b).enumerate() {
        // The text between numbers must be the same, but for the spaces
        // that align a column (checked by applying, below).
        if old[prev_a..sa].trim_end_matches(' ') != new[prev_b..sb].trim_end_matches(' ') {
            return None;
        }
        prev_a = ea;
        prev_b = eb;
        if old[sa..ea] == new[sb..eb] {
            continue;
        }
        let x: u64 = old[sa..ea].parse().ok()?;
        let y: u64 = new[sb..eb].parse().ok()?;
        let gap = i - last.unwrap_or(0);
        last = Some(i);
        edits.push((gap as u32, y.wrapping_sub(x) as i64));
    }
    if old[prev_a..] != new[prev_b..] {
        return None;
    }
    (apply(old, &edits).as_deref() == Some(new)).then_some(edits)
}

/// `old` with `edits` applied; `None` when an edit names a run `old` does not
/// have, repeats a run, or a run it edits is not a `u64`.
pub fn apply(old: &str, edits: &[Edit]) -> Option<String> {
    let r = runs(old);
    let mut out = String::with_capacity(old.len() + 8 * edits.len().min(r.len()));
    let mut copied = 0;
    let mut at: Option<usize> = None;
    for &(gap, d) in edits {
        let i = match at {
            None => gap as usize,
            Some(_) if gap == 0 => return None,
            Some(p) => p.checked_add(gap as usize)?,
        };
        at = Some(i);
        let &(s, e) = r.get(i)?;
        let run = &old[s..e];
        let value = run.parse::<u64>().ok()?.wrapping_add(d as u64);
        let digits = if run.len() > 1 && run.starts_with('0') {
            format!("{value:0width$}", width = run.len())
        } else {
            value.to_string()
        };
        // The spaces before the run, within the text since the previous run.
        let before = if i == 0 { 0 } else { r[i - 1].1 };
        let spaces = old[before..s].len() - old[before..s].trim_end_matches(' ').len();
        let keep = if spaces >= 2 {
            (spaces + run.len()).saturating_sub(digits.len()).max(1)
        } else {
            spaces
        };
        out.push_str(&old[copied..s - spaces]);
        out.extend(std::iter::repeat_n(' ', keep));
        out.push_str(&digits);
        copied = e;
    }
    out.push_str(&old[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(old: &str, new: &str) -> Option<Vec<Edit>> {
        let e = diff(old, new)?;
        assert_eq!(apply(old, &e).as_deref(), Some(new));
        Some(e)
    }

    #[test]
    fn changed_numbers_are_edits() {
        assert_eq!(round("a 1 b 2 c 3\n", "a 1 b 2 c 3\n"), Some(vec![]));
        assert_eq!(
            round("rss 100\ncache 7\nswap 0\n", "rss 90\ncache 7\nswap 5\n"),
            Some(vec![(0, -10), (2, 5)])
        );
        // Digit runs inside words count too ("pgpgin" has none, "eth0" has one).
        assert_eq!(round("eth0: 10 20", "eth0: 11 20"), Some(vec![(1, 1)]));
        // Fixed-width fractions keep their zeros; a wider value widens.
        assert_eq!(
            round("some avg10=0.05 total=9\n", "some avg10=0.12 total=10\n"),
            Some(vec![(2, 7), (1, 1)])
        );
        assert!(round("avg10=0.05", "avg10=0.123").is_some());
        // Right-aligned columns (/proc/net/dev): the padding follows the width.
        let dev = |rx: u64, p: u64| {
            format!(
                "  eth0: {rx:>8} {p:>7}    0\n    lo: {:>8} {:>7}    0\n",
                5, 1
            )
        };
        assert_eq!(
            round(&dev(999, 9), &dev(1000, 10)),
            Some(vec![(1, 1), (1, 1)])
        );
        assert!(round(&dev(1, 9), &dev(123_456_789_012, 10)).is_some());
        // A single space is a separator, never padding.
        assert!(round("rss 100 cache 7", "rss 99 cache 7").is_some());
        // The largest counters wrap as u64 do.
        assert!(round("x 18446744073709551615", "x 0").is_some());
    }

    #[test]
    fn other_changes_are_not_edits() {
        assert_eq!(diff("a 1\n", "a 1\nb 2\n"), None);
        assert_eq!(diff("a 1\n", "b 1\n"), None);
        assert_eq!(diff("a 1 2", "a 12"), None);
        // Not a u64.
        assert_eq!(
            diff("x 99999999999999999999", "x 99999999999999999998"),
            None
        );
        // A leading zero the old run did not have cannot be said as a number.
        assert_eq!(diff("x 5", "x 05"), None);
    }

    #[test]
    fn bad_edits_are_refused() {
        assert_eq!(apply("a 1 b 2", &[(2, 1)]), None);
        assert_eq!(apply("a 1 b 2", &[(0, 1), (0, 1)]), None);
        assert_eq!(apply("a 1 b 2", &[(1, 1), (u32::MAX, 1)]), None);
        assert_eq!(apply("x 99999999999999999999", &[(0, 1)]), None);
        assert_eq!(apply("a 1 b 2", &[(1, -2)]).as_deref(), Some("a 1 b 0"));
    }
}
