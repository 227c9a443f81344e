//! `holter export`: speedscope files valid by speedscope's own schema, pprof
//! files read by `go tool pprof`, with the call trees the captures hold.

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use holter_format::*;

fn export(cap: &Path, format: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        cap.to_str().unwrap(),
        "--format",
        format,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    holter(&args)
}

fn export_ok(cap: &Path, format: &str, out: &Path, extra: &[&str]) {
    let o = export(cap, format, out, extra);
    assert!(o.status.success(), "holter export failed: {}", stderr(&o));
}

fn speedscope_json(cap: &Path, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    export_ok(cap, "speedscope", &out, extra);
    serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("the export is JSON")
}

/// The schema speedscope 1.25.0 publishes (fixtures/README.md).
fn assert_valid_speedscope(v: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("speedscope/file-format-schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid speedscope file: {errors:#?}");
}

/// Frame names of a speedscope sample, root first.
fn names(v: &serde_json::Value, sample: &serde_json::Value) -> Vec<String> {
    let frames = v["shared"]["frames"].as_array().unwrap();
    sample
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            frames[i.as_u64().unwrap() as usize]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn speedscope_validates_against_speedscopes_schema() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("std.holter");
    write_capture(&cap, &standard());
    let v = speedscope_json(&cap, &[]);
    assert_valid_speedscope(&v);
    // And the real capture of a workload.
    let v = speedscope_json(&fixtures().join("exports/calltree321.holter"), &[]);
    assert_valid_speedscope(&v);
    // The control: a file the schema must refuse is refused (a sampled
    // profile without weights).
    let mut bad = v.clone();
    bad["profiles"][0]
        .as_object_mut()
        .unwrap()
        .remove("weights");
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("speedscope/file-format-schema.json")).unwrap(),
    )
    .unwrap();
    assert!(!jsonschema::is_valid(&schema, &bad));
}

#[test]
fn speedscope_has_one_sampled_profile_per_thread() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("std.holter");
    write_capture(&cap, &standard());
    let v = speedscope_json(&cap, &[]);
    assert_eq!(
        v["$schema"],
        "https://www.speedscope.app/file-format-schema.json"
    );
    let profiles = v["profiles"].as_array().unwrap();
    let titles: Vec<&str> = profiles
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "app (pid 100, tid 100)",
            "app (pid 100, tid 101 worker)",
            "jitted (pid 200, tid 200)"
        ]
    );
    // The main thread: 3 samples in main (one sample of 3 periods: the same
    // stack in a row), then foo::bar's syscall, libc, leaf_c.
    let main = &profiles[0];
    assert_eq!(main["type"], "sampled");
    assert_eq!(main["unit"], "nanoseconds");
    let stacks: Vec<Vec<String>> = main["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| names(&v, s))
        .collect();
    assert_eq!(
        stacks,
        [
            vec!["main"],
            vec![
                "main",
                "app::work",
                "foo::bar(int)",
                "do_syscall_64",
                "ksys_write"
            ],
            vec!["main", "libc.so.6+0x123"],
            vec!["main", "leaf_c"],
        ]
    );
    let weights: Vec<u64> = main["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    assert_eq!(
        weights,
        [3 * 10_101_010, 10_101_010, 10_101_010, 10_101_010]
    );
    assert_eq!(main["endValue"], 6 * 10_101_010u64);
    // Frames are shared: `main` is one frame for both threads of app.
    let frames = v["shared"]["frames"].as_array().unwrap();
    assert_eq!(frames.iter().filter(|f| f["name"] == "main").count(), 1);
    let k = frames.iter().find(|f| f["name"] == "ksys_write").unwrap();
    assert_eq!(k["file"], "[kernel.kallsyms]");
    let m = frames.iter().find(|f| f["name"] == "main").unwrap();
    assert_eq!(m["file"], "app");

    // The flame graph's filters select the same way.
    let v = speedscope_json(&cap, &["--tid", "101"]);
    assert_eq!(v["profiles"].as_array().unwrap().len(), 1);
    let v = speedscope_json(&cap, &["--comm", "jitted"]);
    assert_eq!(v["profiles"][0]["name"], "jitted (pid 200, tid 200)");
    let v = speedscope_json(&cap, &["--from", "2", "--to", "3"]);
    let n: usize = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["samples"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 2, "the samples at 2.0, 2.5 (merged) and 3.0 s");
}

