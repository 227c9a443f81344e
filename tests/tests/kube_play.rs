//! The agent Pod `kubectl holter manifest` prints, played for real by a local
//! engine that runs Kubernetes Pod YAML (`podman kube play`), with the static
//! agent's image of `deploy/build.sh`, against a real podman container held
//! to 0.2 CPU: the capture lands where the manifest says (its hostPath), it
//! leaves the pod by `holter-agent cat` as `kubectl holter` copies it, the
//! record options given to the plugin are the ones in its header, and its
//! throttling matches the kernel's cpu.stat of the container.
//!
//! Two shims for podman 4.3 (Debian 12), in a containers.conf of the test's
//! own (CONTAINERS_CONF, for `kube play` only; the system's is untouched):
//! - `pidns = "host"`: podman before 4.5 ignores `hostPID: true` (support came
//!   with containers/podman#17168); the test checks the manifest asks for it
//!   and the engine then gives what it asks.
//! - `default_ulimits` at this VM's hard limits (nofile; nproc at what podman's
//!   conmon runs with): podman's defaults exceed them and root here has no
//!   CAP_SYS_RESOURCE, so the pod's infra container would fail with
//!   `error setting rlimit type 6/7: operation not permitted`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use holter_e2e::*;
use serde_json::Value;

const TEST: &str = "the_printed_manifest_runs_under_podman_kube_play";

fn run_ok(cmd: &str, args: &[&str], env: &[(&str, &Path)], timeout: Duration) -> String {
    let mut c = Command::new(cmd);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let what = format!("{cmd} {}", args.join(" "));
    ok_stdout(&what, &holter_e2e::run(&what, &mut c, timeout))
}

/// Removes, when dropped, what the test made (in reverse order of making).
#[derive(Default)]
struct Cleanup {
    pod_yaml: Option<(PathBuf, PathBuf)>,
    target: Option<String>,
    images: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((yaml, conf)) = &self.pod_yaml {
            let _ = Command::new("podman")
                .args(["kube", "down", yaml.to_str().unwrap()])
                .env("CONTAINERS_CONF", conf)
                .output();
        }
        if let Some(t) = &self.target {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", t])
                .output();
        }
        for i in &self.images {
            let _ = Command::new("podman").args(["rmi", "-f", i]).output();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `nr_periods`, `nr_throttled`, `throttled_time` of a cgroup v1 cpu.stat.
fn cpu_stat(dir: &Path) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
    let field = |k: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} in cpu.stat:\n{text}"))
    };
    (
        field("nr_periods "),
        field("nr_throttled "),
        field("throttled_time "),
    )
}

fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local struct.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut r) }, 0);
    r.rlim_max
}

