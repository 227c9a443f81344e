//! Whole user stacks and samples that stand for CPU time, end to end.
//!
//! Unwinding (the default `--unwind dwarf`): programs built without frame
//! pointers (C at -O2 -fomit-frame-pointer, a Rust release binary) recorded
//! by cgroup in their own namespaces, by pid after their binary was deleted,
//! with threads; and frame-pointer code without any .eh_frame. Each stack
//! must show its leaf under its real callers up to main or the thread start.
//!
//! Sampling rate: tests/workloads/bursty.c (2 spinning threads, 200 threads
//! running ~0.1 ms bursts then sleeping 1 ms) recorded at 999 Hz must get
//! 999 ± 10% samples per second of the CPU time it reports itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use holter_e2e::*;

/// Folded stacks of a capture (`holter flamegraph --folded`), root first.
struct Folded(BTreeMap<String, u64>);

fn fold(file: &Path, debuginfo: Option<&str>) -> Folded {
    let mut args = vec!["flamegraph", file.to_str().unwrap(), "--folded"];
    if let Some(d) = debuginfo {
        args.extend(["--debuginfo", d]);
    }
    let text = ok_stdout("holter flamegraph --folded", &holter(&args));
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let (stack, n) = line.rsplit_once(' ').expect("`stack COUNT`");
        *m.entry(stack.to_string()).or_default() += n.parse::<u64>().expect("count");
    }
    Folded(m)
}

/// Frame names without the ` (file:line)` that --debuginfo adds.
fn frames(stack: &str) -> Vec<&str> {
    stack
        .split(';')
        .map(|f| f.split(" (").next().unwrap_or(f))
        .collect()
}

impl Folded {
    /// Samples whose stack holds the frame `leaf`, and of those the ones
    /// where `callers` (outermost first) come right before it.
    fn under(&self, leaf: &str, callers: &[&str]) -> (u64, u64) {
        let (mut all, mut good) = (0, 0);
        for (stack, n) in &self.0 {
            let f = frames(stack);
            let Some(i) = f.iter().position(|x| *x == leaf) else {
                continue;
            };
            all += n;
            if i >= callers.len() && f[i - callers.len()..i] == *callers {
                good += n;
            }
        }
        (all, good)
    }

    fn top(&self) -> Vec<(&String, &u64)> {
        let mut v: Vec<_> = self.0.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.truncate(6);
        v
    }

    /// Asserts that at least `share` of the samples in `leaf` have `callers` above it.
    fn assert_under(&self, what: &str, leaf: &str, callers: &[&str], share: f64) {
        let (all, good) = self.under(leaf, callers);
        assert!(
            all >= 50,
            "{what}: only {all} samples in {leaf}; top {:?}",
            self.top()
        );
        let got = good as f64 / all as f64;
        eprintln!("{what}: {good}/{all} samples of {leaf} under {callers:?}");
        assert!(
            got >= share,
            "{what}: {:.1}% of the {all} samples of {leaf} are under {callers:?}, want >= {:.0}%; top {:?}",
            got * 100.0,
            share * 100.0,
            self.top()
        );
    }
}

fn record(args: &[&str], file: &Path) {
    let mut all = vec!["record", "--frequency", "999", "-o", file.to_str().unwrap()];
    all.extend_from_slice(args);
    ok_stdout("holter-agent record", &agent(&all));
}

/// The share of stacks that reached a root, as `holter info --json` says.
fn rooted(file: &Path) -> f64 {
    let info = info_json(file);
    assert_eq!(info["unwind"]["mode"], "dwarf", "{info}");
    info["unwind"]["rooted_percent"]
        .as_f64()
        .unwrap_or_else(|| panic!("no rooted_percent: {info}"))
}

/// The calltree workload built -O2 without frame pointers.
fn calltree_without_fp() -> Workload {
    compile_workload_with("calltree", &["-O2", "-fomit-frame-pointer"])
}