/// A capture whose names carry JSON, terminal and HTML hazards.
fn hostile_capture(path: &Path) {
    let mut r = vec![
        process(100, "ev\"il\u{1b}[31m</script>"),
        thread(100, 100, "t\n\\x"),
        mapping(
            0,
            100,
            APP_BASE,
            APP_BASE + 0x2000,
            APP_PGOFF,
            "/tmp/\"x\u{7}",
            &[0xaa],
        ),
        Record::BinarySymbols(BinarySymbols {
            build_id: vec![0xaa],
            path: "/tmp/\"x\u{7}".into(),
            segments: vec![Segment {
                file_offset: APP_PGOFF,
                vaddr: APP_SEG_VADDR,
                filesz: 0x2000,
            }],
            symbols: vec![
                sym(0x40_1000, 0x100, "main\u{1b}]0;pwned\u{7}"),
                sym(0x40_1100, 0x100, &"x".repeat(100_000)),
            ],
            unnamed: vec![],
        }),
        stack(1, &[app(0x40_1110), app(0x40_1020)], &[]),
    ];
    r.extend((0..5).map(|i| sample(i as f64 * 0.1, 100, 100, 1)));
    write_capture(path, &r);
}

#[test]
fn hostile_names_stay_data() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("evil.holter");
    hostile_capture(&cap);
    let v = speedscope_json(&cap, &[]);
    assert_valid_speedscope(&v);
    let frames = v["shared"]["frames"].as_array().unwrap();
    let main = frames[0]["name"].as_str().unwrap();
    assert_eq!(
        main, "main\\x1b]0;pwned\\x07",
        "control characters made visible"
    );
    let long = frames[1]["name"].as_str().unwrap();
    assert!(
        long.len() <= holter::export::MAX_NAME + 3,
        "names are bounded"
    );
    let title = v["profiles"][0]["name"].as_str().unwrap();
    assert!(!title.chars().any(|c| c.is_control()), "{title:?}");

    let Some(go) = go("hostile_names_stay_data") else {
        return;
    };
    let pb = dir.path().join("evil.pb.gz");
    export_ok(&cap, "pprof", &pb, &[]);
    let top = pprof_top(&go, &pb, &[]);
    assert!(top.contains("main\\x1b]0;pwned\\x07"), "{top}");
    assert!(!top.contains('\u{1b}') && !top.contains('\u{7}'), "{top}");
}

#[test]
fn export_refuses_bad_input_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    // No such file.
    let o = export(&dir.path().join("nope.holter"), "speedscope", &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
    // Garbage.
    let junk = dir.path().join("junk.holter");
    std::fs::write(&junk, b"not a capture at all").unwrap();
    let o = export(&junk, "pprof", &out, &[]);
    assert!(
        !o.status.success() && !stderr(&o).contains("panicked"),
        "{}",
        stderr(&o)
    );
    // A filter no sample matches.
    let cap = dir.path().join("std.holter");
    write_capture(&cap, &standard());
    let o = export(&cap, "speedscope", &out, &["--pid", "999"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no sample matches --pid 999"),
        "{}",
        stderr(&o)
    );
    // No samples at all.
    let empty = dir.path().join("empty.holter");
    write_capture(&empty, &metadata());
    let o = export(&empty, "pprof", &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds no samples"), "{}", stderr(&o));
    // An export past the budget is refused, not written.
    let o = holter(&[
        "export",
        cap.to_str().unwrap(),
        "--format",
        "speedscope",
        "-o",
        out.to_str().unwrap(),
        "--budget",
        "200",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("budget"), "{}", stderr(&o));
    assert!(!out.exists());
    // The default output sits next to the capture.
    let o = holter(&["export", cap.to_str().unwrap(), "--format", "pprof"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        dir.path().join("std.pb.gz").to_str().unwrap()
    );
}

/// `go`, or None (a skip, a failure under HOLTER_REQUIRE_PRIVILEGED).
fn go(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("go"))
            .find(|g| g.is_file())
    });
    if found.is_none() {
        let why =
            "go is not installed (Debian: apt-get install golang-go; scripts/deps.sh does it)";
        let required = std::env::var_os("HOLTER_REQUIRE_PRIVILEGED")
            .is_some_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "{test}: HOLTER_REQUIRE_PRIVILEGED is set but {why}"
        );
        eprintln!("{test}: skipped: {why}");
    }
    found
}

fn pprof_top(go: &Path, pb: &Path, extra: &[&str]) -> String {
    let o = Command::new(go)
        .args(["tool", "pprof", "-top"])
        .args(extra)
        .arg(pb)
        .output()
        .expect("run go tool pprof");
    assert!(
        o.status.success(),
        "go tool pprof failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `name -> (flat, cum)` from `go tool pprof -top -sample_index=samples`.
fn top_counts(top: &str) -> std::collections::HashMap<String, (u64, u64)> {
    top.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || !f[1].ends_with('%') {
                return None;
            }
            Some((f[5..].join(" "), (f[0].parse().ok()?, f[3].parse().ok()?)))
        })
        .collect()
}

