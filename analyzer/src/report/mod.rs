//! `holter report`: one self-contained file to attach to a ticket.
//!
//! The model gathers what the other reports already compute (flame graph,
//! throttling, memory, network, syscalls) without recomputing any of it;
//! `html` and `markdown` only lay it out. A section the capture cannot fill
//! holds the reason instead, so the reader learns what is missing and why.

mod chart;
mod facts;
pub mod html;
pub mod markdown;
mod text;

use std::path::Path;

use crate::cgroups::{memory, network, throttling};
use crate::filter::Filter;
use crate::flamegraph::{self, Folded};
use crate::load::Capture;
use crate::symbolize::{SymbolizeError, Symbolizer};

pub use text::{errnos, tracing_line, utc, when};

/// A report section, or why the capture cannot fill it.
pub type Section<T> = Result<T, String>;

#[derive(Debug, Clone)]
pub struct Options<'p> {
    /// Debug files by build-id, for file:line and inlined frames.
    pub debuginfo: Option<&'p Path>,
    /// How many of the hottest stacks and functions to list.
    pub top: usize,
    /// Draw the SVG flame graph (the Markdown report does without).
    pub svg: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            debuginfo: None,
            top: 10,
            svg: true,
        }
    }
}

/// Everything one report shows.
#[derive(Debug)]
pub struct Report<'c> {
    pub capture: &'c Capture,
    pub title: String,
    pub quality: Quality,
    pub flame: Section<Flame>,
    /// The latency table and slowest calls of `holter syscalls`.
    pub syscalls: Section<crate::syscalls::Report>,
    pub throttling: Section<throttling::Throttling>,
    pub memory: Section<memory::Memory>,
    pub network: Section<network::Network>,
}

/// How far the capture can be trusted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quality {
    pub complete: bool,
    pub end_reason: Option<String>,
    pub duration_ns: u64,
    pub samples: u64,
    pub lost_samples: u64,
    /// `None` without samples.
    pub symbolized_pct: Option<f64>,
    /// Syscall records in the capture.
    pub syscalls_recorded: u64,
    /// Syscalls the tracer saw (its syscall totals), recorded or
    /// left out by `--syscalls-filter`; `None` when the agent kept no counts.
    pub syscalls_counted: Option<u64>,
    pub lost_syscalls: u64,
    /// Times the cgroups were read (v1: one snapshot per controller each time).
    pub cgroup_snapshots: u64,
    pub net_snapshots: u64,
    /// Records of kinds newer than this holter, skipped.
    pub unknown_records: u64,
    pub warnings: u64,
}

#[derive(Debug, Clone)]
pub struct Flame {
    /// Inline SVG (from `<svg`), empty unless asked for; without its script
    /// or its `onload` attribute, which `script` replaces.
    pub svg: String,
    /// The flame graph's script (search and zoom), to run once the SVG is
    /// in the page: trusted text from inferno, never from the capture.
    pub script: String,
    pub quality: flamegraph::Quality,
    /// The hottest stacks, most samples first.
    pub top_stacks: Vec<Hot>,
    /// The functions most samples were in (leaf frames).
    pub top_functions: Vec<Hot>,
}

/// A stack (root first) or a single function, with its share of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Hot {
    pub frames: Vec<String>,
    pub samples: u64,
    pub pct: f64,
}

/// Builds the report of a capture.
pub fn build<'c>(capture: &'c Capture, opts: &Options) -> Result<Report<'c>, SymbolizeError> {
    let flame = flame(capture, opts)?;
    let counted = syscalls_counted(capture);
    let quality = Quality {
        complete: capture.complete,
        end_reason: capture.footer.as_ref().map(|f| f.reason.clone()),
        duration_ns: capture.duration_ns(),
        samples: capture.samples.len() as u64,
        lost_samples: capture.lost("samples"),
        symbolized_pct: flame
            .as_ref()
            .ok()
            .map(|f| crate::cgroups::round(f.quality.symbolized_percent(), 1)),
        syscalls_recorded: capture.syscalls.len() as u64,
        syscalls_counted: counted,
        lost_syscalls: capture.lost("syscalls"),
        cgroup_snapshots: capture
            .cgroup_snapshots
            .iter()
            .map(|s| s.time_ns)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64,
        net_snapshots: capture.net_snapshots.len() as u64,
        unknown_records: capture.unknown_records,
        warnings: capture.warnings.len() as u64,
    };
    let syscalls = if capture.syscalls.is_empty() && counted.unwrap_or(0) == 0 {
        Err(if capture.header.options.syscalls {
            "no syscalls recorded: the tracer saw none (did the target make any?)".to_string()
        } else {
            "no syscalls recorded: record with `--syscalls` to get the latency table".to_string()
        })
    } else {
        Ok(crate::syscalls::analyze(
            capture,
            &crate::syscalls::Options {
                slowest: opts.top,
                ..crate::syscalls::Options::default()
            },
        ))
    };
    Ok(Report {
        capture,
        title: title(capture),
        quality,
        flame,
        syscalls,
        throttling: throttling::report(capture).map_err(|e| e.to_string()),
        memory: memory::report(capture).map_err(|e| e.to_string()),
        network: network::report(capture).map_err(|e| e.to_string()),
    })
}

fn title(c: &Capture) -> String {
    let t = &c.header.target;
    let name = c
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if t.kind.is_empty() {
        format!("holter report: {name}")
    } else {
        format!("holter report: {} {} ({name})", t.kind, t.spec)
    }
}

