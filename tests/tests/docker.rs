//! A real Docker engine (Debian's `docker.io`): the suite starts `dockerd`
//! when none runs (and stops what it started), imports a busybox image
//! offline (`docker import` of a rootfs, `FROM scratch` style), and records
//! containers as Docker users name them: by name, by id prefix, by full id.
//! The capture names the runtime and the container; its throttling is the
//! kernel's `cpu.stat` counters; pressure is shown on this VM's hybrid layout
//! (v1 controllers, PSI from cgroup2); a paused container is reported frozen
//! and does not hold the capture's end. Every container and image is removed,
//! even when the test fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use holter_e2e::*;
use serde_json::Value;

/// A docker client that talks to the engine: `docker` first in PATH may be
/// a newer client than Debian's engine accepts, so Debian's is the fallback.
fn client_works(cli: &Path) -> bool {
    Command::new(cli)
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// The engine: the one running, or a `dockerd` started here (stopped on
/// drop, with the parent cgroups and bridge it made).
struct Engine {
    cli: PathBuf,
    started: Option<Proc>,
    /// The docker parent cgroups there before dockerd started here (kept).
    cgroups_before: Vec<PathBuf>,
    bridge_made: bool,
}

/// The `docker` parent cgroup directories dockerd makes (cgroupfs driver).
fn docker_cgroups() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(CGROUP_ROOT)
        .map(|rd| {
            rd.filter_map(|e| Some(e.ok()?.path().join("docker")))
                .collect()
        })
        .unwrap_or_default();
    v.push(cgroup2_root().join("docker"));
    v.into_iter().filter(|p| p.is_dir()).collect()
}

