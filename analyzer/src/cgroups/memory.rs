//! `holter memory`: usage against the limit over time, peak, limit hits,
//! OOM kills, major faults and memory pressure.

use serde::Serialize;

use crate::doc::{Bar, Block, Cell, Chart, Doc, Fact, Merge};

use super::{human_bytes, parse, round, total, ReportError, Series, Tick};
use crate::load::Capture;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub time_ns: u64,
    pub usage_bytes: u64,
    pub limit_bytes: Option<u64>,
    pub pct_of_limit: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pressure {
    /// Highest `avg10` seen, percent of time some (or all) tasks stalled on memory.
    pub some_avg10_max: f64,
    pub full_avg10_max: Option<f64>,
    /// Stall time over the capture, from the `total` counters.
    pub some_ns: u64,
    pub full_ns: Option<u64>,
    /// Stall time / capture time, in percent.
    pub some_pct: f64,
    pub full_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    pub cgroup: String,
    pub cgroup_version: u8,
    /// The last limit seen; `null` when unlimited.
    pub limit_bytes: Option<u64>,
    /// v2 `memory.high`; `null` when unlimited or v1.
    pub high_bytes: Option<u64>,
    pub usage_first_bytes: u64,
    pub usage_last_bytes: u64,
    pub usage_max_bytes: u64,
    /// The kernel's high-water mark (`memory.peak`, v1 `memory.max_usage_in_bytes`).
    pub peak_bytes: Option<u64>,
    pub usage_max_pct_of_limit: Option<f64>,
    /// v1 `memory.failcnt` growth: times usage hit the limit.
    pub failcnt: Option<u64>,
    /// v2 `memory.events`: growth of `max`, `high`, `oom` over the capture.
    pub max_events: Option<u64>,
    pub high_events: Option<u64>,
    pub oom_events: Option<u64>,
    /// Processes killed by the OOM killer during the capture.
    pub oom_kills: Option<u64>,
    pub major_faults: Option<u64>,
    pub pressure: Option<Pressure>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub samples: Vec<Point>,
    pub verdict: String,
    /// Which cgroup directory each figure was read from: `usage`, `limit`, `pressure`.
    pub sources: std::collections::BTreeMap<&'static str, String>,
}

fn usage(t: &Tick, v: u8) -> Option<u64> {
    t.number(if v == 2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    })
}

/// `None`: unknown; `Some(None)`: unlimited.
fn limit(t: &Tick, v: u8) -> Option<Option<u64>> {
    let f = if v == 2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    parse::limit(t.file(f)?)
}

/// The cgroup's OOM-kill counter at one tick (`v`: the series' version).
pub fn oom_kills(t: &Tick, v: u8) -> Option<u64> {
    if v == 2 {
        t.keyed("memory.events", "oom_kill")
    } else {
        t.keyed("memory.oom_control", "oom_kill")
    }
}

fn major_faults(t: &Tick) -> Option<u64> {
    let stat = parse::keyed(t.file("memory.stat")?);
    stat.get("total_pgmajfault")
        .or(stat.get("pgmajfault"))
        .copied()
}

pub fn report(c: &Capture) -> Result<Memory, ReportError> {
    let series = Series::from_capture(c)?;
    let name = if series.version == 2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    if !series.ticks.iter().any(|t| t.file(name).is_some()) {
        return Err(ReportError::NoFile {
            path: c.path.display().to_string(),
            file: if series.version == 2 {
                "memory.current"
            } else {
                "memory.usage_in_bytes"
            },
            controller: "memory",
        });
    }
    Ok(from_series(&series))
}

