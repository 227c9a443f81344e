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

/// The standard capture, plus syscalls on both app threads and a v1 cgroup
/// throttled in two of its intervals, with an OOM kill in a third.
fn firefox_capture(path: &Path) {
    let (h, r) = firefox_records();
    write_capture_with(path, h, &r);
}

/// The records of [`firefox_capture`]: the standard capture with syscalls,
/// throttling and an OOM kill.
fn firefox_records() -> (Header, Vec<Record>) {
    let mut r = standard();
    for (i, tid) in [100u32, 101, 100].into_iter().enumerate() {
        r.push(Record::Syscall(Syscall {
            time_ns: T0 + SEC + i as u64 * SEC,
            pid: 100,
            tid,
            nr: 1, // write on x86_64
            duration_ns: 80_000_000,
            ret: if i == 1 { -9 } else { 4096 },
            summary: format!("fd=1\u{1b}[2J, {i}"),
            abi: "x86_64".into(),
        }));
    }
    for tick in 0..=4u64 {
        // Throttled 30 ms in (1 s, 2 s] and 50 ms in (3 s, 4 s].
        let throttled = match tick {
            0 | 1 => 0,
            2 | 3 => 30_000_000,
            _ => 80_000_000,
        };
        let nr_throttled = throttled / 10_000_000;
        r.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: T0 + tick * SEC,
            path: "/box".into(),
            version: 1,
            controller: "cpu".into(),
            files: vec![
                (
                    "cpu.stat".into(),
                    format!(
                        "nr_periods {}\nnr_throttled {nr_throttled}\nthrottled_time {throttled}\n",
                        tick * 10
                    ),
                ),
                ("cpu.cfs_quota_us".into(), "20000\n".into()),
                ("cpu.cfs_period_us".into(), "100000\n".into()),
            ],
        }));
        r.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: T0 + tick * SEC,
            path: "/box".into(),
            version: 1,
            controller: "memory".into(),
            files: vec![
                ("memory.usage_in_bytes".into(), "1000000\n".into()),
                ("memory.limit_in_bytes".into(), "2000000\n".into()),
                (
                    "memory.oom_control".into(),
                    format!(
                        "oom_kill_disable 0\nunder_oom 0\noom_kill {}\n",
                        u64::from(tick >= 3)
                    ),
                ),
            ],
        }));
    }
    let mut h = header();
    h.host.arch = "x86_64".into();
    h.options.frequency_hz = 99;
    (h, r)
}

struct FxThread {
    name: String,
    pid: String,
    tid: String,
    /// (ms since the start, stack names root first)
    samples: Vec<(f64, Vec<String>)>,
    /// (name, start ms, end ms, data)
    markers: Vec<(String, f64, f64, serde_json::Value)>,
    /// The thread's strings (marker fields of string formats index them).
    strings: Vec<String>,
}

