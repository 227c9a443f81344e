//! Slow syscalls explained by the cgroup: a container held to 0.2 CPU
//! (cgroup v1 cpu.cfs_quota_us = 20000 of 100000) runs `yes > /dev/null`, a
//! busy loop of writes to /dev/null, recorded with --syscalls. Writes to
//! /dev/null cost microseconds; the slow ones (above 1 ms: ~90,000 writes in
//! 3 s and at most one stall per 100 ms period, so the stalls lie beyond the
//! p99) are the calls the quota left off the CPU, so they overlap the
//! throttled intervals of the snapshots, and `holter syscalls` must say so.
//! A spinning shell beside `yes` keeps the cgroup at its quota: traced,
//! `yes` alone may not reach it on a loaded machine (the tracer is slower).
//! The control, the same container without a quota, is never throttled:
//! nothing is explained.

use std::time::Duration;

use holter_e2e::*;
use serde_json::Value;

/// Records `yes > /dev/null` in a container (with `quota_us`, if any) and
/// returns `holter syscalls --json` and its text.
fn record_yes(test: &str, quota_us: Option<&str>) -> Option<(Value, String)> {
    if !require_privileged(test)
        || !require_hierarchy(test, "cpu")
        || !require_hierarchy(test, "cpuacct")
    {
        return None;
    }
    let cg = Cgroup::new("thrcalls");
    cg.set("cpu", "cpu.cfs_period_us", "100000");
    if let Some(q) = quota_us {
        cg.set("cpu", "cpu.cfs_quota_us", q);
    }
    // A spinning shell uses the quota up early in each period; `yes`,
    // traced, waits for the next period whenever the tracer resumes it
    // while the cgroup is throttled.
    let c = Container::start(
        cg,
        &["sh", "-c", "while :; do :; done & exec yes > /dev/null"],
    );
    c.workload_pid("yes");
    let dir = scratch("thrcalls");
    let file = dir.path().join("y.holter");
    let f = file.to_str().unwrap();
    let cpu_dir = c.cgroup.dir("cpu");
    ok_stdout(
        "holter-agent record",
        &agent_with_timeout(
            &[
                "record",
                "--cgroup",
                cpu_dir.to_str().unwrap(),
                "--syscalls",
                "--no-samples",
                "--interval",
                "100ms",
                "--duration",
                "3s",
                "-o",
                f,
            ],
            Duration::from_secs(60),
        ),
    );
    drop(c);
    let json: Value = serde_json::from_str(&ok_stdout(
        "holter syscalls --json",
        &holter(&["syscalls", f, "--json", "--slowest", "20"]),
    ))
    .unwrap();
    let text = ok_stdout(
        "holter syscalls",
        &holter(&["syscalls", f, "--slowest", "20"]),
    );
    Some((json, text))
}

/// The explanation of `write`'s tail.
fn write_row(j: &Value) -> &Value {
    j["throttling"]["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("no throttling.calls: {j}"))
        .iter()
        .find(|c| c["name"] == "write")
        .unwrap_or_else(|| panic!("write not explained: {}", j["throttling"]))
}

#[test]
fn slow_writes_under_a_fifth_of_a_cpu_overlap_throttled_time() {
    let test = "slow_writes_under_a_fifth_of_a_cpu_overlap_throttled_time";
    let Some((j, text)) = record_yes(test, Some("20000")) else {
        return;
    };
    let w = write_row(&j);
    eprintln!("throttling: {}", j["throttling"]);
    let (count, slow, explained) = (
        w["count"].as_u64().unwrap(),
        w["slow_calls"].as_u64().unwrap(),
        w["slow_throttled"].as_u64().unwrap(),
    );
    assert!(count >= 100, "{count} writes in 3 s");
    // Writes to /dev/null wait only for the CPU: the quota's stalls (up to
    // 80 ms) are the slow calls.
    assert!(
        w["max_ns"].as_u64().unwrap() >= 10_000_000,
        "max {} ns: no write waited for the quota",
        w["max_ns"]
    );
    assert!(slow >= 3, "{slow} writes above {} ns", w["slow_above_ns"]);
    assert!(
        explained * 10 >= slow * 9,
        "{explained} of {slow} slow writes overlap throttled time"
    );
    assert!(j["throttling"]["spans"].as_u64().unwrap() >= 1);
    assert!(j["throttling"]["throttled_s"].as_f64().unwrap() > 1.0);
    assert!(
        j["throttling"]["quota"]
            .as_str()
            .unwrap()
            .contains("a 0.20-core quota"),
        "{}",
        j["throttling"]
    );
    // The slowest calls are marked one by one: every stall of 10 ms or more.
    let slowest = j["slowest"].as_array().unwrap();
    let stalls: Vec<&Value> = slowest
        .iter()
        .filter(|s| s["duration_ns"].as_u64().unwrap() >= 10_000_000)
        .collect();
    assert!(!stalls.is_empty(), "{slowest:?}");
    assert!(
        stalls.iter().all(|s| s["throttled"] == true),
        "a stall not marked throttled: {slowest:?}"
    );
    assert!(
        text.contains("Slow calls and CPU throttling")
            && text.contains(&format!("{explained} of {slow} calls above 1.00ms"))
            && text.contains("overlap throttled periods")
            && text.contains(": explained by throttling")
            && text.contains("a 0.20-core quota"),
        "{text}"
    );
}

#[test]
fn without_a_quota_no_slow_call_is_explained_by_throttling() {
    let test = "without_a_quota_no_slow_call_is_explained_by_throttling";
    let Some((j, text)) = record_yes(test, None) else {
        return;
    };
    let w = write_row(&j);
    eprintln!("throttling: {}", j["throttling"]);
    assert!(w["count"].as_u64().unwrap() >= 100);
    assert_eq!(w["slow_throttled"], 0, "{w}");
    assert_eq!(w["throttled_calls"], 0, "{w}");
    assert_eq!(j["throttling"]["spans"], 0);
    assert!(j["slowest"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["throttled"] == false));
    assert!(!text.contains(": explained by throttling"), "{text}");
    assert!(
        text.contains("The cgroup was never throttled during the capture"),
        "{text}"
    );
}