/// The target's processes, as plain text: how many, then pid and name of
/// each (at most 20): `2 at start: 27691 nginx, 27696 nginx (5 seen in all)`.
pub fn processes_line(c: &Capture) -> String {
    const MAX: usize = 20;
    let names = crate::filter::Names::new(c);
    let pids = &c.header.target.pids;
    let mut list: Vec<String> = pids
        .iter()
        .take(MAX)
        .map(|&pid| match names.process(pid, c.start_ns()) {
            "" => pid.to_string(),
            name => format!("{pid} {name}"),
        })
        .collect();
    if pids.len() > MAX {
        list.push(format!("and {} more", pids.len() - MAX));
    }
    let seen: std::collections::BTreeSet<u32> = c
        .processes
        .iter()
        .map(|p| p.pid)
        .chain(pids.iter().copied())
        .collect();
    let mut line = match pids.len() {
        0 => "none at start".to_string(),
        n => format!("{n} at start: {}", list.join(", ")),
    };
    if seen.len() > pids.len() {
        line.push_str(&format!(" ({} seen in all)", seen.len()));
    }
    line
}

/// The calls the tracer counted (its syscall totals).
fn syscalls_counted(c: &Capture) -> Option<u64> {
    c.syscalls_counted()
}

fn flame(c: &Capture, opts: &Options) -> Result<Section<Flame>, SymbolizeError> {
    if c.samples.is_empty() {
        return Ok(Err(if c.header.options.samples {
            "no samples: the target did not run on a CPU during the capture".to_string()
        } else {
            "no samples: the capture was recorded with --no-samples".to_string()
        }));
    }
    let sym = Symbolizer::new(c, opts.debuginfo)?;
    let folded = match flamegraph::fold(c, &Filter::default(), &sym) {
        Ok(f) => f,
        // The other sections may still fit: say why this one is missing.
        Err(e) => return Ok(Err(e.to_string())),
    };
    let (svg, script) = if opts.svg {
        svg(&folded)
    } else {
        Default::default()
    };
    Ok(Ok(Flame {
        svg,
        script,
        quality: folded.quality,
        top_stacks: top_stacks(&folded, opts.top),
        top_functions: top_functions(&folded, opts.top),
    }))
}

/// The flame graph as an element to put inside HTML (no XML prolog or
/// doctype), and its script taken out of it: the page runs it from one
/// `<script>` pinned by hash in its Content-Security-Policy, and calls the
/// `init` that the SVG's `onload` attribute (removed) used to call.
fn svg(folded: &Folded) -> (String, String) {
    let opts = flamegraph::SvgOptions {
        title: "CPU samples".into(),
        subtitle: folded.quality.line(),
        diffable: false,
    };
    let mut out = Vec::new();
    if let Err(e) = flamegraph::write_svg(folded, &opts, &mut out) {
        let e = html::esc(&e.to_string());
        return (
            format!("<p>the flame graph could not be drawn: {e}</p>"),
            String::new(),
        );
    }
    let text = String::from_utf8_lossy(&out);
    let Some(at) = text.find("<svg") else {
        return Default::default();
    };
    split_script(&text[at..])
}

/// Splits inferno's SVG into the SVG without script or `onload`, and the
/// script's text.
fn split_script(svg: &str) -> (String, String) {
    const OPEN: &str = "<script type=\"text/ecmascript\"><![CDATA[";
    const CLOSE: &str = "]]></script>";
    let svg = svg.replacen(" onload=\"init(evt)\"", "", 1);
    let (Some(start), Some(end)) = (svg.find(OPEN), svg.find(CLOSE)) else {
        return (svg, String::new());
    };
    if end < start {
        return (svg, String::new());
    }
    // Inferno splits its script into several CDATA sections.
    let script = svg[start + OPEN.len()..end].replace("]]><![CDATA[", "");
    // It must not end the HTML script element early (it never does).
    let script = if script.to_ascii_lowercase().contains("</script") {
        String::new()
    } else {
        format!("{script}\ninit();\n")
    };
    let rest = format!("{}{}", &svg[..start], &svg[end + CLOSE.len()..]);
    (rest, script)
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        crate::cgroups::round(n as f64 * 100.0 / total as f64, 1)
    }
}

fn top_stacks(f: &Folded, n: usize) -> Vec<Hot> {
    let mut v: Vec<(&String, &u64)> = f.stacks.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(n)
        .map(|(s, &count)| Hot {
            frames: s.split(';').map(str::to_string).collect(),
            samples: count,
            pct: pct(count, f.quality.samples),
        })
        .collect()
}

fn top_functions(f: &Folded, n: usize) -> Vec<Hot> {
    let mut by_leaf: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for (s, &count) in &f.stacks {
        let leaf = s.rsplit(';').next().unwrap_or(s);
        *by_leaf.entry(leaf).or_default() += count;
    }
    let mut v: Vec<(&str, u64)> = by_leaf.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(n)
        .map(|(s, count)| Hot {
            frames: vec![s.to_string()],
            samples: count,
            pct: pct(count, f.quality.samples),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(lines: &[(&str, u64)]) -> Folded {
        let mut f = Folded::default();
        for (s, c) in lines {
            f.stacks.insert(s.to_string(), *c);
            f.quality.samples += c;
        }
        f
    }

    #[test]
    fn hottest_stacks_and_leaf_functions() {
        let f = folded(&[("a;b;c", 2), ("a;b", 5), ("x;c", 3)]);
        let s = top_stacks(&f, 2);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].frames, ["a", "b"]);
        assert_eq!((s[0].samples, s[0].pct), (5, 50.0));
        assert_eq!(s[1].frames, ["x", "c"]);
        let t = top_functions(&f, 10);
        assert_eq!(t[0].frames, ["b"]);
        assert_eq!(t[1].frames, ["c"]);
        assert_eq!((t[1].samples, t[1].pct), (5, 50.0));
    }
}
