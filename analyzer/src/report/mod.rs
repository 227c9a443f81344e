//! `holter report`: one self-contained file to attach to a ticket.
//!
//! [`build`] gathers what the other reports already compute (flame graph,
//! throttling, memory, network, syscalls) without recomputing any of it;
//! [`doc`] lays it out once as blocks of the output layer ([`crate::doc`]),
//! which [`to_html`] and [`to_markdown`] render. A section the capture
//! cannot fill holds the reason instead, so the reader learns what is
//! missing and why.

mod text;
pub mod timeline;

use crate::cgroups::{memory, network, throttling};
use crate::doc::{self, code, num, t, Block, Cell, Doc, Fact, Inline, Table};
use crate::filter::Filter;
use crate::flamegraph::{self, Folded};
use crate::load::Capture;
use crate::symbolize::{SymbolizeError, Symbolizer};

pub use text::{newer_records, tracing_line, utc, when};

/// A report section, or why the capture cannot fill it.
pub type Section<T> = Result<T, String>;

#[derive(Debug, Clone)]
pub struct Options<'p> {
    /// Where debug files are looked for (none: the capture's names only).
    pub debug: Option<&'p crate::symbolize::DebugOptions>,
    /// How many of the hottest stacks and functions to list.
    pub top: usize,
    /// Draw the SVG flame graph (the Markdown report does without).
    pub svg: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            debug: None,
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
    /// Where the threads waited (`--off-cpu`): the hottest off-CPU stacks
    /// and the `holter sched` table.
    pub off_cpu: Section<OffCpu>,
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
    /// Directories each cgroup snapshot reads.
    pub cgroup_directories: u64,
    pub net_snapshots: u64,
    /// Records of kinds newer than this holter, skipped.
    pub unknown_records: u64,
    pub warnings: u64,
}

#[derive(Debug, Clone)]
pub struct Flame {
    /// The SVG (from `<svg`, vetted) and its script (search and zoom, from
    /// inferno, never from the capture), empty unless asked for; the SVG
    /// without its script or its `onload` attribute, which the script's
    /// `init()` replaces. `Err`: why it could not be drawn.
    pub graph: Result<doc::Flame, String>,
    pub quality: flamegraph::Quality,
    /// The hottest stacks, most samples first.
    pub top_stacks: Vec<Hot>,
    /// The functions most samples were in (leaf frames).
    pub top_functions: Vec<Hot>,
    /// The functions the timeline tells apart (the hottest), and samples
    /// per time bin and function ([`timeline::cpu_bins`]).
    pub timeline_functions: Vec<String>,
    pub by_time: Vec<doc::timeline::CpuBin>,
}

/// Time off the CPU: the folded off-CPU stacks' summary and the per-thread table.
#[derive(Debug, Clone)]
pub struct OffCpu {
    pub quality: flamegraph::Quality,
    /// The stacks most time was spent off the CPU from (`samples`: ns).
    pub top_stacks: Vec<Hot>,
    pub sched: crate::sched::Report,
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
        cgroup_snapshots: capture.cgroup_snapshot_count(),
        cgroup_directories: capture.cgroup_directories().len() as u64,
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
    let off_cpu = off_cpu(capture, opts)?;
    Ok(Report {
        capture,
        title: title(capture),
        quality,
        flame,
        off_cpu,
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
    let sym = match opts.debug {
        Some(d) => Symbolizer::with_options(c, d)?,
        None => Symbolizer::new(c, None)?,
    };
    let folded = match flamegraph::fold(c, &Filter::default(), &sym) {
        Ok(f) => f,
        // The other sections may still fit: say why this one is missing.
        Err(e) => return Ok(Err(e.to_string())),
    };
    let graph = if opts.svg {
        svg(&folded)
    } else {
        Ok(doc::Flame::default())
    };
    let top_functions = top_functions(&folded, opts.top);
    let timeline_functions: Vec<String> = top_functions
        .iter()
        .take(doc::timeline::Timeline::TOP)
        .map(|h| h.frames.join(";"))
        .collect();
    let by_time = if opts.svg {
        timeline::cpu_bins(c, &sym, &timeline_functions)
    } else {
        Vec::new()
    };
    Ok(Ok(Flame {
        graph,
        quality: folded.quality,
        top_stacks: top_stacks(&folded, opts.top),
        top_functions,
        timeline_functions,
        by_time,
    }))
}

fn off_cpu(c: &Capture, opts: &Options) -> Result<Section<OffCpu>, SymbolizeError> {
    if c.off_cpu.is_empty() {
        return Ok(Err(if c.header.off_cpu {
            "no off-CPU interval: no thread of the target left a CPU during the capture".to_string()
        } else {
            "no off-CPU time: record with `--off-cpu` to see where the threads wait".to_string()
        }));
    }
    let sym = match opts.debug {
        Some(d) => Symbolizer::with_options(c, d)?,
        None => Symbolizer::new(c, None)?,
    };
    let folded = match flamegraph::fold_off_cpu(c, &Filter::default(), &sym) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e.to_string())),
    };
    Ok(Ok(OffCpu {
        quality: folded.quality,
        top_stacks: top_stacks(&folded, opts.top),
        sched: crate::sched::analyze(c),
    }))
}

