//! `holter flamegraph --diff` and `holter compare` on two synthetic captures
//! of one program whose hot function moves: `main` (stack 1) in the base,
//! `leaf_c` (stack 5) in the new one; `app::work` (stack 2) stays at 20%.

mod common;

use common::*;
use holter_format::Record;

/// `hot` samples of stack `hot_stack` and `warm` samples of stack 2, spread over 4 s.
fn capture(hot_stack: u32, hot: u32, warm: u32) -> Vec<Record> {
    let mut r = metadata();
    r.extend(stacks());
    let n = hot + warm;
    for i in 0..n {
        let stack = if i < hot { hot_stack } else { 2 };
        r.push(sample(4.0 * f64::from(i) / f64::from(n), 100, 100, stack));
    }
    r
}

/// Base (80 samples: 64 in `main`) and new (40 samples: 32 in `leaf_c`).
fn pair(dir: &std::path::Path) -> (String, String) {
    let base = dir.join("base.holter");
    let new = dir.join("new.holter");
    write_capture(&base, &capture(1, 64, 16));
    write_capture(&new, &capture(5, 32, 8));
    (
        base.to_str().unwrap().to_string(),
        new.to_str().unwrap().to_string(),
    )
}

#[test]
fn diff_folded_is_normalized_and_the_moved_function_leads() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = pair(dir.path());
    let o = holter(&["flamegraph", "--diff", &base, &new, "--folded"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Base counts scaled by 40/80.
    assert_eq!(
        stdout(&o),
        "app;main 32 0\napp;main;app::work 8 8\napp;main;leaf_c 0 32\n"
    );
    let err = stderr(&o);
    assert!(
        err.contains("base 80 samples scaled to new 40 samples"),
        "{err}"
    );
    // The top changes: main lost its 80% share, leaf_c took it.
    let line = err
        .lines()
        .find(|l| l.contains("largest changes"))
        .expect(&err);
    assert!(
        line.ends_with(
            "largest changes (share of samples): +80.0 pts leaf_c (0.0% → 80.0%), -80.0 pts main (80.0% → 0.0%)"
        ),
        "{line}"
    );
    assert!(
        !line.contains("app::work"),
        "unchanged share listed: {line}"
    );
}

#[test]
fn diff_svg_defaults_next_to_the_new_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = pair(dir.path());
    let o = holter(&["flamegraph", "--diff", &base, &new]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = dir.path().join("new.diff.svg");
    assert_eq!(stdout(&o).trim(), path.to_str().unwrap());
    let svg = std::fs::read_to_string(&path).unwrap();
    roxmltree::Document::parse(&svg[svg.find("<svg").unwrap()..]).expect("well-formed SVG");
    assert!(
        svg.contains("leaf_c (32 samples, 80.00%; +80.00%)"),
        "{svg}"
    );
    assert!(
        svg.contains("holter diff: base.holter → new.holter"),
        "{svg}"
    );
}

#[test]
fn diff_needs_two_captures_with_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = pair(dir.path());
    let o = holter(&["flamegraph", "--diff", &base]);
    assert!(!o.status.success());
    let empty = dir.path().join("empty.holter");
    write_capture(&empty, &metadata());
    let o = holter(&[
        "flamegraph",
        "--diff",
        &base,
        empty.to_str().unwrap(),
        "--folded",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds no samples"), "{}", stderr(&o));
}

#[test]
fn compare_puts_the_moved_function_first_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = pair(dir.path());
    let o = holter(&["compare", &base, &new, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let caps = j["captures"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0]["label"], "A");
    assert_eq!(caps[1]["file"], new.as_str());
    assert_eq!(caps[0]["samples"], 80);
    assert_eq!(caps[1]["samples"], 40);
    assert_eq!(caps[0]["top_functions"][0]["function"], "main");
    assert_eq!(caps[0]["top_functions"][0]["pct"], 80.0);
    assert_eq!(caps[1]["top_functions"][0]["function"], "leaf_c");
    for key in [
        "target",
        "host",
        "duration_s",
        "cpu_cores",
        "throttled_pct",
        "memory_peak_bytes",
        "memory_limit_bytes",
        "oom_kills",
        "syscalls",
    ] {
        assert!(caps[0].get(key).is_some(), "{key}");
    }
    // The two top differences: main's share went, leaf_c's came.
    let d = j["differences"].as_array().unwrap();
    let top: Vec<&str> = d[..2].iter().map(|x| x["what"].as_str().unwrap()).collect();
    assert_eq!(top, ["function leaf_c", "function main"], "{d:?}");
    assert_eq!(d[1]["base"], "80.0%");
    assert_eq!(d[1]["value"], "0.0% (-80.0 pts)");
    assert!(
        !d.iter().any(|x| x["what"] == "function app::work"),
        "unchanged share marked: {d:?}"
    );
    assert_eq!(j["function_changes"][0]["capture"], "B");

    let text = holter(&["compare", &base, &new]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    eprintln!("{text}");
    assert!(
        text.starts_with(
            "verdict: Largest difference: function leaf_c in B: 80.0% (+80.0 pts) (A: 0.0%)."
        ),
        "{text}"
    );
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let lines: Vec<String> = text.lines().map(words).collect();
    assert!(lines.contains(&"main 80.0% 0.0%".to_string()), "{text}");
    assert!(
        lines.contains(&"app::work 20.0% 20.0%".to_string()),
        "{text}"
    );

    let md = stdout(&holter(&["compare", &base, &new, "--format", "markdown"]));
    assert!(md.starts_with("## holter compare: 2 captures"), "{md}");
    assert!(md.contains("| `leaf_c` |"), "{md}");
    let html = stdout(&holter(&["compare", &base, &new, "--format", "html"]));
    assert!(html.contains("script-src 'none'"), "{html}");
    assert!(html.contains("<span class=\"bad\">80.0%</span>"), "{html}");
}

#[test]
fn compare_needs_two_readable_captures() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = pair(dir.path());
    let o = holter(&["compare", &base]);
    assert!(!o.status.success());
    let bad = dir.path().join("bad.holter");
    std::fs::write(&bad, b"garbage").unwrap();
    let o = holter(&["compare", &base, bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bad.holter"), "{}", stderr(&o));
}