/// main → work_a / work_b / work_c, 30:20:10 samples over two threads.
fn calltree_capture(path: &Path) {
    let mut r = vec![
        process(100, "tree"),
        thread(100, 100, "tree"),
        thread(100, 101, "helper"),
        mapping(
            0,
            100,
            APP_BASE,
            APP_BASE + 0x2000,
            APP_PGOFF,
            "/usr/bin/tree",
            &[0xde, 0xad],
        ),
        Record::BinarySymbols(BinarySymbols {
            build_id: vec![0xde, 0xad],
            path: "/usr/bin/tree".into(),
            segments: vec![Segment {
                file_offset: APP_PGOFF,
                vaddr: APP_SEG_VADDR,
                filesz: 0x2000,
            }],
            symbols: vec![
                sym(0x40_1000, 0x100, "main"),
                sym(0x40_1100, 0x100, "work_a"),
                sym(0x40_1200, 0x100, "work_b"),
                sym(0x40_1300, 0x100, "work_c"),
            ],
            unnamed: vec![],
        }),
        stack(1, &[app(0x40_1110), app(0x40_1020)], &[]),
        stack(2, &[app(0x40_1210), app(0x40_1030)], &[]),
        stack(3, &[app(0x40_1310), app(0x40_1040)], &[]),
    ];
    let mut t = 0.0;
    for (stack, n) in [(1, 30), (2, 20), (3, 10)] {
        for i in 0..n {
            t += 0.01;
            r.push(sample(t, 100, 100 + (i % 2), stack));
        }
    }
    write_capture(path, &r);
}

#[test]
fn pprof_is_read_by_go_tool_pprof_with_the_3_2_1_tree() {
    let Some(go) = go("pprof_is_read_by_go_tool_pprof_with_the_3_2_1_tree") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("tree.holter");
    calltree_capture(&cap);
    let pb = dir.path().join("tree.pb.gz");
    export_ok(&cap, "pprof", &pb, &[]);
    // Gzipped.
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&pb).unwrap())
        .read_to_end(&mut raw)
        .expect("a gzip file");

    let top = pprof_top(&go, &pb, &["-sample_index=samples"]);
    let c = top_counts(&top);
    assert_eq!(c.get("work_a"), Some(&(30, 30)), "{top}");
    assert_eq!(c.get("work_b"), Some(&(20, 20)), "{top}");
    assert_eq!(c.get("work_c"), Some(&(10, 10)), "{top}");
    assert_eq!(c.get("main"), Some(&(0, 60)), "{top}");
    // CPU time: 60 periods of 10.10101 ms; the default sample type.
    let top = pprof_top(&go, &pb, &[]);
    assert!(top.contains("Type: cpu"), "{top}");
    assert!(top.contains("of 606.06ms total"), "{top}");
    // The call tree: each work_* called by main.
    let o = Command::new(&go)
        .args(["tool", "pprof", "-traces", "-sample_index=samples"])
        .arg(&pb)
        .output()
        .unwrap();
    let traces = String::from_utf8_lossy(&o.stdout);
    for (f, n) in [("work_a", 15), ("work_b", 10), ("work_c", 5)] {
        // Per thread: half of each on tid 100, half on tid 101.
        let want = format!("{n:>10}   {f}\n{:>13}main", "");
        assert!(
            traces.matches(&want).count() == 2,
            "{f}: wanted twice:\n{want}\nin\n{traces}"
        );
    }
    // Mappings carry the build-id; samples their thread.
    let o = Command::new(&go)
        .args(["tool", "pprof", "-raw"])
        .arg(&pb)
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&o.stdout);
    assert!(raw.contains("/usr/bin/tree dead"), "{raw}");
    assert!(
        raw.contains("tid:[101]") && raw.contains("pid:[100]"),
        "{raw}"
    );
}

#[test]
fn pprof_of_a_recorded_3_2_1_workload() {
    let Some(go) = go("pprof_of_a_recorded_3_2_1_workload") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("calltree321.pb.gz");
    export_ok(
        &fixtures().join("exports/calltree321.holter"),
        "pprof",
        &pb,
        &[],
    );
    let top = pprof_top(&go, &pb, &["-sample_index=samples"]);
    let c = top_counts(&top);
    let total = c["main"].1 as f64;
    assert!(total >= 1000.0, "{top}");
    // burn is the leaf of all three; each work_* holds its share.
    assert!(c["burn"].0 as f64 >= 0.98 * total, "{top}");
    for (f, share) in [
        ("work_a", 3.0 / 6.0),
        ("work_b", 2.0 / 6.0),
        ("work_c", 1.0 / 6.0),
    ] {
        let got = c[f].1 as f64 / total;
        assert!(
            (got - share).abs() < 0.03,
            "{f}: {got:.3} of the samples, not {share:.3}:\n{top}"
        );
    }
}
