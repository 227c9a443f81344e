//! The report as Markdown, to paste into a ticket: tables and lists, the
//! hottest stacks instead of the flame graph.

use std::fmt::Write as _;

use super::{errnos, tracing_line, utc, when, Report, Section};
use crate::cgroups::{human_bytes, memory::Memory, network::Network, throttling::Throttling};
use crate::syscalls::{human, show_ret};

/// Text from the capture, safe inside a table cell or a line: every markup
/// character escaped (see [`crate::escape::markdown`]).
fn cell(s: &str) -> String {
    crate::escape::markdown(s)
}

/// A path or a name: a code span where nothing in it can end the span or
/// the table cell (no backtick, pipe, line break or control character; a
/// code span shows the rest literally: no markup, HTML or link), else
/// escaped text.
fn code(s: &str) -> String {
    let literal = !s.trim().is_empty()
        && !s.contains(['`', '|', '\n', '\r'])
        && crate::escape::terminal(s) == s;
    if literal {
        format!("`{s}`")
    } else {
        cell(s)
    }
}

fn table(s: &mut String, rows: &[(&str, String)]) {
    s.push_str("| | |\n|---|---|\n");
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push('\n');
}

/// A summary table: paths as code, problems in bold.
fn facts(s: &mut String, facts: &[super::facts::Fact]) {
    s.push_str("| | |\n|---|---|\n");
    for f in facts {
        let value = if f.code {
            code(&f.value)
        } else {
            cell(&f.value)
        };
        let value = if f.alarm && !value.is_empty() {
            format!("**{value}**")
        } else {
            value
        };
        let _ = writeln!(s, "| {} | {value} |", f.label);
    }
    s.push('\n');
}

pub fn render(r: &Report) -> String {
    let c = r.capture;
    let h = &c.header;
    let q = &r.quality;
    let mut s = String::new();
    let _ = writeln!(s, "## {}\n", cell(&r.title));
    let _ = writeln!(
        s,
        "Capture {} started {}, {} long (holter {}).\n",
        code(&c.path.display().to_string()),
        utc(h.clock.wall_ns),
        when(q.duration_ns),
        env!("CARGO_PKG_VERSION")
    );

    s.push_str("### Target and host\n\n");
    let t = &h.target;
    let mut rows = vec![
        ("target", code(&format!("{} {}", t.kind, t.spec))),
        ("processes", cell(&super::processes_line(c))),
    ];
    if let Some(id) = &t.container_id {
        rows.push(("container", code(id)));
    }
    for cg in &t.cgroups {
        rows.push(("cgroup", code(cg)));
    }
    rows.push((
        "host",
        cell(&format!(
            "{} (Linux {}, {}, {} CPUs)",
            h.host.hostname, h.host.kernel_release, h.host.arch, h.host.cpus
        )),
    ));
    table(&mut s, &rows);

    s.push_str("### Data quality\n\n");
    let status = match (&q.end_reason, q.complete) {
        (Some(reason), true) => cell(&format!("complete, ended by {reason}")),
        _ => "**INCOMPLETE**: no footer (the agent was killed or the file was cut)".into(),
    };
    let mut rows = vec![
        ("capture", status),
        (
            "samples",
            format!("{} recorded, {} lost", q.samples, q.lost_samples),
        ),
        (
            "frames symbolized",
            q.symbolized_pct
                .map_or("no samples".into(), |p| format!("{p:.1}%")),
        ),
        ("syscall tracing", tracing_line(q)),
        (
            "snapshots",
            format!("{} cgroup, {} network", q.cgroup_snapshots, q.net_snapshots),
        ),
        ("warnings", q.warnings.to_string()),
    ];
    if q.unknown_records > 0 {
        rows.push((
            "newer records",
            format!(
                "{} skipped (kinds newer than this holter)",
                q.unknown_records
            ),
        ));
    }
    table(&mut s, &rows);

    s.push_str("### CPU profile\n\n");
    match &r.flame {
        Ok(f) => {
            let _ = writeln!(s, "{}.\n\nHottest functions (self):\n", f.quality.line());
            s.push_str("| function | samples | % |\n|---|---:|---:|\n");
            for h in &f.top_functions {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} |",
                    code(&h.frames[0]),
                    h.samples,
                    h.pct
                );
            }
            s.push_str("\nHottest stacks (root → leaf):\n\n");
            for (i, h) in f.top_stacks.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{}. **{:.1}%** ({} samples) {}",
                    i + 1,
                    h.pct,
                    h.samples,
                    code(&h.frames.join(" → "))
                );
            }
            s.push('\n');
        }
        Err(why) => missing(&mut s, why),
    }

    s.push_str("### Syscalls\n\n");
    match &r.syscalls {
        Ok(t) => syscalls(&mut s, q, t),
        Err(why) => missing(&mut s, why),
    }
    section(&mut s, "CPU throttling", &r.throttling, throttling);
    section(&mut s, "Memory and pressure", &r.memory, memory);
    section(&mut s, "Network", &r.network, network);

    s.push_str("### Warnings\n\n");
    if c.warnings.is_empty() {
        s.push_str("None.\n");
    }
    for w in &c.warnings {
        let _ = writeln!(s, "- {}", cell(w));
    }
    s
}

