//! `holter info`: what a capture holds.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::doc::{Cell, Doc, Fact};
use crate::load::Capture;

/// The unwind mode, the stack copy size and the share of stacks (with user
/// frames) whose outermost frame is a root function, when samples exist.
pub struct Unwind {
    pub mode: &'static str,
    pub stack_bytes: u32,
    pub rooted_percent: Option<f64>,
}

pub fn unwind(c: &Capture) -> Unwind {
    let rooted_percent = (!c.samples.is_empty())
        .then(|| crate::symbolize::Symbolizer::new(c, None).ok())
        .flatten()
        .and_then(|sym| {
            // Past the budget, the share is unknown rather than an error.
            let folded =
                crate::flamegraph::fold(c, &crate::filter::Filter::default(), &sym).ok()?;
            (folded.quality.user_stacks > 0).then(|| folded.quality.rooted_percent())
        });
    Unwind {
        mode: crate::flamegraph::unwind_mode(c),
        stack_bytes: c.header.stack_bytes,
        rooted_percent,
    }
}

pub fn to_json(c: &Capture) -> Value {
    let h = &c.header;
    let u = unwind(c);
    json!({
        "path": c.path.display().to_string(),
        "format_version": format!("{}.{}", c.version.0, c.version.1),
        "complete": c.complete,
        "end_reason": c.footer.as_ref().map(|f| f.reason.clone()),
        "samples": c.samples.len(),
        "stacks": c.stacks.len(),
        "syscalls": c.syscalls.len(),
        "cgroup_snapshots": c.cgroup_snapshot_count(),
        "cgroup_directories": c.cgroup_directories(),
        "net_snapshots": c.net_snapshots.len(),
        "processes": c.processes.len(),
        "threads": c.threads.len(),
        "mappings": c.mappings.len(),
        "binaries_with_symbols": c.binary_symbols.len(),
        "kernel_symbols": c.kernel_symbols.len(),
        "lost_samples": c.lost("samples"),
        "samples_per_cpu_second": c.samples_per_cpu_second(),
        "unwind": {
            "mode": u.mode,
            "stack_bytes": u.stack_bytes,
            "rooted_percent": u.rooted_percent,
        },
        "lost_syscalls": c.lost("syscalls"),
        "syscall_mode": crate::syscalls::mode(h),
        "duration_ns": c.duration_ns(),
        "start_wall_ns": h.clock.wall_ns,
        "target": {
            "kind": h.target.kind,
            "spec": h.target.spec,
            "pids": h.target.pids,
            "cgroups": h.target.cgroups,
            "container_id": h.target.container_id,
            "runtime": (!h.runtime.is_empty()).then_some(&h.runtime),
            "container_name": (!h.container_name.is_empty()).then_some(&h.container_name),
        },
        "host": {
            "hostname": h.host.hostname,
            "kernel_release": h.host.kernel_release,
            "arch": h.host.arch,
            "page_size": h.host.page_size,
            "boot_id": h.host.boot_id,
            "cpus": h.host.cpus,
        },
        "agent_version": h.agent_version,
        "options": {
            "samples": h.options.samples,
            "sample_event": h.options.sample_event,
            "frequency_hz": h.options.frequency_hz,
            "syscalls": h.options.syscalls,
            "syscalls_filter": h.options.syscalls_filter,
            "interval_ns": h.options.cgroup_interval_ns,
            "duration_ns": h.options.duration_ns,
            "redact": h.options.redact,
            "max_size": h.options.max_size,
        },
        "counters": c.counters.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "unknown_records": c.unknown_records,
        "warnings": c.warnings,
    })
}

