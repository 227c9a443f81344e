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
    fn run(dir: &std::path::Path, script: &str) -> Podman {
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
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
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
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
    let c = Podman::run(dir.path(), "while :; do :; done");
    assert_eq!(c.id.len(), 64, "podman run printed the id: {:?}", c.id);
    std::thread::sleep(Duration::from_millis(300));
    let file = dir.path().join("p.holter");
    let f = file.to_str().unwrap();
    ok_stdout(
        "agent",
        &agent(&[
            "record",
            "--container",
            &c.id[..12],
            "--duration",
            "2s",
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
    assert!(info["samples"].as_u64().unwrap() > 0, "{info}");
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
        (0.15..0.25).contains(&usage),
        "usage {usage} cores under a 0.2 quota"
    );
}
