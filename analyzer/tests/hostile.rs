//! Captures are untrusted input: hostile captures (tests/common/hostile.rs),
//! written with the format crate, run against every subcommand.
//!
//! - resource bombs end with an error naming the budget, or within it;
//! - no raw control character reaches a terminal;
//! - the SVG parses as XML; the HTML and Markdown hold no markup from the capture.

mod common;

#[path = "common/hostile.rs"]
mod hostile;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn holter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holter"))
        .args(args)
        .env_remove("HOLTER_BUDGET")
        .output()
        .expect("running holter")
}

fn write(dir: &Path, name: &str) -> PathBuf {
    let (_, f, _) = hostile::ALL.iter().find(|c| c.0 == name).unwrap();
    let path = dir.join(format!("{name}.holter"));
    f(&path);
    path
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Small files that expand to gigabytes are refused at their budget, by
/// every subcommand, with a message naming the budget and how to raise it.
#[test]
fn bombs_stop_at_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sample_bomb", "string_bomb", "deep_stacks"] {
        let path = write(dir.path(), name);
        let p = path.to_str().unwrap();
        let out = dir.path().join("out");
        let o = out.to_str().unwrap();
        for args in [
            vec!["info", p],
            vec!["info", p, "--json"],
            vec!["syscalls", p],
            vec!["throttling", p],
            vec!["memory", p],
            vec!["network", p],
            vec!["flamegraph", p, "-o", o],
            vec!["report", p, "-o", o],
        ] {
            let r = holter(&args);
            let err = stderr(&r);
            assert!(!r.status.success(), "{name} {args:?} succeeded");
            assert!(
                err.contains("budget of") && err.contains("--budget SIZE"),
                "{name} {args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{name} {args:?}: {err}");
        }
    }
}

/// The budget is an option: raised, a dense capture loads; the error names
/// the budget given.
#[test]
fn budget_can_be_raised_or_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "xss");
    let p = path.to_str().unwrap();
    assert!(holter(&["info", p]).status.success());
    let low = holter(&["info", p, "--budget", "4k"]);
    assert!(!low.status.success());
    assert!(stderr(&low).contains("budget of 4 KiB"), "{}", stderr(&low));
    let env = Command::new(env!("CARGO_BIN_EXE_holter"))
        .args(["info", p])
        .env("HOLTER_BUDGET", "4k")
        .output()
        .unwrap();
    assert!(stderr(&env).contains("budget of 4 KiB"), "{}", stderr(&env));
    let bomb = write(dir.path(), "sample_bomb");
    let raised = holter(&["info", bomb.to_str().unwrap(), "--budget", "1G", "--json"]);
    assert!(raised.status.success(), "{}", stderr(&raised));
    let v: serde_json::Value = serde_json::from_slice(&raised.stdout).unwrap();
    assert_eq!(v["samples"], 4_000_000);
}

/// Many epochs, a `0..u64::MAX` mapping among 160k, overlapping mappings:
/// every subcommand finishes (the fold groups by a hash of contexts, mappings
/// are looked up in one sweep per process), the flame graph with every sample.
#[test]
fn epochs_and_mappings_fold() {
    let dir = tempfile::tempdir().unwrap();
    for (name, samples) in [
        ("epochs_200k", 200_000),
        ("mappings_160k", 20_000),
        ("overlapping", 20_000),
    ] {
        let path = write(dir.path(), name);
        let r = holter(&["flamegraph", path.to_str().unwrap(), "--folded"]);
        assert!(r.status.success(), "{name}: {}", stderr(&r));
        let total: u64 = String::from_utf8_lossy(&r.stdout)
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, samples, "{name}");
    }
}
