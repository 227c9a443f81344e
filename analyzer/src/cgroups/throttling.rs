//! `holter throttling`: CPU quota, throttled periods and usage, per interval.

use serde::Serialize;

use super::{delta, parse, round, ReportError, Series, Tick};
use crate::doc::{Bar, Block, Cell, Chart, Doc, Fact, Merge};
use crate::load::Capture;

/// CPU counters of one tick, whatever the cgroup version.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
    pub usage_ns: Option<u64>,
    /// `Some(None)`: unlimited; `None`: unknown.
    pub quota_us: Option<Option<u64>>,
    pub period_us: Option<u64>,
}

impl Cpu {
    pub fn of(tick: &Tick, version: u8) -> Cpu {
        let stat = tick.file("cpu.stat").map(parse::keyed).unwrap_or_default();
        if version == 2 {
            let max = tick.file("cpu.max").and_then(parse::cpu_max);
            Cpu {
                periods: stat.get("nr_periods").copied(),
                throttled_periods: stat.get("nr_throttled").copied(),
                throttled_ns: stat.get("throttled_usec").map(|u| u.saturating_mul(1000)),
                usage_ns: stat.get("usage_usec").map(|u| u.saturating_mul(1000)),
                quota_us: max.map(|m| m.0),
                period_us: max.map(|m| m.1),
            }
        } else {
            Cpu {
                periods: stat.get("nr_periods").copied(),
                throttled_periods: stat.get("nr_throttled").copied(),
                throttled_ns: stat.get("throttled_time").copied(),
                usage_ns: tick.number("cpuacct.usage"),
                quota_us: tick.file("cpu.cfs_quota_us").and_then(parse::limit),
                period_us: tick.number("cpu.cfs_period_us"),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    pub start_ns: u64,
    pub end_ns: u64,
    /// `null` where a counter went backwards (the cgroup was recreated): a gap.
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
    pub usage_cores: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throttling {
    pub cgroup: String,
    pub cgroup_version: u8,
    /// `null` when the cgroup has no CPU quota.
    pub quota_cores: Option<f64>,
    pub quota_us: Option<u64>,
    pub period_us: Option<u64>,
    pub periods: u64,
    pub throttled_periods: u64,
    /// Throttled periods / periods, in percent.
    pub throttled_pct: f64,
    pub throttled_ns: u64,
    pub usage_cores_avg: Option<f64>,
    pub usage_cores_max: Option<f64>,
    /// Share of the capture some tasks waited for a CPU (v2 `cpu.pressure`), in percent.
    pub cpu_pressure_pct: Option<f64>,
    /// Monotonic time of the first and last snapshot.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Intervals left out because a counter went backwards.
    pub gaps: usize,
    pub intervals: Vec<Interval>,
    pub verdict: String,
    /// Seconds the target was frozen (paused) during the capture: nothing of
    /// it ran. `null` when the snapshots do not say (no freezer files).
    pub frozen_s: Option<f64>,
    /// Which cgroup directory each figure was read from (`v1 cpu /docker/ID`,
    /// `v2 /docker/ID`): `quota`, `periods`, `usage`, `pressure`.
    pub sources: std::collections::BTreeMap<&'static str, String>,
    /// Whether the snapshots hold the quota files at all (`cpu.max`, `cpu.cfs_quota_us`).
    #[serde(skip)]
    pub quota_known: bool,
}

pub fn report(c: &Capture) -> Result<Throttling, ReportError> {
    let series = Series::from_capture(c)?;
    if !series.ticks.iter().any(|t| t.file("cpu.stat").is_some()) {
        return Err(ReportError::NoFile {
            path: c.path.display().to_string(),
            file: "cpu.stat",
            controller: "cpu",
        });
    }
    Ok(from_series(&series))
}

pub fn from_series(series: &Series) -> Throttling {
    let v = series.version;
    let cpus: Vec<Cpu> = series.ticks.iter().map(|t| Cpu::of(t, v)).collect();
    let mut intervals = Vec::new();
    for (i, (a, b)) in series.pairs().enumerate() {
        let (ca, cb) = (cpus[i], cpus[i + 1]);
        let wall = b.time_ns.saturating_sub(a.time_ns);
        let usage_cores = delta(ca.usage_ns, cb.usage_ns)
            .filter(|_| wall > 0)
            .map(|u| round(u as f64 / wall as f64, 4));
        intervals.push(Interval {
            start_ns: a.time_ns,
            end_ns: b.time_ns,
            periods: delta(ca.periods, cb.periods),
            throttled_periods: delta(ca.throttled_periods, cb.throttled_periods),
            throttled_ns: delta(ca.throttled_ns, cb.throttled_ns),
            usage_cores,
        });
    }
    let gaps = intervals
        .iter()
        .filter(|i| i.periods.is_none() && cpus.iter().any(|c| c.periods.is_some()))
        .count();
    let periods: u64 = crate::sum_sat(intervals.iter().filter_map(|i| i.periods));
    let throttled_periods: u64 =
        crate::sum_sat(intervals.iter().filter_map(|i| i.throttled_periods));
    let throttled_ns: u64 = crate::sum_sat(intervals.iter().filter_map(|i| i.throttled_ns));
    let usage_ns: u64 = series
        .pairs()
        .enumerate()
        .filter_map(|(i, _)| delta(cpus[i].usage_ns, cpus[i + 1].usage_ns))
        .fold(0, u64::saturating_add);
    let usage_wall: u64 = intervals
        .iter()
        .filter(|i| i.usage_cores.is_some())
        .map(|i| i.end_ns.saturating_sub(i.start_ns))
        .fold(0, u64::saturating_add);
    let usage_cores_avg = (usage_wall > 0).then(|| round(usage_ns as f64 / usage_wall as f64, 4));
    let usage_cores_max = intervals
        .iter()
        .filter_map(|i| i.usage_cores)
        .fold(None, |m: Option<f64>, u| Some(m.map_or(u, |m| m.max(u))));
    let last = cpus.iter().rev().find(|c| c.quota_us.is_some()).copied();
    let quota_us = last.and_then(|c| c.quota_us).flatten();
    let period_us = cpus.iter().rev().find_map(|c| c.period_us);
    let quota_cores = match (quota_us, period_us) {
        (Some(q), Some(p)) if p > 0 => Some(round(q as f64 / p as f64, 4)),
        _ => None,
    };
    let throttled_pct = if periods > 0 {
        round(throttled_periods as f64 * 100.0 / periods as f64, 2)
    } else {
        0.0
    };
    let start_ns = series.ticks.first().map_or(0, |t| t.time_ns);
    let end_ns = series.ticks.last().map_or(0, |t| t.time_ns);
    let stall = |t: &Tick| {
        Some(
            parse::pressure(t.file("cpu.pressure")?)
                .0?
                .total_us
                .saturating_mul(1000),
        )
    };
    let cpu_pressure_pct = super::total(series, stall)
        .filter(|_| end_ns > start_ns)
        .map(|ns| round(ns as f64 * 100.0 / (end_ns - start_ns) as f64, 2));
    let mut t = Throttling {
        cgroup: series.path_of(&["cpu.stat", "cpu.max", "cpu.cfs_quota_us"]),
        cgroup_version: v,
        quota_cores,
        quota_us,
        period_us,
        periods,
        throttled_periods,
        throttled_pct,
        throttled_ns,
        usage_cores_avg,
        usage_cores_max,
        cpu_pressure_pct,
        start_ns,
        end_ns,
        gaps,
        intervals,
        verdict: String::new(),
        quota_known: last.is_some(),
        frozen_s: super::frozen_ns(series).map(|ns| round(ns as f64 / 1e9, 2)),
        sources: [
            ("quota", series.source_of(&["cpu.max", "cpu.cfs_quota_us"])),
            ("periods", series.source_of(&["cpu.stat"])),
            (
                "usage",
                series.source_of(if v == 2 {
                    &["cpu.stat"]
                } else {
                    &["cpuacct.usage"]
                }),
            ),
            (
                "pressure",
                cpu_pressure_pct.and_then(|_| series.source_of(&["cpu.pressure"])),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect(),
    };
    t.verdict = verdict(&t);
    t
}

fn cores(v: Option<f64>) -> String {
    v.map_or("unknown".into(), |c| format!("{c:.2}"))
}

fn verdict(t: &Throttling) -> String {
    let span = t.end_ns.saturating_sub(t.start_ns) as f64 / 1e9;
    if let Some(f) = t.frozen_s.filter(|&f| f > 0.0 && f * 2.0 >= span) {
        return format!(
            "Frozen for {f:.1} s of {span:.1} s: nothing ran (the container was paused: `docker pause`, `podman pause` or the cgroup freezer). Unpause it and record again."
        );
    }
    let secs = t.throttled_ns as f64 / 1e9;
    match t.quota_cores {
        None if !t.quota_known => format!(
            "The snapshots hold no CPU quota file (cpu.max, cpu.cfs_quota_us): the cpu controller is not enabled for this cgroup, so throttling is unknown (usage averaged {} cores).",
            cores(t.usage_cores_avg)
        ),
        None => format!(
            "No CPU quota: the cgroup is never throttled (usage averaged {} cores).",
            cores(t.usage_cores_avg)
        ),
        Some(q) if t.periods == 0 => format!(
            "Quota of {q:.2} cores but no enforcement period ran: the cgroup did not use CPU during the capture."
        ),
        Some(q) if t.throttled_pct >= 20.0 => format!(
            "Throttled in {:.0}% of periods ({secs:.2} s lost) with usage at {} of a {q:.2}-core quota: raise the limit or cut CPU work.",
            t.throttled_pct,
            cores(t.usage_cores_avg)
        ),
        Some(q) if t.throttled_pct >= 5.0 => format!(
            "Throttled in {:.0}% of periods ({secs:.2} s lost): bursts hit the {q:.2}-core quota; raise the limit if latency matters.",
            t.throttled_pct
        ),
        Some(q) => format!(
            "Rarely throttled ({:.1}% of periods): usage {} of a {q:.2}-core quota leaves headroom.",
            t.throttled_pct,
            cores(t.usage_cores_avg)
        ),
    }
}

/// The report as blocks of the output layer: verdict, summary, timeline.
pub fn doc(t: &Throttling) -> Vec<Block> {
    let quota = match (t.quota_cores, t.quota_us, t.period_us) {
        (Some(q), Some(qu), Some(p)) => format!("{q:.2} cores ({qu} µs per {p} µs period)"),
        _ if !t.quota_known => "unknown (the snapshots hold no cpu.max or cpu.cfs_quota_us)".into(),
        _ => format!(
            "none (unlimited){}",
            t.period_us
                .map(|p| format!(", period {p} µs"))
                .unwrap_or_default()
        ),
    };
    let mut facts = vec![
        Fact::new("cgroup", Cell::code(&t.cgroup)),
        Fact::new("cgroup version", format!("v{}", t.cgroup_version)),
        Fact::new("quota", quota),
        Fact::new(
            "throttled periods",
            Cell::text(format!(
                "{} of {} ({:.1}%)",
                t.throttled_periods, t.periods, t.throttled_pct
            ))
            .alarm(t.throttled_pct >= 5.0),
        ),
        Fact::new(
            "throttled time",
            format!("{:.3} s", t.throttled_ns as f64 / 1e9),
        ),
        Fact::new(
            "usage",
            format!(
                "avg {} cores, max {} cores",
                cores(t.usage_cores_avg),
                cores(t.usage_cores_max)
            ),
        ),
    ];
    if let Some(p) = t.cpu_pressure_pct {
        facts.push(Fact::new(
            "CPU pressure",
            Cell::text(format!("tasks waited for a CPU {p:.1}% of the time")).alarm(p >= 10.0),
        ));
    }
    if let Some(f) = t.frozen_s.filter(|&f| f > 0.0) {
        facts.push(Fact::new(
            "frozen",
            Cell::text(format!("frozen for {f:.1} s: nothing ran")).alarm(true),
        ));
    }
    if !t.sources.is_empty() {
        facts.push(Fact::new("read from", super::describe_sources(&t.sources)));
    }
    if t.gaps > 0 {
        facts.push(Fact::new(
            "gaps",
            format!(
                "{} interval(s): a counter went backwards (cgroup recreated)",
                t.gaps
            ),
        ));
    }
    let mut blocks = vec![Block::Verdict(t.verdict.clone()), Block::Facts(facts)];
    if !t.intervals.is_empty() {
        let secs = |ns: u64| ns.saturating_sub(t.start_ns) as f64 / 1e9;
        blocks.push(Block::Chart(Chart {
            title: "CPU usage and throttled periods",
            value_label: "usage",
            bars: t
                .intervals
                .iter()
                .map(|i| Bar {
                    start_s: secs(i.start_ns),
                    end_s: secs(i.end_ns),
                    value: i.usage_cores,
                    mark: i.throttled_periods.zip(i.periods),
                })
                .collect(),
            span_s: secs(t.end_ns),
            limit: t.quota_cores,
            limit_label: "quota",
            unit: |v| format!("{v:.2} cores"),
            mark_label: Some("throttled"),
            merge: Merge::Mean,
        }));
    }
    blocks
}

/// `holter throttling` on a terminal.
pub fn to_text(t: &Throttling) -> String {
    crate::doc::text::render(&Doc { blocks: doc(t) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(time_ns: u64, files: &[(&str, &str)]) -> Tick {
        Tick {
            time_ns,
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn v1_counters_and_reset_gap() {
        let stat = |p, t, ns| format!("nr_periods {p}\nnr_throttled {t}\nthrottled_time {ns}\n");
        let mk = |time, p, t, ns, usage: u64| {
            tick(
                time,
                &[
                    ("cpu.stat", stat(p, t, ns).as_str()),
                    ("cpu.cfs_quota_us", "20000\n"),
                    ("cpu.cfs_period_us", "100000\n"),
                    ("cpuacct.usage", usage.to_string().as_str()),
                ],
            )
        };
        let series = Series {
            version: 1,
            ticks: vec![
                mk(0, 0, 0, 0, 0),
                mk(1_000_000_000, 10, 9, 700_000_000, 200_000_000),
                // Recreated: counters restart.
                mk(2_000_000_000, 2, 1, 50_000_000, 10_000_000),
                mk(3_000_000_000, 12, 10, 750_000_000, 210_000_000),
            ],
            paths: [("cpu.stat".to_string(), "/box".to_string())].into(),
            ..Series::default()
        };
        let t = from_series(&series);
        assert_eq!(t.cgroup, "/box");
        assert_eq!(t.quota_cores, Some(0.2));
        assert_eq!(t.period_us, Some(100_000));
        assert_eq!(t.periods, 20);
        assert_eq!(t.throttled_periods, 18);
        assert_eq!(t.throttled_pct, 90.0);
        assert_eq!(t.throttled_ns, 1_400_000_000);
        assert_eq!(t.gaps, 1);
        assert_eq!(t.intervals[1].periods, None);
        assert_eq!(t.intervals[1].usage_cores, None);
        assert_eq!(t.usage_cores_avg, Some(0.2));
        assert_eq!(t.usage_cores_max, Some(0.2));
        assert!(t.verdict.contains("raise the limit"), "{}", t.verdict);
        let text = to_text(&t);
        assert!(text.contains("gap (counter went backwards)"), "{text}");
        assert!(
            text.contains("0.20 cores (20000 µs per 100000 µs period)"),
            "{text}"
        );
        assert!(
            text.contains("throttled periods 18 of 20 (90.0%)"),
            "{text}"
        );
    }

    #[test]
    fn v2_unlimited() {
        let mk = |time, usage_us: u64| {
            tick(
                time,
                &[
                    (
                        "cpu.stat",
                        format!("usage_usec {usage_us}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n").as_str(),
                    ),
                    ("cpu.max", "max 100000\n"),
                ],
            )
        };
        let series = Series {
            version: 2,
            ticks: vec![mk(0, 0), mk(500_000_000, 250_000)],
            ..Series::default()
        };
        let t = from_series(&series);
        assert_eq!(t.quota_cores, None);
        assert_eq!(t.quota_us, None);
        assert_eq!(t.period_us, Some(100_000));
        assert_eq!(t.throttled_pct, 0.0);
        assert_eq!(t.usage_cores_avg, Some(0.5));
        assert_eq!(t.cpu_pressure_pct, None);
        assert!(t.verdict.starts_with("No CPU quota"), "{}", t.verdict);
        // Without the quota files (a v2 directory without the cpu controller): unknown, not unlimited.
        let mut bare = series.clone();
        for tick in &mut bare.ticks {
            tick.files.remove("cpu.max");
        }
        let t = from_series(&bare);
        assert_eq!(t.quota_cores, None);
        assert!(!t.quota_known);
        assert!(t.verdict.contains("throttling is unknown"), "{}", t.verdict);
    }
}
