//! `holter flamegraph --diff`: two captures' folded stacks side by side,
//! normalized by sample count, as `inferno-diff-folded --normalize` makes
//! them (`stack base_count new_count`), drawn as a differential flame graph
//! (inferno's colors: red grew, blue shrank); and the functions whose share
//! of the samples changed most, for `holter compare` and the command's
//! summary line.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde::Serialize;

use crate::flamegraph::{Folded, SvgOptions};

/// Every stack of either capture with its base count (scaled to the new
/// capture's sample total) and its new count.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Stack → (base count normalized, new count), sorted by stack.
    pub stacks: BTreeMap<String, (u64, u64)>,
    /// Samples of each capture, before normalization.
    pub base_samples: u64,
    pub new_samples: u64,
}

/// The base count scaled to the new total, rounded down as
/// `inferno-diff-folded --normalize` does (so both tools agree line by line).
pub fn normalize(count: u64, base_total: u64, new_total: u64) -> u64 {
    if base_total == 0 || base_total == new_total {
        return count;
    }
    (count as f64 * new_total as f64 / base_total as f64) as u64
}

/// The normalized difference of two folds.
pub fn diff(base: &Folded, new: &Folded) -> Diff {
    let base_total = crate::sum_sat(base.stacks.values().copied());
    let new_total = crate::sum_sat(new.stacks.values().copied());
    let mut stacks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (s, &c) in &base.stacks {
        stacks.entry(s.clone()).or_default().0 = normalize(c, base_total, new_total);
    }
    for (s, &c) in &new.stacks {
        stacks.entry(s.clone()).or_default().1 = c;
    }
    Diff {
        stacks,
        base_samples: base_total,
        new_samples: new_total,
    }
}

/// Writes `stack base_count new_count` lines, sorted by stack.
pub fn write_folded<W: Write>(d: &Diff, mut out: W) -> io::Result<()> {
    for (stack, (b, n)) in &d.stacks {
        writeln!(out, "{stack} {b} {n}")?;
    }
    out.flush()
}

/// Renders the differential flame graph with inferno: frame widths are the
/// new capture's samples, colors the change from the (normalized) base.
pub fn write_svg<W: Write>(d: &Diff, opts: &SvgOptions, out: W) -> io::Result<()> {
    let mut o = inferno::flamegraph::Options::default();
    o.title = crate::escape::line(&opts.title).into_owned();
    o.subtitle = Some(crate::escape::line(&opts.subtitle).into_owned());
    o.count_name = "samples".into();
    o.deterministic = true;
    o.no_javascript = opts.diffable;
    o.pretty_xml = opts.diffable;
    o.no_sort = true;
    let mut text = String::new();
    for (s, (b, n)) in &d.stacks {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{s} {b} {n}");
    }
    inferno::flamegraph::from_lines(&mut o, text.lines(), out)
}

/// A function (leaf frame: where the samples were) whose share of the
/// samples changed between two captures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub function: String,
    pub base_samples: u64,
    pub new_samples: u64,
    /// Percent of each capture's samples.
    pub base_pct: f64,
    pub new_pct: f64,
    /// `new_pct - base_pct`, in percentage points.
    pub delta_pts: f64,
}

/// Samples per leaf function of a fold.
pub fn by_function(f: &Folded) -> HashMap<&str, u64> {
    let mut m: HashMap<&str, u64> = HashMap::new();
    for (s, &c) in &f.stacks {
        let leaf = s.rsplit(';').next().unwrap_or(s);
        let e = m.entry(leaf).or_default();
        *e = e.saturating_add(c);
    }
    m
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 * 100.0 / total as f64
    }
}

