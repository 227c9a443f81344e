//! A real OCI runtime: runc runs a busybox container with a CPU quota and a
//! memory limit; the agent records it by `--container ID` (samples, syscalls,
//! snapshots); the report's numbers are checked against the kernel's cpu.stat
//! and the workload's known call tree. The capture is analyzed after the
//! container is deleted and its root filesystem (with the binary) removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use holter_e2e::*;
use serde_json::Value;

const QUOTA_US: u64 = 20_000;
const PERIOD_US: u64 = 100_000;
const MEMORY_LIMIT: u64 = 64 << 20;

fn runc_available(test: &str) -> bool {
    require_tools(test, &["runc", "busybox", "cc"], "runc busybox-static gcc")
}

/// A runc container; dropping it deletes it (`runc delete -f`), whatever happened.
struct RuncContainer {
    id: String,
    state: PathBuf,
    bundle: PathBuf,
}

impl RuncContainer {
    /// Builds a busybox bundle whose process runs `script` in sh, under the
    /// quota and limit, and starts it detached.
    fn start(dir: &Path, extra: &[(&Path, &str)], script: &str) -> RuncContainer {
        let bundle = dir.join("bundle");
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(which("busybox").unwrap(), bin.join("busybox")).unwrap();
        let out = Command::new(bin.join("busybox"))
            .arg("--install")
            .arg(&bin)
            .output()
            .unwrap();
        assert!(out.status.success(), "busybox --install: {out:?}");
        for (from, name) in extra {
            std::fs::copy(from, bin.join(name)).unwrap();
        }
        let out = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "runc spec: {out:?}");
        let id = random_id();
        let path = bundle.join("config.json");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["terminal"] = Value::Bool(false);
        config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        config["linux"]["resources"] = serde_json::json!({
            "cpu": {"quota": QUOTA_US, "period": PERIOD_US},
            "memory": {"limit": MEMORY_LIMIT},
        });
        config["linux"]["cgroupsPath"] = Value::String(format!("/{id}"));
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        let c = RuncContainer {
            id,
            state: dir.join("runc-state"),
            bundle,
        };
        let status = c
            .runc()
            .args(["run", "-d", "--bundle"])
            .arg(&c.bundle)
            .arg(&c.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "runc run -d {}", c.id);
        c
    }

    fn runc(&self) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&self.state);
        cmd
    }

    /// The container's v1 cpu directory (runc puts it in `cpu:/<cgroupsPath>`).
    fn cpu_dir(&self) -> PathBuf {
        Path::new(CGROUP_ROOT).join("cpu").join(&self.id)
    }

    fn cpu_stat(&self) -> BTreeMap<String, u64> {
        std::fs::read_to_string(self.cpu_dir().join("cpu.stat"))
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = self
            .runc()
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn json(out: &std::process::Output, what: &str) -> Value {
    serde_json::from_str(&ok_stdout(what, out)).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn a_runc_container_recorded_by_id_and_reported_after_it_is_gone() {
    if !runc_available("a_runc_container_recorded_by_id_and_reported_after_it_is_gone") {
        return;
    }
    let dir = scratch("runc");
    // A statically linked workload with a known call tree, started over and
    // over by the shell: CPU work and process syscalls.
    let wl = compile_workload_with("calltree", &["-static"]);
    let c = RuncContainer::start(
        dir.path(),
        &[(&wl.path, "calltree")],
        "while :; do /bin/calltree 1; done",
    );
    let capture = dir.path().join("runc.holter");
    let f = capture.to_str().unwrap();
    let prefix = &c.id[..12];

    // Built (if stale) before the kernel's window opens, not inside it.
    bin("holter-agent");
    let before = c.cpu_stat();
    let t0 = Instant::now();
    // runc's state directory (private to the test) names the runtime.
    let state = c.state.to_str().unwrap().to_string();
    ok_stdout(
        "agent",
        &agent_with_env(
            &[
                "record",
                "--container",
                prefix,
                "--frequency",
                "999",
                "--syscalls",
                "--duration",
                "2500ms",
                "--interval",
                "250ms",
                "-o",
                f,
            ],
            &[("HOLTER_RUNC_ROOTS", &state)],
        ),
    );
    let window = t0.elapsed();
    let after = c.cpu_stat();

    // Gone: the container, its processes, its root filesystem with the binary.
    drop(c);
    std::fs::remove_dir_all(dir.path().join("bundle")).unwrap();
    drop(wl);

    let info = json(&holter(&["info", f, "--json"]), "holter info");
    assert_eq!(info["target"]["kind"], "container");
    assert_eq!(info["target"]["container_id"].as_str().unwrap().len(), 64);
    assert_eq!(info["target"]["runtime"], "runc", "{info}");
    let samples = info["samples"].as_u64().unwrap();
    let syscalls = info["syscalls"].as_u64().unwrap();
    assert!(samples > 0, "no samples: {info}");
    assert!(syscalls > 0, "no syscalls: {info}");

    // Throttling, against the kernel's own counters around the capture.
    let t = json(&holter(&["throttling", f, "--json"]), "holter throttling");
    let k = |key: &str| after[key] - before[key];
    let periods = t["periods"].as_u64().unwrap();
    let throttled = t["throttled_periods"].as_u64().unwrap();
    let pct = t["throttled_pct"].as_f64().unwrap();
    let k_pct = k("nr_throttled") as f64 * 100.0 / k("nr_periods") as f64;
    eprintln!(
        "runc: {samples} samples, {syscalls} syscalls; report {throttled}/{periods} periods throttled ({pct}%), kernel {}/{} ({k_pct:.1}%) over {window:?}",
        k("nr_throttled"),
        k("nr_periods")
    );
    assert_eq!(
        t["cgroup_version"], 1,
        "the v1 cpu directory holds the quota"
    );
    assert_eq!(t["quota_us"], QUOTA_US);
    assert_eq!(t["period_us"], PERIOD_US);
    assert!(periods <= k("nr_periods") && throttled <= k("nr_throttled"));
    assert!(
        periods >= 15,
        "2.5 s of busy work is ~25 periods: {periods}"
    );
    // The capture sees a sub-window of the kernel's: the throttled periods it
    // missed are among the periods it missed (the agent's start and stop,
    // when the tracer holds the container, lie outside it).
    let missed = k("nr_periods") - periods;
    assert!(
        k("nr_throttled") - throttled <= missed,
        "report {throttled}/{periods} vs kernel {}/{}",
        k("nr_throttled"),
        k("nr_periods")
    );
    assert!(
        missed <= 15,
        "the capture missed {missed} periods of the kernel's window"
    );
    assert!(pct >= 50.0, "busy under a 0.2-core quota: {pct}%");
    // Samples: the container's CPU time as the kernel counts it (its usage,
    // in the capture's snapshots) at 999 Hz, give or take the capture's edges.
    let usage = t["usage_cores_avg"].as_f64().unwrap();
    let span = (t["end_ns"].as_u64().unwrap() - t["start_ns"].as_u64().unwrap()) as f64 / 1e9;
    let expected = usage * span * 999.0;
    assert!(
        (samples as f64 - expected).abs() <= 0.1 * expected + 4.0 * expected.sqrt(),
        "{samples} samples for {usage:.3} cores over {span:.2} s at 999 Hz ({expected:.0})"
    );
    let m = json(&holter(&["memory", f, "--json"]), "holter memory");
    assert_eq!(m["limit_bytes"], MEMORY_LIMIT);

    // The call tree, named from the capture alone.
    let folded = ok_stdout(
        "holter flamegraph",
        &holter(&["flamegraph", f, "--folded", "--comm", "calltree"]),
    );
    let count = |frame: &str| -> u64 {
        folded
            .lines()
            .filter(|l| l.contains(frame))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    // Both branches in their proportions, named from the capture alone.
    let (main, a, b) = (
        count(";main;"),
        count(";main;work_a;burn"),
        count(";main;work_b;burn"),
    );
    let tol = (4.0 * (2.0 / 9.0 / main.max(1) as f64).sqrt()).max(0.03);
    let (fa, fb) = (a as f64 / main as f64, b as f64 / main as f64);
    eprintln!("runc: {main} samples under main, work_a {fa:.3}, work_b {fb:.3} ± {tol:.3}");
    assert!(
        (fa - 2.0 / 3.0).abs() <= tol && (fb - 1.0 / 3.0).abs() <= tol,
        "main;work_a;burn {a} and main;work_b;burn {b} of {main}: want 2/3 and 1/3 ± {tol:.3}\n{folded}"
    );

    // The report carries the same numbers.
    let md = dir.path().join("runc.md");
    ok_stdout(
        "holter report",
        &holter(&[
            "report",
            f,
            "--format",
            "markdown",
            "-o",
            md.to_str().unwrap(),
        ]),
    );
    let md = std::fs::read_to_string(md).unwrap();
    for want in [
        // Throttled in most periods: marked as a problem (bold).
        format!("| throttled periods | **{throttled} of {periods} ({pct:.1}%)** |"),
        "| quota | 0.20 cores (20000 µs per 100000 µs period) |".to_string(),
        format!("| samples | {samples} recorded, "),
        format!("| syscall tracing | {syscalls} recorded of "),
        "| limit | 64.0 MiB |".to_string(),
        "burn".to_string(),
        "| `execve` |".to_string(),
    ] {
        assert!(md.contains(&want), "report lacks {want:?}:\n{md}");
    }
    let html = ok_stdout("holter report", &holter(&["report", f]));
    assert_eq!(html.trim(), dir.path().join("runc.html").to_str().unwrap());
}

#[test]
fn redact_hides_the_container_id_and_the_spec() {
    if !runc_available("redact_hides_the_container_id_and_the_spec") {
        return;
    }
    let dir = scratch("runc-redact");
    let c = RuncContainer::start(dir.path(), &[], "while :; do sleep 0.1; done");
    let capture = dir.path().join("r.holter");
    let prefix = &c.id[..12];
    ok_stdout(
        "agent",
        &agent(&[
            "record",
            "--container",
            prefix,
            "--redact",
            "--duration",
            "700ms",
            "--interval",
            "100ms",
            "-o",
            capture.to_str().unwrap(),
        ]),
    );
    let f = std::fs::File::open(&capture).expect("the capture");
    let records: Vec<holter_format::Record> =
        holter_format::Reader::new(f).expect("a capture").collect();
    let text: String = records.iter().map(|r| format!("{r:?}\n")).collect();
    assert!(
        records
            .iter()
            .any(|r| matches!(r, holter_format::Record::CgroupSnapshot(_))),
        "snapshots of the container's cgroup were recorded"
    );
    // Neither the id nor the prefix it was named by, in any record; the
    // header's id is the token its cgroup directory got.
    assert!(!text.contains(prefix), "the container id is in the capture");
    let info = json(
        &holter(&["info", capture.to_str().unwrap(), "--json"]),
        "info",
    );
    let id = info["target"]["container_id"].as_str().unwrap();
    let spec = info["target"]["spec"].as_str().unwrap();
    assert!(
        !id.is_empty() && !c.id.starts_with(id) && !id.contains(prefix),
        "{info}"
    );
    assert!(!spec.contains(prefix), "{info}");
    let cgroups = info["target"]["cgroups"].to_string();
    assert!(
        cgroups.contains(id),
        "the id's token names its cgroup: {info}"
    );
}