fn assert_calltree(f: &Folded, what: &str) {
    // Every sample of burn under its real callers up to main.
    let (all, a) = f.under("burn", &["main", "work_a"]);
    let (_, b) = f.under("burn", &["main", "work_b"]);
    assert!(
        all >= 100,
        "{what}: {all} samples in burn; top {:?}",
        f.top()
    );
    let whole = (a + b) as f64 / all as f64;
    let fa = a as f64 / (a + b).max(1) as f64;
    eprintln!("{what}: {a}+{b} of {all} burn samples under main (work_a share {fa:.3})");
    assert!(
        whole >= 0.95,
        "{what}: {:.1}% of burn's samples reach main through work_a/work_b; top {:?}",
        whole * 100.0,
        f.top()
    );
    let tol = (4.0 * (2.0 / 9.0 / (a + b) as f64).sqrt()).max(0.03);
    assert!(
        (fa - 2.0 / 3.0).abs() < tol,
        "{what}: work_a has {fa:.3} of burn, want 0.667 ± {tol:.3}"
    );
}

#[test]
fn c_without_frame_pointers_in_a_container_by_cgroup() {
    let test = "c_without_frame_pointers_in_a_container_by_cgroup";
    if !require_privileged(test) {
        return;
    }
    let w = calltree_without_fp();
    let c = Container::start(Cgroup::new("unwind"), &[w.path.to_str().unwrap(), "10"]);
    c.workload_pid("calltree");
    let dir = scratch("unwind-cg");
    for hierarchy in ["cpu", "unified"] {
        if !require_hierarchy(test, hierarchy) {
            continue;
        }
        let cg = c.cgroup.dir(hierarchy);
        let file = dir.path().join(format!("{hierarchy}.holter"));
        record(
            &["--cgroup", cg.to_str().unwrap(), "--duration", "1500ms"],
            &file,
        );
        let what = format!("-O2 -fomit-frame-pointer, --cgroup {}", cg.display());
        assert_calltree(&fold(&file, None), &what);
        let r = rooted(&file);
        assert!(r >= 90.0, "{what}: {r:.1}% of stacks reached a root");
    }
}

/// `--unwind fp` keeps the kernel's frame-pointer chain: the header says so,
/// no unwinding is counted, and frame-pointer code keeps its call tree.
#[test]
fn fp_mode_is_recorded_and_keeps_frame_pointer_stacks() {
    if !require_privileged("fp_mode_is_recorded_and_keeps_frame_pointer_stacks") {
        return;
    }
    let w = compile_workload("calltree");
    let run = spawn(&w.path, &["10"]);
    let dir = scratch("unwind-fp");
    let file = dir.path().join("f.holter");
    record(
        &[
            "--unwind",
            "fp",
            "--pid",
            &run.id().to_string(),
            "--duration",
            "1500ms",
        ],
        &file,
    );
    drop(run);
    assert_calltree(&fold(&file, None), "--unwind fp, frame pointers");
    let info = info_json(&file);
    assert_eq!(info["unwind"]["mode"], "fp", "{info}");
    assert_eq!(info["unwind"]["stack_bytes"], 0, "{info}");
    assert!(info["counters"].get("unwind:root").is_none(), "{info}");
    let text = ok_stdout("holter info", &holter(&["info", file.to_str().unwrap()]));
    assert!(text.contains("unwind    fp"), "{text}");
}

#[test]
fn a_deleted_binary_is_unwound_through_map_files() {
    if !require_privileged("a_deleted_binary_is_unwound_through_map_files") {
        return;
    }
    let w = calltree_without_fp();
    let run = spawn(&w.path, &["10"]);
    std::fs::remove_file(&w.path).unwrap();
    let dir = scratch("unwind-del");
    let file = dir.path().join("d.holter");
    record(
        &["--pid", &run.id().to_string(), "--duration", "1500ms"],
        &file,
    );
    drop(run);
    assert_calltree(
        &fold(&file, None),
        "deleted -O2 -fomit-frame-pointer binary",
    );
}

