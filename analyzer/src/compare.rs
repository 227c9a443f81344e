//! `holter compare A.holter B.holter [...]`: one column per capture (target,
//! host, duration, CPU used, throttled %, memory peak vs limit, OOM kills,
//! the hottest functions' shares, count/errors/p99 of the top syscalls),
//! each capture against the first (the base), the differences marked and
//! ranked.
//!
//! Every figure comes from the per-capture analyses the other commands
//! make ([`crate::flamegraph::fold`], [`crate::syscalls::analyze`],
//! [`crate::cgroups::throttling`], [`crate::cgroups::memory`]); this module
//! only lines them up.

use serde::Serialize;

use crate::cgroups::{human_bytes, memory, round, throttling};
use crate::diff::{self, Change};
use crate::doc::{self, col, t, Block, Cell, Doc, Inline, Table};
use crate::filter::Filter;
use crate::flamegraph::{self, Folded};
use crate::load::Capture;
use crate::symbolize::{SymbolizeError, Symbolizer};
use crate::syscalls::human;

/// Column names: captures are A, B, C... (the file names are in the first row).
pub const LABELS: [&str; 26] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T", "U", "V", "W", "X", "Y", "Z",
];

/// How many of each capture's hottest functions and syscalls are lined up.
const TOP: usize = 5;

/// What one capture says, as `holter compare` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// `A`, `B`, ...
    pub label: &'static str,
    pub file: String,
    pub target: String,
    pub host: String,
    pub duration_s: f64,
    pub samples: u64,
    /// Average CPU used, in cores: from the cgroup's usage counter, else the
    /// target's `task-clock`; `null` when the capture has neither.
    pub cpu_cores: Option<f64>,
    /// `cgroup`, `task-clock` or `null`.
    pub cpu_source: Option<&'static str>,
    /// `null` without cgroup CPU counters.
    pub throttled_pct: Option<f64>,
    pub quota_cores: Option<f64>,
    /// The highest usage the snapshots saw (or the kernel's peak, if higher).
    pub memory_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub oom_kills: Option<u64>,
    /// The capture's hottest functions (leaf frames), most samples first.
    pub top_functions: Vec<Share>,
    /// Per syscall (the top ones of every capture): calls, errors, p99.
    pub syscalls: Vec<Calls>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub function: String,
    pub samples: u64,
    pub pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calls {
    pub name: String,
    pub count: u64,
    pub errors: u64,
    pub p99_ns: u64,
}

/// A difference of one capture from the base, ranked by `score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The capture that differs from A.
    pub capture: &'static str,
    /// `function omega`, `CPU used`, `write p99`, ...
    pub what: String,
    pub base: String,
    pub value: String,
    /// How large: a share's change in points / 100, else the relative change
    /// (capped at 1); the list is sorted by it.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub captures: Vec<Column>,
    /// Per capture after A: the functions whose share of the samples changed most.
    pub function_changes: Vec<FunctionChanges>,
    /// Every marked difference, largest first.
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionChanges {
    pub capture: &'static str,
    pub changes: Vec<Change>,
}

/// What one capture holds for a comparison: its column and its fold.
pub struct Analyzed {
    pub column: Column,
    pub folded: Option<Folded>,
    /// All its syscall rows (native ABI), to line up with the others' top ones.
    pub rows: Vec<crate::syscalls::Row>,
}

