//! Usage errors and bad targets, without privileges.

use std::process::Command;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_holter-agent"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    let o = agent(&["record", "-o", "/tmp/x.holter"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--pid"), "{}", stderr(&o));
    let o = agent(&[
        "record",
        "--pid",
        "1",
        "--duration",
        "ten",
        "-o",
        "/tmp/x.holter",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a duration"), "{}", stderr(&o));
}

#[test]
fn a_missing_pid_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.holter");
    let o = agent(&["record", "--pid", "4194303", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no process with pid 4194303"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
    assert!(
        !out.exists(),
        "no capture file for a target that does not exist"
    );
}

#[test]
fn a_missing_cgroup_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.holter");
    let o = agent(&[
        "record",
        "--cgroup",
        "/sys/fs/cgroup/cpu/no-such-holter-cgroup",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/sys/fs/cgroup/cpu/no-such-holter-cgroup does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_command_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.holter");
    let o = agent(&[
        "record",
        "-o",
        out.to_str().unwrap(),
        "--",
        "no-such-holter-command",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`no-such-holter-command` not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.holter");
    std::fs::write(&out, b"precious").unwrap();
    let me = std::process::id().to_string();
    let o = agent(&[
        "record",
        "--pid",
        &me,
        "--no-samples",
        "--duration",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already exists; pass --force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}
