//! One timeline of a whole capture, lanes on a shared time axis: CPU samples
//! stacked by the hottest functions, throttled periods, memory usage against
//! its limit, and the slowest syscalls as spans (red when they overlap
//! throttled time). Drawn as an inline SVG (no script, no link, every text
//! escaped through [`Html::fill`]); on a terminal, one line per lane.

use crate::escape::Html;

/// Samples of one time bin, per function of [`Timeline::functions`] (the
/// last count: every other function).
#[derive(Debug, Clone, PartialEq)]
pub struct CpuBin {
    pub start_s: f64,
    pub end_s: f64,
    pub counts: Vec<u64>,
}

/// A syscall drawn as a span.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub start_s: f64,
    pub duration_s: f64,
    pub name: String,
    pub throttled: bool,
    /// The time it waited for a CPU while throttled, when told exactly
    /// (off-CPU data; [`crate::throttled_calls`]).
    pub throttled_wait_ns: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Seconds from the capture start to its end.
    pub span_s: f64,
    /// The functions the CPU lane tells apart (then "other").
    pub functions: Vec<String>,
    pub cpu: Vec<CpuBin>,
    /// (start, end, share of periods throttled 0..=1).
    pub throttled: Vec<(f64, f64, f64)>,
    /// (time, bytes).
    pub memory: Vec<(f64, u64)>,
    pub memory_limit: Option<u64>,
    pub calls: Vec<Call>,
}

const W: f64 = 900.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 10.0;
/// Fill colors of the functions, then "other".
const COLORS: [&str; 7] = [
    "#4a7ebb", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#bab0ac",
];

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

impl Timeline {
    /// How many functions get a color of their own.
    pub const TOP: usize = COLORS.len() - 1;

    pub fn is_empty(&self) -> bool {
        self.cpu.is_empty()
            && self.throttled.is_empty()
            && self.memory.is_empty()
            && self.calls.is_empty()
    }

