//! The e2e harness itself: the gate, the skip log, stale cgroups.

use std::process::Command;

use holter_e2e::*;

/// Does something only when run by `the_gate_fails_skips_when_set_and_logs_them_otherwise`.
#[test]
fn skip_probe() {
    if std::env::var_os("HOLTER_SKIP_PROBE").is_none() {
        return;
    }
    if require_tool("skip_probe", "holter-no-such-tool", "no-such-package").is_none() {
        return;
    }
    unreachable!("the tool does not exist");
}

#[test]
fn the_gate_fails_skips_when_set_and_logs_them_otherwise() {
    let dir = scratch("gate");
    let log = dir.path().join("skips");
    let probe = |gate: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "skip_probe", "--nocapture"])
            .env("HOLTER_SKIP_PROBE", "1")
            .env("HOLTER_SKIP_LOG", &log);
        match gate {
            Some(v) => cmd.env("HOLTER_REQUIRE_PRIVILEGED", v),
            None => cmd.env_remove("HOLTER_REQUIRE_PRIVILEGED"),
        };
        let out = run(
            "the skip probe",
            &mut cmd,
            std::time::Duration::from_secs(30),
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for gate in [Some("1"), Some("yes"), Some("true")] {
        let (ok, err) = probe(gate);
        assert!(
            !ok,
            "HOLTER_REQUIRE_PRIVILEGED={gate:?}: a skip must fail: {err}"
        );
        assert!(err.contains("holter-no-such-tool"), "{err}");
    }
    assert!(!log.exists(), "a failed skip is not logged as a skip");
    for gate in [None, Some(""), Some("0")] {
        let (ok, err) = probe(gate);
        assert!(
            ok,
            "HOLTER_REQUIRE_PRIVILEGED={gate:?}: a skip passes: {err}"
        );
        assert!(err.contains("SKIPPED skip_probe"), "{err}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 3, "{logged}");
    assert!(
        logged
            .lines()
            .all(|l| l.starts_with("skip_probe: holter-no-such-tool not installed")),
        "{logged}"
    );
}

#[test]
fn stale_cgroups_of_killed_runs_are_removed() {
    if !require_privileged("stale_cgroups_of_killed_runs_are_removed") {
        return;
    }
    // As a run killed mid-test leaves it: a cgroup named for a pid that is
    // gone (above pid_max), with a child directory and a live task in it.
    let name = format!("{CGROUP_PREFIX}stale-4194305-{}", std::process::id());
    let dirs: Vec<_> = [hierarchy_root("cpu"), cgroup2_root()]
        .into_iter()
        .filter(|r| r.join("cgroup.procs").exists())
        .map(|r| r.join(&name))
        .collect();
    assert!(!dirs.is_empty());
    let mut sleeper = spawn(std::path::Path::new("/bin/sleep"), &["30"]);
    for d in &dirs {
        std::fs::create_dir_all(d.join("child")).unwrap();
        std::fs::write(d.join("child/cgroup.procs"), sleeper.id().to_string()).unwrap();
    }
    // Its own cgroup is not stale: its owner (this process) lives.
    let live = Cgroup::new("live");
    remove_stale_cgroups();
    for d in &dirs {
        assert!(!d.exists(), "{} is left", d.display());
    }
    assert!(
        sleeper
            .wait_timeout(std::time::Duration::from_secs(5))
            .is_some(),
        "the task of the stale cgroup is killed"
    );
    for d in &live.dirs {
        assert!(d.is_dir(), "a live test's cgroup {} is kept", d.display());
    }
}