/// Analyzes one capture with the other commands' analyses.
pub fn analyze(c: &Capture, label: &'static str) -> Result<Analyzed, SymbolizeError> {
    let folded = if c.samples.is_empty() {
        None
    } else {
        let sym = Symbolizer::new(c, None)?;
        flamegraph::fold(c, &Filter::default(), &sym).ok()
    };
    let thr = throttling::report(c).ok();
    let mem = memory::report(c).ok();
    let sys = (!c.syscalls.is_empty()).then(|| {
        crate::syscalls::analyze(
            c,
            &crate::syscalls::Options {
                slowest: 0,
                ..crate::syscalls::Options::default()
            },
        )
    });
    let duration_ns = c.duration_ns();
    let task_clock: u64 = c
        .counters
        .iter()
        .filter(|(k, _)| k == "task-clock")
        .map(|(_, v)| *v)
        .fold(0, u64::saturating_add);
    let (cpu_cores, cpu_source) = match thr.as_ref().and_then(|t| t.usage_cores_avg) {
        Some(u) => (Some(u), Some("cgroup")),
        None if task_clock > 0 && duration_ns > 0 => (
            Some(round(task_clock as f64 / duration_ns as f64, 3)),
            Some("task-clock"),
        ),
        None => (None, None),
    };
    let top_functions = folded.as_ref().map_or_else(Vec::new, |f| {
        let total = f.quality.samples;
        let mut v: Vec<(&str, u64)> = diff::by_function(f).into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(TOP)
            .map(|(name, n)| Share {
                function: name.to_string(),
                samples: n,
                pct: pct(n, total),
            })
            .collect()
    });
    let rows: Vec<crate::syscalls::Row> = sys
        .map(|r| {
            r.rows
                .into_iter()
                .filter(|x| x.abi == r.native_abi)
                .collect()
        })
        .unwrap_or_default();
    let syscalls = rows
        .iter()
        .take(TOP)
        .map(|r| Calls {
            name: r.name.clone(),
            count: r.count,
            errors: r.errors,
            p99_ns: r.p99_ns,
        })
        .collect();
    let h = &c.header;
    let column = Column {
        label,
        file: c.path.display().to_string(),
        target: if h.target.kind.is_empty() {
            "unknown".into()
        } else {
            format!("{} {}", h.target.kind, h.target.spec)
        },
        host: h.host.hostname.clone(),
        duration_s: round(duration_ns as f64 / 1e9, 3),
        samples: c.samples.len() as u64,
        cpu_cores,
        cpu_source,
        throttled_pct: thr
            .as_ref()
            .filter(|t| t.quota_known || t.periods > 0)
            .map(|t| t.throttled_pct),
        quota_cores: thr.as_ref().and_then(|t| t.quota_cores),
        memory_peak_bytes: mem
            .as_ref()
            .map(|m| m.usage_max_bytes.max(m.peak_bytes.unwrap_or(0))),
        memory_limit_bytes: mem.as_ref().and_then(|m| m.limit_bytes),
        oom_kills: mem.as_ref().and_then(|m| m.oom_kills),
        top_functions,
        syscalls,
    };
    Ok(Analyzed {
        column,
        folded,
        rows,
    })
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        round(n as f64 * 100.0 / total as f64, 2)
    }
}

/// Lines the analyzed captures up, the first as the base.
pub fn compare(mut all: Vec<Analyzed>) -> Comparison {
    // Every capture's top syscalls, for every capture.
    let mut names: Vec<String> = Vec::new();
    for a in &all {
        for c in &a.column.syscalls {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
    }
    for a in &mut all {
        a.column.syscalls = names
            .iter()
            .filter_map(|n| {
                let r = a.rows.iter().find(|r| &r.name == n)?;
                Some(Calls {
                    name: n.clone(),
                    count: r.count,
                    errors: r.errors,
                    p99_ns: r.p99_ns,
                })
            })
            .collect();
    }
    let mut function_changes = Vec::new();
    let mut differences = Vec::new();
    let base = &all[0];
    for other in &all[1..] {
        let label = other.column.label;
        if let (Some(b), Some(o)) = (&base.folded, &other.folded) {
            let changes = diff::top_changes(b, o, 2 * TOP);
            for c in changes.iter().filter(|c| c.delta_pts.abs() >= SHARE_PTS) {
                differences.push(Difference {
                    capture: label,
                    what: format!("function {}", c.function),
                    base: format!("{:.1}%", c.base_pct),
                    value: format!("{:.1}% ({:+.1} pts)", c.new_pct, c.delta_pts),
                    score: c.delta_pts.abs() / 100.0,
                });
            }
            function_changes.push(FunctionChanges {
                capture: label,
                changes,
            });
        }
        for (what, b, o) in figures(&base.column, &other.column) {
            if let (Some(b), Some(o)) = (b, o) {
                if let Some(score) = differs(b.0, o.0) {
                    differences.push(Difference {
                        capture: label,
                        what,
                        base: b.1,
                        value: o.1,
                        score,
                    });
                }
            }
        }
    }
    differences.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.capture.cmp(b.capture))
            .then_with(|| a.what.cmp(&b.what))
    });
    Comparison {
        captures: all.into_iter().map(|a| a.column).collect(),
        function_changes,
        differences,
    }
}

/// A share of the samples that moved this many points is a difference.
pub const SHARE_PTS: f64 = 5.0;
/// A figure that changed by this fraction of the base is a difference.
pub const RELATIVE: f64 = 0.2;

/// Whether `new` differs from `base` enough to mark, and by how much
/// (relative, capped at 1). Small counts (both under 10) never differ.
pub fn differs(base: f64, new: f64) -> Option<f64> {
    if !(base.is_finite() && new.is_finite()) || base == new {
        return None;
    }
    let scale = base.abs().max(new.abs());
    let rel = ((new - base).abs() / base.abs().max(f64::MIN_POSITIVE)).min(1.0);
    (rel >= RELATIVE && scale > 0.0).then_some(rel)
}

