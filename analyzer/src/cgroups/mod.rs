//! Cgroup and network reports: raw snapshots → counters → rates per interval.
//!
//! Rates come from pairs of snapshots as `Option`s: a counter that went
//! backwards (the cgroup was recreated) gives `None`, a gap in the timeline,
//! never a negative rate.

pub mod memory;
pub mod network;
pub mod parse;
pub mod throttling;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::load::Capture;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{path}: the capture has no cgroup snapshots (the agent found no cgroup of the target); record a cgroup, e.g. `holter-agent record --cgroup /sys/fs/cgroup/cpu/NAME`")]
    NoSnapshots { path: String },
    #[error("{path}: the cgroup snapshots hold no {file} (the target's {controller} controller was not found)")]
    NoFile {
        path: String,
        file: &'static str,
        controller: &'static str,
    },
    #[error("{path}: the capture has no network snapshots (the agent could not enter the target's network namespace; see `holter info` warnings)")]
    NoNetSnapshots { path: String },
}

/// The control files of every snapshot taken at one time, merged (for v1,
/// one snapshot per controller hierarchy).
#[derive(Debug, Clone, Default)]
pub struct Tick {
    pub time_ns: u64,
    pub files: BTreeMap<String, String>,
}

impl Tick {
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// A file that holds one number.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.file(name)?.trim().parse().ok()
    }

    /// A field of a `key value` file.
    pub fn keyed(&self, name: &str, key: &str) -> Option<u64> {
        parse::keyed(self.file(name)?).get(key).copied()
    }
}

/// Where a file of a [`Series`] was read: its cgroup directory, version and
/// (v1) hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub path: String,
    pub version: u8,
    pub controller: String,
}

impl Source {
    /// `v1 cpu /docker/ID`, `v2 /docker/ID`: for reports (escaped by the renderer).
    pub fn describe(&self) -> String {
        if self.controller.is_empty() {
            format!("v{} {}", self.version, self.path)
        } else {
            format!("v{} {} {}", self.version, self.controller, self.path)
        }
    }
}

/// The files whose limits and counters decide which cgroup version a
/// series reads first (where the controllers are).
const CONTROLLER_FILES: &[&str] = &[
    "cpu.max",
    "cpu.cfs_quota_us",
    "memory.max",
    "memory.limit_in_bytes",
];

/// The snapshots of a capture as one time series, every cgroup version it
/// holds merged: the version where the controllers are (their limit files)
/// gives every file it has; the others add the files it never has (on a
/// hybrid layout, the cgroup2 directory's `*.pressure` and `cgroup.events`
/// beside the v1 controllers). A file name is always read from one version,
/// so `cpu.stat` of v1 and of v2 are never mixed.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// The version of the controllers' files.
    pub version: u8,
    pub ticks: Vec<Tick>,
    /// File name → the cgroup path it was read from.
    pub paths: BTreeMap<String, String>,
    /// File name → where it was read.
    pub sources: BTreeMap<String, Source>,
}

impl Series {
    pub fn from_capture(c: &Capture) -> Result<Series, ReportError> {
        let first = c
            .cgroup_snapshots
            .first()
            .ok_or_else(|| ReportError::NoSnapshots {
                path: c.path.display().to_string(),
            })?;
        Ok(Series::from_snapshots(&c.cgroup_snapshots, first.version))
    }

    /// The series of `snaps`; `fallback`: the version read first when no
    /// snapshot holds a controller's limit file.
    pub fn from_snapshots(snaps: &[holter_format::CgroupSnapshot], fallback: u8) -> Series {
        let version = snaps
            .iter()
            .find(|s| {
                s.files
                    .iter()
                    .any(|(n, _)| CONTROLLER_FILES.contains(&n.as_str()))
            })
            .map_or(fallback, |s| s.version);
        let own: std::collections::BTreeSet<&str> = snaps
            .iter()
            .filter(|s| s.version == version)
            .flat_map(|s| s.files.iter().map(|(n, _)| n.as_str()))
            .collect();
        let mut sorted: Vec<_> = snaps.iter().collect();
        // The controllers' version first at each time, so its files win.
        sorted.sort_by_key(|s| (s.time_ns, s.version != version));
        let mut series = Series {
            version,
            ..Series::default()
        };
        for s in sorted {
            if series.ticks.last().is_none_or(|t| t.time_ns != s.time_ns) {
                series.ticks.push(Tick {
                    time_ns: s.time_ns,
                    ..Tick::default()
                });
            }
            let tick = series.ticks.last_mut().expect("pushed above");
            for (name, content) in &s.files {
                if s.version != version && own.contains(name.as_str()) {
                    continue;
                }
                if tick.files.contains_key(name) {
                    continue;
                }
                tick.files.insert(name.clone(), content.clone());
                series
                    .paths
                    .entry(name.clone())
                    .or_insert_with(|| s.path.clone());
                series
                    .sources
                    .entry(name.clone())
                    .or_insert_with(|| Source {
                        path: s.path.clone(),
                        version: s.version,
                        controller: s.controller.clone(),
                    });
            }
        }
        series
    }