/// The threads of a processed profile, every index checked to point inside
/// its table as the Firefox Profiler's processing reads them.
fn fx_threads(v: &serde_json::Value) -> Vec<FxThread> {
    let u = |x: &serde_json::Value| x.as_u64().expect("an index") as usize;
    v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let strings: Vec<&str> = t["stringArray"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            let (st, ft, fu) = (&t["stackTable"], &t["frameTable"], &t["funcTable"]);
            let n_stacks = u(&st["length"]);
            assert_eq!(st["prefix"].as_array().unwrap().len(), n_stacks);
            assert_eq!(st["frame"].as_array().unwrap().len(), n_stacks);
            let n_frames = u(&ft["length"]);
            assert_eq!(ft["func"].as_array().unwrap().len(), n_frames);
            assert_eq!(ft["category"].as_array().unwrap().len(), n_frames);
            let n_funcs = u(&fu["length"]);
            assert_eq!(fu["name"].as_array().unwrap().len(), n_funcs);
            let names = |mut s: usize| {
                let mut out = Vec::new();
                loop {
                    assert!(s < n_stacks);
                    let f = u(&st["frame"][s]);
                    assert!(f < n_frames);
                    let func = u(&ft["func"][f]);
                    assert!(func < n_funcs);
                    out.push(strings[u(&fu["name"][func])].to_string());
                    match st["prefix"][s].as_u64() {
                        Some(p) => {
                            assert!((p as usize) < s, "a prefix comes before its stack");
                            s = p as usize;
                        }
                        None => break,
                    }
                }
                out.reverse();
                out
            };
            let sm = &t["samples"];
            let n = u(&sm["length"]);
            assert_eq!(sm["stack"].as_array().unwrap().len(), n);
            let deltas = sm["timeDeltas"].as_array().unwrap();
            assert_eq!(deltas.len(), n);
            let mut time = 0.0;
            let samples = (0..n)
                .map(|i| {
                    time += deltas[i].as_f64().unwrap();
                    (time, names(u(&sm["stack"][i])))
                })
                .collect();
            let mk = &t["markers"];
            let markers = (0..u(&mk["length"]))
                .map(|i| {
                    let (a, z) = (
                        mk["startTime"][i].as_f64().unwrap(),
                        mk["endTime"][i].as_f64().unwrap(),
                    );
                    assert!(a <= z);
                    (
                        strings[u(&mk["name"][i])].to_string(),
                        a,
                        z,
                        mk["data"][i].clone(),
                    )
                })
                .collect();
            FxThread {
                name: t["name"].as_str().unwrap().into(),
                pid: t["pid"].as_str().unwrap().into(),
                tid: t["tid"].as_str().unwrap().into(),
                samples,
                markers,
                strings: strings.iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect()
}

/// What the Firefox Profiler's import of a processed profile relies on,
/// as its source reads it (firefox-devtools/profiler:
/// `src/profile-logic/process-profile.ts` `unserializeProfileOfArbitraryFormat`
/// and `src/profile-logic/processed-profile-versioning.ts`, read for issue 18;
/// the checks are ours). The import takes a JSON object as a processed
/// profile when `meta` is an object and `meta.preprocessedProfileVersion` a
/// number (otherwise it tries Chrome, dhat, then Gecko formats); refuses a
/// version above its own; and upgrades an older one step by step, each
/// upgrader reading columns of every thread without checking them: from 55,
/// v56 (one shared string array: markers' names and data types, every
/// marker schema's `fields` and their formats, funcTable name and fileName,
/// nativeSymbols name, resourceTable name and host), v57 (schema fields),
/// v58 (funcTable fileName into a sources table), v59 (frameTable
/// innerWindowID, markers' data), v60 (every thread's stack, frame, func,
/// resource and native symbol tables merged into shared ones, column by
/// column; samples' stacks and markers' cause stacks shifted), v61-v63
/// (shared tables, counters). A missing column there is a TypeError, and
/// the profile fails to load; an index out of its table is a wrong call
/// tree. Returns every problem found (empty: loadable).
fn processed_profile_problems(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let mut p = Vec::new();
    let Some(meta) = v["meta"].as_object() else {
        return vec!["meta is not an object: not taken as a processed profile".into()];
    };
    match meta
        .get("preprocessedProfileVersion")
        .and_then(Value::as_u64)
    {
        // The version the importer upgrades from: 55 from the crate; the
        // profiler's own is 63 in the source read (upgraders 56 to 63).
        Some(55) => {}
        other => p.push(format!("preprocessedProfileVersion {other:?}, want 55")),
    }
    for key in ["interval", "startTime"] {
        if !meta.get(key).is_some_and(Value::is_number) {
            p.push(format!("meta.{key} is not a number"));
        }
    }
    // Categories: each a name, a color and subcategories starting with
    // "Other"; a grey one is the default category stacks fall back to.
    let categories = meta.get("categories").and_then(Value::as_array);
    let subcats: Vec<usize> = categories
        .map(|cs| {
            cs.iter()
                .map(|c| c["subcategories"].as_array().map_or(0, Vec::len))
                .collect()
        })
        .unwrap_or_default();
    match categories {
        None => p.push("meta.categories missing".into()),
        Some(cs) => {
            if !cs.iter().any(|c| c["color"] == "grey") {
                p.push("no grey (default) category".into());
            }
            for c in cs {
                if !c["name"].is_string()
                    || !c["color"].is_string()
                    || c["subcategories"][0] != "Other"
                {
                    p.push(format!("category {c}"));
                }
            }
        }
    }
    // Marker schemas as of version 55: `fields` (not `data`), each a key,
    // a label and a format.
    let mut schemas = std::collections::HashMap::new();
    for s in meta
        .get("markerSchema")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(fields) = s["fields"].as_array() else {
            p.push(format!("marker schema without fields: {s}"));
            continue;
        };
        if s.get("data").is_some() {
            p.push(format!("marker schema with a v54 `data` list: {s}"));
        }
        if fields
            .iter()
            .any(|f| !f["key"].is_string() || !f["label"].is_string() || !f["format"].is_string())
        {
            p.push(format!(
                "marker schema field without key, label or format: {s}"
            ));
        }
        schemas.insert(
            s["name"].as_str().unwrap_or_default().to_string(),
            fields.clone(),
        );
    }
    for key in ["libs", "threads"] {
        if !v[key].is_array() {
            p.push(format!("{key} is not an array"));
        }
    }
    let Some(threads) = v["threads"].as_array() else {
        return p;
    };
    if threads.is_empty() {
        p.push("no thread".into());
    }
    for (ti, t) in threads.iter().enumerate() {
        let mut bad = |what: String| p.push(format!("thread {ti}: {what}"));
        if !t["pid"].is_string() {
            bad("pid is not a string (version 47 and later)".into());
        }
        if !(t["tid"].is_string() || t["tid"].is_number()) {
            bad("tid".into());
        }
        if !t["isMainThread"].is_boolean()
            || !t["processType"].is_string()
            || !t["name"].is_string()
        {
            bad("isMainThread, processType or name".into());
        }
        for key in ["processStartupTime", "registerTime"] {
            if !t[key].is_number() {
                bad(format!("{key} is not a number"));
            }
        }
        let strings = t["stringArray"].as_array().map_or(0, Vec::len);
        if !t["stringArray"]
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            bad("stringArray".into());
        }
        // Each table: its length and every column the upgraders read, of
        // that length.
        let table = |name: &str, columns: &[&str], bad: &mut dyn FnMut(String)| -> usize {
            let tb = &t[name];
            let Some(n) = tb["length"].as_u64() else {
                bad(format!("{name}.length"));
                return 0;
            };
            for c in columns {
                if tb[*c].as_array().map(Vec::len) != Some(n as usize) {
                    bad(format!("{name}.{c} missing or not {n} long"));
                }
            }
            n as usize
        };
        let n_syms = table(
            "nativeSymbols",
            &["libIndex", "address", "name", "functionSize"],
            &mut bad,
        );
        let n_res = table("resourceTable", &["type", "lib", "name", "host"], &mut bad);
        let n_funcs = table(
            "funcTable",
            &[
                "name",
                "isJS",
                "relevantForJS",
                "resource",
                "fileName",
                "lineNumber",
                "columnNumber",
            ],
            &mut bad,
        );
        let n_frames = table(
            "frameTable",
            &[
                "address",
                "inlineDepth",
                "category",
                "subcategory",
                "func",
                "nativeSymbol",
                "innerWindowID",
                "line",
                "column",
            ],
            &mut bad,
        );
        let n_stacks = table("stackTable", &["frame", "prefix"], &mut bad);
        let n_samples = table("samples", &["stack"], &mut bad);
        let n_markers = table(
            "markers",
            &["name", "data", "startTime", "endTime", "phase", "category"],
            &mut bad,
        );
        let samples = &t["samples"];
        let times = ["time", "timeDeltas"]
            .iter()
            .find(|k| samples[**k].is_array());
        match times {
            Some(k) if samples[*k].as_array().unwrap().len() == n_samples => {}
            _ => bad("samples: neither time nor timeDeltas of their length".into()),
        }
        // Indexes inside their tables (null where the format allows it).
        let idx = |x: &Value, n: usize| x.as_u64().is_some_and(|i| (i as usize) < n);
        let col = |tb: &str, c: &str| t[tb][c].as_array().cloned().unwrap_or_default();
        for (i, x) in col("funcTable", "name").iter().enumerate() {
            if !idx(x, strings) {
                bad(format!("funcTable.name[{i}] {x}"));
            }
        }
        for (i, x) in col("funcTable", "fileName").iter().enumerate() {
            if !(x.is_null() || idx(x, strings)) {
                bad(format!("funcTable.fileName[{i}] {x}"));
            }
        }
        for (i, x) in col("funcTable", "resource").iter().enumerate() {
            if !(x.as_i64() == Some(-1) || idx(x, n_res)) {
                bad(format!("funcTable.resource[{i}] {x}"));
            }
        }
        for (i, x) in col("resourceTable", "name").iter().enumerate() {
            if !idx(x, strings) {
                bad(format!("resourceTable.name[{i}] {x}"));
            }
        }
        let (cats, subs) = (
            col("frameTable", "category"),
            col("frameTable", "subcategory"),
        );
        for i in 0..n_frames {
            let f = &t["frameTable"];
            if !idx(&f["func"][i], n_funcs) {
                bad(format!("frameTable.func[{i}]"));
            }
            if !(f["nativeSymbol"][i].is_null() || idx(&f["nativeSymbol"][i], n_syms)) {
                bad(format!("frameTable.nativeSymbol[{i}]"));
            }
            if let Some(c) = cats.get(i).and_then(Value::as_u64) {
                match subcats.get(c as usize) {
                    None => bad(format!("frameTable.category[{i}] {c}")),
                    Some(&n) if !subs.get(i).is_some_and(|s| idx(s, n)) => {
                        bad(format!("frameTable.subcategory[{i}] of category {c}"))
                    }
                    Some(_) => {}
                }
            }
        }
        for i in 0..n_stacks {
            let s = &t["stackTable"];
            if !idx(&s["frame"][i], n_frames) {
                bad(format!("stackTable.frame[{i}]"));
            }
            if !(s["prefix"][i].is_null() || idx(&s["prefix"][i], i)) {
                bad(format!("stackTable.prefix[{i}]: not an earlier stack"));
            }
        }
        for (i, x) in col("samples", "stack").iter().enumerate() {
            if !(x.is_null() || idx(x, n_stacks)) {
                bad(format!("samples.stack[{i}] {x}"));
            }
        }
        // Markers: a name, a phase (0 instant, 1 interval, 2 start, 3 end)
        // with the times it needs, data typed by a schema whose string
        // fields hold strings and unique-string fields string indexes.
        let m = &t["markers"];
        for i in 0..n_markers {
            if !idx(&m["name"][i], strings) {
                bad(format!("markers.name[{i}]"));
            }
            let (start, end) = (m["startTime"][i].is_number(), m["endTime"][i].is_number());
            let ok = match m["phase"][i].as_u64() {
                Some(0) | Some(2) => start,
                Some(1) => start && end,
                Some(3) => end,
                _ => false,
            };
            if !ok {
                bad(format!(
                    "markers {i}: phase {} with its times",
                    m["phase"][i]
                ));
            }
            if !idx(&m["category"][i], subcats.len()) {
                bad(format!("markers.category[{i}]"));
            }
            let data = &m["data"][i];
            if data.is_null() {
                continue;
            }
            let Some(fields) = data["type"].as_str().and_then(|ty| schemas.get(ty)) else {
                bad(format!("markers.data[{i}] of no schema: {data}"));
                continue;
            };
            for f in fields {
                let (key, format) = (
                    f["key"].as_str().unwrap_or(""),
                    f["format"].as_str().unwrap_or(""),
                );
                let x = &data[key];
                let ok = x.is_null()
                    || match format {
                        "unique-string" | "flow-id" | "terminating-flow-id" => idx(x, strings),
                        "string" | "url" | "file-path" | "sanitized-string" => x.is_string(),
                        _ => x.is_number(),
                    };
                if !ok {
                    bad(format!("markers.data[{i}].{key} ({format}) {x}"));
                }
            }
            if !data["cause"].is_null() && !idx(&data["cause"]["stack"], n_stacks) {
                bad(format!("markers.data[{i}].cause.stack"));
            }
        }
    }
    p
}