fn missing(s: &mut String, why: &str) {
    let _ = writeln!(s, "_{}_\n", cell(why));
}

fn section<T>(s: &mut String, title: &str, sec: &Section<T>, f: fn(&mut String, &T)) {
    let _ = writeln!(s, "### {title}\n");
    match sec {
        Ok(v) => f(s, v),
        Err(why) => missing(s, why),
    }
}

fn syscalls(s: &mut String, q: &super::Quality, t: &crate::syscalls::Report) {
    let _ = writeln!(s, "{}.\n", tracing_line(q));
    s.push_str(
        "| syscall | calls | errors | total | avg | p50 | p95 | p99 | max | errors by errno |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in &t.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            code(&r.name),
            r.count,
            r.errors,
            human(r.total_ns),
            human(r.avg_ns),
            human(r.p50_ns),
            human(r.p95_ns),
            human(r.p99_ns),
            human(r.max_ns),
            cell(&errnos(&r.errnos))
        );
    }
    for c in &t.counted_only {
        let _ = writeln!(
            s,
            "| {} (counted, not recorded) | {} | {} | {} | | | | | | |",
            code(&c.name),
            c.count,
            c.errors,
            human(c.total_ns)
        );
    }
    if !t.slowest.is_empty() {
        s.push_str("\nSlowest calls:\n\n| at | tid | syscall | duration | return | summary |\n|---:|---:|---|---:|---|---|\n");
        for c in &t.slowest {
            let _ = writeln!(
                s,
                "| {:.6} s | {} | {} | {} | {} | {} |",
                c.start_ns as f64 / 1e9,
                c.tid,
                code(&c.name),
                human(c.duration_ns),
                cell(&show_ret(c.ret)),
                code(&c.summary)
            );
        }
    }
    s.push('\n');
}

fn throttling(s: &mut String, t: &Throttling) {
    let _ = writeln!(s, "> {}\n", cell(&t.verdict));
    facts(s, &super::facts::throttling(t));
}

fn memory(s: &mut String, m: &Memory) {
    let _ = writeln!(s, "> {}\n", cell(&m.verdict));
    facts(s, &super::facts::memory(m));
}

fn network(s: &mut String, n: &Network) {
    let _ = writeln!(s, "> {}\n", cell(&n.verdict));
    if let Some(v) = &n.container {
        facts(s, &super::facts::container(v));
    }
    s.push_str("| interface | rx | tx | rx/s | tx/s | rx drop | tx drop | rx err | tx err |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for i in &n.interfaces {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            code(&i.name),
            human_bytes(i.rx_bytes),
            human_bytes(i.tx_bytes),
            human_bytes(i.rx_bytes_per_sec as u64),
            human_bytes(i.tx_bytes_per_sec as u64),
            i.rx_dropped,
            i.tx_dropped,
            i.rx_errors,
            i.tx_errors
        );
    }
    s.push('\n');
    facts(s, &super::facts::transport(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_code() {
        assert_eq!(cell("a|b\nc"), "a\\|b\\\\nc");
        assert_eq!(code("a`b"), "a\\`b");
        assert_eq!(code("<b>[x](y)"), "`<b>[x](y)`");
        assert_eq!(code("a|b"), "a\\|b");
    }
}
