//! `kubectl-holter record` end to end against a fake `kubectl` on PATH
//! (tests/fake_kubectl.py) that serves fixtures/kubectl/ and records every
//! call: the pod read, the agent pod created (its YAML parsed back), the
//! capture copied out, and the agent pod deleted on success, on every error
//! and on SIGINT.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_yaml::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn capture_fixture() -> PathBuf {
    repo().join("fixtures/captures/format-1.10-all-kinds.holter")
}

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_kubectl.py"),
            bin.join("kubectl"),
        )
        .unwrap();
        let pods = dir.path().join("pods");
        std::fs::create_dir(&pods).unwrap();
        let fx = repo().join("fixtures/kubectl");
        for (name, file) in [
            ("web-7d9f", "containerd-single.json"),
            ("cart-5c6b", "crio-init-sidecar.json"),
            ("batch-0", "docker-multi.json"),
            ("web-new", "pending.json"),
        ] {
            std::fs::copy(fx.join(file), pods.join(format!("{name}.json"))).unwrap();
        }
        std::fs::copy(fx.join("list-web.json"), dir.path().join("list.json")).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        Fake { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, scenario: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-holter"));
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.args(args)
            .current_dir(self.path().join("out"))
            .env("PATH", path)
            .env_remove("HOLTER_KUBECTL")
            .env_remove("HOLTER_IMAGE")
            .env("FAKE_DIR", self.path())
            .env("FAKE_SCENARIO", scenario)
            .env("FAKE_CAPTURE", capture_fixture())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, scenario: &str, args: &[&str]) -> (Output, String) {
        let out = self.command(scenario, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out, stderr)
    }

    /// Every kubectl call, in order.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn verbs(&self) -> Vec<String> {
        self.calls().iter().map(|c| c[0].clone()).collect()
    }

    /// The agent pods created, by name, parsed.
    fn agents(&self) -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = std::fs::read_dir(self.path())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                let pod = name
                    .strip_prefix("agent-")?
                    .strip_suffix(".yaml")?
                    .to_string();
                let text = std::fs::read_to_string(self.path().join(&name)).unwrap();
                Some((pod, serde_yaml::from_str(&text).unwrap()))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn deleted(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c[0] == "delete")
            .map(|c| {
                assert_eq!(c[1], "pod");
                assert!(c.contains(&"--ignore-not-found".to_string()), "{c:?}");
                c[2].clone()
            })
            .collect()
    }

    fn out_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn command_of(agent: &Value, i: usize) -> Vec<String> {
    serde_yaml::from_value(agent["spec"]["containers"][i]["command"].clone()).unwrap()
}

#[test]
fn record_brings_the_capture_back_and_deletes_the_agent_pod() {
    let f = Fake::new();
    let (out, stderr) = f.run(
        "ok",
        &[
            "record",
            "web-7d9f",
            "-n",
            "shop",
            "--duration",
            "1s",
            "--frequency",
            "49",
            "--syscalls",
            "-o",
            "web.holter",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    let got = std::fs::read(f.path().join("out/web.holter")).unwrap();
    assert_eq!(got, std::fs::read(capture_fixture()).unwrap());
    // Only the capture: no temporary file left.
    assert_eq!(f.out_files(), ["web.holter"]);

    let calls = f.calls();
    assert_eq!(
        calls[0],
        ["get", "pod", "web-7d9f", "-n", "shop", "-o", "json"]
    );
    assert_eq!(calls[1], ["create", "-f", "-", "-o", "name"]);
    let agents = f.agents();
    assert_eq!(agents.len(), 1);
    let (name, pod) = &agents[0];
    assert!(name.starts_with("holter-web-7d9f-"), "{name}");
    assert_eq!(pod["metadata"]["namespace"].as_str(), Some("shop"));
    assert_eq!(pod["spec"]["nodeName"].as_str(), Some("node-a"));
    let id = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(b"appcontainerd"))
    };
    assert_eq!(
        command_of(pod, 0),
        [
            "/holter-agent",
            "record",
            "--container",
            id.as_str(),
            "--duration",
            "1s",
            "--frequency",
            "49",
            "--syscalls=ptrace",
            "-o",
            "/holter/capture-0.holter",
            "--linger",
            "600s"
        ]
    );
    let exec = calls
        .iter()
        .find(|c| c[0] == "exec")
        .expect("a kubectl exec");
    assert_eq!(
        exec[1..],
        [
            name.as_str(),
            "-n",
            "shop",
            "-c",
            "agent",
            "--",
            "/holter-agent",
            "cat",
            "/holter/capture-0.holter"
        ]
    );
    // The pod was waited for (Pending, then Running until the agent's mark), then deleted last.
    let verbs = f.verbs();
    assert!(
        verbs.iter().filter(|v| *v == "logs").count() >= 2,
        "{verbs:?}"
    );
    assert_eq!(verbs.last().map(String::as_str), Some("delete"));
    assert_eq!(f.deleted(), std::slice::from_ref(name));
    assert!(
        stderr.contains("shop/holter-web-7d9f-") && stderr.contains("Pending (ContainerCreating)"),
        "{stderr}"
    );
    assert!(stderr.contains("recording"), "{stderr}");
    assert!(
        stderr.contains("holter info web.holter")
            && stderr.contains("holter flamegraph web.holter"),
        "{stderr}"
    );
}

