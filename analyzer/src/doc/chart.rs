//! A timeline: one value per interval, with an optional limit line and an
//! optional marked share per interval (throttled periods). Drawn as a small
//! inline SVG in HTML (no script, no external resource) and as text bars on
//! a terminal.

use std::fmt::Write as _;

use crate::escape::Html;

/// One interval of a timeline: `[start, end)` in seconds from the capture start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub start_s: f64,
    pub end_s: f64,
    /// `None`: a gap (a counter went backwards).
    pub value: Option<f64>,
    /// Marked of all (throttled periods of periods).
    pub mark: Option<(u64, u64)>,
}

/// How neighbouring bars merge when a terminal has fewer rows than bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The time-weighted mean of the known values (a rate).
    Mean,
    /// The highest value (a level, such as memory usage).
    Max,
}

/// A bar chart over `[0, span_s]`, scaled to the largest value or the limit.
#[derive(Debug, Clone)]
pub struct Chart {
    /// What it shows: `CPU usage and throttled periods`.
    pub title: &'static str,
    /// The bars' quantity: `usage`.
    pub value_label: &'static str,
    pub bars: Vec<Bar>,
    pub span_s: f64,
    pub limit: Option<f64>,
    pub limit_label: &'static str,
    pub unit: fn(f64) -> String,
    /// What the marked share is (`throttled`); `None`: no marks.
    pub mark_label: Option<&'static str>,
    pub merge: Merge,
}

/// Terminal rows of a timeline; longer ones merge neighbouring bars.
pub const MAX_TEXT_ROWS: usize = 60;

const W: f64 = 900.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;