type Figure = Option<(f64, String)>;

/// The figures compared (besides function shares): what, base, other.
fn figures(b: &Column, o: &Column) -> Vec<(String, Figure, Figure)> {
    let cores = |c: &Column| c.cpu_cores.map(|v| (v, format!("{v:.2} cores")));
    // Percentages compare as points: 2% → 3% is not a 50% change.
    let thr = |c: &Column| {
        c.throttled_pct
            .map(|v| (v / 100.0 + 1.0, format!("{v:.1}%")))
    };
    let mem = |c: &Column| c.memory_peak_bytes.map(|v| (v as f64, human_bytes(v)));
    let ooms = |c: &Column| {
        c.oom_kills
            .map(|v| ((v.saturating_add(1)) as f64, v.to_string()))
    };
    let mut v = vec![
        ("CPU used".to_string(), cores(b), cores(o)),
        ("throttled periods".to_string(), thr(b), thr(o)),
        ("memory peak".to_string(), mem(b), mem(o)),
        ("OOM kills".to_string(), ooms(b), ooms(o)),
    ];
    for call in &o.syscalls {
        let Some(bc) = b.syscalls.iter().find(|c| c.name == call.name) else {
            continue;
        };
        // Counts below 10 are noise; so are latencies of a handful of calls.
        if bc.count.max(call.count) >= 10 {
            v.push((
                format!("{} calls", call.name),
                Some((bc.count as f64, bc.count.to_string())),
                Some((call.count as f64, call.count.to_string())),
            ));
        }
        if bc.count.min(call.count) >= 10 {
            v.push((
                format!("{} p99", call.name),
                Some((bc.p99_ns as f64, human(bc.p99_ns))),
                Some((call.p99_ns as f64, human(call.p99_ns))),
            ));
        }
        if bc.errors.max(call.errors) >= 10 {
            v.push((
                format!("{} errors", call.name),
                Some((bc.errors.saturating_add(1) as f64, bc.errors.to_string())),
                Some((
                    call.errors.saturating_add(1) as f64,
                    call.errors.to_string(),
                )),
            ));
        }
    }
    v
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

/// The comparison as blocks of the output layer.
pub fn doc(c: &Comparison) -> Doc {
    let n = c.captures.len();
    let mut columns = vec![col("")];
    columns.extend(c.captures.iter().map(|k| doc::col(k.label)));
    let marked = |label: &str, what: &str| {
        c.differences
            .iter()
            .any(|d| d.capture == label && d.what == what)
    };
    // One row: a label and a cell per capture; `what` names the difference
    // that marks a cell.
    let row = |t: &mut Table, name: String, what: &str, cell: &dyn Fn(&Column) -> Cell| {
        let mut cells = vec![Cell::text(name)];
        for k in &c.captures {
            let mut v = cell(k);
            v.alarm = v.alarm || marked(k.label, what);
            cells.push(v);
        }
        t.row(cells);
    };
    let mut d = Doc::new();
    if let Some(top) = c.differences.first() {
        d.push(Block::Verdict(format!(
            "Largest difference: {} in {}: {} (A: {}).",
            top.what, top.capture, top.value, top.base
        )));
    } else if n > 1 {
        d.push(Block::Verdict(
            "No marked difference: the captures agree within the thresholds.".into(),
        ));
    }

    let mut tab = Table::new(columns.clone());
    row(&mut tab, "capture".into(), "", &|k| Cell::code(&k.file));
    row(&mut tab, "target".into(), "", &|k| Cell::code(&k.target));
    row(&mut tab, "host".into(), "", &|k| Cell::code(&k.host));
    row(&mut tab, "duration".into(), "", &|k| {
        Cell::text(format!("{:.2} s", k.duration_s))
    });
    row(&mut tab, "samples".into(), "", &|k| Cell::from(k.samples));
    row(&mut tab, "CPU used".into(), "CPU used", &|k| {
        Cell::text(opt(k.cpu_cores, |v| {
            format!("{v:.2} cores ({})", k.cpu_source.unwrap_or(""))
        }))
    });
    row(&mut tab, "throttled".into(), "throttled periods", &|k| {
        Cell::text(match (k.throttled_pct, k.quota_cores) {
            (Some(v), Some(q)) => format!("{v:.1}% of periods, quota {q:.2} cores"),
            (Some(v), None) => format!("{v:.1}% of periods, no quota"),
            (None, _) => "-".into(),
        })
    });
    row(
        &mut tab,
        "memory peak / limit".into(),
        "memory peak",
        &|k| {
            Cell::text(match (k.memory_peak_bytes, k.memory_limit_bytes) {
                (Some(p), Some(l)) => format!("{} of {}", human_bytes(p), human_bytes(l)),
                (Some(p), None) => format!("{} (no limit)", human_bytes(p)),
                _ => "-".into(),
            })
        },
    );
    row(&mut tab, "OOM kills".into(), "OOM kills", &|k| {
        Cell::text(opt(k.oom_kills, |v| v.to_string())).alarm(k.oom_kills.unwrap_or(0) > 0)
    });
    d.push(Block::Heading("Captures".into()));
    d.push(tab);

    // Functions: every capture's top ones, shares from each fold.
    let mut functions: Vec<String> = Vec::new();
    for fc in &c.function_changes {
        for ch in fc.changes.iter().filter(|x| x.delta_pts.abs() >= SHARE_PTS) {
            if !functions.contains(&ch.function) {
                functions.push(ch.function.clone());
            }
        }
    }
    for k in &c.captures {
        for s in &k.top_functions {
            if !functions.contains(&s.function) {
                functions.push(s.function.clone());
            }
        }
    }
    if !functions.is_empty() {
        let share = |k: &Column, f: &str| -> Option<f64> {
            if let Some(s) = k.top_functions.iter().find(|s| s.function == f) {
                return Some(s.pct);
            }
            if k.label == "A" {
                return c
                    .function_changes
                    .iter()
                    .flat_map(|x| &x.changes)
                    .find(|x| x.function == f)
                    .map(|x| x.base_pct);
            }
            c.function_changes
                .iter()
                .filter(|x| x.capture == k.label)
                .flat_map(|x| &x.changes)
                .find(|x| x.function == f)
                .map(|x| x.new_pct)
        };
        let mut tab = Table::new(columns.clone());
        for f in &functions {
            let what = format!("function {f}");
            let mut cells = vec![Cell::code(f)];
            for k in &c.captures {
                let v = match share(k, f) {
                    Some(p) => format!("{p:.1}%"),
                    None if k.samples == 0 => "-".into(),
                    None => "<top".into(),
                };
                cells.push(Cell::text(v).alarm(marked(k.label, &what)));
            }
            tab.row(cells);
        }
        d.push(Block::Heading(
            "Functions: share of samples (leaf frames)".into(),
        ));
        d.push(tab);
    }

    let mut names: Vec<&str> = Vec::new();
    for k in &c.captures {
        for s in &k.syscalls {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
    }
    if !names.is_empty() {
        let mut tab = Table::new(columns);
        for name in names {
            let get = |k: &Column| k.syscalls.iter().find(|s| s.name == name).cloned();
            row(
                &mut tab,
                format!("{name} calls"),
                &format!("{name} calls"),
                &|k| Cell::text(opt(get(k), |s| s.count.to_string())),
            );
            row(
                &mut tab,
                format!("{name} errors"),
                &format!("{name} errors"),
                &|k| Cell::text(opt(get(k), |s| s.errors.to_string())),
            );
            row(
                &mut tab,
                format!("{name} p99"),
                &format!("{name} p99"),
                &|k| Cell::text(opt(get(k), |s| human(s.p99_ns))),
            );
        }
        d.push(Block::Heading("Syscalls".into()));
        d.push(tab);
    }

    if !c.differences.is_empty() {
        d.push(Block::Heading("Differences from A, largest first".into()));
        d.push(Block::List {
            numbered: true,
            items: c
                .differences
                .iter()
                .map(|x| {
                    vec![
                        Inline::Strong(format!("{}: {}", x.capture, x.what)),
                        t(format!(" {} → {}", x.base, x.value)),
                    ]
                })
                .collect(),
        });
    }
    d.push(Block::Heading("Legend".into()));
    d.push(Block::Para(vec![t(format!(
        "A is the base; a cell is marked where a capture differs from it: a function's share by {SHARE_PTS} points or more, other figures by {:.0}% or more (counts under 10 left out). `-`: not in the capture; `<top`: not among its {TOP} hottest functions.",
        RELATIVE * 100.0
    ))]));
    d
}

/// The page title of the HTML comparison.
pub fn title(c: &Comparison) -> String {
    format!("holter compare: {} captures", c.captures.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_a_difference() {
        assert_eq!(differs(1.0, 1.1), None);
        assert_eq!(differs(1.0, 1.5), Some(0.5));
        assert_eq!(differs(1.0, 3.0), Some(1.0), "capped");
        assert_eq!(differs(0.0, 2.0), Some(1.0));
        assert_eq!(differs(2.0, 2.0), None);
        assert_eq!(differs(f64::NAN, 2.0), None);
    }
}