    /// The path of the cgroup the first of these files came from.
    pub fn path_of(&self, files: &[&str]) -> String {
        files
            .iter()
            .find_map(|f| self.paths.get(*f))
            .cloned()
            .unwrap_or_default()
    }

    /// Where the first of these files the series has was read (`v1 cpu /docker/ID`).
    pub fn source_of(&self, files: &[&str]) -> Option<String> {
        files
            .iter()
            .find_map(|f| self.sources.get(*f))
            .map(Source::describe)
    }

    /// Consecutive pairs of ticks.
    pub fn pairs(&self) -> impl Iterator<Item = (&Tick, &Tick)> {
        self.ticks.iter().zip(self.ticks.iter().skip(1))
    }
}

/// `quota, periods: v1 cpu /docker/ID; pressure: v2 /docker/ID`: the
/// figures of a report grouped by the directory they were read from.
pub fn describe_sources(sources: &BTreeMap<&'static str, String>) -> String {
    let mut by_dir: Vec<(&str, Vec<&str>)> = Vec::new();
    for (figure, dir) in sources {
        match by_dir.iter_mut().find(|(d, _)| d == dir) {
            Some((_, v)) => v.push(figure),
            None => by_dir.push((dir, vec![figure])),
        }
    }
    by_dir
        .iter()
        .map(|(d, f)| format!("{}: {d}", f.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a tick's cgroups were frozen (`docker pause`, the freezer): v1
/// `freezer.state` FROZEN or FREEZING, cgroup2 `cgroup.events` `frozen 1`;
/// `None` when the tick holds neither file.
pub fn frozen(t: &Tick) -> Option<bool> {
    let v1 = t
        .file("freezer.state")
        .map(|s| matches!(s.trim(), "FROZEN" | "FREEZING"));
    let v2 = t
        .file("cgroup.events")
        .map(|s| s.lines().any(|l| l.split_whitespace().eq(["frozen", "1"])));
    match (v1, v2) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(false) || b.unwrap_or(false)),
    }
}

/// Time the target spent frozen: the intervals that start frozen; `None`
/// when no snapshot says whether it was.
pub fn frozen_ns(series: &Series) -> Option<u64> {
    series.ticks.iter().any(|t| frozen(t).is_some()).then(|| {
        series
            .pairs()
            .filter(|(a, _)| frozen(a) == Some(true))
            .map(|(a, b)| b.time_ns.saturating_sub(a.time_ns))
            .fold(0, u64::saturating_add)
    })
}

/// The growth of a counter between two readings; `None` when either is
/// missing or it went backwards.
pub fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    b?.checked_sub(a?)
}

/// The growth of a counter over the series, summed over the intervals where
/// it is known and did not go backwards; `None` when it is known in no interval.
pub fn total(series: &Series, f: impl Fn(&Tick) -> Option<u64>) -> Option<u64> {
    series
        .pairs()
        .filter_map(|(a, b)| delta(f(a), f(b)))
        .fold(None, |acc, d| Some(acc.unwrap_or(0u64).saturating_add(d)))
}