    /// The timeline as one inline SVG element.
    pub fn svg(&self) -> Html {
        let span = if self.span_s > 0.0 && self.span_s.is_finite() {
            self.span_s
        } else {
            1.0
        };
        let x = |s: f64| LEFT + (finite(s) / span).clamp(0.0, 1.0) * (W - LEFT - RIGHT);
        let n1 = |v: f64| format!("{:.1}", finite(v));
        let secs = |a: f64, b: f64| format!("{a:.2}–{b:.2} s");
        // Lanes, top to bottom: (label, top, height).
        let (cpu_top, cpu_h) = (10.0, 110.0);
        let (thr_top, thr_h) = (cpu_top + cpu_h + 8.0, 16.0);
        let (mem_top, mem_h) = (thr_top + thr_h + 8.0, 60.0);
        let (sys_top, sys_h) = (mem_top + mem_h + 8.0, 40.0);
        let axis = sys_top + sys_h;
        let legend_top = axis + 24.0;
        let h = legend_top + 16.0 * (self.functions.len() as f64 + 1.0).ceil().min(8.0) + 8.0;
        let mut s = Html::fill(
            r#"<svg class="chart timeline" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">"#,
            &[&W, &n1(h), &"timeline of the capture"],
        );
        for (label, top, lane_h) in [
            ("CPU samples", cpu_top, cpu_h),
            ("throttled", thr_top, thr_h),
            ("memory", mem_top, mem_h),
            ("slowest syscalls", sys_top, sys_h),
        ] {
            s.push(Html::fill(
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#fafafa" stroke="#ddd"/><text x="{}" y="{}" class="ax">{}</text>"##,
                &[
                    &LEFT,
                    &n1(top),
                    &(W - LEFT - RIGHT),
                    &n1(lane_h),
                    &(LEFT - 6.0),
                    &n1(top + lane_h / 2.0 + 4.0),
                    &label,
                ],
            ));
        }
        // CPU: stacked bars per bin.
        let most = self
            .cpu
            .iter()
            .map(|b| b.counts.iter().sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        for b in &self.cpu {
            let (x0, x1) = (x(b.start_s), x(b.end_s));
            let w = n1((x1 - x0 - 0.5).max(0.5));
            let mut y = cpu_top + cpu_h;
            for (i, &n) in b.counts.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let hgt = n as f64 / most * cpu_h;
                y -= hgt;
                let name = self.functions.get(i).map_or("other", String::as_str);
                s.push(Html::fill(
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} ({} samples)</title></rect>"#,
                    &[
                        &n1(x0),
                        &n1(y),
                        &w,
                        &n1(hgt),
                        &COLORS[i.min(COLORS.len() - 1)],
                        &secs(b.start_s, b.end_s),
                        &name,
                        &n,
                    ],
                ));
            }
        }
        // Throttled: red, as dark as the share of periods throttled.
        for &(a, b, share) in &self.throttled {
            let (x0, x1) = (x(a), x(b));
            s.push(Html::fill(
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#d62728" fill-opacity="{}"><title>{}: {}% of periods throttled</title></rect>"##,
                &[
                    &n1(x0),
                    &n1(thr_top),
                    &n1((x1 - x0 - 0.5).max(0.5)),
                    &n1(thr_h),
                    &format!("{:.2}", 0.08 + 0.92 * finite(share).clamp(0.0, 1.0)),
                    &secs(a, b),
                    &format!("{:.0}", finite(share).clamp(0.0, 1.0) * 100.0),
                ],
            ));
        }
        // Memory: a line of usage, the limit dashed.
        let top_mem = self
            .memory
            .iter()
            .map(|m| m.1)
            .chain(self.memory_limit)
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let my = |b: u64| mem_top + mem_h - (b as f64 / top_mem).clamp(0.0, 1.0) * mem_h;
        if !self.memory.is_empty() {
            let points: Vec<String> = self
                .memory
                .iter()
                .map(|&(t, b)| format!("{},{}", n1(x(t)), n1(my(b))))
                .collect();
            let peak = self.memory.iter().map(|m| m.1).max().unwrap_or(0);
            s.push(Html::fill(
                r##"<polyline points="{}" fill="none" stroke="#4a7ebb" stroke-width="1.5"><title>memory usage, peak {}</title></polyline>"##,
                &[&points.join(" "), &crate::cgroups::human_bytes(peak)],
            ));
        }
        if let Some(l) = self.memory_limit {
            let ly = n1(my(l));
            s.push(Html::fill(
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d62728" stroke-dasharray="6 4"><title>limit {}</title></line>"##,
                &[&LEFT, &ly, &(W - RIGHT), &ly, &crate::cgroups::human_bytes(l)],
            ));
        }
        // Syscalls: each a span from its start, at least a pixel wide,
        // stacked in rows so that neighbours stay apart.
        let rows = 4.0;
        for (i, c) in self.calls.iter().enumerate() {
            let x0 = x(c.start_s);
            let x1 = x(c.start_s + c.duration_s).max(x0 + 1.0);
            let y = sys_top + 2.0 + (i as f64 % rows) * (sys_h - 4.0) / rows;
            s.push(Html::fill(
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} at {} s: {}{}</title></rect>"#,
                &[
                    &n1(x0),
                    &n1(y),
                    &n1(x1 - x0),
                    &n1((sys_h - 4.0) / rows - 1.0),
                    &if c.throttled { "#d62728" } else { "#555" },
                    &c.name,
                    &format!("{:.3}", finite(c.start_s)),
                    &crate::syscalls::human((finite(c.duration_s) * 1e9) as u64),
                    &match (c.throttled, c.throttled_wait_ns) {
                        (true, Some(w)) => format!(
                            ", waited {} for a CPU while throttled",
                            crate::syscalls::human(w)
                        ),
                        (true, None) => ", overlaps throttled time".to_string(),
                        (false, _) => String::new(),
                    },
                ],
            ));
        }
        s.push(Html::fill(
            r#"<text x="{}" y="{}" class="t0">0 s</text><text x="{}" y="{}" class="t1">{} s</text>"#,
            &[
                &LEFT,
                &n1(axis + 14.0),
                &(W - RIGHT),
                &n1(axis + 14.0),
                &format!("{span:.1}"),
            ],
        ));
        // Legend of the CPU colors.
        let names = self
            .functions
            .iter()
            .map(String::as_str)
            .chain(["other"])
            .take(COLORS.len());
        for (i, name) in names.enumerate() {
            let col = (i % 2) as f64;
            let row = (i / 2) as f64;
            let lx = LEFT + col * 400.0;
            let ly = legend_top + row * 16.0;
            s.push(Html::fill(
                r#"<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                &[
                    &lx,
                    &n1(ly),
                    &COLORS[i],
                    &(lx + 14.0),
                    &n1(ly + 9.0),
                    &name,
                ],
            ));
        }
        s.push_trusted("</svg>");
        s
    }

    /// One line per lane, for a terminal.
    pub fn text(&self) -> String {
        let samples: u64 = self.cpu.iter().flat_map(|b| &b.counts).sum();
        let throttled = self.throttled.iter().filter(|t| t.2 > 0.0).count();
        format!(
            "timeline: {} samples in {} bins, {} intervals throttled, {} memory points, {} slowest syscalls ({} overlapping throttled time); drawn in the HTML report\n",
            samples,
            self.cpu.len(),
            throttled,
            self.memory.len(),
            self.calls.len(),
            self.calls.iter().filter(|c| c.throttled).count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_on_one_axis_and_every_text_escaped() {
        let t = Timeline {
            span_s: 10.0,
            functions: vec!["<b>hot</b>".into(), "cold".into()],
            cpu: vec![
                CpuBin {
                    start_s: 0.0,
                    end_s: 5.0,
                    counts: vec![8, 1, 1],
                },
                CpuBin {
                    start_s: 5.0,
                    end_s: 10.0,
                    counts: vec![0, 4, 0],
                },
            ],
            throttled: vec![(5.0, 10.0, 0.8)],
            memory: vec![(0.0, 1 << 20), (10.0, 2 << 20)],
            memory_limit: Some(4 << 20),
            calls: vec![Call {
                start_s: 6.0,
                duration_s: 0.08,
                name: "write\"".into(),
                throttled: true,
                throttled_wait_ns: None,
            }],
        };
        let svg = t.svg().into_string();
        crate::doc::html::vet_svg(&svg).expect("a vetted inline SVG");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(
            svg.contains("0.00–5.00 s: &lt;b&gt;hot&lt;/b&gt; (8 samples)"),
            "{svg}"
        );
        assert!(
            svg.contains("5.00–10.00 s: 80% of periods throttled"),
            "{svg}"
        );
        assert!(
            svg.contains("write&quot; at 6.000 s: 80.00ms, overlaps throttled time"),
            "{svg}"
        );
        assert!(svg.contains("limit 4.0 MiB"), "{svg}");
        // The same axis: x of 5 s in the CPU lane = x of 5 s in the throttled lane.
        let x5 = format!("x=\"{:.1}\"", LEFT + 0.5 * (W - LEFT - RIGHT));
        assert!(svg.matches(&x5).count() >= 2, "{svg}");
        assert!(!svg.contains("NaN"));
        assert_eq!(
            t.text(),
            "timeline: 14 samples in 2 bins, 1 intervals throttled, 2 memory points, 1 slowest syscalls (1 overlapping throttled time); drawn in the HTML report\n"
        );
        // Told exactly (off-CPU data): the call's wait is named.
        let mut exact = t.clone();
        exact.calls[0].throttled_wait_ns = Some(75_900_000);
        let svg = exact.svg().into_string();
        assert!(
            svg.contains(
                "write&quot; at 6.000 s: 80.00ms, waited 75.90ms for a CPU while throttled"
            ),
            "{svg}"
        );
    }
}