#[test]
fn default_file_name_is_the_pod_and_the_time() {
    let f = Fake::new();
    let (out, stderr) = f.run(
        "ok",
        &["record", "web-7d9f", "-n", "shop", "--duration", "1s"],
    );
    assert!(out.status.success(), "{stderr}");
    let files = f.out_files();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = &files[0];
    let stamp = name
        .strip_prefix("web-7d9f-")
        .and_then(|s| s.strip_suffix(".holter"))
        .unwrap();
    assert!(
        stamp.len() == 16
            && stamp.starts_with("20")
            && stamp.ends_with('Z')
            && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
    // An existing file is never overwritten: refused before anything starts.
    let (out, stderr) = f.run("ok", &["record", "web-7d9f", "-n", "shop", "-o", name]);
    assert!(!out.status.success());
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(f.verbs().iter().filter(|v| *v == "create").count(), 1);
}

#[test]
fn pod_not_found_and_not_running_start_nothing() {
    let f = Fake::new();
    let (out, stderr) = f.run("ok", &["record", "nope", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("pod nope in namespace shop: not found"),
        "{stderr}"
    );
    let (out, stderr) = f.run("ok", &["record", "web-new", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("shop/web-new is Pending, not Running (app: waiting: ContainerCreating)"),
        "{stderr}"
    );
    let (out, stderr) = f.run(
        "ok",
        &["record", "batch-0", "-n", "default", "-c", "logger"],
    );
    assert!(!out.status.success());
    assert!(stderr.contains("CrashLoopBackOff"), "{stderr}");
    assert!(
        !f.verbs().contains(&"create".to_string()),
        "{:?}",
        f.verbs()
    );
}

#[test]
fn no_permission_names_the_rbac_verb() {
    let f = Fake::new();
    let (out, stderr) = f.run("forbidden-create", &["record", "web-7d9f", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(stderr.contains("RBAC verb `create` on `pods`"), "{stderr}");
    assert!(stderr.contains("create on pods/exec"), "{stderr}");
    // Refused: nothing was made, nothing is deleted.
    assert!(f.deleted().is_empty(), "{:?}", f.calls());
    // Refused by Pod Security admission, not RBAC: said so, with the way out.
    let (out, stderr) = f.run("psa", &["record", "web-7d9f", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("admission policy refuses the agent pod")
            && stderr.contains("--agent-namespace"),
        "{stderr}"
    );
    assert!(!stderr.contains("RBAC verb"), "{stderr}");
    assert!(f.deleted().is_empty(), "{:?}", f.calls());
    let (out, stderr) = f.run("forbidden-list", &["record", "-l", "app=web", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(stderr.contains("RBAC verb `list` on `pods`"), "{stderr}");
}

#[test]
fn an_unreachable_cluster_is_said_in_kubectls_last_line() {
    let f = Fake::new();
    let (out, stderr) = f.run("unreachable", &["record", "web-7d9f", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("pod web-7d9f in namespace shop: kubectl failed (exit status: 1): The connection to the server localhost:8080 was refused"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("memcache"),
        "client-go's retries left out: {stderr}"
    );
}

#[test]
fn image_pull_failure_deletes_the_agent_pod() {
    let f = Fake::new();
    let (out, stderr) = f.run(
        "pull",
        &[
            "record",
            "web-7d9f",
            "-n",
            "shop",
            "--image",
            "nope/holter-agent",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("its image nope/holter-agent cannot be pulled (ErrImagePull"),
        "{stderr}"
    );
    assert_eq!(f.deleted().len(), 1);
    assert!(f.out_files().is_empty());
}

#[test]
fn agent_failure_shows_its_log_and_deletes_the_pod() {
    let f = Fake::new();
    let (out, stderr) = f.run("agent-fails", &["record", "web-7d9f", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(stderr.contains("failed, exit code 1; its log:"), "{stderr}");
    assert!(
        stderr.contains("| holter-agent: error: no container matches 0123456789ab"),
        "{stderr}"
    );
    assert_eq!(f.deleted().len(), 1);
    assert!(f.out_files().is_empty());
}

#[test]
fn a_missing_capture_is_an_error_and_leaves_no_file() {
    let f = Fake::new();
    let (out, stderr) = f.run(
        "garbage",
        &[
            "record",
            "web-7d9f",
            "-n",
            "shop",
            "--duration",
            "1s",
            "-o",
            "w.holter",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("no capture: /holter/capture-0.holter held 29 bytes, not a holter capture"),
        "{stderr}"
    );
    assert!(f.out_files().is_empty(), "{:?}", f.out_files());
    assert_eq!(f.deleted().len(), 1);
}

#[test]
fn sigint_while_recording_deletes_the_agent_pod() {
    let f = Fake::new();
    let child = f
        .command(
            "hang",
            &["record", "web-7d9f", "-n", "shop", "--duration", "30s"],
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !f.verbs().contains(&"logs".to_string()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never waited for the agent: {:?}",
            f.calls()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: a plain kill(2) of our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let sent = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "took {:?}",
        sent.elapsed()
    );
    assert!(!out.status.success());
    assert!(stderr.contains("interrupted"), "{stderr}");
    let deleted = f.deleted();
    assert_eq!(deleted.len(), 1, "{:?}", f.calls());
    assert_eq!(f.verbs().last().map(String::as_str), Some("delete"));
    assert!(
        stderr.contains(&format!("deleted agent pod shop/{}", deleted[0])),
        "{stderr}"
    );
    assert!(f.out_files().is_empty());
}

#[test]
fn a_selector_runs_one_agent_pod_per_node_and_brings_one_capture_per_pod() {
    let f = Fake::new();
    let (out, stderr) = f.run(
        "ok",
        &[
            "record",
            "-l",
            "app=web",
            "-n",
            "shop",
            "--duration",
            "1s",
            "-o",
            ".",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        f.calls()[0],
        ["get", "pods", "-l", "app=web", "-n", "shop", "-o", "json"]
    );
    // web-new is Pending: skipped with its reason.
    assert!(
        stderr.contains("skipped: pod shop/web-new is Pending"),
        "{stderr}"
    );
    let agents = f.agents();
    assert_eq!(agents.len(), 2, "node-a and node-c");
    let mut by_node: Vec<(String, usize)> = agents
        .iter()
        .map(|(_, p)| {
            (
                p["spec"]["nodeName"].as_str().unwrap().to_string(),
                p["spec"]["containers"].as_sequence().unwrap().len(),
            )
        })
        .collect();
    by_node.sort();
    assert_eq!(
        by_node,
        [("node-a".to_string(), 2), ("node-c".to_string(), 1)]
    );
    let files = f.out_files();
    assert_eq!(files.len(), 3, "{files:?}");
    for (f, pod) in files.iter().zip(["web-7d9f", "web-8e1a", "web-9f2b"]) {
        assert!(f.starts_with(&format!("shop-{pod}-")), "{f}");
    }
    let mut deleted = f.deleted();
    deleted.sort();
    let mut names: Vec<String> = agents.into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(deleted, names);
}

#[test]
fn manifest_prints_the_pod_record_would_create() {
    let f = Fake::new();
    let id = "e".repeat(64);
    let out = f
        .command(
            "ok",
            &[
                "manifest",
                "--node",
                "node-1",
                "--container",
                &format!("cri-o://{id}"),
                "--duration",
                "5s",
                "--syscalls=kernel",
                "--host-path",
                "/var/tmp/holter",
            ],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(v["spec"]["nodeName"].as_str(), Some("node-1"));
    assert_eq!(v["spec"]["restartPolicy"].as_str(), Some("Never"));
    assert_eq!(
        command_of(&v, 0),
        [
            "/holter-agent",
            "record",
            "--container",
            id.as_str(),
            "--duration",
            "5s",
            "--syscalls=kernel",
            "-o",
            "/holter/capture-0.holter",
            "--linger",
            "600s"
        ]
    );
    assert_eq!(
        v["spec"]["volumes"][3]["hostPath"]["path"].as_str(),
        Some("/var/tmp/holter")
    );
    // No kubectl needed, none run.
    assert!(f.calls().is_empty());
    let bad = f
        .command(
            "ok",
            &["manifest", "--node", "n", "--container", "abc; rm -rf /"],
        )
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected a runtime id"));
}

/// Every agent `record` option the plugin takes, with a value other than the
/// agent's default, and what the agent's command must then hold.
const ALL_OPTIONS: &[(&[&str], &[&str])] = &[
    (&["--frequency", "997"], &["--frequency", "997"]),
    (&["--nice", "-5"], &["--nice=-5"]),
    (&["--unwind", "fp"], &["--unwind=fp"]),
    (&["--stack-size", "8192"], &["--stack-size=8192"]),
    (&["--off-cpu"], &["--off-cpu"]),
    (&["--syscalls=kernel"], &["--syscalls=kernel"]),
    (
        &["--syscalls-filter", "openat, network"],
        &["--syscalls-filter=openat, network"],
    ),
    (&["--redact"], &["--redact"]),
    (&["--interval", "250ms"], &["--interval=250ms"]),
    (&["--max-size", "64M"], &["--max-size=67108864"]),
];

#[test]
fn every_record_option_reaches_the_agent_pod() {
    let f = Fake::new();
    let mut args = vec![
        "record",
        "web-7d9f",
        "-n",
        "shop",
        "--duration",
        "1.5s",
        "-o",
        "web.holter",
    ];
    let mut want = vec!["--duration", "1500ms"];
    for (given, passed) in ALL_OPTIONS {
        args.extend_from_slice(given);
        want.extend_from_slice(passed);
    }
    let (out, stderr) = f.run("ok", &args);
    assert!(out.status.success(), "{stderr}");
    let agents = f.agents();
    assert_eq!(agents.len(), 1);
    let cmd = command_of(&agents[0].1, 0);
    // Target first, the options (each one argv element, verbatim), then the
    // output and linger the plugin adds.
    assert_eq!(
        cmd[..4],
        ["/holter-agent", "record", "--container", &cmd[3]]
    );
    assert_eq!(cmd[4..cmd.len() - 4], want, "{cmd:?}");
    assert_eq!(
        cmd[cmd.len() - 4..],
        ["-o", "/holter/capture-0.holter", "--linger", "600s"]
    );

    // `manifest` takes the same options and writes the same command.
    let id = "e".repeat(64);
    let mut margs = vec![
        "manifest",
        "--node",
        "node-1",
        "--container",
        &id,
        "--duration",
        "1.5s",
    ];
    for (given, _) in ALL_OPTIONS {
        margs.extend_from_slice(given);
    }
    let out = f.command("ok", &margs).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    let mcmd = command_of(&v, 0);
    assert_eq!(mcmd[4..mcmd.len() - 4], want);

    // --no-samples (exclusive with --off-cpu) and plain --syscalls.
    let f = Fake::new();
    let (out, stderr) = f.run(
        "ok",
        &[
            "record",
            "web-7d9f",
            "-n",
            "shop",
            "--duration",
            "1s",
            "--no-samples",
            "--syscalls",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    let cmd = command_of(&f.agents()[0].1, 0);
    assert_eq!(
        cmd[4..cmd.len() - 4],
        ["--duration", "1s", "--no-samples", "--syscalls=ptrace"]
    );
}

#[test]
fn a_bad_option_value_fails_before_any_pod_is_made() {
    for (args, flag) in [
        (&["--interval", "5ms"][..], "--interval"),
        (&["--max-size", "lots"], "--max-size"),
        (&["--frequency", "0"], "--frequency"),
        (&["--nice", "-21"], "--nice"),
        (&["--unwind", "lbr"], "--unwind"),
        (&["--stack-size", "100"], "--stack-size"),
        (
            &["--syscalls", "--syscalls-filter", "$(reboot)"],
            "--syscalls-filter",
        ),
        (&["--syscalls-filter", "read"], "--syscalls"),
        (&["--off-cpu", "--no-samples"], "--no-samples"),
    ] {
        let f = Fake::new();
        let mut argv = vec!["record", "web-7d9f", "-n", "shop"];
        argv.extend_from_slice(args);
        let (out, stderr) = f.run("ok", &argv);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        // Refused before kubectl was ever run: no pod read, none created.
        assert!(f.calls().is_empty(), "{args:?}: {:?}", f.calls());
        assert!(f.out_files().is_empty());
    }
}
