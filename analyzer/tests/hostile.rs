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
            vec!["compare", p, p],
            vec!["flamegraph", "--diff", p, p, "-o", o],
            vec!["export", p, "--format", "speedscope", "-o", o],
            vec!["export", p, "--format", "pprof", "-o", o],
            vec!["export", p, "--format", "firefox", "-o", o],
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
        // The exports, through the same locations.
        let out = dir.path().join(format!("{name}.pb.gz"));
        let r = holter(&[
            "export",
            path.to_str().unwrap(),
            "--format",
            "pprof",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{name}: {}", stderr(&r));
        assert!(
            stderr(&r).contains(&format!("holter: {samples} samples")),
            "{name}: {}",
            stderr(&r)
        );
    }
}

/// A character a terminal may act on: C0 controls but the line feed, DEL,
/// C1 controls, bidi and zero-width format characters.
fn hazard(c: char) -> bool {
    matches!(c,
        '\0'..='\u{9}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
        | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    if let Some((i, c)) = text.char_indices().find(|&(_, c)| hazard(c)) {
        panic!(
            "{what}: raw {c:?} at byte {i}: {:?}",
            &text[i.saturating_sub(60)..(i + 20).min(text.len())]
        );
    }
}

/// Markup the capture's strings carry, as it would read if unescaped.
const RAW_MARKUP: &[&str] = &[
    "<script>window",
    "<script>fetch",
    "<img",
    "<svg onload",
    "<style>*",
    "<a xlink",
    "<b>x</b>",
];

/// Every text subcommand, on captures full of escapes and extreme values:
/// stdout and stderr hold no raw control or format character; JSON parses.
#[test]
fn no_raw_control_character_reaches_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["xss", "extremes"] {
        let path = write(dir.path(), name);
        let p = path.to_str().unwrap();
        for args in [
            vec!["info", p],
            vec!["info", p, "--raw"],
            vec!["info", p, "--raw", "--json"],
            vec!["syscalls", p],
            vec!["syscalls", p, "--by-thread", "--slowest", "50"],
            vec!["throttling", p],
            vec!["memory", p],
            vec!["network", p],
            vec!["flamegraph", p, "--folded"],
            vec!["report", p, "--format", "markdown", "-o", "-"],
            vec!["info", p, "--json"],
            vec!["syscalls", p, "--json"],
            vec!["throttling", p, "--json"],
            vec!["memory", p, "--json"],
            vec!["network", p, "--json"],
            vec!["compare", p, p],
            vec!["compare", p, p, "--format", "markdown"],
            vec!["compare", p, p, "--json"],
            vec!["flamegraph", "--diff", p, p, "--folded"],
        ] {
            let r = holter(&args);
            let what = format!("{name} {args:?}");
            assert!(!stderr(&r).contains("panicked"), "{what}: {}", stderr(&r));
            assert_terminal_safe(&format!("{what} stdout"), &r.stdout);
            assert_terminal_safe(&format!("{what} stderr"), &r.stderr);
            if args.contains(&"--json") && r.status.success() {
                serde_json::from_slice::<serde_json::Value>(&r.stdout)
                    .unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
            }
            if name == "xss" && !args.contains(&"--json") {
                assert!(r.status.success(), "{what}: {}", stderr(&r));
                // The escapes are shown, not dropped.
                let out = String::from_utf8_lossy(&r.stdout);
                // A line break in a name cannot forge an output line.
                if args[0] != "report" {
                    for forged in ["break", "- [x] item", "<style>"] {
                        assert!(
                            !out.lines().any(|l| l.starts_with(forged)),
                            "{what}: a forged line {forged:?}:\n{out}"
                        );
                    }
                }
                if matches!(args[..], ["info", _] | ["flamegraph", ..]) {
                    assert!(out.contains("\\x1b"), "{what}: {out}");
                }
            }
        }
    }
}

