//! Podman: a busybox image imported from a rootfs (no registry here), run with
//! a CPU quota, recorded by a 12-character id prefix; the capture names the
//! container and its throttling matches the quota.

use std::process::Command;
use std::time::Duration;

use holter_e2e::*;
use serde_json::Value;

/// A podman container and its image; dropping it removes both.
struct Podman {
    name: String,
    image: String,
    id: String,
}

impl Podman {
    /// A container of busybox and `files` (host path, name in /bin) running `script`.
    fn run(dir: &std::path::Path, files: &[(&std::path::Path, &str)], script: &str) -> Podman {
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (from, name) in files {
            std::fs::copy(from, bin.join(name)).unwrap();
        }
        std::fs::copy(which("busybox").unwrap(), bin.join("busybox")).unwrap();
        for applet in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let tar = dir.join("rootfs.tar");
        run(
            "tar",
            &[
                "-C",
                rootfs.to_str().unwrap(),
                "-cf",
                tar.to_str().unwrap(),
                ".",
            ],
        );
        let tag = &random_id()[..12];
        // Made first, so that its Drop cleans up whatever step fails.
        let mut p = Podman {
            name: format!("holter-test-{tag}"),
            image: format!("localhost/holter-test:{tag}"),
            id: String::new(),
        };
        run("podman", &["import", tar.to_str().unwrap(), &p.image]);
        // Podman's default rlimits exceed this node's hard limits: name them.
        let id = run(
            "podman",
            &[
                "run",
                "-d",
                "--name",
                &p.name,
                "--network",
                "none",
                "--cpus",
                "0.2",
                "-m",
                "64m",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                &p.image,
                "/bin/sh",
                "-c",
                script,
            ],
        );
        p.id = id.trim().to_string();
        p
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = holter_e2e::run(
        &format!("{cmd} {}", args.join(" ")),
        Command::new(cmd).args(args),
        Duration::from_secs(120),
    );
    ok_stdout(&format!("{cmd} {}", args.join(" ")), &out)
}

#[test]
fn a_podman_container_recorded_by_id_prefix() {
    if !require_tools(
        "a_podman_container_recorded_by_id_prefix",
        &["podman", "busybox", "tar"],
        "podman busybox-static",
    ) {
        return;
    }
    let dir = scratch("podman");
    // A statically linked workload of known call tree and proportions.
    let wl = compile_workload_with("calltree", &["-static"]);
    let c = Podman::run(
        dir.path(),
        &[(&wl.path, "calltree")],
        "exec /bin/calltree 0",
    );
    assert_eq!(c.id.len(), 64, "podman run printed the id: {:?}", c.id);
    let file = dir.path().join("p.holter");
    let f = file.to_str().unwrap();
    ok_stdout(
        "agent",
        &agent(&[
            "record",
            "--container",
            &c.id[..12],
            "--frequency",
            "999",
            "--duration",
            "3s",
            "--interval",
            "250ms",
            "-o",
            f,
        ]),
    );
    let info: Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["target"]["kind"], "container");
    assert_eq!(info["target"]["container_id"], c.id.as_str(), "{info}");
    let t: Value = serde_json::from_str(&ok_stdout(
        "throttling",
        &holter(&["throttling", f, "--json"]),
    ))
    .unwrap();
    assert!(t["cgroup"].as_str().unwrap().contains(&c.id), "{t}");
    assert_eq!(t["quota_cores"], 0.2, "{t}");
    let pct = t["throttled_pct"].as_f64().unwrap();
    assert!(
        pct >= 50.0,
        "a busy loop held to 0.2 CPU is throttled in most periods: {pct}%"
    );
    let usage = t["usage_cores_avg"].as_f64().unwrap();
    assert!(
        (0.18..=0.21).contains(&usage),
        "usage {usage} cores under a 0.2 quota"
    );
    // Samples: the kernel's CPU time of the container (its cgroup's usage, in
    // the capture) at 999 Hz, give or take the edges of the capture.
    let samples = info["samples"].as_u64().unwrap() as f64;
    let span = (t["end_ns"].as_u64().unwrap() - t["start_ns"].as_u64().unwrap()) as f64 / 1e9;
    let expected = usage * span * 999.0;
    eprintln!(
        "podman: {samples} samples, {expected:.0} expected ({usage:.3} cores over {span:.2} s)"
    );
    assert!(
        (samples - expected).abs() <= 0.1 * expected + 4.0 * expected.sqrt(),
        "{samples} samples for {usage:.3} cores over {span:.2} s at 999 Hz ({expected:.0})"
    );
    // The call tree and its proportions, named from the capture alone.
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
    let (main, a, b) = (
        count(";main;"),
        count(";main;work_a;burn"),
        count(";main;work_b;burn"),
    );
    assert!(
        main as f64 >= 0.9 * expected - 4.0 * expected.sqrt(),
        "{main} samples under main of {samples}:\n{folded}"
    );
    let fa = a as f64 / main as f64;
    let tol = (4.0 * (2.0 / 9.0 / main as f64).sqrt()).max(0.03);
    assert!(
        (fa - 2.0 / 3.0).abs() <= tol && (b as f64 / main as f64 - 1.0 / 3.0).abs() <= tol,
        "main→work_a→burn {a}, main→work_b→burn {b} of {main} under main: want 2/3 and 1/3 ± {tol:.3}\n{folded}"
    );
}
