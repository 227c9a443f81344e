//! `holter report` on synthetic captures: every section is there, with the
//! numbers the other reports compute, in HTML and in Markdown.

mod common;

use common::*;
use holter_format::*;

/// v1 cpu/cpuacct/memory snapshots at 0, 1 and 2 s: 20 periods, 12 throttled,
/// 0.9 s throttled, usage 10 → 30 MiB under a 64 MiB limit.
fn cgroup_snapshots() -> Vec<Record> {
    let mut r = Vec::new();
    for (i, (periods, throttled, thr_ns, usage_ns, mem_mib)) in [
        (0u64, 0u64, 0u64, 0u64, 10u64),
        (10, 5, 300_000_000, 200_000_000, 20),
        (20, 12, 900_000_000, 400_000_000, 30),
    ]
    .into_iter()
    .enumerate()
    {
        let t = T0 + i as u64 * SEC;
        r.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/box".into(),
            version: 1,
            controller: "cpu".into(),
            files: vec![
                (
                    "cpu.stat".into(),
                    format!(
                        "nr_periods {periods}\nnr_throttled {throttled}\nthrottled_time {thr_ns}\n"
                    ),
                ),
                ("cpu.cfs_quota_us".into(), "20000\n".into()),
                ("cpu.cfs_period_us".into(), "100000\n".into()),
            ],
        }));
        r.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/box".into(),
            version: 1,
            controller: "cpuacct".into(),
            files: vec![("cpuacct.usage".into(), format!("{usage_ns}\n"))],
        }));
        r.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/box".into(),
            version: 1,
            controller: "memory".into(),
            files: vec![
                (
                    "memory.usage_in_bytes".into(),
                    format!("{}\n", mem_mib << 20),
                ),
                ("memory.limit_in_bytes".into(), format!("{}\n", 64u64 << 20)),
                ("memory.failcnt".into(), "0\n".into()),
            ],
        }));
    }
    r
}

const DEV_HEAD: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";
const SNMP_HEAD: &str = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n";

/// eth0 receives 4000 bytes and drops 3 packets over 2 s; TCP sends 200
/// segments, 10 of them retransmitted.
fn net_snapshots() -> Vec<Record> {
    [(0u64, 1000u64, 0u64, 100u64, 0u64), (2, 5000, 3, 300, 10)]
        .into_iter()
        .map(|(secs, rx, drop, out, retrans)| {
            Record::NetSnapshot(NetSnapshot {
                time_ns: T0 + secs * SEC,
                dev: format!("{DEV_HEAD}  eth0: {rx} 10 0 {drop} 0 0 0 0 2000 20 0 0 0 0 0 0\n"),
                snmp: format!(
                    "{SNMP_HEAD}Tcp: 1 200 120000 -1 0 0 0 0 0 50 {out} {retrans} 0 0 0\n"
                ),
            })
        })
        .collect()
}

/// Three syscalls recorded of twelve the tracer counted.
fn syscall_records() -> Vec<Record> {
    let mut r: Vec<Record> = (0..3)
        .map(|i| {
            Record::Syscall(Syscall {
                time_ns: T0 + i * SEC,
                pid: 100,
                tid: 100,
                nr: 0,
                duration_ns: 1000 * (i + 1),
                ret: 10,
                summary: "fd=3".into(),
                abi: String::new(),
            })
        })
        .collect();
    r.push(Record::Counters(Counters {
        time_ns: T0 + 4 * SEC,
        values: vec![
            ("syscall:read".into(), 3),
            ("syscall:write".into(), 9),
            ("syscall_ns:read".into(), 6000),
        ],
    }));
    r
}

fn full() -> Vec<Record> {
    let mut r = standard();
    r.extend(cgroup_snapshots());
    r.extend(net_snapshots());
    r.extend(syscall_records());
    r.push(Record::Warning(Warning {
        time_ns: T0,
        message: "symbols: cannot read <deleted> binary".into(),
    }));
    r
}

