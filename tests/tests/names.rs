//! Frames named as users expect them (issue 12): the symbols of short-lived
//! processes, JIT maps written at exit.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use holter_e2e::*;

/// Folded stacks of a capture (`holter flamegraph --folded`, the capture alone).
fn folded(capture: &Path) -> Vec<(String, u64)> {
    let text = ok_stdout(
        "holter flamegraph --folded",
        &holter(&["flamegraph", capture.to_str().unwrap(), "--folded"]),
    );
    text.lines()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("`stack COUNT` lines");
            (stack.to_string(), count.parse().expect("a count"))
        })
        .collect()
}

/// The `warning` lines of `holter info`.
fn warnings(capture: &Path) -> Vec<String> {
    let text = ok_stdout("holter info", &holter(&["info", capture.to_str().unwrap()]));
    text.lines()
        .filter_map(|l| l.strip_prefix("warning"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// 100 runs in a row of a 20 ms workload, each gone before the agent reads
/// its mappings: their binary is read from another process mapping it or
/// from the agent's own view (same mount namespace), not given up after the
/// first run that exited.
#[test]
fn short_lived_processes_are_named() {
    if !require_privileged("short_lived_processes_are_named") {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("names-short");
    let file = dir.path().join("s.holter");
    let script = format!(
        "i=0; while [ $i -lt 100 ]; do {} 0.02; i=$((i+1)); done",
        w.path.display()
    );
    ok_stdout(
        "holter-agent record -- sh -c LOOP",
        &agent_with_timeout(
            &[
                "record",
                "--frequency",
                "999",
                "-o",
                file.to_str().unwrap(),
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
            Duration::from_secs(60),
        ),
    );
    let stacks = folded(&file);
    let ours: Vec<&(String, u64)> = stacks
        .iter()
        .filter(|(s, _)| s.starts_with("calltree;"))
        .collect();
    let samples: u64 = ours.iter().map(|(_, n)| n).sum();
    let unnamed: u64 = ours
        .iter()
        .filter(|(s, _)| s.split(';').any(|f| f.starts_with("calltree+0x")))
        .map(|(_, n)| n)
        .sum();
    assert!(
        samples >= 500,
        "{samples} samples of 100 runs of 20 ms at 999 Hz"
    );
    assert!(
        unnamed * 10 <= samples,
        "{unnamed} of {samples} samples of the short runs have a calltree+0x frame: {:?}",
        &ours[..ours.len().min(5)]
    );
    assert!(
        ours.iter().any(|(s, _)| s.contains(";main;work_a;burn")),
        "main;work_a;burn named: {:?}",
        &ours[..ours.len().min(5)]
    );
    let warned = warnings(&file);
    assert!(
        !warned.iter().any(|w| w.contains("/calltree")),
        "no warning for a binary with symbols: {warned:?}"
    );
    let mut per_binary: HashMap<&str, usize> = HashMap::new();
    for w in &warned {
        if let Some(rest) = w.strip_prefix("no symbols for ") {
            *per_binary
                .entry(rest.split(' ').next().unwrap_or(rest))
                .or_default() += 1;
        }
    }
    assert!(
        per_binary.values().all(|&n| n <= 1),
        "at most one warning per binary: {warned:?}"
    );
}

/// The leaf user frame of each folded stack (kernel frames end in `_[k]`).
fn user_leaves(stacks: &[(String, u64)]) -> HashMap<String, u64> {
    let mut out: HashMap<String, u64> = HashMap::new();
    for (stack, n) in stacks {
        if let Some(leaf) = stack.split(';').rfind(|f| !f.ends_with("_[k]")) {
            *out.entry(leaf.to_string()).or_default() += n;
        }
    }
    out
}

/// Java 17 in a container of its own (pid, mount namespaces, a private
/// /tmp): HotSpot writes /tmp/perf-1.map inside it only at exit
/// (-XX:+DumpPerfMapAtExit), when the process is gone. The map is read
/// through the root handle kept while it lived: JIT code is named.
#[test]
fn java_jit_code_is_named_from_the_perf_map_written_at_exit() {
    let test = "java_jit_code_is_named_from_the_perf_map_written_at_exit";
    if !require_privileged(test) || require_tool(test, "java", "openjdk-17-jre-headless").is_none()
    {
        return;
    }
    let dir = scratch("names-java");
    let file = dir.path().join("j.holter");
    let src = repo_root().join("tests/workloads");
    // The source is bound on /srv, then a tmpfs hides the host's /tmp: the
    // map exists inside the container only, and vanishes with it.
    let script = format!(
        "mount --bind {} /srv && mount -t tmpfs holter-test /tmp && exec java \
         -XX:+PreserveFramePointer -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit \
         /srv/Hot.java 3",
        src.display()
    );
    ok_stdout(
        "holter-agent record -- unshare ... java",
        &agent_with_timeout(
            &[
                "record",
                "--frequency",
                "999",
                "-o",
                file.to_str().unwrap(),
                "--",
                "unshare",
                "--fork",
                "--pid",
                "--mount",
                "--mount-proc",
                "sh",
                "-c",
                &script,
            ],
            Duration::from_secs(120),
        ),
    );
    let leaves = user_leaves(&folded(&file));
    // JIT code: samples whose user leaf is in anonymous memory, named from
    // the map (Java methods, the interpreter, stubs) or not (`anon+0x…`).
    let unnamed: u64 = leaves
        .iter()
        .filter(|(l, _)| l.starts_with("anon+0x"))
        .map(|(_, n)| n)
        .sum();
    let spin: u64 = leaves
        .iter()
        .filter(|(l, _)| l.contains("Hot.spin"))
        .map(|(_, n)| n)
        .sum();
    let mut top: Vec<(&String, &u64)> = leaves.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    top.truncate(8);
    assert!(
        spin >= 1000,
        "Hot.spin named in {spin} samples (3 s at 999 Hz, mostly in spin): {top:?}"
    );
    assert!(
        unnamed * 10 <= spin + unnamed,
        "{unnamed} JIT samples unnamed against {spin} in Hot.spin: {top:?}"
    );
}
