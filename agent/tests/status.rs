//! The live status line: drawn on a terminal (a pseudo-terminal made by
//! `script`), absent when stderr is a pipe; one summary line either way.

use std::process::Command;

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

#[test]
fn quiet_on_a_pipe_with_one_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.holter");
    let o = Command::new(env!("CARGO_BIN_EXE_holter-agent"))
        .args(["record", "--no-samples", "--interval", "100ms", "-o"])
        .arg(&out)
        .args(["--", "sleep", "0.6"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err:?}");
    assert!(!err.contains('\r') && !err.contains("recording"), "{err:?}");
    let want = format!("holter-agent: wrote {} (", out.display());
    assert!(lines[0].starts_with(&want), "{err}");
    assert!(
        lines[0].contains(" 0 samples, 0 syscalls, ")
            && lines[0].ends_with("ended by target exited)"),
        "{err}"
    );
}

/// A skip, by the rules of the e2e harness (tests/src/lib.rs): fails the test
/// under HOLTER_REQUIRE_PRIVILEGED (anything but empty or `0`), else is said on
/// stderr and logged to HOLTER_SKIP_LOG for scripts/test.sh to count.
fn skip(test: &str, why: &str) {
    let strict =
        std::env::var_os("HOLTER_REQUIRE_PRIVILEGED").is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        !strict,
        "{test}: HOLTER_REQUIRE_PRIVILEGED is set but {why}"
    );
    eprintln!("SKIPPED {test}: {why}");
    if let Some(log) = std::env::var_os("HOLTER_SKIP_LOG").filter(|v| !v.is_empty()) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open HOLTER_SKIP_LOG");
        writeln!(f, "{test}: {why}").expect("write HOLTER_SKIP_LOG");
    }
}

#[test]
fn live_on_a_terminal() {
    if !which("script") {
        skip(
            "live_on_a_terminal",
            "`script` (util-linux) is not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.holter");
    let cmd = format!(
        "{} record --no-samples --interval 100ms -o {} -- sleep 1.2",
        env!("CARGO_BIN_EXE_holter-agent"),
        out.display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it prints.
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    // Redrawn in place about 4 times a second: several frames in 1.2 s.
    let frames = text.matches("\rrecording ").count();
    assert!((3..=8).contains(&frames), "{frames} frames in {text:?}");
    assert!(
        text.contains("snapshots") && text.contains("(Ctrl-C stops)"),
        "{text:?}"
    );
    // The line is cleared before the summary.
    assert!(text.contains("\r\x1b[Kholter-agent: wrote "), "{text:?}");
}