#[test]
fn the_printed_manifest_runs_under_podman_kube_play() {
    // What the plugin waits for is what the agent prints.
    assert_eq!(
        holter::kube::record::LINGER_MARK,
        holter_agent::cli::LINGER_MARK
    );
    if !require_tools(
        TEST,
        &[
            "podman",
            "busybox",
            "tar",
            "catatonit",
            "musl-gcc",
            "hostname",
        ],
        "podman busybox-static catatonit musl-tools",
    ) || !require_hierarchy(TEST, "cpu")
    {
        return;
    }
    let dir = scratch("kube-play");
    let tag = &random_id()[..12];
    let mut cleanup = Cleanup::default();

    // The static agent's image, as users build it.
    let image = match std::env::var("HOLTER_E2E_AGENT_IMAGE") {
        Ok(i) if !i.is_empty() => i,
        _ => {
            let image = format!("localhost/holter-agent-e2e:{tag}");
            cleanup.images.push(image.clone());
            let out = run_ok(
                "bash",
                &[
                    repo_root().join("deploy/build.sh").to_str().unwrap(),
                    "--tag",
                    &image,
                ],
                &[],
                Duration::from_secs(1800),
            );
            eprintln!("{out}");
            image
        }
    };

    // The target: a busy loop in a podman container held to 0.2 CPU.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(which("busybox").unwrap(), rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let tar = dir.path().join("rootfs.tar");
    run_ok(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
        &[],
        Duration::from_secs(60),
    );
    let target_image = format!("localhost/holter-kube-target:{tag}");
    cleanup.images.push(target_image.clone());
    run_ok(
        "podman",
        &["import", tar.to_str().unwrap(), &target_image],
        &[],
        Duration::from_secs(120),
    );
    let name = format!("holter-kube-target-{tag}");
    cleanup.target = Some(name.clone());
    let id = run_ok(
        "podman",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--cpus",
            "0.2",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            &target_image,
            "/bin/sh",
            "-c",
            "while :; do :; done",
        ],
        &[],
        Duration::from_secs(120),
    )
    .trim()
    .to_string();
    assert_eq!(id.len(), 64, "{id:?}");

    // The manifest, as the plugin prints it, capturing to a hostPath.
    let cap = dir.path().join("captures");
    let node = run_ok("hostname", &[], &[], Duration::from_secs(10))
        .trim()
        .to_string();
    let yaml = run_ok(
        bin("kubectl-holter").to_str().unwrap(),
        &[
            "manifest",
            "--node",
            &node,
            "--container",
            &format!("containerd://{id}"),
            "--duration",
            "3s",
            // Record options the agent must get as given (see the header below).
            "--interval",
            "250ms",
            "--max-size",
            "64M",
            "--frequency",
            "49",
            "--host-path",
            cap.to_str().unwrap(),
            "--image",
            &image,
        ],
        &[],
        Duration::from_secs(30),
    );
    assert!(
        yaml.contains("\n  hostPID: true\n") && yaml.contains("\n      privileged: true\n"),
        "{yaml}"
    );
    assert!(yaml.contains(&format!("    - \"{id}\"\n")), "{yaml}");
    assert!(
        yaml.contains("    - \"--interval=250ms\"\n    - \"--max-size=67108864\"\n"),
        "{yaml}"
    );
    // Where the manifest says the capture goes: `-o` under the capture mount, a hostPath.
    assert!(
        yaml.contains("    - \"-o\"\n    - \"/holter/capture-0.holter\"\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("  - name: \"capture\"\n    hostPath:\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!("      path: \"{}\"\n", cap.display())),
        "{yaml}"
    );
    let pod_name = format!("holter-{}-agent", &id[..12]);
    assert!(
        yaml.contains(&format!("  name: \"{pod_name}\"\n")),
        "{yaml}"
    );
    let yaml_path = dir.path().join("agent.yaml");
    std::fs::write(&yaml_path, &yaml).unwrap();

    // The node's kubelet log directories the manifest mounts (present on a
    // Kubernetes node); made here only if missing, removed after.
    for d in ["/var/log/pods", "/var/log/containers"] {
        if !Path::new(d).exists() {
            std::fs::create_dir(d).unwrap();
            cleanup.dirs.push(d.into());
        }
    }
    let conf = dir.path().join("containers.conf");
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let nofile = hard_limit(libc::RLIMIT_NOFILE);
    let nproc = hard_limit(libc::RLIMIT_NPROC).min(pid_max);
    std::fs::write(
        &conf,
        format!("[containers]\npidns = \"host\"\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"),
    )
    .unwrap();

    let cgroup = hierarchy_root("cpu").join(format!("libpod_parent/libpod-{id}"));
    assert!(cgroup.is_dir(), "{}", cgroup.display());
    let before = cpu_stat(&cgroup);
    cleanup.pod_yaml = Some((yaml_path.clone(), conf.clone()));
    let started = Instant::now();
    run_ok(
        "podman",
        &["kube", "play", yaml_path.to_str().unwrap()],
        &[("CONTAINERS_CONF", &conf)],
        Duration::from_secs(120),
    );
    let agent = format!("{pod_name}-agent");
    assert_eq!(
        run_ok(
            "podman",
            &[
                "inspect",
                &agent,
                "--format",
                "{{.HostConfig.PidMode}} {{.HostConfig.Privileged}}"
            ],
            &[],
            Duration::from_secs(30)
        )
        .trim(),
        "host true"
    );
    // The agent's own word that the capture is complete (what the plugin waits for).
    let logs = loop {
        let out = Command::new("podman")
            .args(["logs", &agent])
            .output()
            .unwrap();
        let logs = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if logs
            .lines()
            .any(|l| l.starts_with(holter::kube::record::LINGER_MARK))
        {
            break logs;
        }
        let state = run_ok(
            "podman",
            &["inspect", &agent, "--format", "{{.State.Status}}"],
            &[],
            Duration::from_secs(30),
        );
        assert!(
            state.trim() == "running",
            "the agent is {state}; its log:\n{logs}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no capture after 60 s; the agent's log:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let after = cpu_stat(&cgroup);
    eprintln!("agent log:\n{logs}");
    assert!(logs.contains("ended by duration"), "{logs}");

    let file = cap.join("capture-0.holter");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // Copied out as `kubectl holter` does (`kubectl exec … holter-agent cat`).
    let out = Command::new("podman")
        .args([
            "exec",
            &agent,
            "/holter-agent",
            "cat",
            "/holter/capture-0.holter",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == bytes,
        "holter-agent cat gave {} bytes of {}",
        out.stdout.len(),
        bytes.len()
    );

    let f = file.to_str().unwrap();
    let info: Value =
        serde_json::from_str(&ok_stdout("info", &holter(&["info", f, "--json"]))).unwrap();
    assert_eq!(info["target"]["kind"], "container", "{info}");
    assert_eq!(info["target"]["container_id"], id.as_str(), "{info}");
    // The options given to `kubectl holter manifest` are the agent's, in its header.
    let o = &info["options"];
    assert_eq!(o["interval_ns"], 250_000_000u64, "{info}");
    assert_eq!(o["max_size"], 64u64 << 20, "{info}");
    assert_eq!(o["frequency_hz"], 49, "{info}");
    assert_eq!(o["duration_ns"], 3_000_000_000u64, "{info}");
    let t: Value = serde_json::from_str(&ok_stdout(
        "throttling",
        &holter(&["throttling", f, "--json"]),
    ))
    .unwrap();
    assert!(
        t["cgroup"]
            .as_str()
            .unwrap()
            .ends_with(&format!("libpod-{id}")),
        "{t}"
    );
    assert_eq!(
        (t["quota_us"].as_u64(), t["period_us"].as_u64()),
        (Some(20000), Some(100000)),
        "{t}"
    );
    let field = |k: &str| t[k].as_u64().unwrap();
    let (periods, throttled, throttled_ns) = (
        field("periods"),
        field("throttled_periods"),
        field("throttled_ns"),
    );
    let kernel = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    eprintln!(
        "kube play: capture {periods} periods, {throttled} throttled, {throttled_ns} ns; kernel's cpu.stat over the pod's life {} periods, {} throttled, {} ns",
        kernel.0, kernel.1, kernel.2
    );
    // The capture's counters are differences of the same cpu.stat, over its
    // 3 s inside the pod's life: never more than the kernel's, most of them,
    // and throttled in the same proportion.
    assert!(
        periods <= kernel.0 && throttled <= kernel.1 && throttled_ns <= kernel.2,
        "{t}"
    );
    assert!(periods >= 25, "3 s of 100 ms periods: {periods}");
    let ours = throttled as f64 / periods as f64;
    let theirs = kernel.1 as f64 / kernel.0 as f64;
    assert!(
        (ours - theirs).abs() <= 0.1,
        "throttled {ours:.3} of periods in the capture, {theirs:.3} by the kernel"
    );
    assert!(
        ours >= 0.5,
        "a busy loop at 0.2 CPU is throttled in most periods: {ours:.3}"
    );
    let usage = t["usage_cores_avg"].as_f64().unwrap();
    assert!(
        (0.17..=0.21).contains(&usage),
        "usage {usage} cores under a 0.2 quota"
    );

    // Down: the pod and its containers are gone.
    let (yaml, conf) = cleanup.pod_yaml.take().unwrap();
    run_ok(
        "podman",
        &["kube", "down", yaml.to_str().unwrap()],
        &[("CONTAINERS_CONF", &conf)],
        Duration::from_secs(60),
    );
    let left = run_ok(
        "podman",
        &["ps", "-a", "--format", "{{.Names}}"],
        &[],
        Duration::from_secs(30),
    );
    assert!(!left.contains(&pod_name), "{left}");
}