fn report(records: &[Record], args: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    let mut h = header();
    h.host.arch = "x86_64".into();
    h.options.syscalls = true;
    h.target.pids = vec![100, 200];
    write_capture_with(&path, h, records);
    let mut all = vec!["report", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = holter(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::path::PathBuf::from(stdout(&o).trim());
    let text = std::fs::read_to_string(&out).unwrap();
    (dir, out, text)
}

fn assert_has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "missing {p:?} in:\n{text}");
    }
}

#[test]
fn html_has_every_section_with_its_numbers() {
    let (dir, out, html) = report(&full(), &[]);
    assert_eq!(
        out,
        dir.path().join("app.html"),
        "default: next to the capture"
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_has(
        &html,
        &[
            // Target and host.
            "<title>holter report: pid 100 (app.holter)</title>",
            // A count, then pid and name: not a bare list of numbers.
            "<th>processes</th><td>2 at start: 100 app, 200 jitted</td>",
            "2023-11-14 22:13:20 UTC",
            // Data quality: lost samples, symbolized frames, tracing coverage, warnings.
            "10 recorded, 4 lost (28.6%)",
            "85.0%",
            "3 recorded of 12 counted (25.0%), 7 lost",
            "3 cgroup (each reading 3 directories), 2 network",
            // Syscalls: the table and slowest calls of holter syscalls.
            "<td class=\"mono\">read</td><td class=\"n\">3</td><td class=\"n\">0</td><td class=\"n\">6.0us</td><td class=\"n\">2.0us</td>",
            "<td class=\"mono\">write</td><td class=\"n\">9</td>",
            "<td class=\"n\">2.000000 s</td><td class=\"n\">100</td><td class=\"n\">100</td><td class=\"mono\">read</td><td class=\"n\">3.0us</td>",
            // The flame graph, inline, with its hottest stacks.
            "<div class=\"flame\"><svg",
            "total_samples=\"10\"",
            "<td class=\"mono\">main</td><td class=\"n\">3</td><td class=\"n\">30.0</td>",
            "<b>30.0%</b> (3 samples) <code>app → main</code>",
            // Throttling, from holter throttling's numbers.
            "0.20 cores (20000 µs per 100000 µs period)",
            "12 of 20 (60.0%)",
            "0.900 s",
            "avg 0.20 cores, max 0.20 cores",
            "Throttled in 60% of periods",
            "<svg class=\"chart\"",
            // Memory.
            "limit</th><td>64.0 MiB",
            "10.0 MiB → 30.0 MiB (max 30.0 MiB, 46.9% of limit)",
            // Network.
            "<td class=\"mono\">eth0</td><td class=\"n\">3.9 KiB</td>",
            "10 retransmitted (5.00%)",
            "eth0: 3 dropped, 0 errors",
            // Warnings, escaped.
            "<li>symbols: cannot read &lt;deleted&gt; binary</li>",
        ],
    );
    // The flame graph's script relies on its SVG being the first of the page.
    assert!(html.find("<svg").unwrap() > html.find("id=\"flame\"").unwrap());
}

#[test]
fn html_is_self_contained() {
    let (_dir, _out, html) = report(&full(), &[]);
    assert_has(&html, &["Content-Security-Policy", "default-src 'none'"]);
    let lower = html.to_ascii_lowercase();
    for attr in ["src=", "href=", "url(", "@import"] {
        for (at, _) in lower.match_indices(attr) {
            let value = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                !value.starts_with("http:")
                    && !value.starts_with("https:")
                    && !value.starts_with("//"),
                "external reference at {at}: {}",
                &html[at..(at + 80).min(html.len())]
            );
        }
    }
    assert!(!lower.contains("<link"), "no linked resources");
    assert!(!lower.contains("<script src"), "no external script");
}