/// The problems found in a processed profile, and in copies of it broken
/// the ways the checks look for (so that they are seen to check).
fn assert_loadable_by_firefox_profiler(v: &serde_json::Value) {
    let problems = processed_profile_problems(v);
    assert!(problems.is_empty(), "{problems:#?}");
    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = v.clone();
        f(&mut b);
        processed_profile_problems(&b)
    };
    assert!(!broken(&|b| b["meta"]["preprocessedProfileVersion"] = "55".into()).is_empty());
    assert!(!broken(&|b| {
        b["threads"][0]["funcTable"]
            .as_object_mut()
            .unwrap()
            .remove("fileName");
    })
    .is_empty());
    assert!(!broken(&|b| {
        b["threads"][0]["resourceTable"]
            .as_object_mut()
            .unwrap()
            .remove("host");
    })
    .is_empty());
    assert!(!broken(&|b| b["threads"][0]["pid"] = 100.into()).is_empty());
    assert!(!broken(&|b| {
        let threads = b["threads"].as_array_mut().unwrap();
        let t = threads
            .iter_mut()
            .find(|t| t["samples"]["length"].as_u64() > Some(0))
            .unwrap();
        let n = t["stackTable"]["length"].as_u64().unwrap();
        t["samples"]["stack"][0] = n.into();
    })
    .is_empty());
    assert!(!broken(&|b| {
        let s = &mut b["meta"]["markerSchema"][0];
        let fields = s["fields"].take();
        s["data"] = fields;
    })
    .is_empty());
}

