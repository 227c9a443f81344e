//! The record loop on a real container, whatever collectors are enabled:
//! the file, its header and process table, and how each capture ends.

use std::time::Duration;

use holter_e2e::*;

#[test]
fn records_a_process_inside_its_own_namespaces() {
    if !require_privileged("records_a_process_inside_its_own_namespaces") {
        return;
    }
    let c = Container::start(Cgroup::new("basics"), &["sleep", "30"]);
    let pid = c.workload_pid("sleep");
    let dir = scratch("basics");
    let file = dir.path().join("c.holter");
    let f = file.to_str().unwrap();
    let pid_s = pid.to_string();
    ok_stdout(
        "agent",
        &agent(&[
            "record",
            "--pid",
            &pid_s,
            "--duration",
            "300ms",
            "--no-samples",
            "-o",
            f,
        ]),
    );

    let info: serde_json::Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["complete"], true);
    assert_eq!(info["end_reason"], "duration");
    assert_eq!(info["target"]["kind"], "pid");
    assert_eq!(info["target"]["pids"][0], pid);
    assert!(info["duration_ns"].as_u64().unwrap() >= 300_000_000);

    let reader = holter_format::Reader::new(std::fs::File::open(&file).unwrap()).unwrap();
    let process = reader
        .filter_map(|r| match r {
            holter_format::Record::Process(p) => Some(p),
            _ => None,
        })
        .find(|p| p.pid == pid)
        .expect("a Process record for the target");
    assert_eq!(
        process.ns_pid,
        Some(1),
        "pid inside the container's pid namespace"
    );
    assert_eq!(process.comm, "sleep");
    assert_eq!(process.argv, ["sleep", "30"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_launched_command_is_recorded_until_it_exits() {
    if !require_privileged("a_launched_command_is_recorded_until_it_exits") {
        return;
    }
    let dir = scratch("launch");
    let file = dir.path().join("l.holter");
    let f = file.to_str().unwrap();
    ok_stdout(
        "agent",
        &agent(&["record", "--no-samples", "-o", f, "--", "sleep", "0.3"]),
    );
    let info: serde_json::Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["end_reason"], "target exited");
    assert_eq!(info["target"]["kind"], "command");
    let d = info["duration_ns"].as_u64().unwrap();
    assert!((250_000_000..5_000_000_000).contains(&d), "duration {d}");
}

#[test]
fn the_agent_runs_at_its_niceness_and_a_launched_command_at_the_callers() {
    if !require_privileged("the_agent_runs_at_its_niceness_and_a_launched_command_at_the_callers") {
        return;
    }
    let dir = scratch("nice");
    let file = dir.path().join("n.holter");
    // The command prints its own niceness and its parent's (the agent's main
    // thread): field 19 of /proc/PID/stat.
    let out = ok_stdout(
        "agent",
        &agent(&[
            "record",
            "--no-samples",
            "-o",
            file.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "cut -d' ' -f19 /proc/$$/stat; cut -d' ' -f19 /proc/$PPID/stat",
        ]),
    );
    // SAFETY: getpriority of this process; no memory involved.
    let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let lines: Vec<i32> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0], ours,
        "the launched command keeps the caller's niceness"
    );
    assert_eq!(lines[1], -10, "the agent runs at its default --nice of -10");
}

#[test]
fn a_target_that_exits_mid_capture_ends_it_cleanly() {
    if !require_privileged("a_target_that_exits_mid_capture_ends_it_cleanly") {
        return;
    }
    let mut c = Container::start(Cgroup::new("exits"), &["sleep", "30"]);
    let pid = c.workload_pid("sleep").to_string();
    let dir = scratch("exits");
    let file = dir.path().join("e.holter");
    let f = file.to_str().unwrap();
    // The target exits once the agent records (not before: a race on a busy machine).
    let agent = start_agent_ready(&[
        "record",
        "--pid",
        &pid,
        "--duration",
        "20s",
        "--no-samples",
        "-o",
        f,
    ]);
    unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
    ok_stdout("agent", &agent.finish(Duration::from_secs(10)));
    assert!(c.wait(Duration::from_secs(5)).is_some());
    let info: serde_json::Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["complete"], true);
    assert_eq!(info["end_reason"], "target exited");
}