#[test]
fn rust_release_binary_without_frame_pointers() {
    let test = "rust_release_binary_without_frame_pointers";
    if !require_privileged(test) {
        return;
    }
    let Some(rustc) = require_tool(test, "rustc", "rustc") else {
        return;
    };
    let dir = scratch("unwind-rust");
    let bin = dir.path().join("spin");
    let src = repo_root().join("tests/workloads/spin.rs");
    let out = run(
        "rustc spin.rs",
        Command::new(rustc)
            .args(["-C", "opt-level=3", "-C", "force-frame-pointers=no", "-o"])
            .arg(&bin)
            .arg(&src),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "rustc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = spawn(&bin, &["10"]);
    let file = dir.path().join("r.holter");
    record(
        &["--pid", &p.id().to_string(), "--duration", "1500ms"],
        &file,
    );
    drop(p);
    let f = fold(&file, None);
    f.assert_under(
        "rust release",
        "spin::spin_leaf",
        &["spin::spin_outer", "spin::spin_middle"],
        0.95,
    );
    // The main thread's stacks reach main, the other thread's std's thread start.
    let (all, _) = f.under("spin::spin_outer", &[]);
    let (_, main) = f.under("spin::spin_outer", &["spin::main"]);
    let (_, thread) = f.under(
        "spin::spin_outer",
        &["std::sys::backtrace::__rust_begin_short_backtrace"],
    );
    assert!(
        main > all / 5,
        "{main} of {all} under spin::main; top {:?}",
        f.top()
    );
    assert!(
        thread > all / 5,
        "{thread} of {all} from the thread start; top {:?}",
        f.top()
    );
    let r = rooted(&file);
    assert!(r >= 90.0, "rust release: {r:.1}% of stacks reached a root");
}

/// Go (frame pointers, tables in .debug_frame): DWARF mode loses nothing
/// against the frame-pointer mode it replaces.
#[test]
fn go_stacks_are_as_whole_as_with_frame_pointers() {
    let test = "go_stacks_are_as_whole_as_with_frame_pointers";
    if !require_privileged(test) {
        return;
    }
    let Some(go) = require_tool(test, "go", "golang-go") else {
        return;
    };
    let dir = scratch("unwind-go");
    let bin = dir.path().join("spin-go");
    let src = dir.path().join("spin.go");
    std::fs::copy(repo_root().join("tests/workloads/spin.go"), &src).unwrap();
    let out = run(
        "go build",
        Command::new(go)
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("GOCACHE", dir.path().join("cache"))
            .env("GOPATH", dir.path().join("gopath"))
            .env("GO111MODULE", "off"),
        Duration::from_secs(300),
    );
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = spawn(&bin, &["10"]);
    let callers = ["runtime.main", "main.main", "main.goOuter", "main.goMiddle"];
    for mode in ["dwarf", "fp"] {
        let file = dir.path().join(format!("{mode}.holter"));
        record(
            &[
                "--unwind",
                mode,
                "--pid",
                &p.id().to_string(),
                "--duration",
                "1s",
            ],
            &file,
        );
        fold(&file, None).assert_under(
            &format!("go, --unwind {mode}"),
            "main.goLeaf",
            &callers,
            0.95,
        );
    }
}

#[test]
fn threads_reach_start_thread_and_clone3() {
    let test = "threads_reach_start_thread_and_clone3";
    if !require_privileged(test) {
        return;
    }
    // libc6-dbg names libc's start_thread and clone3 (its .symtab is stripped).
    let debug = PathBuf::from("/usr/lib/debug/.build-id");
    if !debug.is_dir()
        && !skip(
            test,
            "libc6-dbg is not installed (scripts/deps.sh installs it)",
        )
    {
        return;
    }
    let w = compile_workload_with("bursty", &["-O2", "-fomit-frame-pointer"]);
    let dir = scratch("unwind-mt");
    let cpu_file = dir.path().join("cpu_ns");
    let p = spawn(&w.path, &["10", cpu_file.to_str().unwrap()]);
    let file = dir.path().join("t.holter");
    record(
        &["--pid", &p.id().to_string(), "--duration", "1500ms"],
        &file,
    );
    drop(p);
    let f = fold(&file, Some("/usr/lib/debug"));
    f.assert_under("threads", "burster", &["clone3", "start_thread"], 0.95);
    let r = rooted(&file);
    assert!(r >= 90.0, "threads: {r:.1}% of stacks reached a root");
}

#[test]
fn code_without_eh_frame_falls_back_to_frame_pointers() {
    let test = "code_without_eh_frame_falls_back_to_frame_pointers";
    if !require_privileged(test) {
        return;
    }
    let Some(objcopy) = require_tool(test, "objcopy", "binutils") else {
        return;
    };
    // Frame pointers but no unwind tables at all, as Go binaries or JIT code.
    let w = compile_workload_with(
        "calltree",
        &["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"],
    );
    let out = run(
        "objcopy",
        Command::new(objcopy)
            .args([
                "--remove-section",
                ".eh_frame",
                "--remove-section",
                ".eh_frame_hdr",
                "--remove-section",
                ".debug_frame",
            ])
            .arg(&w.path),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "objcopy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sections = Command::new("readelf")
        .arg("-S")
        .arg(&w.path)
        .output()
        .unwrap();
    let sections = String::from_utf8_lossy(&sections.stdout);
    let left: Vec<&str> = sections.lines().filter(|l| l.contains("_frame")).collect();
    assert!(
        left.is_empty(),
        "the workload still has unwind tables: {left:?}"
    );
    let p = spawn(&w.path, &["10"]);
    let dir = scratch("unwind-nofp");
    let file = dir.path().join("n.holter");
    record(
        &["--pid", &p.id().to_string(), "--duration", "1500ms"],
        &file,
    );
    drop(p);
    assert_calltree(&fold(&file, None), "no .eh_frame, frame pointers");
}

fn info_json(file: &Path) -> serde_json::Value {
    serde_json::from_str(&ok_stdout(
        "holter info --json",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .expect("info JSON")
}

#[test]
fn bursty_threads_get_the_requested_samples_per_cpu_second() {
    if !require_privileged("bursty_threads_get_the_requested_samples_per_cpu_second") {
        return;
    }
    let w = compile_workload_with("bursty", &["-O2"]);
    let dir = scratch("unwind-rate");
    let file = dir.path().join("r.holter");
    let cpu_file = dir.path().join("cpu_ns");
    ok_stdout(
        "holter-agent record",
        &agent(&[
            "record",
            "--frequency",
            "999",
            "-o",
            file.to_str().unwrap(),
            "--",
            w.path.to_str().unwrap(),
            "3",
            cpu_file.to_str().unwrap(),
        ]),
    );
    let cpu_ns: f64 = std::fs::read_to_string(&cpu_file)
        .expect("the workload wrote its CPU time")
        .trim()
        .parse()
        .unwrap();
    assert!(cpu_ns > 1e9, "the workload used {cpu_ns} ns of CPU");
    let info = info_json(&file);
    let samples = info["samples"].as_u64().unwrap() + info["lost_samples"].as_u64().unwrap();
    let rate = samples as f64 * 1e9 / cpu_ns;
    eprintln!(
        "{samples} samples over {:.3} CPU-s of the workload: {rate:.0}/CPU-s; holter info says {}",
        cpu_ns / 1e9,
        info["samples_per_cpu_second"]
    );
    assert!(
        (rate - 999.0).abs() < 99.9,
        "{rate:.0} samples per CPU-second (by the workload's getrusage), want 999 ± 10%"
    );
    let shown = info["samples_per_cpu_second"]
        .as_f64()
        .expect("holter info shows the rate");
    assert!(
        (shown - 999.0).abs() < 99.9,
        "holter info shows {shown:.0} samples per CPU-second, want 999 ± 10%"
    );
    let text = ok_stdout("holter info", &holter(&["info", file.to_str().unwrap()]));
    assert!(
        text.contains("samples per CPU-second"),
        "holter info names the rate:\n{text}"
    );
}