#[test]
fn markdown_has_tables_and_top_stacks() {
    let (dir, out, md) = report(&full(), &["--format", "markdown"]);
    assert_eq!(out, dir.path().join("app.md"));
    assert!(!md.contains("<svg"), "no SVG in Markdown");
    assert_has(
        &md,
        &[
            "## holter report: pid 100 (app.holter)",
            "| processes | 2 at start: 100 app, 200 jitted |",
            "| samples | **10 recorded, 4 lost (28.6%)** |",
            "| frames symbolized | 85.0% |",
            "| syscall tracing | **3 recorded of 12 counted (25.0%), 7 lost** |",
            "| `main` | 3 | 30.0 |",
            "| `read` | 3 | 0 | 6.0us | 2.0us | 2.0us | 3.0us | 3.0us | 3.0us |  |",
            "#### Counted, not recorded",
            "| `write` | 9 | 0 |",
            "| 2.000000 s | 100 | 100 | `read` | 3.0us | no | 10 | `fd=3` |",
            "1. **30.0%** (3 samples) `app → main`",
            "| throttled periods | **12 of 20 (60.0%)** |",
            "| quota | 0.20 cores (20000 µs per 100000 µs period) |",
            "10.0 MiB → 30.0 MiB (max 30.0 MiB, 46.9% of limit)",
            // The same rows as the HTML page, from one place.
            "| kernel peak |",
            "| OOM kills |",
            "| UDP |",
            "| `eth0` | 3.9 KiB |",
            // Text from the capture: every markup character escaped.
            "- symbols: cannot read \\<deleted\\> binary",
        ],
    );
}

#[test]
fn missing_sections_say_why() {
    // Metadata only: no samples, syscalls, snapshots or warnings; `-o -` is stdout.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &metadata());
    let o = holter(&["report", path.to_str().unwrap(), "-o", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_has(
        &stdout(&o),
        &[
            "no samples:",
            "no syscalls recorded: record with `--syscalls`",
            "no cgroup snapshots",
            "no network snapshots",
            "The agent and the reader raised no warning.",
        ],
    );
    assert!(!dir.path().join("app.html").exists());
}

#[test]
fn bad_input_is_a_clear_error() {
    let o = holter(&["report", "/nonexistent/x.holter"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/x.holter: no such file"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &standard());
    let o = holter(&[
        "report",
        path.to_str().unwrap(),
        "-o",
        "/nonexistent/dir/r.html",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot write the report to /nonexistent/dir/r.html"),
        "{}",
        stderr(&o)
    );
}

/// One timeline: CPU samples by function, throttled periods, memory and the
/// slowest syscalls on the same time axis, after the flame graph.
#[test]
fn html_has_one_timeline_of_every_lane() {
    let (_dir, _out, html) = report(&full(), &[]);
    let at = html
        .find("<section id=\"timeline\">")
        .expect("a timeline section");
    assert!(at > html.find("id=\"flame\"").unwrap());
    let end = at + html[at..].find("</section>").unwrap();
    let section = &html[at..end];
    let svg = &section[section.find("<svg").unwrap()..section.find("</svg>").unwrap() + 6];
    holter::doc::html::vet_svg(svg).expect("vetted");
    assert_has(
        svg,
        &[
            "CPU samples",
            "throttled",
            "memory",
            "slowest syscalls",
            // The standard capture: 3 samples in main at 0.5, 1.0, 1.5 s, each in a bin.
            ": main (1 samples)",
            "% of periods throttled",
            "<polyline points=",
            "limit 64.0 MiB",
            "read at 2.000 s: 3.0us",
        ],
    );
    // Samples of the CPU lane add up to the capture's.
    let total: u64 = svg
        .match_indices(" samples)</title>")
        .map(|(i, _)| {
            let open = svg[..i].rfind('(').unwrap();
            svg[open + 1..i].parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(total, 10);
    let md = report(&full(), &["--format", "markdown"]).2;
    assert!(
        md.contains("### Timeline"),
        "the section says where it is drawn"
    );
}
