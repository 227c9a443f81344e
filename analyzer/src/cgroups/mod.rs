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

/// The snapshots of a capture as one time series.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub version: u8,
    pub ticks: Vec<Tick>,
    /// File name → the cgroup path it was read from.
    pub paths: BTreeMap<String, String>,
}

impl Series {
    pub fn from_capture(c: &Capture) -> Result<Series, ReportError> {
        let first = c
            .cgroup_snapshots
            .first()
            .ok_or_else(|| ReportError::NoSnapshots {
                path: c.path.display().to_string(),
            })?;
        let version = first.version;
        let mut snaps: Vec<_> = c
            .cgroup_snapshots
            .iter()
            .filter(|s| s.version == version)
            .collect();
        snaps.sort_by_key(|s| s.time_ns);
        let mut series = Series {
            version,
            ..Series::default()
        };
        for s in snaps {
            if series.ticks.last().is_none_or(|t| t.time_ns != s.time_ns) {
                series.ticks.push(Tick {
                    time_ns: s.time_ns,
                    ..Tick::default()
                });
            }
            let tick = series.ticks.last_mut().expect("pushed above");
            for (name, content) in &s.files {
                tick.files.insert(name.clone(), content.clone());
                series
                    .paths
                    .entry(name.clone())
                    .or_insert_with(|| s.path.clone());
            }
        }
        Ok(series)
    }

    /// The path of the cgroup the first of these files came from.
    pub fn path_of(&self, files: &[&str]) -> String {
        files
            .iter()
            .find_map(|f| self.paths.get(*f))
            .cloned()
            .unwrap_or_default()
    }

    /// Consecutive pairs of ticks.
    pub fn pairs(&self) -> impl Iterator<Item = (&Tick, &Tick)> {
        self.ticks.iter().zip(self.ticks.iter().skip(1))
    }
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