/// Round to `digits` decimals, so reports print and compare cleanly.
pub fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// `1.5 GiB`, `300 MiB`, `12 KiB`, `512 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A text bar of `width` cells for `fraction` (clamped to 0..=1).
pub fn bar(fraction: f64, width: usize) -> String {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = (f * width as f64).round() as usize;
    format!("{}{}", "#".repeat(full), ".".repeat(width - full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_never_negative() {
        assert_eq!(delta(Some(5), Some(8)), Some(3));
        assert_eq!(delta(Some(8), Some(5)), None);
        assert_eq!(delta(None, Some(5)), None);
        let mut s = Series::default();
        for (t, v) in [(1, 10u64), (2, 15), (3, 2), (4, 6)] {
            let mut tick = Tick {
                time_ns: t,
                ..Tick::default()
            };
            tick.files.insert("x".into(), v.to_string());
            s.ticks.push(tick);
        }
        // 10→15 (+5), 15→2 (reset: gap), 2→6 (+4).
        assert_eq!(total(&s, |t| t.number("x")), Some(9));
        assert_eq!(total(&s, |t| t.number("y")), None);
    }

    /// A hybrid layout (this project's VM, docker's cgroupfs driver): v1 cpu
    /// and cpuacct hold the quota and counters, the cgroup2 directory only
    /// its core files (its own `cpu.stat` without throttling) and PSI.
    #[test]
    fn every_version_is_read_and_each_file_from_one() {
        use holter_format::CgroupSnapshot;
        let snap = |t: u64, version: u8, controller: &str, files: &[(&str, &str)]| CgroupSnapshot {
            time_ns: t,
            path: "/docker/abc".into(),
            version,
            controller: controller.into(),
            files: files
                .iter()
                .map(|(n, c)| (n.to_string(), c.to_string()))
                .collect(),
        };
        let mut snaps = Vec::new();
        for (i, t) in [0u64, 1_000_000_000].into_iter().enumerate() {
            let k = i as u64;
            // The v2 directory comes first, as the agent reads it first.
            snaps.push(snap(
                t,
                2,
                "",
                &[
                    ("cpu.stat", &format!("usage_usec {}\n", 999 * k)),
                    (
                        "cpu.pressure",
                        &format!(
                            "some avg10=1.00 avg60=0.00 avg300=0.00 total={}\n",
                            250_000 * k
                        ),
                    ),
                ],
            ));
            snaps.push(snap(
                t,
                1,
                "cpu",
                &[
                    (
                        "cpu.stat",
                        &format!(
                            "nr_periods {}\nnr_throttled {}\nthrottled_time {}\n",
                            10 * k,
                            9 * k,
                            700_000_000 * k
                        ),
                    ),
                    ("cpu.cfs_quota_us", "20000\n"),
                    ("cpu.cfs_period_us", "100000\n"),
                ],
            ));
            snaps.push(snap(
                t,
                1,
                "cpuacct",
                &[("cpuacct.usage", &(200_000_000 * k).to_string())],
            ));
        }
        let series = Series::from_snapshots(&snaps, 2);
        assert_eq!(series.version, 1, "the controllers' version");
        assert_eq!(
            series.ticks.len(),
            2,
            "one tick per time, all versions merged"
        );
        assert_eq!(
            series.source_of(&["cpu.stat"]).unwrap(),
            "v1 cpu /docker/abc"
        );
        assert_eq!(
            series.source_of(&["cpu.pressure"]).unwrap(),
            "v2 /docker/abc"
        );
        let t = throttling::from_series(&series);
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_ns),
            (10, 9, 700_000_000)
        );
        assert_eq!(t.usage_cores_avg, Some(0.2));
        assert_eq!(
            t.cpu_pressure_pct,
            Some(25.0),
            "PSI of the cgroup2 directory"
        );
        assert_eq!(t.sources["pressure"], "v2 /docker/abc");
        assert_eq!(t.sources["usage"], "v1 cpuacct /docker/abc");
        assert_eq!(describe_sources(&t.sources), "periods, quota: v1 cpu /docker/abc; pressure: v2 /docker/abc; usage: v1 cpuacct /docker/abc");
    }

    /// A container paused for two of its three intervals (v1 freezer), then
    /// one frozen by cgroup2 only: the frozen time and the report's line.
    #[test]
    fn frozen_time_from_either_freezer() {
        let mk = |t: u64, state: &str, events: &str| {
            let mut tick = Tick {
                time_ns: t * 1_000_000_000,
                ..Tick::default()
            };
            tick.files
                .insert("freezer.state".into(), format!("{state}\n"));
            tick.files.insert(
                "cgroup.events".into(),
                format!("populated 1\nfrozen {events}\n"),
            );
            tick.files.insert(
                "cpu.stat".into(),
                "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n".into(),
            );
            tick
        };
        let series = Series {
            version: 1,
            ticks: vec![
                mk(0, "THAWED", "0"),
                mk(1, "FROZEN", "0"),
                mk(2, "FREEZING", "0"),
                mk(3, "THAWED", "1"),
                mk(4, "THAWED", "0"),
            ],
            ..Series::default()
        };
        assert_eq!(frozen_ns(&series), Some(3_000_000_000));
        let t = throttling::from_series(&series);
        assert_eq!(t.frozen_s, Some(3.0));
        assert!(
            t.verdict
                .starts_with("Frozen for 3.0 s of 4.0 s: nothing ran"),
            "{}",
            t.verdict
        );
        let text = crate::doc::text::render(&{
            let mut d = crate::doc::Doc::new();
            for b in throttling::doc(&t) {
                d.push(b);
            }
            d
        });
        assert!(text.contains("frozen for 3.0 s: nothing ran"), "{text}");
        // Without freezer files: unknown, not "never frozen".
        let mut bare = series.clone();
        for t in &mut bare.ticks {
            t.files.retain(|n, _| n == "cpu.stat");
        }
        assert_eq!(frozen_ns(&bare), None);
    }

    #[test]
    fn helpers() {
        assert_eq!(bar(0.5, 10), "#####.....");
        assert_eq!(bar(2.0, 4), "####");
        assert_eq!(bar(f64::NAN, 2), "..");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(round(1.23456, 2), 1.23);
    }
}