fn share((marked, all): (u64, u64)) -> f64 {
    if all == 0 {
        0.0
    } else {
        (marked as f64 / all as f64).clamp(0.0, 1.0)
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

impl Chart {
    /// The bars merged by runs of `per_row` so that at most `max` remain,
    /// and `per_row`.
    pub fn rows(&self, max: usize) -> (Vec<Bar>, usize) {
        let per_row = self.bars.len().div_ceil(max.max(1)).max(1);
        let merged = self
            .bars
            .chunks(per_row)
            .map(|run| {
                let known = run.iter().filter_map(|b| b.value.map(|v| (b, v)));
                let value = match self.merge {
                    Merge::Max => known.map(|(_, v)| v).reduce(f64::max),
                    Merge::Mean => {
                        let (mut wall, mut sum) = (0.0, 0.0);
                        for (b, v) in known {
                            let w = (b.end_s - b.start_s).max(0.0);
                            wall += w;
                            sum += v * w;
                        }
                        (wall > 0.0).then(|| sum / wall)
                    }
                };
                let marks: Vec<(u64, u64)> = run.iter().filter_map(|b| b.mark).collect();
                let mark = (!marks.is_empty()).then(|| {
                    marks.iter().fold((0u64, 0u64), |a, m| {
                        (a.0.saturating_add(m.0), a.1.saturating_add(m.1))
                    })
                });
                Bar {
                    start_s: run[0].start_s,
                    end_s: run[run.len() - 1].end_s,
                    value,
                    mark,
                }
            })
            .collect();
        (merged, per_row)
    }

    /// The scale of text bars: the limit, else the largest value.
    pub fn scale(&self) -> f64 {
        self.limit
            .filter(|l| *l > 0.0 && l.is_finite())
            .or_else(|| {
                self.bars
                    .iter()
                    .filter_map(|b| b.value)
                    .filter(|v| v.is_finite())
                    .reduce(f64::max)
            })
            .filter(|v| *v > 0.0)
            .unwrap_or(1.0)
    }

    /// The chart as an inline SVG element.
    pub fn svg(&self) -> Html {
        let plot_h = 140.0;
        let strip_h = if self.mark_label.is_some() { 24.0 } else { 0.0 };
        let axis_y = TOP + plot_h;
        let h = axis_y + strip_h + 30.0;
        let top_value = self
            .bars
            .iter()
            .filter_map(|b| b.value)
            .chain(self.limit)
            .map(finite)
            .fold(0.0f64, f64::max);
        let top_value = if top_value > 0.0 {
            top_value * 1.1
        } else {
            1.0
        };
        let span = if self.span_s > 0.0 && self.span_s.is_finite() {
            self.span_s
        } else {
            1.0
        };
        let x = |s: f64| LEFT + (finite(s) / span).clamp(0.0, 1.0) * (W - LEFT - RIGHT);
        let y = |v: f64| axis_y - (finite(v) / top_value).clamp(0.0, 1.0) * plot_h;
        // Coordinates and numbers are formatted here; every text goes
        // through `Html::fill` as escaped text.
        let n1 = |v: f64| format!("{v:.1}");
        let span2 = |b: &Bar| format!("{:.2}–{:.2} s", b.start_s, b.end_s);
        let mut s = Html::fill(
            r#"<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">"#,
            &[&W, &h, &self.title],
        );
        s.push(Html::fill(
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#fafafa" stroke="#ccc"/>"##,
            &[&LEFT, &TOP, &(W - LEFT - RIGHT), &plot_h],
        ));
        for b in &self.bars {
            let (x0, x1) = (x(b.start_s), x(b.end_s));
            let w = n1((x1 - x0 - 0.5).max(0.5));
            match b.value {
                Some(v) => {
                    let top = y(v);
                    s.push(Html::fill(
                        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#4a7ebb"><title>{}: {}</title></rect>"##,
                        &[&n1(x0), &n1(top), &w, &n1(axis_y - top), &span2(b), &(self.unit)(v)],
                    ));
                }
                None => s.push(Html::fill(
                    r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#eee"><title>{}: gap (counter went backwards)</title></rect>"##,
                    &[&n1(x0), &TOP, &w, &plot_h, &span2(b)],
                )),
            }
            if let (Some(m), Some(_)) = (b.mark, self.mark_label) {
                let m = share(m);
                s.push(Html::fill(
                    r##"<rect x="{}" y="{}" width="{}" height="16" fill="#d62728" fill-opacity="{}"><title>{}: {}</title></rect>"##,
                    &[
                        &n1(x0),
                        &n1(axis_y + 4.0),
                        &w,
                        &format!("{:.2}", 0.08 + 0.92 * m),
                        &span2(b),
                        &format!("{:.0}%", m * 100.0),
                    ],
                ));
            }
        }
        if let Some(l) = self.limit {
            let ly = n1(y(l));
            s.push(Html::fill(
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d62728" stroke-dasharray="6 4"/><text x="{}" y="{}" class="lim">{} {}</text>"##,
                &[
                    &LEFT,
                    &ly,
                    &(W - RIGHT),
                    &ly,
                    &(W - RIGHT - 4.0),
                    &n1(y(l) - 4.0),
                    &self.limit_label,
                    &(self.unit)(l),
                ],
            ));
        }
        s.push(Html::fill(
            r#"<text x="{}" y="{}" class="ax">{}</text><text x="{}" y="{}" class="ax">0</text>"#,
            &[
                &(LEFT - 6.0),
                &(TOP + 10.0),
                &(self.unit)(top_value),
                &(LEFT - 6.0),
                &axis_y,
            ],
        ));
        if let Some(label) = self.mark_label {
            s.push(Html::fill(
                r#"<text x="{}" y="{}" class="ax">{}</text>"#,
                &[&(LEFT - 6.0), &(axis_y + 16.0), &label],
            ));
        }
        let base = axis_y + strip_h + 18.0;
        s.push(Html::fill(
            r#"<text x="{}" y="{}" class="t0">0 s</text><text x="{}" y="{}" class="t1">{} s</text></svg>"#,
            &[&LEFT, &base, &(W - RIGHT), &base, &format!("{span:.1}")],
        ));
        s
    }

    /// The chart as text rows: `    1.00s  |######....|  0.20 cores  throttled    9/10    90.0%`.
    pub fn text(&self) -> String {
        let (rows, per_row) = self.rows(MAX_TEXT_ROWS);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "timeline: {} (bar: {} vs {}{})",
            self.title,
            self.value_label,
            if self.limit.is_some() {
                self.limit_label
            } else {
                "peak"
            },
            if per_row > 1 {
                format!("; each row {per_row} intervals")
            } else {
                String::new()
            }
        );
        let scale = self.scale();
        let values: Vec<String> = rows
            .iter()
            .map(|b| b.value.map_or("-".into(), self.unit))
            .collect();
        let width = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
        for (b, v) in rows.iter().zip(values) {
            let at = b.start_s;
            if b.value.is_none() && b.mark.is_none() {
                let _ = writeln!(s, "  {at:>8.2}s  gap (counter went backwards)");
                continue;
            }
            let bar = crate::cgroups::bar(b.value.unwrap_or(0.0) / scale, 30);
            let _ = write!(s, "  {at:>8.2}s  |{bar}| {v:>width$}");
            if let Some(label) = self.mark_label {
                match b.mark {
                    Some((m, all)) if all > 0 => {
                        let _ = write!(
                            s,
                            "  {label} {m:>4}/{all:<4} {:>5.1}%",
                            share((m, all)) * 100.0
                        );
                    }
                    _ => {
                        let _ = write!(s, "  {label}    -");
                    }
                }
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(bars: Vec<Bar>) -> Chart {
        Chart {
            title: "cpu <usage>",
            value_label: "usage",
            bars,
            span_s: 2.0,
            limit: Some(0.5),
            limit_label: "quota",
            unit: |v| format!("{v:.2} cores"),
            mark_label: Some("throttled"),
            merge: Merge::Mean,
        }
    }

    #[test]
    fn bars_gaps_marks_and_limit() {
        let c = chart(vec![
            Bar {
                start_s: 0.0,
                end_s: 1.0,
                value: Some(0.5),
                mark: Some((10, 10)),
            },
            Bar {
                start_s: 1.0,
                end_s: 2.0,
                value: None,
                mark: None,
            },
        ]);
        let svg = c.svg().into_string();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("aria-label=\"cpu &lt;usage&gt;\""), "{svg}");
        assert!(svg.contains("0.00–1.00 s: 0.50 cores"), "{svg}");
        assert!(svg.contains("1.00–2.00 s: gap"), "{svg}");
        assert!(svg.contains("0.00–1.00 s: 100%"), "{svg}");
        assert!(svg.contains("quota 0.50 cores"), "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
        let text = c.text();
        assert!(
            text.contains(
                "|##############################| 0.50 cores  throttled   10/10   100.0%"
            ),
            "{text}"
        );
        assert!(
            text.contains("1.00s  gap (counter went backwards)"),
            "{text}"
        );
    }

    #[test]
    fn long_timelines_merge_rows() {
        let bars = (0..125u64)
            .map(|k| Bar {
                start_s: k as f64,
                end_s: k as f64 + 1.0,
                value: Some(if k % 2 == 0 { 0.1 } else { 0.3 }),
                mark: Some((k % 2, 1)),
            })
            .collect();
        let c = chart(bars);
        let (rows, per) = c.rows(60);
        assert_eq!(per, 3);
        assert_eq!(rows.len(), 42);
        assert_eq!((rows[0].start_s, rows[0].end_s), (0.0, 3.0));
        assert_eq!(rows[0].mark, Some((1, 3)));
        assert!((rows[0].value.unwrap() - 0.5 / 3.0).abs() < 1e-9);
        assert_eq!(
            rows[41].mark,
            Some((1, 2)),
            "the last row holds what is left"
        );
        let max = Chart {
            merge: Merge::Max,
            ..c
        };
        assert_eq!(max.rows(60).0[0].value, Some(0.3));
    }
}