/// The `n` functions whose share of the samples changed most (largest
/// absolute change first; ties by name; unchanged shares left out), from
/// two folds.
pub fn top_changes(base: &Folded, new: &Folded, n: usize) -> Vec<Change> {
    let (b, nw) = (by_function(base), by_function(new));
    let bt = crate::sum_sat(b.values().copied());
    let nt = crate::sum_sat(nw.values().copied());
    let mut names: Vec<&str> = b.keys().chain(nw.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    let mut v: Vec<Change> = names
        .into_iter()
        .map(|f| {
            let (bs, ns) = (
                b.get(f).copied().unwrap_or(0),
                nw.get(f).copied().unwrap_or(0),
            );
            let (bp, np) = (pct(bs, bt), pct(ns, nt));
            Change {
                function: f.to_string(),
                base_samples: bs,
                new_samples: ns,
                base_pct: crate::cgroups::round(bp, 2),
                new_pct: crate::cgroups::round(np, 2),
                delta_pts: crate::cgroups::round(np - bp, 2),
            }
        })
        .filter(|c| c.delta_pts != 0.0)
        .collect();
    v.sort_by(|a, b| {
        b.delta_pts
            .abs()
            .total_cmp(&a.delta_pts.abs())
            .then_with(|| a.function.cmp(&b.function))
    });
    v.truncate(n);
    v
}

/// `+61.2 pts gamma (0.0% → 61.2%)`.
pub fn change_line(c: &Change) -> String {
    format!(
        "{:+.1} pts {} ({:.1}% → {:.1}%)",
        c.delta_pts, c.function, c.base_pct, c.new_pct
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(lines: &[(&str, u64)]) -> Folded {
        Folded::from_lines(lines)
    }

    #[test]
    fn base_counts_are_scaled_to_the_new_total() {
        assert_eq!(normalize(10, 100, 200), 20);
        assert_eq!(normalize(3, 200, 100), 1, "1.5 rounds down, as inferno");
        assert_eq!(normalize(7, 0, 100), 7);
        assert_eq!(normalize(7, 50, 50), 7);
        let base = folded(&[("app;main;alpha", 80), ("app;main;beta", 20)]);
        let new = folded(&[("app;main;gamma", 160), ("app;main;beta", 40)]);
        let d = diff(&base, &new);
        assert_eq!((d.base_samples, d.new_samples), (100, 200));
        let lines: Vec<_> = d.stacks.iter().map(|(s, c)| (s.as_str(), *c)).collect();
        assert_eq!(
            lines,
            [
                ("app;main;alpha", (160, 0)),
                ("app;main;beta", (40, 40)),
                ("app;main;gamma", (0, 160)),
            ]
        );
        let mut out = Vec::new();
        write_folded(&d, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "app;main;alpha 160 0\napp;main;beta 40 40\napp;main;gamma 0 160\n"
        );
    }

    /// The folded difference is, line for line, what inferno's own
    /// `diff-folded --normalize` makes of the two folded files.
    #[test]
    fn folded_difference_matches_inferno_diff_folded() {
        let base = folded(&[("a;b", 7), ("a;c", 13), ("a;b;d", 1), ("x", 3)]);
        let new = folded(&[("a;b", 5), ("a;c", 2), ("y;z", 9)]);
        let mut ours = Vec::new();
        write_folded(&diff(&base, &new), &mut ours).unwrap();
        let text = |f: &Folded| {
            let mut v = Vec::new();
            crate::flamegraph::write_folded(f, &mut v).unwrap();
            v
        };
        let mut theirs = Vec::new();
        inferno::differential::from_readers(
            inferno::differential::Options {
                normalize: true,
                strip_hex: false,
            },
            &text(&base)[..],
            &text(&new)[..],
            &mut theirs,
        )
        .unwrap();
        let mut theirs: Vec<&str> = std::str::from_utf8(&theirs).unwrap().lines().collect();
        theirs.sort_unstable();
        let ours = String::from_utf8(ours).unwrap();
        assert_eq!(ours.lines().collect::<Vec<_>>(), theirs);
    }

    #[test]
    fn the_hot_function_that_moved_is_the_top_change() {
        let base = folded(&[("app;main;alpha", 80), ("app;main;beta", 20)]);
        let new = folded(&[
            ("app;main;gamma", 150),
            ("app;main;beta", 45),
            ("app;main;alpha", 5),
        ]);
        let c = top_changes(&base, &new, 10);
        let names: Vec<&str> = c.iter().map(|c| c.function.as_str()).collect();
        assert_eq!(names, ["alpha", "gamma", "beta"]);
        assert_eq!(
            (c[0].base_pct, c[0].new_pct, c[0].delta_pts),
            (80.0, 2.5, -77.5)
        );
        assert_eq!((c[1].base_samples, c[1].new_samples), (0, 150));
        assert_eq!(c[1].delta_pts, 75.0);
        assert_eq!(c[2].delta_pts, 2.5);
        assert_eq!(change_line(&c[1]), "+75.0 pts gamma (0.0% → 75.0%)");
        assert_eq!(top_changes(&base, &new, 1).len(), 1);
    }

    #[test]
    fn svg_has_differential_colors() {
        let base = folded(&[("app;main;alpha", 80), ("app;main;beta", 20)]);
        let new = folded(&[("app;main;gamma", 85), ("app;main;beta", 15)]);
        let mut out = Vec::new();
        let opts = SvgOptions {
            title: "diff".into(),
            subtitle: "s".into(),
            diffable: true,
        };
        write_svg(&diff(&base, &new), &opts, &mut out).unwrap();
        let svg = String::from_utf8(out).unwrap();
        // The fill of the frame whose tooltip starts with `title`.
        let fill = |title: &str| {
            let at = svg.find(&format!("<title>{title}")).expect(title);
            let f = svg[at..].find("fill=\"rgb(").unwrap() + at + 10;
            let rgb: Vec<u32> = svg[f..svg[f..].find(')').unwrap() + f]
                .split(',')
                .map(|v| v.parse().unwrap())
                .collect();
            rgb
        };
        // gamma only in the new capture: red; beta shrank: blue.
        assert!(svg.contains("gamma (85 samples, 85.00%; +85.00%)"), "{svg}");
        assert!(svg.contains("beta (15 samples, 15.00%; -5.00%)"), "{svg}");
        let red = fill("gamma");
        assert!(red[0] == 255 && red[1] < 255 && red[2] < 255, "{red:?}");
        let blue = fill("beta");
        assert!(blue[2] == 255 && blue[0] < 255 && blue[1] < 255, "{blue:?}");
    }
}
