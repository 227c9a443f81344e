//! Timelines as small inline SVG charts (no script, no external resource).

use std::fmt::Write as _;

const W: f64 = 900.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;

/// One interval of a timeline: `[start, end)` in seconds from the capture start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub start_s: f64,
    pub end_s: f64,
    /// `None`: a gap (the counter went backwards).
    pub value: Option<f64>,
    /// 0..=1: how much of the interval is marked (throttled periods).
    pub mark: Option<f64>,
}

/// A bar chart of `bars` over `[0, span_s]`, scaled to `max` (at least the
/// largest value), with an optional dashed `limit` line and a marked strip.
pub struct Chart<'a> {
    pub label: &'a str,
    pub bars: &'a [Bar],
    pub span_s: f64,
    pub limit: Option<f64>,
    pub limit_label: &'a str,
    pub unit: fn(f64) -> String,
    pub mark_label: Option<&'a str>,
}

impl Chart<'_> {
    pub fn svg(&self) -> String {
        let plot_h = 140.0;
        let strip_h = if self.mark_label.is_some() { 24.0 } else { 0.0 };
        let axis_y = TOP + plot_h;
        let h = axis_y + strip_h + 30.0;
        let top_value = self
            .bars
            .iter()
            .filter_map(|b| b.value)
            .chain(self.limit)
            .fold(0.0f64, f64::max);
        let top_value = if top_value > 0.0 {
            top_value * 1.1
        } else {
            1.0
        };
        let span = if self.span_s > 0.0 { self.span_s } else { 1.0 };
        let x = |s: f64| LEFT + (s / span).clamp(0.0, 1.0) * (W - LEFT - RIGHT);
        let y = |v: f64| axis_y - (v / top_value).clamp(0.0, 1.0) * plot_h;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="{}">"#,
            crate::escape::html(self.label)
        );
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>"##,
            W - LEFT - RIGHT
        );
        for b in self.bars {
            let (x0, x1) = (x(b.start_s), x(b.end_s));
            let w = (x1 - x0 - 0.5).max(0.5);
            match b.value {
                Some(v) => {
                    let top = y(v);
                    let _ = write!(
                        s,
                        r##"<rect x="{x0:.1}" y="{top:.1}" width="{w:.1}" height="{:.1}" fill="#4a7ebb"><title>{:.2}–{:.2} s: {}</title></rect>"##,
                        axis_y - top,
                        b.start_s,
                        b.end_s,
                        (self.unit)(v)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r##"<rect x="{x0:.1}" y="{TOP}" width="{w:.1}" height="{plot_h}" fill="#eee"><title>{:.2}–{:.2} s: gap (counter went backwards)</title></rect>"##,
                        b.start_s, b.end_s
                    );
                }
            }
            if let (Some(m), Some(_)) = (b.mark, self.mark_label) {
                let m = m.clamp(0.0, 1.0);
                let _ = write!(
                    s,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="16" fill="#d62728" fill-opacity="{:.2}"><title>{:.2}–{:.2} s: {:.0}%</title></rect>"##,
                    axis_y + 4.0,
                    0.08 + 0.92 * m,
                    b.start_s,
                    b.end_s,
                    m * 100.0
                );
            }
        }
        if let Some(l) = self.limit {
            let ly = y(l);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" y1="{ly:.1}" x2="{}" y2="{ly:.1}" stroke="#d62728" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" class="lim">{} {}</text>"##,
                W - RIGHT,
                W - RIGHT - 4.0,
                ly - 4.0,
                crate::escape::html(self.limit_label),
                (self.unit)(l)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="ax">{}</text><text x="{}" y="{axis_y}" class="ax">0</text>"#,
            LEFT - 6.0,
            TOP + 10.0,
            (self.unit)(top_value),
            LEFT - 6.0
        );
        if let Some(label) = self.mark_label {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" class="ax">{}</text>"#,
                LEFT - 6.0,
                axis_y + 16.0,
                crate::escape::html(label)
            );
        }
        let base = axis_y + strip_h + 18.0;
        let _ = write!(
            s,
            r#"<text x="{LEFT}" y="{base}" class="t0">0 s</text><text x="{}" y="{base}" class="t1">{:.1} s</text></svg>"#,
            W - RIGHT,
            span
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_gaps_marks_and_limit() {
        let bars = [
            Bar {
                start_s: 0.0,
                end_s: 1.0,
                value: Some(0.5),
                mark: Some(1.0),
            },
            Bar {
                start_s: 1.0,
                end_s: 2.0,
                value: None,
                mark: None,
            },
        ];
        let svg = Chart {
            label: "cpu <usage>",
            bars: &bars,
            span_s: 2.0,
            limit: Some(0.5),
            limit_label: "quota",
            unit: |v| format!("{v:.2} cores"),
            mark_label: Some("throttled"),
        }
        .svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("aria-label=\"cpu &lt;usage&gt;\""), "{svg}");
        assert!(svg.contains("0.00–1.00 s: 0.50 cores"), "{svg}");
        assert!(svg.contains("1.00–2.00 s: gap"), "{svg}");
        assert!(svg.contains("0.00–1.00 s: 100%"), "{svg}");
        assert!(svg.contains("quota 0.50 cores"), "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
    }
}