pub fn from_series(series: &Series) -> Memory {
    let v = series.version;
    let samples: Vec<Point> = series
        .ticks
        .iter()
        .filter_map(|t| {
            let usage_bytes = usage(t, v)?;
            let limit_bytes = limit(t, v).flatten();
            Some(Point {
                time_ns: t.time_ns,
                usage_bytes,
                limit_bytes,
                pct_of_limit: limit_bytes
                    .filter(|l| *l > 0)
                    .map(|l| round(usage_bytes as f64 * 100.0 / l as f64, 2)),
            })
        })
        .collect();
    let limit_bytes = series
        .ticks
        .iter()
        .rev()
        .find_map(|t| limit(t, v))
        .flatten();
    let high_bytes = if v == 2 {
        series
            .ticks
            .iter()
            .rev()
            .find_map(|t| parse::limit(t.file("memory.high")?))
            .flatten()
    } else {
        None
    };
    let peak_file = if v == 2 {
        "memory.peak"
    } else {
        "memory.max_usage_in_bytes"
    };
    let usage_max_bytes = samples.iter().map(|p| p.usage_bytes).max().unwrap_or(0);
    let start_ns = series.ticks.first().map_or(0, |t| t.time_ns);
    let end_ns = series.ticks.last().map_or(0, |t| t.time_ns);
    let wall = end_ns.saturating_sub(start_ns);
    let pressure = pressure(series, wall);
    let events = |key: &'static str| {
        (v == 2)
            .then(|| total(series, |t| t.keyed("memory.events", key)))
            .flatten()
    };
    let mut m = Memory {
        cgroup: series.path_of(&["memory.current", "memory.usage_in_bytes", "memory.stat"]),
        cgroup_version: v,
        limit_bytes,
        high_bytes,
        usage_first_bytes: samples.first().map_or(0, |p| p.usage_bytes),
        usage_last_bytes: samples.last().map_or(0, |p| p.usage_bytes),
        usage_max_bytes,
        peak_bytes: series.ticks.iter().rev().find_map(|t| t.number(peak_file)),
        usage_max_pct_of_limit: limit_bytes
            .filter(|l| *l > 0)
            .map(|l| round(usage_max_bytes as f64 * 100.0 / l as f64, 2)),
        failcnt: (v == 1)
            .then(|| total(series, |t| t.number("memory.failcnt")))
            .flatten(),
        max_events: events("max"),
        high_events: events("high"),
        oom_events: events("oom"),
        oom_kills: total(series, |t| oom_kills(t, v)),
        major_faults: total(series, major_faults),
        sources: [
            (
                "usage",
                series.source_of(&["memory.current", "memory.usage_in_bytes"]),
            ),
            (
                "limit",
                series.source_of(&["memory.max", "memory.limit_in_bytes"]),
            ),
            (
                "pressure",
                pressure
                    .as_ref()
                    .and_then(|_| series.source_of(&["memory.pressure"])),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect(),
        pressure,
        start_ns,
        end_ns,
        samples,
        verdict: String::new(),
    };
    m.verdict = verdict(&m);
    m
}

fn pressure(series: &Series, wall: u64) -> Option<Pressure> {
    let lines: Vec<_> = series
        .ticks
        .iter()
        .map(|t| t.file("memory.pressure").map(parse::pressure))
        .collect();
    if lines.iter().all(|l| l.is_none()) {
        return None;
    }
    let some = |t: &Tick| {
        Some(
            parse::pressure(t.file("memory.pressure")?)
                .0?
                .total_us
                .saturating_mul(1000),
        )
    };
    let full = |t: &Tick| {
        Some(
            parse::pressure(t.file("memory.pressure")?)
                .1?
                .total_us
                .saturating_mul(1000),
        )
    };
    let some_ns = total(series, some).unwrap_or(0);
    let full_ns = total(series, full);
    let pct = |ns: u64| {
        if wall > 0 {
            round(ns as f64 * 100.0 / wall as f64, 2)
        } else {
            0.0
        }
    };
    let max = |sel: fn(&parse::PressureLines) -> Option<f64>| {
        lines
            .iter()
            .flatten()
            .filter_map(sel)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    Some(Pressure {
        some_avg10_max: max(|l| l.0.map(|p| p.avg10)).unwrap_or(0.0),
        full_avg10_max: max(|l| l.1.map(|p| p.avg10)),
        some_ns,
        full_ns,
        some_pct: pct(some_ns),
        full_pct: full_ns.map(pct),
    })
}

fn verdict(m: &Memory) -> String {
    let kills = m.oom_kills.unwrap_or(0);
    let limit = m.limit_bytes.map_or("no limit".to_string(), |l| {
        format!("the {} limit", human_bytes(l))
    });
    if kills > 0 {
        return format!(
            "{kills} process(es) OOM-killed: usage reached {} against {limit}; raise the limit or find the growth.",
            human_bytes(m.usage_max_bytes.max(m.peak_bytes.unwrap_or(0)))
        );
    }
    let hits = m.failcnt.unwrap_or(0) + m.max_events.unwrap_or(0);
    if hits > 0 {
        return format!(
            "Usage hit {limit} {hits} time(s): the kernel reclaims under the limit; expect stalls and an OOM kill if it grows."
        );
    }
    if let Some(p) = &m.pressure {
        if p.some_pct >= 10.0 {
            return format!(
                "Tasks stalled on memory {:.0}% of the time: the cgroup is short of memory.",
                p.some_pct
            );
        }
    }
    match m.usage_max_pct_of_limit {
        Some(pct) if pct >= 90.0 => format!(
            "Usage peaked at {pct:.0}% of {limit}: close to the limit; an OOM kill is near."
        ),
        Some(pct) => format!("Usage peaked at {pct:.0}% of {limit}: no memory trouble."),
        None => format!(
            "No memory limit; usage peaked at {}.",
            human_bytes(m.usage_max_bytes)
        ),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// The report as blocks of the output layer: verdict, summary, timeline.
pub fn doc(m: &Memory) -> Vec<Block> {
    let mut facts = vec![
        Fact::new("cgroup", Cell::code(&m.cgroup)),
        Fact::new("cgroup version", format!("v{}", m.cgroup_version)),
        Fact::new(
            "limit",
            format!(
                "{}{}",
                m.limit_bytes.map_or("none".into(), human_bytes),
                m.high_bytes
                    .map(|h| format!(", high {}", human_bytes(h)))
                    .unwrap_or_default()
            ),
        ),
        Fact::new(
            "usage",
            format!(
                "{} → {} (max {}{})",
                human_bytes(m.usage_first_bytes),
                human_bytes(m.usage_last_bytes),
                human_bytes(m.usage_max_bytes),
                m.usage_max_pct_of_limit
                    .map(|p| format!(", {p:.1}% of limit"))
                    .unwrap_or_default()
            ),
        ),
        Fact::new("kernel peak", m.peak_bytes.map_or("-".into(), human_bytes)),
    ];
    if m.cgroup_version == 1 {
        facts.push(Fact::new(
            "limit hits (failcnt)",
            Cell::text(opt(m.failcnt)).alarm(m.failcnt.unwrap_or(0) > 0),
        ));
    } else {
        facts.push(Fact::new(
            "events",
            format!(
                "max {}, high {}, oom {}",
                opt(m.max_events),
                opt(m.high_events),
                opt(m.oom_events)
            ),
        ));
    }
    facts.push(Fact::new(
        "OOM kills",
        Cell::text(opt(m.oom_kills)).alarm(m.oom_kills.unwrap_or(0) > 0),
    ));
    facts.push(Fact::new("major faults", opt(m.major_faults)));
    facts.push(Fact::new(
        "pressure",
        match &m.pressure {
            Some(p) => format!(
                "some {:.1}% of the time (avg10 max {:.2}), full {}",
                p.some_pct,
                p.some_avg10_max,
                p.full_pct.map_or("-".into(), |f| format!("{f:.1}%"))
            ),
            None => "not available (no memory.pressure in the capture: no cgroup2 directory was recorded, or PSI is disabled)".into(),
        },
    ));
    if !m.sources.is_empty() {
        facts.push(Fact::new("read from", super::describe_sources(&m.sources)));
    }
    let mut blocks = vec![Block::Verdict(m.verdict.clone()), Block::Facts(facts)];
    if m.samples.len() > 1 {
        let secs = |ns: u64| ns.saturating_sub(m.start_ns) as f64 / 1e9;
        blocks.push(Block::Chart(Chart {
            title: "memory usage",
            value_label: "usage",
            bars: m
                .samples
                .windows(2)
                .map(|w| Bar {
                    start_s: secs(w[0].time_ns),
                    end_s: secs(w[1].time_ns),
                    value: Some(w[1].usage_bytes as f64),
                    mark: None,
                })
                .collect(),
            span_s: secs(m.end_ns),
            limit: m.limit_bytes.map(|l| l as f64),
            limit_label: "limit",
            unit: |v| human_bytes(v as u64),
            mark_label: None,
            merge: Merge::Max,
        }));
    }
    blocks
}

/// `holter memory` on a terminal.
pub fn to_text(m: &Memory) -> String {
    crate::doc::text::render(&Doc { blocks: doc(m) })
}