#[test]
fn firefox_profile_has_threads_samples_and_markers_on_one_clock() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("fx.holter");
    firefox_capture(&cap);
    let out = dir.path().join("fx.json");
    let o = export(&cap, "firefox", &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("markers: 3 syscalls, 0 off-CPU, 2 throttled intervals, 1 OOM kills"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    // The processed format the Firefox Profiler upgrades from, with every
    // table and column its import reads.
    assert_eq!(v["meta"]["preprocessedProfileVersion"], 55);
    assert_loadable_by_firefox_profiler(&v);
    assert_eq!(v["meta"]["startTime"], 1_700_000_000_000.0);
    // 99 Hz: 10,101,010 ns.
    assert_eq!(v["meta"]["interval"].as_f64().unwrap(), 10.10101);
    let schemas: Vec<&str> = v["meta"]["markerSchema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(schemas.contains(&"HolterSyscall") && schemas.contains(&"HolterCgroup"));

    let threads = fx_threads(&v);
    let by_tid = |tid: &str| threads.iter().find(|t| t.tid == tid).unwrap();
    let main = by_tid("100");
    assert_eq!((main.name.as_str(), main.pid.as_str()), ("app", "100"));
    let times: Vec<f64> = main.samples.iter().map(|s| s.0).collect();
    let want = [500.0, 1000.0, 1500.0, 3000.0, 3500.0, 4000.0];
    assert!(
        times.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6) && times.len() == 6,
        "{times:?}"
    );
    assert_eq!(
        main.samples[3].1,
        [
            "main",
            "app::work",
            "foo::bar(int)",
            "do_syscall_64",
            "ksys_write"
        ]
    );
    assert_eq!(by_tid("101").name, "worker");
    assert_eq!(
        by_tid("200").samples[0].1,
        ["[unknown]", "LazyCompile:*foo"]
    );

    // Syscalls on their threads, at their times (ms), with their result.
    let calls: Vec<(&str, f64, f64, i64)> = threads
        .iter()
        .flat_map(|t| t.markers.iter().map(move |m| (t, m)))
        .filter(|(_, m)| m.3["type"] == "HolterSyscall")
        .map(|(t, m)| {
            (
                t.tid.as_str(),
                m.1,
                m.2,
                m.3["ret"].as_f64().unwrap() as i64,
            )
        })
        .collect();
    let mut calls = calls;
    calls.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        calls,
        [
            ("100", 1000.0, 1080.0, 4096),
            ("101", 2000.0, 2080.0, -9),
            ("100", 3000.0, 3080.0, 4096)
        ]
    );
    assert!(main.markers.iter().all(|m| m.0 == "write"));
    // The cgroup's track: throttled intervals and the OOM kill.
    let cg = threads
        .iter()
        .find(|t| t.name == "cgroup")
        .expect("a cgroup track");
    let marks: Vec<(&str, f64, f64, f64)> = cg
        .markers
        .iter()
        .map(|m| (m.0.as_str(), m.1, m.2, m.3["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        marks,
        [
            ("Throttled", 1000.0, 2000.0, 30.0),
            ("Throttled", 3000.0, 4000.0, 50.0),
            ("OOM kill", 2000.0, 3000.0, 1.0)
        ]
    );
    // Capture strings are data: the escape in the summary is made visible.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains('\u{1b}') && text.contains("fd=1\\\\x1b[2J"),
        "summary escaped"
    );

    // --from/--to select samples and markers alike.
    let o = export(&cap, "firefox", &out, &["--from", "2.5", "--to", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("markers: 1 syscalls, 0 off-CPU, 1 throttled intervals, 1 OOM kills"),
        "{}",
        stderr(&o)
    );
}

/// The standard capture plus off-CPU times (format 1.11): the main thread
/// blocked twice in its write (stack 3), the worker preempted once.
fn off_cpu_capture(path: &Path) {
    let mut r = standard();
    let off = |secs: f64, tid: u32, stack_id: u32, off_ms: u64, state: u8| OffCpu {
        time_ns: T0 + (secs * SEC as f64) as u64,
        pid: 100,
        tid,
        cpu: 0,
        stack_id,
        off_ns: off_ms * 1_000_000,
        runq_ns: if state == b'R' { off_ms * 1_000_000 } else { 0 },
        state,
        flags: 0,
    };
    r.push(Record::OffCpuBatch(OffCpuBatch::from_intervals(&[
        off(1.2, 100, 3, 300, b'S'),
        off(2.2, 100, 3, 100, b'D'),
        off(2.7, 101, 2, 50, b'R'),
        // A thread that never ran on a sampled CPU: off-CPU profile only.
        off(3.1, 102, 1, 20, b'S'),
    ])));
    write_capture(path, &r);
}

#[test]
fn off_cpu_times_are_exported_with_their_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("off.holter");
    off_cpu_capture(&cap);
    let v = speedscope_json(&cap, &[]);
    assert_valid_speedscope(&v);
    let profiles = v["profiles"].as_array().unwrap();
    /// A profile's name, stacks and weights.
    type Named<'a> = (&'a str, Vec<Vec<String>>, Vec<u64>);
    let off: Vec<Named> = profiles
        .iter()
        .filter(|p| p["name"].as_str().unwrap().ends_with("off-CPU"))
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["samples"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| names(&v, s))
                    .collect(),
                p["weights"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    let write = [
        "main",
        "app::work",
        "foo::bar(int)",
        "do_syscall_64",
        "ksys_write",
    ];
    assert_eq!(
        off,
        [
            (
                "app (pid 100, tid 100) off-CPU",
                vec![write.iter().map(|s| s.to_string()).collect::<Vec<_>>()],
                vec![400_000_000]
            ),
            (
                "app (pid 100, tid 101 worker) off-CPU",
                vec![vec!["main".to_string(), "app::work".to_string()]],
                vec![50_000_000]
            ),
            (
                "app (pid 100, tid 102) off-CPU",
                vec![vec!["main".to_string()]],
                vec![20_000_000]
            ),
        ]
    );
    // The CPU profiles are unchanged: 3 threads (none for tid 102), then
    // the 3 off-CPU ones.
    assert_eq!(profiles.len(), 6);
    assert_eq!(profiles[2]["name"], "jitted (pid 200, tid 200)");
    assert_eq!(v["activeProfileIndex"], 0);

    // Firefox: interval markers on their thread, with their state.
    let out = dir.path().join("off.json");
    let o = export(&cap, "firefox", &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("markers: 0 syscalls, 4 off-CPU"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_loadable_by_firefox_profiler(&v);
    let threads = fx_threads(&v);
    let mut marks: Vec<(String, String, f64, f64, String)> = threads
        .iter()
        .flat_map(|t| {
            t.markers.iter().map(move |m| {
                (
                    t.tid.clone(),
                    m.0.clone(),
                    m.1,
                    m.2,
                    t.strings[m.3["state"].as_u64().unwrap() as usize].clone(),
                )
            })
        })
        .collect();
    marks.sort_by(|a, b| a.2.total_cmp(&b.2));
    let want = [
        ("100", 1200.0, 1500.0, "S sleeping"),
        ("100", 2200.0, 2300.0, "D uninterruptible"),
        ("101", 2700.0, 2750.0, "R preempted"),
        ("102", 3100.0, 3120.0, "S sleeping"),
    ];
    assert_eq!(marks.len(), 4, "{marks:?}");
    for (m, w) in marks.iter().zip(want) {
        assert_eq!(m.0, w.0);
        assert_eq!(m.1, "Off-CPU");
        assert!(
            (m.2 - w.1).abs() < 1e-6 && (m.3 - w.2).abs() < 1e-6,
            "{m:?}"
        );
        assert_eq!(m.4, w.3);
    }
    // The --tid filter keeps the worker's only.
    let v = speedscope_json(&cap, &["--tid", "101"]);
    let names: Vec<&str> = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "app (pid 100, tid 101 worker)",
            "app (pid 100, tid 101 worker) off-CPU"
        ]
    );
}

/// A large profile is built in parts on several threads and joined: the file
/// must be the one a single part gives, byte for byte, however many parts.
#[test]
fn firefox_profile_built_in_parts_is_the_profile_built_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("parts.holter");
    let (h, mut r) = firefox_records();
    // More processes and threads: names that sort otherwise than their tids,
    // a thread with no name, a thread and a process with syscalls only, and
    // off-CPU times.
    r.extend([
        process(300, "zeta"),
        thread(300, 300, "zeta"),
        thread(300, 301, "b-worker"),
        thread(300, 302, "a-worker"),
        process(150, "only-syscalls"),
        process(250, "mid"),
        thread(250, 251, "mid-worker"),
    ]);
    for (i, (pid, tid)) in [(300, 301), (300, 302), (300, 303), (300, 300), (250, 251)]
        .into_iter()
        .enumerate()
    {
        for k in 0..=i as u32 {
            r.push(sample(0.1 + 0.01 * f64::from(k), pid, tid, 1 + (k % 6)));
        }
    }
    for (pid, tid) in [(300, 304), (150, 150), (300, 301)] {
        r.push(Record::Syscall(Syscall {
            time_ns: T0 + 2 * SEC,
            pid,
            tid,
            nr: 0,
            duration_ns: 1_000,
            ret: 0,
            summary: "fd=3 \"x\\\"threads\\\":[\"".into(),
            abi: String::new(),
        }));
    }
    let off = |secs: f64, pid: u32, tid: u32, state: u8| OffCpu {
        time_ns: T0 + (secs * SEC as f64) as u64,
        pid,
        tid,
        cpu: 0,
        stack_id: 3,
        off_ns: 5_000_000,
        runq_ns: 1_000_000,
        state,
        flags: 0,
    };
    r.push(Record::OffCpuBatch(OffCpuBatch::from_intervals(&[
        off(1.2, 100, 100, b'S'),
        off(1.3, 300, 302, b'R'),
        off(1.4, 250, 251, b'D'),
    ])));
    write_capture_with(&cap, h, &r);

    let capture = holter::load::Capture::load(&cap).expect("load");
    let sym = holter::symbolize::Symbolizer::new(&capture, None).expect("symbolizer");
    let filter = holter::filter::Filter::default();
    let profile = holter::export::Profile::build(&capture, &filter, &sym).expect("profile");
    let export = |parts: usize| {
        let mut out = Vec::new();
        let (markers, built) = holter::export::firefox::write_in_parts(
            &profile,
            &capture,
            &filter,
            u64::MAX,
            "parts.holter",
            parts,
            &mut out,
        )
        .expect("export");
        (out, markers, built)
    };
    let (whole, markers, built) = export(1);
    assert_eq!(built, 1);
    assert_eq!(markers.syscalls, 6, "{markers:?}");
    assert_eq!(markers.off_cpu, 3, "{markers:?}");
    assert!(
        markers.throttled > 0 && markers.oom_kills > 0,
        "{markers:?}"
    );
    let v: serde_json::Value = serde_json::from_slice(&whole).expect("JSON");
    assert_loadable_by_firefox_profiler(&v);
    // 6 processes of samples or syscalls (10 threads) and the cgroup's track.
    let threads = v["threads"].as_array().unwrap();
    assert_eq!(
        threads.len(),
        11,
        "{:?}",
        fx_threads(&v).iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    // Past the budget, in parts as whole: refused, naming it.
    for parts in [1, 4] {
        let err = holter::export::firefox::write_in_parts(
            &profile,
            &capture,
            &filter,
            2_000,
            "parts.holter",
            parts,
            std::io::sink(),
        )
        .expect_err("over budget");
        assert!(
            err.to_string().contains("past the capture's budget"),
            "{err}"
        );
    }
    for parts in 2..=12 {
        let (joined, m, built) = export(parts);
        assert_eq!(built, parts.min(10), "parts asked: {parts}");
        assert_eq!(m, markers, "parts: {parts}");
        if joined != whole {
            let at = joined
                .iter()
                .zip(&whole)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{parts} parts differ from the whole at byte {at}: {:?} vs {:?}",
                String::from_utf8_lossy(
                    &joined[at.saturating_sub(80)..(at + 80).min(joined.len())]
                ),
                String::from_utf8_lossy(&whole[at.saturating_sub(80)..(at + 80).min(whole.len())])
            );
        }
    }
}