#[test]
fn sigterm_ends_the_capture_with_a_footer() {
    if !require_privileged("sigterm_ends_the_capture_with_a_footer") {
        return;
    }
    let c = Container::start(Cgroup::new("sigterm"), &["sleep", "30"]);
    let pid = c.workload_pid("sleep").to_string();
    let dir = scratch("sigterm");
    let file = dir.path().join("s.holter");
    // Ready: its handlers are installed and it records (no sleep stands in for it).
    let agent = start_agent_ready(&[
        "record",
        "--pid",
        &pid,
        "--no-samples",
        "-o",
        file.to_str().unwrap(),
    ]);
    agent.signal(libc::SIGTERM);
    let out = agent.finish(Duration::from_secs(10));
    assert!(
        out.status.success(),
        "agent exits 0 after SIGTERM, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_str(&ok_stdout(
        "info",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .unwrap();
    assert_eq!(info["complete"], true);
    assert_eq!(info["end_reason"], "signal");
    assert_eq!(
        proc_state(pid.parse().unwrap()).map(|s| s != 'T' && s != 't'),
        Some(true)
    );
}

#[test]
fn max_size_ends_the_capture_near_the_limit() {
    if !require_privileged("max_size_ends_the_capture_near_the_limit") {
        return;
    }
    let w = compile_workload("demo");
    let c = Container::start(Cgroup::new("maxsize"), &[w.path.to_str().unwrap(), "30"]);
    let pid = c.workload_pid("demo").to_string();
    let dir = scratch("maxsize");
    let file = dir.path().join("m.holter");
    let f = file.to_str().unwrap();
    // Syscall records come fast: 256 KiB are reached in a second or two.
    let limit: u64 = 256 * 1024;
    let out = agent(&[
        "record",
        "--pid",
        &pid,
        "--syscalls",
        "--max-size",
        "256K",
        "--duration",
        "60s",
        "-o",
        f,
    ]);
    ok_stdout("agent", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    let info: serde_json::Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["complete"], true);
    assert_eq!(info["end_reason"], "max size", "{info}");
    let len = std::fs::metadata(&file).unwrap().len();
    // As written, at the limit (measured on disk, not estimated), and past it
    // only by what the collectors still held: a tick's records, compressed
    // (measured: 3-7 % at 256 KiB). A capture of small frames is repacked
    // when closed, and the summary then says what it was as written.
    let written = match stderr.split_once("repacked from ") {
        Some((_, rest)) => rest
            .split(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no size as written in: {stderr}")),
        None => len,
    };
    assert!(
        (limit..=limit + limit / 8).contains(&written),
        "capture of {written} bytes as written for a limit of {limit}: want {limit}..={}\n{stderr}",
        limit + limit / 8
    );
    // Repacked or not, the file on disk stays within the same bound.
    assert!(
        len <= limit + limit / 8,
        "{len} bytes on disk ({written} as written) for a limit of {limit}"
    );
    assert_eq!(
        proc_state(pid.parse().unwrap()).map(|s| s != 't' && s != 'T'),
        Some(true),
        "the target runs on"
    );
}

#[test]
fn an_existing_capture_is_kept_unless_force() {
    if !require_privileged("an_existing_capture_is_kept_unless_force") {
        return;
    }
    let c = Container::start(Cgroup::new("force"), &["sleep", "30"]);
    let pid = c.workload_pid("sleep").to_string();
    let dir = scratch("force");
    let file = dir.path().join("f.holter");
    let f = file.to_str().unwrap();
    let old = b"an earlier capture, not to be lost\n";
    std::fs::write(&file, old).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let args = [
        "record",
        "--pid",
        &pid,
        "--duration",
        "300ms",
        "--no-samples",
        "-o",
        f,
    ];
    let out = agent(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an existing file is refused: {err}");
    assert!(
        err.contains(f) && err.contains("--force"),
        "names the file and the fix: {err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), old, "the file is untouched");
    let mut forced = args.to_vec();
    forced.push("--force");
    ok_stdout("agent --force", &agent(&forced));
    let info: serde_json::Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["complete"], true, "a whole new capture: {info}");
    assert_eq!(info["target"]["pids"][0], pid.parse::<u64>().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !bytes.windows(old.len()).any(|w| w == old),
        "nothing of the old file is left"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "an overwritten capture is 0600 too (the old file was 0644)"
    );
}

/// The frames of a file, by their length fields: (offset, length).
fn frames_of(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut at = holter_format::PREAMBLE_LEN;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, len));
        at += 8 + len;
    }
    out
}