fn off_cpu_blocks(o: &OffCpu) -> Vec<Block> {
    let mut b = vec![Block::Para(vec![t(format!(
        "{:.3} s off the CPU in {} intervals ({:.1}% of frames symbolized): the stacks threads left the CPU from, weighted by the time until they ran again.",
        o.quality.samples as f64 / 1e9,
        o.sched.intervals,
        o.quality.symbolized_percent()
    ))])];
    b.push(Block::Heading(
        "Longest off-CPU stacks (root → leaf)".into(),
    ));
    b.push(Block::List {
        numbered: true,
        items: o
            .top_stacks
            .iter()
            .map(|h| {
                vec![
                    Inline::Strong(format!("{:.1}%", h.pct)),
                    t(format!(" ({}) ", crate::syscalls::human(h.samples))),
                    code(h.frames.join(" → ")),
                ]
            })
            .collect(),
    });
    b.push(Block::Heading("Scheduling per thread".into()));
    b.extend(crate::sched::doc(&o.sched));
    b
}

/// The flame graph as an element to put inside HTML (no XML prolog or
/// doctype), checked by [`doc::html::vet_svg`], and its script taken out of
/// it: the page runs it from one `<script>` pinned by hash in its
/// Content-Security-Policy, and calls the `init` that the SVG's `onload`
/// attribute (removed) used to call.
fn svg(folded: &Folded) -> Result<doc::Flame, String> {
    let opts = flamegraph::SvgOptions {
        title: "CPU samples".into(),
        subtitle: folded.quality.line(),
        diffable: false,
    };
    let mut out = Vec::new();
    flamegraph::write_svg(folded, &opts, &mut out)
        .map_err(|e| format!("the flame graph could not be drawn: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    let at = text
        .find("<svg")
        .ok_or("the flame graph could not be drawn: no <svg> element")?;
    let (svg, script) = split_script(&text[at..]);
    let svg = doc::html::vet_svg(&svg)
        .map_err(|e| format!("the flame graph was left out: its SVG is unsafe inline ({e})"))?;
    Ok(doc::Flame { svg, script })
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
    let script = doc::html::script(&format!("{script}\ninit();\n")).unwrap_or_default();
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

/// The sections of the report, in order: anchor and name.
pub const SECTIONS: &[(&str, &str)] = &[
    ("target", "target"),
    ("quality", "data quality"),
    ("flame", "flame graph"),
    ("timeline", "timeline"),
    ("off-cpu", "off-CPU"),
    ("syscalls", "syscalls"),
    ("throttling", "throttling"),
    ("memory", "memory"),
    ("network", "network"),
    ("warnings", "warnings"),
];

/// The report as blocks of the output layer, one section each.
pub fn doc(r: &Report) -> Doc {
    let section = |id: &'static str, title: &str, blocks: Vec<Block>| {
        Block::Section(doc::Section {
            id,
            title: title.to_string(),
            blocks,
        })
    };
    let or_missing =
        |s: Result<Vec<Block>, &String>| s.unwrap_or_else(|why| vec![Block::Missing(why.clone())]);
    let mut d = Doc::new();
    d.push(section(
        "target",
        "Target and host",
        vec![Block::Facts(target(r))],
    ));
    d.push(section(
        "quality",
        "Data quality",
        vec![Block::Facts(quality(r))],
    ));
    d.push(section(
        "flame",
        "Flame graph",
        or_missing(r.flame.as_ref().map(flame_blocks)),
    ));
    // After the flame graph: its script needs its SVG first on the page.
    if let Some(tl) = timeline::build(r) {
        d.push(section(
            "timeline",
            "Timeline",
            vec![
                Block::Para(vec![t(
                    "CPU samples by function, throttled periods, memory and the slowest syscalls (red: overlapping throttled time) on one time axis.",
                )]),
                Block::Timeline(tl),
            ],
        ));
    }
    d.push(section(
        "off-cpu",
        "Off-CPU time",
        or_missing(r.off_cpu.as_ref().map(off_cpu_blocks)),
    ));
    let tracing = Block::Para(vec![t(format!("{}.", tracing_line(&r.quality)))]);
    d.push(section(
        "syscalls",
        "Syscalls",
        or_missing(r.syscalls.as_ref().map(|s| {
            let mut b = vec![tracing];
            b.extend(crate::syscalls::doc(s));
            b
        })),
    ));
    d.push(section(
        "throttling",
        "CPU throttling",
        or_missing(r.throttling.as_ref().map(throttling::doc)),
    ));
    d.push(section(
        "memory",
        "Memory and pressure",
        or_missing(r.memory.as_ref().map(memory::doc)),
    ));
    d.push(section(
        "network",
        "Network",
        or_missing(r.network.as_ref().map(network::doc)),
    ));
    let warnings = &r.capture.warnings;
    d.push(section(
        "warnings",
        "Warnings",
        vec![if warnings.is_empty() {
            Block::Para(vec![t("The agent and the reader raised no warning.")])
        } else {
            Block::List {
                numbered: false,
                items: warnings.iter().map(|w| vec![t(w.as_str())]).collect(),
            }
        }],
    ));
    d
}

/// The target's identity, shared by `holter info` and the report: target,
/// container, cgroups, host.
pub fn target_facts(h: &holter_format::Header) -> Vec<Fact> {
    let t = &h.target;
    let mut v = vec![Fact::new("target", format!("{} {}", t.kind, t.spec))];
    if t.container_id.is_some() || !h.runtime.is_empty() || !h.container_name.is_empty() {
        let mut about = Vec::new();
        if !h.runtime.is_empty() {
            about.push(format!("runtime {}", h.runtime));
        }
        if !h.container_name.is_empty() {
            about.push(format!("name {}", h.container_name));
        }
        let id = t.container_id.as_deref().unwrap_or("(id unknown)");
        v.push(Fact::new(
            "container",
            if about.is_empty() {
                Cell::code(id)
            } else {
                Cell::text(format!("{id} ({})", about.join(", ")))
            },
        ));
    }
    for cg in &t.cgroups {
        v.push(Fact::new("cgroup", Cell::code(cg)));
    }
    v.push(Fact::new(
        "host",
        format!(
            "{} (Linux {}, {}, {} CPUs)",
            h.host.hostname, h.host.kernel_release, h.host.arch, h.host.cpus
        ),
    ));
    v
}

fn target(r: &Report) -> Vec<Fact> {
    let h = &r.capture.header;
    let mut v = target_facts(h);
    v.insert(1, Fact::new("processes", processes_line(r.capture)));
    v.push(Fact::new("boot id", Cell::code(&h.host.boot_id)));
    v.push(Fact::new("started", utc(h.clock.wall_ns)));
    v.push(Fact::new("agent", h.agent_version.as_str()));
    let o = &h.options;
    let mut rec = Vec::new();
    if o.samples {
        rec.push(format!(
            "samples ({} at {} Hz)",
            o.sample_event, o.frequency_hz
        ));
    }
    if o.syscalls {
        rec.push(match &o.syscalls_filter {
            Some(f) => format!("syscalls (filter {f})"),
            None => "syscalls".into(),
        });
    }
    rec.push(format!(
        "cgroup snapshots every {} ms",
        o.cgroup_interval_ns / 1_000_000
    ));
    if o.redact {
        rec.push("argv redacted".into());
    }
    v.push(Fact::new("recorded", rec.join(", ")));
    v
}

fn quality(r: &Report) -> Vec<Fact> {
    let q = &r.quality;
    let status = match (&q.end_reason, q.complete) {
        (Some(reason), true) => Cell::text(format!("complete, ended by {reason}")),
        _ => Cell::text(
            "INCOMPLETE: no footer (the agent was killed or the file was cut); this shows what it holds",
        )
        .alarm(true),
    };
    let seen = q.samples as f64 + q.lost_samples as f64;
    let lost_pct = if seen > 0.0 {
        q.lost_samples as f64 * 100.0 / seen
    } else {
        0.0
    };
    let mut v = vec![
        Fact::new("capture", status),
        Fact::new("duration", when(q.duration_ns)),
        Fact::new(
            "samples",
            Cell::text(format!(
                "{} recorded, {} lost ({lost_pct:.1}%)",
                q.samples, q.lost_samples
            ))
            .alarm(lost_pct >= 1.0),
        ),
        Fact::new(
            "frames symbolized",
            match q.symbolized_pct {
                Some(p) => Cell::text(format!("{p:.1}%")).alarm(p < 80.0),
                None => Cell::text("no samples"),
            },
        ),
        Fact::new(
            "syscall tracing",
            Cell::text(tracing_line(q)).alarm(q.lost_syscalls > 0),
        ),
        Fact::new(
            "snapshots",
            format!(
                "{} cgroup (each reading {} directories), {} network",
                q.cgroup_snapshots, q.cgroup_directories, q.net_snapshots
            ),
        ),
        Fact::new("warnings", Cell::from(q.warnings).alarm(q.warnings > 0)),
    ];
    if q.unknown_records > 0 {
        v.push(Fact::new("newer records", newer_records(q.unknown_records)));
    }
    v
}

fn flame_blocks(f: &Flame) -> Vec<Block> {
    let mut b = vec![Block::Para(vec![t(format!("{}.", f.quality.line()))])];
    match &f.graph {
        Ok(g) => b.push(Block::Flame(g.clone())),
        Err(why) => b.push(Block::Missing(why.clone())),
    }
    b.push(Block::Heading("Hottest functions (self)".into()));
    let mut table = Table::new(vec![doc::col("function"), num("samples"), num("%")]);
    for h in &f.top_functions {
        table.row(vec![
            Cell::code(h.frames.join(";")),
            h.samples.into(),
            format!("{:.1}", h.pct).into(),
        ]);
    }
    b.push(Block::Table(table));
    b.push(Block::Heading("Hottest stacks (root → leaf)".into()));
    b.push(Block::List {
        numbered: true,
        items: f
            .top_stacks
            .iter()
            .map(|h| {
                vec![
                    Inline::Strong(format!("{:.1}%", h.pct)),
                    t(format!(" ({} samples) ", h.samples)),
                    code(h.frames.join(" → ")),
                ]
            })
            .collect(),
    });
    b
}

fn subtitle(r: &Report) -> String {
    format!(
        "{} · {} · {} · holter {}",
        r.capture.path.display(),
        utc(r.capture.header.clock.wall_ns),
        when(r.quality.duration_ns),
        env!("CARGO_PKG_VERSION")
    )
}

/// The report as one self-contained HTML page.
pub fn to_html(r: &Report) -> String {
    doc::html::page(
        &doc::html::Page {
            title: &r.title,
            subtitle: &subtitle(r),
            nav: SECTIONS,
        },
        &doc(r),
    )
}

/// The report as Markdown, to paste into a ticket: tables and lists, the
/// hottest stacks instead of the flame graph.
pub fn to_markdown(r: &Report) -> String {
    let mut head = Doc::new();
    head.push(Block::Para(vec![t(subtitle(r))]));
    format!(
        "## {}\n\n{}{}",
        doc::markdown::text(&r.title),
        doc::markdown::render(&head),
        doc::markdown::render(&doc(r))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(lines: &[(&str, u64)]) -> Folded {
        Folded::from_lines(lines)
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