/// The SVG parses as XML whatever the names hold, and carries no element or
/// attribute from the capture; the only script is inferno's own.
#[test]
fn svg_is_xml_without_capture_markup() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["xss", "extremes"] {
        let path = write(dir.path(), name);
        let svg = dir.path().join(format!("{name}.svg"));
        let r = holter(&[
            "flamegraph",
            path.to_str().unwrap(),
            "-o",
            svg.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{name}: {}", stderr(&r));
        let text = std::fs::read_to_string(&svg).unwrap();
        let xml = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(&text, xml)
            .unwrap_or_else(|e| panic!("{name}: the SVG is not XML: {e}"));
        let mut scripts = 0;
        for n in doc.descendants().filter(|n| n.is_element()) {
            let tag = n.tag_name().name();
            assert!(
                !matches!(tag, "img" | "a" | "iframe" | "foreignObject"),
                "{name}: <{tag}> in the SVG"
            );
            if tag == "style" {
                assert!(
                    !n.text().unwrap_or("").contains("*{display:none}"),
                    "{name}"
                );
            }
            if tag == "script" {
                scripts += 1;
                assert!(!n.text().unwrap_or("").contains("__pwned"), "{name}");
            }
            for a in n.attributes() {
                assert!(
                    !a.value().contains("__pwned") && !a.value().contains("javascript:"),
                    "{name}: attribute {}={:?}",
                    a.name(),
                    a.value()
                );
                assert!(a.name() != "onerror", "{name}");
            }
        }
        assert!(scripts <= 1, "{name}: {scripts} scripts");
        if name == "xss" {
            // The names are there, as text.
            assert!(text.contains("window.__pwned"), "{name}");
        }
    }
}

/// Markdown, rendered as GitHub does (GFM with autolinks): no link, image or
/// HTML comes from the capture; the names are there as text.
#[test]
fn markdown_holds_no_link_or_html_from_the_capture() {
    use comrak::nodes::NodeValue;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "xss");
    let r = holter(&[
        "report",
        path.to_str().unwrap(),
        "--format",
        "markdown",
        "-o",
        "-",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let md = String::from_utf8(r.stdout).unwrap();
    let arena = comrak::Arena::new();
    let mut opts = comrak::Options::default();
    opts.extension.table = true;
    opts.extension.autolink = true;
    opts.extension.strikethrough = true;
    opts.extension.tasklist = true;
    let root = comrak::parse_document(&arena, &md, &opts);
    let mut text = String::new();
    for node in root.descendants() {
        match &node.data.borrow().value {
            NodeValue::Link(l) => panic!("a link to {:?}", l.url),
            NodeValue::Image(l) => panic!("an image from {:?}", l.url),
            NodeValue::HtmlInline(h) => panic!("inline HTML {h:?}"),
            NodeValue::HtmlBlock(h) => panic!("an HTML block {:?}", h.literal),
            NodeValue::TaskItem(_) => panic!("a task item"),
            NodeValue::Text(t) => text.push_str(t),
            NodeValue::Code(c) => text.push_str(&c.literal),
            _ => {}
        }
    }
    opts.render.unsafe_ = true;
    let html = comrak::markdown_to_html(&md, &opts);
    for raw in RAW_MARKUP.iter().chain(&["<a ", "<img"]) {
        assert!(!html.contains(raw), "{raw} in {html}");
    }
    // Shown as text, markup and all.
    assert!(text.contains("<script>window.__pwned=1"), "{text}");
    assert!(text.contains("[click](javascript:alert(1))"), "{text}");
}

/// The HTML report escapes every string of the capture: none of its markup
/// appears raw (the browser test opens such a report in Chromium).
#[test]
fn html_holds_no_markup_from_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["xss", "extremes"] {
        let path = write(dir.path(), name);
        let out = dir.path().join(format!("{name}.html"));
        let r = holter(&[
            "report",
            path.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{name}: {}", stderr(&r));
        let html = std::fs::read_to_string(&out).unwrap();
        for raw in RAW_MARKUP {
            assert!(!html.contains(raw), "{name}: {raw} raw in the report");
        }
        assert!(
            !html.chars().any(|c| c != '\n' && hazard(c)),
            "{name}: a control character"
        );
        if name == "xss" {
            assert!(html.contains("&lt;script&gt;window.__pwned=1"), "{name}");
        }
    }
}

/// An output planted beside the capture as a symlink (`app.html ->
/// ~/.bashrc`) is refused with a message, and its target left as it was.
#[cfg(unix)]
#[test]
fn planted_symlinks_beside_the_capture_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "xss");
    let victim = dir.path().join("bashrc");
    std::fs::write(&victim, "safe").unwrap();
    for (ext, args) in [
        ("html", vec!["report"]),
        ("md", vec!["report", "--format", "markdown"]),
        ("svg", vec!["flamegraph"]),
    ] {
        let out = path.with_extension(ext);
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        let mut all = args.clone();
        all.push(path.to_str().unwrap());
        let r = holter(&all);
        assert!(!r.status.success(), "{args:?} wrote through the link");
        assert!(stderr(&r).contains("refusing to write"), "{}", stderr(&r));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "safe");
        // Once removed, the output is written.
        std::fs::remove_file(&out).unwrap();
        assert!(holter(&all).status.success());
        assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
    }
}

/// Runs `holter` with `args`, ended if it takes more than `limit`: a
/// crafted capture must not hold the analyzer for minutes. Its output goes
/// through files in `dir` (a pipe nobody reads while waiting would fill).
fn holter_within(dir: &Path, args: &[&str], limit: std::time::Duration) -> Output {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_holter"))
        .args(args)
        .env_remove("HOLTER_BUDGET")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("running holter");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("holter {args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// Running totals (format 1.14) of 200,000 counters and 200,000 syscalls,
/// each key written twice: the latest of each is read, each key once. They
/// were kept in lists searched for each key, so this 1 MB capture held
/// `holter info` for more than two minutes (stopped there); now well under
/// a second, and the limit here is 30 s.
#[test]
fn running_totals_of_many_keys_are_read_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "totals_200k");
    let p = path.to_str().unwrap();
    let limit = std::time::Duration::from_secs(30);
    let info = holter_within(dir.path(), &["info", p, "--json", "--budget", "1G"], limit);
    assert!(info.status.success(), "{}", stderr(&info));
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let counters = v["counters"].as_object().unwrap();
    assert_eq!(counters.len(), 200_000);
    assert!(counters.values().all(|c| c == 2), "the latest of each");
    let sys = holter_within(
        dir.path(),
        &["syscalls", p, "--json", "--budget", "1G"],
        limit,
    );
    assert!(sys.status.success(), "{}", stderr(&sys));
    let v: serde_json::Value = serde_json::from_slice(&sys.stdout).unwrap();
    let counted = v["counted_only"].as_array().unwrap();
    assert_eq!(counted.len(), 200_000);
    assert!(
        counted.iter().all(|t| t["count"] == 2),
        "the latest of each"
    );
}