/// A capture of a quiet target flushes a small frame every second; once
/// closed it is repacked: the header's frame, then one frame of everything
/// else (packed with the built-in dictionary), every record as written (the footer counts them), nothing left
/// beside it, permissions kept.
#[test]
fn a_closed_capture_is_repacked_into_large_frames() {
    if !require_privileged("a_closed_capture_is_repacked_into_large_frames") {
        return;
    }
    let c = Container::start(Cgroup::new("repack"), &["sleep", "30"]);
    let pid = c.workload_pid("sleep").to_string();
    let dir = scratch("repack");
    let file = dir.path().join("r.holter");
    let f = file.to_str().unwrap();
    ok_stdout(
        "agent",
        &agent(&[
            "record",
            "--pid",
            &pid,
            "--duration",
            "3500ms",
            "--interval",
            "500ms",
            "-o",
            f,
        ]),
    );
    let bytes = std::fs::read(&file).unwrap();
    let frames = frames_of(&bytes);
    assert_eq!(
        frames.len(),
        2,
        "header, then one frame (not one a second): {frames:?}"
    );
    assert_eq!(frames[1].0 + 8 + frames[1].1, bytes.len());
    // Packed (format 1.12): that frame is one record, of the packed kind
    // (compressed with the built-in dictionary), which the reader expands.
    let payload =
        zstd::stream::decode_all(&bytes[frames[1].0 + 8..frames[1].0 + 8 + frames[1].1]).unwrap();
    assert_eq!(
        u16::from_le_bytes([payload[0], payload[1]]),
        holter_format::packed::PACKED_KIND
    );
    assert_eq!(
        6 + u32::from_le_bytes(payload[2..6].try_into().unwrap()) as usize,
        payload.len()
    );
    let mut reader = holter_format::Reader::new(&bytes[..]).unwrap();
    let records: Vec<holter_format::Record> = reader.by_ref().collect();
    assert!(reader.is_complete() && reader.warnings().is_empty());
    let Some(holter_format::Record::Footer(footer)) = records.last() else {
        panic!("no footer")
    };
    let written: u64 = footer.counts.iter().map(|(_, n)| n).sum();
    assert_eq!(written as usize, records.len() - 1, "every record kept");
    let snapshots = records
        .iter()
        .filter(|r| {
            matches!(
                r,
                holter_format::Record::CgroupSnapshot(_) | holter_format::Record::CgroupNumDelta(_)
            )
        })
        .count();
    assert!(
        snapshots >= 6,
        "{snapshots} cgroup snapshots in 3.5 s at 500 ms"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["r.holter"], "no temporary file left");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A launched command is held before exec as a fork of the agent: it is
/// described as the program it runs (comm, argv), never as that copy of the
/// agent, whichever collector sees its exec (the sampler, the ptrace tracer,
/// the syscall events, or none: the record loop).
#[test]
fn a_launched_command_is_described_as_its_program_not_the_agent() {
    if !require_privileged("a_launched_command_is_described_as_its_program_not_the_agent") {
        return;
    }
    let dir = scratch("launch-names");
    let runs: [&[&str]; 4] = [
        &[],
        &["--no-samples"],
        &["--no-samples", "--syscalls"],
        &["--no-samples", "--syscalls=kernel"],
    ];
    for (i, extra) in runs.iter().enumerate() {
        let file = dir.path().join(format!("l{i}.holter"));
        let f = file.to_str().unwrap();
        let mut args = vec!["record", "-o", f];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sleep", "0.5"]);
        ok_stdout("agent", &agent(&args));
        let info: serde_json::Value =
            serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
        let pid = info["target"]["pids"][0].as_u64().unwrap() as u32;
        let reader = holter_format::Reader::new(std::fs::File::open(&file).unwrap()).unwrap();
        let mut processes = Vec::new();
        let mut threads = Vec::new();
        for r in reader {
            match r {
                holter_format::Record::Process(p) if p.pid == pid => processes.push(p),
                holter_format::Record::Thread(t) if t.pid == pid => threads.push(t),
                _ => {}
            }
        }
        for p in &processes {
            assert!(
                p.comm != "holter-agent" && !p.argv.iter().any(|a| a.contains("holter-agent")),
                "{extra:?}: the launched command described as the agent: {p:?}"
            );
        }
        for t in &threads {
            assert_ne!(t.comm, "holter-agent", "{extra:?}: {t:?}");
        }
        assert!(
            processes
                .iter()
                .any(|p| p.comm == "sleep" && p.argv == ["sleep", "0.5"]),
            "{extra:?}: no Process record names the command: {processes:?}"
        );
    }
}
