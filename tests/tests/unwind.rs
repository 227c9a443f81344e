//! Whole user stacks and samples that stand for CPU time, end to end.
//!
//! Sampling rate: tests/workloads/bursty.c (2 spinning threads, 200 threads
//! running ~0.1 ms bursts then sleeping 1 ms) recorded at 999 Hz must get
//! 999 ± 10% samples per second of the CPU time it reports itself.

use std::path::Path;

use holter_e2e::*;

fn info_json(file: &Path) -> serde_json::Value {
    serde_json::from_str(&ok_stdout(
        "holter info --json",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .expect("info JSON")
}

#[test]
fn bursty_threads_get_the_requested_samples_per_cpu_second() {
    if !require_privileged("bursty_threads_get_the_requested_samples_per_cpu_second") {
        return;
    }
    let w = compile_workload_with("bursty", &["-O2"]);
    let dir = scratch("unwind-rate");
    let file = dir.path().join("r.holter");
    let cpu_file = dir.path().join("cpu_ns");
    ok_stdout(
        "holter-agent record",
        &agent(&[
            "record",
            "--frequency",
            "999",
            "-o",
            file.to_str().unwrap(),
            "--",
            w.path.to_str().unwrap(),
            "3",
            cpu_file.to_str().unwrap(),
        ]),
    );
    let cpu_ns: f64 = std::fs::read_to_string(&cpu_file)
        .expect("the workload wrote its CPU time")
        .trim()
        .parse()
        .unwrap();
    assert!(cpu_ns > 1e9, "the workload used {cpu_ns} ns of CPU");
    let info = info_json(&file);
    let samples = info["samples"].as_u64().unwrap() + info["lost_samples"].as_u64().unwrap();
    let rate = samples as f64 * 1e9 / cpu_ns;
    eprintln!(
        "{samples} samples over {:.3} CPU-s of the workload: {rate:.0}/CPU-s; holter info says {}",
        cpu_ns / 1e9,
        info["samples_per_cpu_second"]
    );
    assert!(
        (rate - 999.0).abs() < 99.9,
        "{rate:.0} samples per CPU-second (by the workload's getrusage), want 999 ± 10%"
    );
    let shown = info["samples_per_cpu_second"]
        .as_f64()
        .expect("holter info shows the rate");
    assert!(
        (shown - 999.0).abs() < 99.9,
        "holter info shows {shown:.0} samples per CPU-second, want 999 ± 10%"
    );
    let text = ok_stdout("holter info", &holter(&["info", file.to_str().unwrap()]));
    assert!(
        text.contains("samples per CPU-second"),
        "holter info names the rate:\n{text}"
    );
}
