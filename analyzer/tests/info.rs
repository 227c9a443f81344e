//! `holter info` on good, cut, damaged and foreign files.

use std::process::Command;

use holter_format::*;

fn holter(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_holter"))
        .args(args)
        .output()
        .unwrap()
}

fn capture(footer: bool) -> Vec<u8> {
    let header = Header {
        agent_version: "test".into(),
        target: holter_format::Target {
            kind: "pid".into(),
            spec: "42".into(),
            pids: vec![42],
            ..Default::default()
        },
        host: Host {
            hostname: "node-1".into(),
            arch: "x86_64".into(),
            ..Default::default()
        },
        clock: ClockPair {
            monotonic_ns: 1_000,
            wall_ns: 5,
        },
        ..Default::default()
    };
    let mut w = Writer::new(Vec::new(), header, WriterOptions::default()).unwrap();
    w.write(&Record::Process(Process {
        pid: 42,
        comm: "app".into(),
        ..Default::default()
    }))
    .unwrap();
    for i in 0..10 {
        w.write(&Record::Sample(Sample {
            time_ns: 1_000 + i * 100,
            pid: 42,
            tid: 42,
            ..Default::default()
        }))
        .unwrap();
    }
    w.write(&Record::Lost(Lost {
        kind: "samples".into(),
        count: 3,
        time_ns: 1_500,
    }))
    .unwrap();
    w.write(&Record::Warning(Warning {
        message: "something odd".into(),
        time_ns: 1_600,
    }))
    .unwrap();
    if footer {
        w.finish(Footer {
            end_ns: 3_000,
            reason: "duration".into(),
            ..Default::default()
        })
        .unwrap()
    } else {
        // As if the agent were killed before its footer: drop the last frame.
        w.flush().unwrap();
        let full = w.finish(Footer::default()).unwrap();
        full[..last_frame_start(&full)].to_vec()
    }
}

fn last_frame_start(bytes: &[u8]) -> usize {
    let mut at = PREAMBLE_LEN;
    let mut last = at;
    while at + 8 <= bytes.len() {
        last = at;
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
    }
    last
}

#[test]
fn info_json_has_the_contract_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.holter");
    std::fs::write(&p, capture(true)).unwrap();
    let o = holter(&["info", p.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["format_version"],
        format!("{VERSION_MAJOR}.{VERSION_MINOR}")
    );
    assert_eq!(v["complete"], true);
    assert_eq!(v["samples"], 10);
    assert_eq!(v["syscalls"], 0);
    assert_eq!(v["cgroup_snapshots"], 0);
    assert_eq!(v["processes"], 1);
    assert_eq!(v["lost_samples"], 3);
    assert_eq!(v["duration_ns"], 2_000);
    assert_eq!(v["target"]["kind"], "pid");
    assert_eq!(v["target"]["pids"][0], 42);
    assert_eq!(v["host"]["hostname"], "node-1");
    assert_eq!(v["warnings"][0], "something odd");
}