/// `holter info` as blocks of the output layer: one label/value line each.
pub fn doc(c: &Capture) -> Doc {
    let h = &c.header;
    let mut v = vec![Fact::new(
        "capture",
        format!(
            "{} (format {}.{})",
            c.path.display(),
            c.version.0,
            c.version.1
        ),
    )];
    v.push(Fact::new(
        "status",
        match &c.footer {
            Some(f) => Cell::text(format!("complete, ended by {}", f.reason)),
            None => Cell::text(
                "INCOMPLETE: no footer (the agent was killed or the file was cut); read what it holds",
            )
            .alarm(true),
        },
    ));
    v.extend(crate::report::target_facts(h));
    v.push(Fact::new(
        "duration",
        format!("{:.3} s", c.duration_ns() as f64 / 1e9),
    ));
    v.push(Fact::new(
        "records",
        format!(
            "{} samples ({} lost), {} syscalls, {} cgroup snapshots, {} network snapshots",
            c.samples.len(),
            c.lost("samples"),
            c.syscalls.len(),
            c.cgroup_snapshot_count(),
            c.net_snapshots.len()
        ),
    ));
    let dirs = c.cgroup_directories();
    if !dirs.is_empty() {
        // What one cgroup snapshot reads.
        v.push(Fact::new(
            "snapshot",
            format!(
                "each cgroup snapshot reads {} director{}: {}",
                dirs.len(),
                if dirs.len() == 1 { "y" } else { "ies" },
                dirs.join(", ")
            ),
        ));
    }
    v.push(Fact::new(
        "",
        format!(
            "{} processes, {} threads, {} mappings, {} binaries with symbols",
            c.processes.len(),
            c.threads.len(),
            c.mappings.len(),
            c.binary_symbols.len()
        ),
    ));
    if let Some(rate) = c.samples_per_cpu_second() {
        v.push(Fact::new(
            "rate",
            format!(
                "{rate:.0} samples per CPU-second (requested {} Hz of {})",
                h.options.frequency_hz, h.options.sample_event
            ),
        ));
    }
    if !c.samples.is_empty() {
        let u = unwind(c);
        let copy = if u.stack_bytes > 0 {
            format!(" ({} bytes of stack per sample)", u.stack_bytes)
        } else {
            String::new()
        };
        let rooted = u.rooted_percent.map_or("no user stacks".to_string(), |p| {
            format!("{p:.1}% of stacks reached a root")
        });
        v.push(Fact::new("unwind", format!("{}{copy}: {rooted}", u.mode)));
    }
    // The tracer's per-syscall totals are summed here; `holter syscalls`
    // shows them by name.
    if let Some(calls) = c.syscalls_counted().filter(|&n| n > 0) {
        let kinds = c.syscall_totals.iter().filter(|t| t.calls > 0).count();
        v.push(Fact::new(
            "syscalls",
            format!("{calls} calls counted, of {kinds} kinds (see `holter syscalls`)"),
        ));
    }
    match crate::syscalls::mode(h) {
        "" => {}
        mode => v.push(Fact::new(
            "tracing",
            format!(
                "syscalls traced by {} ({} lost)",
                match mode {
                    "kernel" => "kernel tracepoints (--syscalls=kernel)",
                    "ptrace" => "ptrace (--syscalls=ptrace)",
                    other => other,
                },
                c.lost("syscalls")
            ),
        )),
    }
    let list: Vec<String> = c.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !list.is_empty() {
        v.push(Fact::new("counters", list.join(" ")));
    }
    if c.unknown_records > 0 {
        v.push(Fact::new(
            "note",
            crate::report::newer_records(c.unknown_records),
        ));
    }
    for w in &c.warnings {
        v.push(Fact::new("warning", w.as_str()));
    }
    let mut d = Doc::new();
    d.push(v);
    d
}

/// `holter info` on a terminal.
pub fn to_text(c: &Capture) -> String {
    crate::doc::text::render(&doc(c))
}

/// `holter info --raw`: every cgroup and network snapshot as the agent read
/// it, raw text and all, those written as differences (formats 1.4, 1.7)
/// rebuilt. Each file's lines are indented, so no content can pass for a
/// heading.
pub fn raw_to_text(c: &Capture) -> String {
    let mut out = String::new();
    let secs = |t: u64| c.rel_secs(t);
    for s in &c.cgroup_snapshots {
        let _ = writeln!(
            out,
            "cgroup {} (v{}{}{}) at {:.3} s",
            crate::escape::line(&s.path),
            s.version,
            if s.controller.is_empty() { "" } else { " " },
            crate::escape::line(&s.controller),
            secs(s.time_ns)
        );
        for (name, content) in &s.files {
            push_file(&mut out, name, content);
        }
    }
    for n in &c.net_snapshots {
        let _ = writeln!(out, "network at {:.3} s", secs(n.time_ns));
        push_file(&mut out, "/proc/net/dev", &n.dev);
        push_file(&mut out, "/proc/net/snmp", &n.snmp);
    }
    out
}

fn push_file(out: &mut String, name: &str, content: &str) {
    let _ = writeln!(out, "  file {}", crate::escape::line(name));
    for l in content.lines() {
        let _ = writeln!(out, "    {}", crate::escape::line(l));
    }
}

/// `holter info --raw --json`: the snapshots as [`raw_to_text`], files as
/// `[name, content]` pairs in the order read.
pub fn raw_to_json(c: &Capture) -> Value {
    json!({
        "cgroup_snapshots": c.cgroup_snapshots.iter().map(|s| json!({
            "time_ns": s.time_ns,
            "seconds": c.rel_secs(s.time_ns),
            "path": s.path,
            "version": s.version,
            "controller": s.controller,
            "files": s.files,
        })).collect::<Vec<_>>(),
        "net_snapshots": c.net_snapshots.iter().map(|n| json!({
            "time_ns": n.time_ns,
            "seconds": c.rel_secs(n.time_ns),
            "dev": n.dev,
            "snmp": n.snmp,
        })).collect::<Vec<_>>(),
    })
}