impl Engine {
    fn get(test: &str) -> Option<Engine> {
        if !require_tools(
            test,
            &["dockerd", "busybox", "tar"],
            "docker.io busybox-static",
        ) {
            return None;
        }
        let clients: Vec<PathBuf> = [which("docker"), Some(PathBuf::from("/usr/bin/docker"))]
            .into_iter()
            .flatten()
            .filter(|p| p.is_file())
            .collect();
        if clients.is_empty() {
            skip(
                test,
                "docker not installed (Debian: docker.io; scripts/deps.sh installs it)",
            );
            return None;
        }
        let working = || clients.iter().find(|c| client_works(c)).cloned();
        if let Some(cli) = working() {
            return Some(Engine {
                cli,
                started: None,
                cgroups_before: Vec::new(),
                bridge_made: false,
            });
        }
        let cgroups_before = docker_cgroups();
        let bridge_before = Path::new("/sys/class/net/docker0").exists();
        let log =
            std::fs::File::create(std::env::temp_dir().join("holter-test-dockerd.log")).unwrap();
        let started = Proc::start(
            "dockerd",
            Command::new("dockerd")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut engine = Engine {
            cli: PathBuf::new(),
            started: Some(started),
            cgroups_before,
            bridge_made: false,
        };
        while Instant::now() < deadline {
            if let Some(cli) = working() {
                engine.cli = cli;
                engine.bridge_made = !bridge_before;
                return Some(engine);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        drop(engine);
        skip(
            test,
            "dockerd did not answer within 60 s (see /tmp/holter-test-dockerd.log)",
        );
        None
    }

    fn docker(&self, args: &[&str]) -> String {
        let what = format!("docker {}", args.join(" "));
        let out = run(
            &what,
            Command::new(&self.cli).args(args).stdin(Stdio::null()),
            Duration::from_secs(120),
        );
        ok_stdout(&what, &out).trim().to_string()
    }

    fn quiet(&self, args: &[&str]) {
        let _ = Command::new(&self.cli)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut d) = self.started.take() {
            // SIGTERM first: dockerd stops its containerd and cleans up.
            d.signal(libc::SIGTERM);
            if d.wait_timeout(Duration::from_secs(20)).is_none() {
                d.kill();
            }
            // Its parent cgroups (made empty by removing every container)
            // and its bridge, when it made them.
            for dir in docker_cgroups() {
                if !self.cgroups_before.contains(&dir) {
                    let _ = std::fs::remove_dir(&dir);
                }
            }
            if self.bridge_made {
                let _ = Command::new("ip")
                    .args(["link", "delete", "docker0"])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// An image and the containers made from it; dropping removes them all.
struct Fixture<'a> {
    engine: &'a Engine,
    image: String,
    containers: Vec<String>,
}

impl<'a> Fixture<'a> {
    fn new(engine: &'a Engine, dir: &Path) -> Fixture<'a> {
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(which("busybox").unwrap(), bin.join("busybox")).unwrap();
        for applet in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let tar = dir.join("rootfs.tar");
        let out = run(
            "tar",
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            Duration::from_secs(60),
        );
        ok_stdout("tar", &out);
        let f = Fixture {
            engine,
            image: format!("holter-test:{}", &random_id()[..12]),
            containers: Vec::new(),
        };
        f.engine
            .docker(&["import", tar.to_str().unwrap(), &f.image]);
        f
    }

    /// Starts a container named `name` running `script`; its full id.
    fn run(&mut self, name: &str, extra: &[&str], script: &str) -> String {
        self.containers.push(name.to_string());
        let mut args = vec!["run", "-d", "--name", name, "--network", "none"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&self.image, "/bin/sh", "-c", script]);
        let id = self.engine.docker(&args);
        assert_eq!(id.len(), 64, "docker run printed the id: {id:?}");
        id
    }
}

impl Drop for Fixture<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            self.engine.quiet(&["unpause", c]);
            self.engine.quiet(&["rm", "-f", c]);
        }
        self.engine.quiet(&["rmi", "-f", &self.image]);
    }
}

fn json(out: &std::process::Output, what: &str) -> Value {
    serde_json::from_str(&ok_stdout(what, out)).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The agent's summary line's count of cgroup snapshots.
fn summary_snapshots(out: &std::process::Output) -> u64 {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = all
        .lines()
        .find(|l| l.contains("holter-agent: wrote"))
        .unwrap_or_else(|| panic!("no summary in {all}"));
    let before = line.split(" cgroup snapshots").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_docker_container_by_name_prefix_and_id() {
    let test = "a_docker_container_by_name_prefix_and_id";
    let Some(engine) = Engine::get(test) else {
        return;
    };
    let dir = scratch("docker");
    let mut fx = Fixture::new(&engine, dir.path());
    let name = format!("holter-test-{}", &random_id()[..8]);
    let id = fx.run(
        &name,
        &["--cpus", "0.2", "--memory", "64m"],
        "while :; do :; done",
    );
    let cpu_stat = Path::new(CGROUP_ROOT)
        .join("cpu/docker")
        .join(&id)
        .join("cpu.stat");

    // By name: runtime and name in the header; snapshots counted alike everywhere.
    let f = dir.path().join("name.holter");
    let fs = f.to_str().unwrap();
    let before = keyed(&std::fs::read_to_string(&cpu_stat).unwrap());
    let out = agent(&[
        "record",
        "--container",
        &name,
        "--duration",
        "3s",
        "--interval",
        "250ms",
        "-o",
        fs,
    ]);
    ok_stdout("agent --container NAME", &out);
    let after = keyed(&std::fs::read_to_string(&cpu_stat).unwrap());
    let info = json(&holter(&["info", fs, "--json"]), "info");
    assert_eq!(info["target"]["container_id"], id.as_str(), "{info}");
    assert_eq!(info["target"]["runtime"], "docker", "{info}");
    assert_eq!(info["target"]["container_name"], name.as_str(), "{info}");
    let text = ok_stdout("info", &holter(&["info", fs]));
    assert!(
        text.contains(&format!("(runtime docker, name {name})")),
        "{text}"
    );

    // One count of snapshots: info, the report and the agent's summary.
    let n = info["cgroup_snapshots"].as_u64().unwrap();
    assert!(n >= 10, "3 s at 250 ms: {n}");
    assert_eq!(summary_snapshots(&out), n, "agent summary vs info");
    let md = ok_stdout(
        "report",
        &holter(&["report", fs, "--format", "markdown", "-o", "-"]),
    );
    assert!(
        md.contains(&format!("{n} cgroup (each reading")),
        "report count {n}:\n{md}"
    );
    assert!(
        md.contains("docker") && md.contains(&name),
        "report names runtime and name"
    );

    // Throttling is the kernel's cpu.stat: the report's totals are exactly
    // the differences of the first and last cpu.stat the capture holds, and
    // those lie between the kernel's readings before and after.
    let raw = json(&holter(&["info", fs, "--raw", "--json"]), "info --raw");
    let stats: Vec<BTreeMap<String, u64>> = raw["cgroup_snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["version"] == 1
                && s["controller"]
                    .as_str()
                    .unwrap()
                    .split(',')
                    .any(|c| c == "cpu")
        })
        .filter_map(|s| {
            s["files"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|f| (f[0] == "cpu.stat").then(|| keyed(f[1].as_str().unwrap())))
        })
        .collect();
    assert!(stats.len() >= 10, "{} cpu.stat readings", stats.len());
    let (first, last) = (&stats[0], &stats[stats.len() - 1]);
    let t = json(&holter(&["throttling", fs, "--json"]), "throttling");
    for (field, key) in [
        ("periods", "nr_periods"),
        ("throttled_periods", "nr_throttled"),
        ("throttled_ns", "throttled_time"),
    ] {
        assert_eq!(
            t[field].as_u64().unwrap(),
            last[key] - first[key],
            "{field} vs cpu.stat {key}: {t}"
        );
        assert!(
            before[key] <= first[key] && last[key] <= after[key],
            "{key}: kernel {before:?} .. {after:?}"
        );
    }
    assert_eq!(t["quota_cores"], 0.2, "{t}");
    assert!(t["throttled_pct"].as_f64().unwrap() >= 50.0, "{t}");
    eprintln!(
        "docker: {} of {} periods throttled, {} ns (kernel cpu.stat {:?} -> {:?})",
        t["throttled_periods"], t["periods"], t["throttled_ns"], first, last
    );
    // Pressure on the hybrid layout: PSI from the cgroup2 directory.
    let p = t["cpu_pressure_pct"].as_f64();
    assert!(
        p.is_some_and(|p| p > 10.0),
        "a throttled busy loop waits for the CPU: {t}"
    );
    assert!(
        t["sources"]["pressure"]
            .as_str()
            .unwrap()
            .starts_with("v2 "),
        "{t}"
    );
    assert!(
        t["sources"]["periods"].as_str().unwrap().contains(&id),
        "{t}"
    );
    let m = json(&holter(&["memory", fs, "--json"]), "memory");
    assert!(m["pressure"].is_object(), "memory pressure shown: {m}");
    assert_eq!(m["limit_bytes"], 64u64 << 20, "{m}");

    // By id prefix and by full id: the same container, named.
    for given in [&id[..12], id.as_str()] {
        let f = dir.path().join("id.holter");
        let fs = f.to_str().unwrap();
        ok_stdout(
            "agent --container ID",
            &agent(&[
                "record",
                "--container",
                given,
                "--duration",
                "1s",
                "--force",
                "-o",
                fs,
            ]),
        );
        let info = json(&holter(&["info", fs, "--json"]), "info");
        assert_eq!(
            info["target"]["container_id"],
            id.as_str(),
            "{given}: {info}"
        );
        assert_eq!(
            info["target"]["container_name"],
            name.as_str(),
            "{given}: {info}"
        );
        assert_eq!(info["target"]["runtime"], "docker");
    }

    // A name unknown: said, naming where names were looked for.
    let out = agent(&[
        "record",
        "--container",
        "holter-test-nosuch",
        "--duration",
        "1s",
        "-o",
        fs,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no running container named or with id `holter-test-nosuch`")
            && err.contains("/var/lib/docker"),
        "{err}"
    );
}

#[test]
fn a_paused_docker_container_is_reported_frozen() {
    let test = "a_paused_docker_container_is_reported_frozen";
    let Some(engine) = Engine::get(test) else {
        return;
    };
    let dir = scratch("docker-paused");
    let mut fx = Fixture::new(&engine, dir.path());
    // A name of hex digits only is a name, not a prefix.
    let name = random_id()[..12].to_string();
    let id = fx.run(&name, &["--cpus", "0.5"], "while :; do :; done");
    engine.docker(&["pause", &name]);
    let f = dir.path().join("paused.holter");
    let fs = f.to_str().unwrap();
    let t0 = Instant::now();
    ok_stdout(
        "agent on a paused container",
        &agent(&[
            "record",
            "--container",
            &name,
            "--syscalls",
            "--duration",
            "3s",
            "--interval",
            "250ms",
            "-o",
            fs,
        ]),
    );
    let took = t0.elapsed();
    // Detaching did not wait on the frozen threads (it took 6.1 s before).
    assert!(
        took < Duration::from_millis(4300),
        "a 3 s capture of a paused container took {took:?}"
    );
    let info = json(&holter(&["info", fs, "--json"]), "info");
    assert_eq!(info["target"]["container_id"], id.as_str());
    assert_eq!(info["samples"], 0, "nothing runs: {info}");
    let warnings = info["warnings"].to_string();
    assert!(warnings.contains("the target is frozen"), "{warnings}");
    let t = json(&holter(&["throttling", fs, "--json"]), "throttling");
    let frozen = t["frozen_s"].as_f64().unwrap();
    assert!(frozen >= 2.5, "frozen {frozen} s of 3: {t}");
    let text = ok_stdout("throttling", &holter(&["throttling", fs]));
    assert!(
        text.contains("frozen for") && text.contains("nothing ran"),
        "{text}"
    );
    let md = ok_stdout(
        "report",
        &holter(&["report", fs, "--format", "markdown", "-o", "-"]),
    );
    assert!(md.contains("nothing ran"), "{md}");

    // Unpaused, it runs untraced; paused during a capture, that is said too.
    engine.docker(&["unpause", &name]);
    let pid: u32 = engine
        .docker(&["inspect", "-f", "{{.State.Pid}}", &name])
        .parse()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("TracerPid:\t0"), "{status}");
    let f2 = dir.path().join("during.holter");
    let a = start_agent_ready(&[
        "record",
        "--container",
        &id[..12],
        "--duration",
        "3s",
        "--interval",
        "250ms",
        "-o",
        f2.to_str().unwrap(),
    ]);
    std::thread::sleep(Duration::from_millis(1000));
    engine.docker(&["pause", &name]);
    ok_stdout("agent", &a.finish(Duration::from_secs(30)));
    engine.docker(&["unpause", &name]);
    let info = json(&holter(&["info", f2.to_str().unwrap(), "--json"]), "info");
    let warnings = info["warnings"].to_string();
    assert!(
        warnings.contains("the target was frozen at +"),
        "{warnings}"
    );
    let t = json(
        &holter(&["throttling", f2.to_str().unwrap(), "--json"]),
        "throttling",
    );
    let frozen = t["frozen_s"].as_f64().unwrap();
    assert!(
        (0.5..=2.5).contains(&frozen),
        "paused after ~1 s of 3: frozen {frozen} s"
    );
}