#[test]
fn info_on_a_cut_capture_says_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.holter");
    std::fs::write(&p, capture(false)).unwrap();
    let o = holter(&["info", p.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], false);
    assert_eq!(v["samples"], 10);
    let text = String::from_utf8_lossy(&holter(&["info", p.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("INCOMPLETE"), "{text}");
}

#[test]
fn info_on_a_missing_file_names_it() {
    let o = holter(&["info", "/nonexistent/dir/x.holter"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/dir/x.holter: no such file"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn info_on_a_foreign_file_says_it_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, "hello, this is not a capture\n").unwrap();
    let o = holter(&["info", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a holter capture"), "{err}");
    let empty = dir.path().join("empty.holter");
    std::fs::write(&empty, b"").unwrap();
    let o = holter(&["info", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty file"));
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.holter");
    std::fs::write(&p, capture(true)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_holter"))
        .args(["info", p.to_str().unwrap(), "--json"])
        .stdout(pipe_without_reader())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // As `cat` does: ended by SIGPIPE, saying nothing.
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "ended by SIGPIPE, not {}: {err}",
            out.status
        );
    }
    assert!(err.is_empty(), "{err}");
}

/// The write end of a pipe whose reader is gone before the child starts, so
/// that its first write fails however the two processes are scheduled.
#[cfg(unix)]
fn pipe_without_reader() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe fills two descriptors that we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both descriptors are ours; the read end is closed at once.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write.into()
}

/// Format 1.5 names the container's runtime and name: `info` shows them (a
/// name is chosen by users: escaped), `--json` has them under `target`, and a
/// capture of another kind of target has neither (null).
#[test]
fn info_shows_the_runtime_and_the_container_name() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/captures/format-1.5-all-kinds.holter");
    let f = fixture.to_str().unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&holter(&["info", f, "--json"]).stdout).unwrap();
    assert_eq!(v["target"]["runtime"], "docker", "{v}");
    assert_eq!(v["target"]["container_name"], "web-1", "{v}");
    let text = String::from_utf8_lossy(&holter(&["info", f]).stdout).into_owned();
    assert!(
        text.contains(&format!(
            "container {} (runtime docker, name web-1)",
            "3f2a9c1b7e4d".repeat(5)
        )),
        "{text}"
    );
    let p = dir.path().join("a.holter");
    std::fs::write(&p, capture(true)).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&holter(&["info", p.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert!(v["target"]["runtime"].is_null() && v["target"]["container_name"].is_null());
    // An old capture (1.4) has neither either.
    let old = fixture.with_file_name("format-1.4-all-kinds.holter");
    let v: serde_json::Value =
        serde_json::from_slice(&holter(&["info", old.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert!(v["target"]["runtime"].is_null(), "{v}");
}

/// `holter info --raw` prints every snapshot's raw text, whatever the format
/// version wrote: full snapshots (1.0..), text differences (1.4) and numeric
/// ones (1.7) rebuilt on load, packed ones (1.12) expanded, so each fixture
/// shows the files as read.
#[test]
fn info_raw_shows_the_snapshots_of_every_format_version() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/captures");
    for (minor, must) in [
        (0, &["cgroup /kubepods/pod1 (v2) at ", "  file cpu.stat\n    usage_usec 5\n"][..]),
        (1, &["    usage_usec 5\n", "  file /proc/net/dev\n    eth0: 1 2\n"]),
        (2, &["    usage_usec 5\n", "  file /proc/net/snmp\n    Tcp: 1\n"]),
        (3, &["    usage_usec 5\n"]),
        (
            4,
            &["    usage_usec 9\n  file memory.current\n    4096\n"],
        ),
        (
            5,
            &["    usage_usec 9\n  file memory.current\n    4096\n"],
        ),
        (
            6,
            &["    usage_usec 9\n  file memory.current\n    4096\n"],
        ),
        (
            7,
            &[
                "    usage_usec 9\n  file memory.current\n    4096\n",
                "    usage_usec 1009\n  file memory.max\n    max\n",
                "  file /proc/net/dev\n    eth0: 6 1\n  file /proc/net/snmp\n    Tcp: 1\n    Udp: 2\n",
            ],
        ),
        // 1.12: the same snapshots inside a packed record (dictionary 1).
        (
            12,
            &[
                "    usage_usec 9\n  file memory.current\n    4096\n",
                "    usage_usec 1009\n  file memory.max\n    max\n",
                "  file /proc/net/dev\n    eth0: 6 1\n  file /proc/net/snmp\n    Tcp: 1\n    Udp: 2\n",
            ],
        ),
        // 1.13: the same, beside stack batches.
        (
            13,
            &[
                "    usage_usec 9\n  file memory.current\n    4096\n",
                "    usage_usec 1009\n  file memory.max\n    max\n",
                "  file /proc/net/dev\n    eth0: 6 1\n  file /proc/net/snmp\n    Tcp: 1\n    Udp: 2\n",
            ],
        ),
        // 1.14: the same, beside totals so far.
        (
            14,
            &[
                "    usage_usec 9\n  file memory.current\n    4096\n",
                "    usage_usec 1009\n  file memory.max\n    max\n",
                "  file /proc/net/dev\n    eth0: 6 1\n  file /proc/net/snmp\n    Tcp: 1\n    Udp: 2\n",
            ],
        ),
    ] {
        let file = format!("{dir}/format-1.{minor}-all-kinds.holter");
        let out = holter(&["info", &file, "--raw"]);
        assert!(out.status.success(), "{file}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for m in must {
            assert!(text.contains(m), "1.{minor}: {m:?} not in:\n{text}");
        }
        let cgroups = text.matches("\ncgroup ").count() + text.starts_with("cgroup ") as usize;
        let want = match minor {
            0..=3 => 1,
            4..=6 => 2,
            _ => 3,
        };
        assert_eq!(cgroups, want, "1.{minor}:\n{text}");
        // The same as JSON.
        let out = holter(&["info", &file, "--raw", "--json"]);
        assert!(out.status.success(), "{file}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["cgroup_snapshots"].as_array().unwrap().len(), want);
        let nets = v["net_snapshots"].as_array().unwrap();
        assert_eq!(nets.len(), if minor >= 7 { 2 } else { 1 });
        assert_eq!(nets[0]["dev"], "eth0: 1 2");
        assert_eq!(v["cgroup_snapshots"][0]["files"][0][0], "cpu.stat");
    }
}

/// A snapshot's content cannot pass for a heading or a terminal escape in
/// `--raw`: its lines are indented and escaped.
#[test]
fn info_raw_escapes_snapshot_text() {
    let mut w = Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
    w.write(
        &CgroupSnapshot {
            time_ns: 0,
            path: "/a\ncgroup /forged".into(),
            version: 2,
            controller: String::new(),
            files: vec![("x\n  file y".into(), "cgroup /forged\n\x1b[2J\n".into())],
        }
        .into(),
    )
    .unwrap();
    let bytes = w.finish(Footer::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.holter");
    std::fs::write(&path, bytes).unwrap();
    let out = holter(&["info", path.to_str().unwrap(), "--raw"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "cgroup /a\\ncgroup /forged (v2) at 0.000 s\n  file x\\n  file y\n    cgroup /forged\n    \\x1b[2J\n"
    );
}

/// A capture with the totals the agent writes while recording (format
/// 1.14): per-syscall totals and counters so far, each cumulative (the
/// latest of a key counts), losses as what was lost since the last (they
/// add up); then, when complete, the final totals, which supersede them.
/// Cut before its final records (`kill -9`) or complete, `holter info` and
/// `holter syscalls` read each total once, never summed with an earlier one.
fn with_totals(complete: bool) -> Vec<u8> {
    let header = Header {
        host: Host {
            arch: "x86_64".into(),
            ..Default::default()
        },
        clock: ClockPair {
            monotonic_ns: 1_000,
            wall_ns: 5,
        },
        ..Default::default()
    };
    let total = |calls: u64, nr: u32, name: &str| SyscallTotal {
        time_ns: 2_000,
        abi: "x86_64".into(),
        nr,
        name: name.into(),
        calls,
        errors: 1,
        total_ns: 1_000 * calls,
        errnos: vec![(11, 1)],
    };
    let lost = |kind: &str, count: u64| {
        Record::Lost(Lost {
            time_ns: 2_000,
            kind: kind.into(),
            count,
        })
    };
    let counters = |v: u64| Counters {
        time_ns: 2_000,
        values: vec![("task-clock".into(), v)],
    };
    let mut w = Writer::new(Vec::new(), header, WriterOptions::default()).unwrap();
    for r in [
        Record::SyscallTotalSoFar(total(4, 0, "read")),
        Record::CountersSoFar(counters(40)),
        lost("samples", 3),
        lost("syscalls", 1),
        Record::SyscallTotalSoFar(total(7, 0, "read")),
        Record::SyscallTotalSoFar(total(2, 39, "getpid")),
        Record::CountersSoFar(counters(90)),
        lost("samples", 2),
    ] {
        w.write(&r).unwrap();
    }
    if !complete {
        // Killed before its final records: the footer's frame dropped.
        w.flush().unwrap();
        let full = w.finish(Footer::default()).unwrap();
        return full[..last_frame_start(&full)].to_vec();
    }
    for r in [
        total(9, 0, "read").into(),
        total(2, 39, "getpid").into(),
        Record::Counters(counters(100)),
        lost("samples", 1),
    ] {
        w.write(&r).unwrap();
    }
    w.finish(Footer {
        end_ns: 3_000,
        reason: "duration".into(),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn totals_written_while_recorded_are_read_once_cut_or_complete() {
    let dir = tempfile::tempdir().unwrap();
    for (complete, read_calls, task_clock, lost_samples) in [(false, 7, 90, 5), (true, 9, 100, 6)] {
        let path = dir.path().join(format!("c-{complete}.holter"));
        std::fs::write(&path, with_totals(complete)).unwrap();
        let file = path.to_str().unwrap();
        let out = holter(&["info", file, "--json"]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["complete"], complete);
        assert_eq!(v["lost_samples"], lost_samples, "{v}");
        assert_eq!(v["lost_syscalls"], 1, "{v}");
        assert_eq!(v["counters"]["task-clock"], task_clock, "{v}");
        let text = String::from_utf8(holter(&["info", file]).stdout).unwrap();
        assert!(text.contains(&format!("task-clock={task_clock}")), "{text}");
        assert_eq!(text.matches("task-clock=").count(), 1, "{text}");

        let out = holter(&["syscalls", file, "--json"]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let counted = v["counted_only"].as_array().unwrap();
        let read: Vec<&serde_json::Value> =
            counted.iter().filter(|c| c["name"] == "read").collect();
        assert_eq!(read.len(), 1, "{v}");
        assert_eq!(read[0]["count"], read_calls, "{v}");
        assert_eq!(read[0]["total_ns"], 1_000 * read_calls, "{v}");
        assert_eq!(counted.len(), 2, "{v}");
        assert_eq!(v["lost"], 1, "{v}");

        // The report's capture facts: the losses, added up once.
        let out = holter(&["report", file, "--format", "markdown", "-o", "-"]);
        assert!(out.status.success(), "{out:?}");
        let md = String::from_utf8(out.stdout).unwrap();
        assert!(
            md.contains(&format!("0 recorded, {lost_samples} lost")),
            "{md}"
        );
    }
}
