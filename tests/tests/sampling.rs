//! CPU sampling end to end: a workload of known call tree and proportions
//! (tests/workloads/calltree.c: main→work_a→burn 2/3, main→work_b→burn 1/3)
//! recorded by --pid, by --cgroup (v1 and v2), as a launched command, from
//! its own pid and mount namespace, and symbolized from the capture alone.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use holter_e2e::*;
use holter_format::{BinarySymbols, Mapping, Reader, Record};

/// Allowed distance between a measured share and the workload's true share.
/// At 999 Hz over ~1.5 s there are ~1000 samples: the binomial standard
/// deviation of a 2/3 share is 0.015, so 0.08 is > 5 sigma.
const TOLERANCE: f64 = 0.08;

/// User stacks of a capture, folded root first by function name, symbolized
/// with nothing but the capture's own records.
struct Folded {
    stacks: HashMap<String, u64>,
    /// User frames of the workload's own binary, and how many got a name.
    workload_frames: u64,
    workload_named: u64,
    samples: u64,
}

fn symbol_at(b: &BinarySymbols, file_offset: u64) -> Option<&str> {
    let seg = b
        .segments
        .iter()
        .find(|s| file_offset >= s.file_offset && file_offset < s.file_offset + s.filesz)?;
    let vaddr = file_offset - seg.file_offset + seg.vaddr;
    let i = b
        .symbols
        .partition_point(|s| s.start <= vaddr)
        .checked_sub(1)?;
    let s = &b.symbols[i];
    (s.size == 0 || vaddr < s.start + s.size).then_some(s.name.as_str())
}

fn fold(capture: &Path, workload_name: &str) -> Folded {
    let reader = Reader::new(std::fs::File::open(capture).unwrap()).unwrap();
    let mut maps: HashMap<u32, Vec<Mapping>> = HashMap::new();
    let mut stacks: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut samples = Vec::new();
    let mut by_id: HashMap<Vec<u8>, BinarySymbols> = HashMap::new();
    let mut by_path: HashMap<String, BinarySymbols> = HashMap::new();
    for r in reader {
        match r {
            Record::Mapping(m) => maps.entry(m.pid).or_default().push(m),
            Record::Stack(s) => {
                stacks.insert(s.id, s.user);
            }
            Record::Sample(s) => samples.push(s),
            Record::BinarySymbols(b) => {
                by_path.insert(b.path.clone(), b.clone());
                by_id.insert(b.build_id.clone(), b);
            }
            _ => {}
        }
    }
    let mut out = Folded {
        stacks: HashMap::new(),
        workload_frames: 0,
        workload_named: 0,
        samples: samples.len() as u64,
    };
    for s in &samples {
        let user = &stacks[&s.stack_id];
        let mut names = Vec::new();
        for (i, &addr) in user.iter().enumerate() {
            // Return addresses point after the call: look up the call itself.
            let pc = if i == 0 { addr } else { addr - 1 };
            let m = maps.get(&s.pid).and_then(|ms| {
                ms.iter()
                    .rev()
                    .find(|m| m.start <= pc && pc < m.end && m.time_ns <= s.time_ns)
            });
            let name = m.and_then(|m| {
                let b = match &m.build_id {
                    Some(id) => by_id.get(id),
                    None => by_path.get(m.path.trim_end_matches(" (deleted)")),
                }?;
                symbol_at(b, pc - m.start + m.pgoff).map(str::to_string)
            });
            if m.is_some_and(|m| m.path.contains(workload_name)) {
                out.workload_frames += 1;
                out.workload_named += name.is_some() as u64;
            }
            names.push(name.unwrap_or_else(|| "?".into()));
        }
        names.reverse();
        *out.stacks.entry(names.join(";")).or_default() += 1;
    }
    out
}

impl Folded {
    /// Samples whose stack contains `path` (e.g. `main;work_a;burn`).
    fn count(&self, path: &str) -> u64 {
        self.stacks
            .iter()
            .filter(|(k, _)| {
                k.split(';')
                    .collect::<Vec<_>>()
                    .windows(path.split(';').count())
                    .any(|w| w.join(";") == path)
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Checks the call tree and its proportions.
    fn assert_calltree(&self, what: &str) {
        let main = self.count("main");
        let a = self.count("main;work_a;burn");
        let b = self.count("main;work_b;burn");
        let top: Vec<_> = {
            let mut v: Vec<_> = self.stacks.iter().collect();
            v.sort_by(|x, y| y.1.cmp(x.1));
            v.into_iter().take(8).collect()
        };
        assert!(
            main >= 50,
            "{what}: only {main} samples under main ({} in all); top stacks {top:?}",
            self.samples
        );
        let (fa, fb) = (a as f64 / main as f64, b as f64 / main as f64);
        assert!(
            (fa - 2.0 / 3.0).abs() < TOLERANCE && (fb - 1.0 / 3.0).abs() < TOLERANCE,
            "{what}: main→work_a→burn {fa:.3} (want 0.667), main→work_b→burn {fb:.3} (want 0.333) ± {TOLERANCE}, of {main} samples; top stacks {top:?}"
        );
        eprintln!("{what}: {main} samples under main: work_a {fa:.3}, work_b {fb:.3}");
        let named = self.workload_named as f64 / self.workload_frames.max(1) as f64;
        assert!(
            named > 0.99,
            "{what}: only {:.1}% of the workload's frames symbolized",
            named * 100.0
        );
    }
}

fn record(args: &[&str], file: &Path) {
    let mut all = vec!["record", "--frequency", "999", "-o", file.to_str().unwrap()];
    all.extend_from_slice(args);
    ok_stdout("holter-agent record", &agent(&all));
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &Path, args: &[&str]) -> Running {
    let child = Command::new(program)
        .args(args)
        .spawn()
        .expect("start workload");
    // Past the dynamic loader, into main.
    std::thread::sleep(Duration::from_millis(100));
    Running(child)
}

#[test]
fn by_pid_the_call_tree_and_its_proportions() {
    if !require_privileged("by_pid_the_call_tree_and_its_proportions") {
        return;
    }
    let w = compile_workload("calltree");
    let run = spawn(&w.path, &["10"]);
    let dir = scratch("sample-pid");
    let file = dir.path().join("p.holter");
    record(
        &["--pid", &run.0.id().to_string(), "--duration", "1500ms"],
        &file,
    );
    drop(run);
    // The capture is self-contained: the binary is gone when it is symbolized.
    drop(w);
    fold(&file, "calltree").assert_calltree("--pid, binary deleted after the capture");
}

#[test]
fn a_launched_command_is_sampled_from_exec() {
    if !require_privileged("a_launched_command_is_sampled_from_exec") {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("sample-cmd");
    let file = dir.path().join("c.holter");
    record(&["--", w.path.to_str().unwrap(), "1.5"], &file);
    fold(&file, "calltree").assert_calltree("-- command");
}

#[test]
fn by_cgroup_v1_and_v2() {
    if !require_privileged("by_cgroup_v1_and_v2") {
        return;
    }
    let w = compile_workload("calltree");
    let c = Container::start(Cgroup::new("sample"), &[w.path.to_str().unwrap(), "10"]);
    c.workload_pid("calltree");
    std::thread::sleep(Duration::from_millis(100));
    let dir = scratch("sample-cg");
    for hierarchy in ["cpu", "unified"] {
        let cg = c.cgroup.dir(hierarchy);
        if !cg.is_dir() {
            continue;
        }
        let file = dir.path().join(format!("{hierarchy}.holter"));
        record(
            &["--cgroup", cg.to_str().unwrap(), "--duration", "1500ms"],
            &file,
        );
        fold(&file, "calltree").assert_calltree(&format!("--cgroup {}", cg.display()));
    }
}

#[test]
fn a_binary_deleted_before_the_capture_is_read_through_map_files() {
    if !require_privileged("a_binary_deleted_before_the_capture_is_read_through_map_files") {
        return;
    }
    let w = compile_workload("calltree");
    let run = spawn(&w.path, &["10"]);
    std::fs::remove_file(&w.path).unwrap();
    let dir = scratch("sample-del");
    let file = dir.path().join("d.holter");
    record(
        &["--pid", &run.0.id().to_string(), "--duration", "1500ms"],
        &file,
    );
    fold(&file, "calltree").assert_calltree("binary deleted before the capture");
}

#[test]
fn a_binary_only_inside_the_targets_mount_namespace_is_symbolized() {
    if !require_privileged("a_binary_only_inside_the_targets_mount_namespace_is_symbolized") {
        return;
    }
    let w = compile_workload("calltree");
    // The container mounts a tmpfs on an empty directory and runs a copy of
    // the workload from there: on the host the directory stays empty.
    let inner = w.dir.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    let script = format!(
        "mount -t tmpfs holter-test {inner} && cp {src} {inner}/calltree && exec {inner}/calltree 10",
        inner = inner.display(),
        src = w.path.display()
    );
    let c = Container::start_with(
        Cgroup::new("sample-ns"),
        &["--pid", "--mount", "--mount-proc"],
        &["sh", "-c", &script],
    );
    let pid = c.workload_pid("calltree");
    assert!(
        !inner.join("calltree").exists(),
        "the copy is invisible from the host"
    );
    std::thread::sleep(Duration::from_millis(100));
    let dir = scratch("sample-ns");
    let file = dir.path().join("n.holter");
    record(&["--pid", &pid.to_string(), "--duration", "1500ms"], &file);
    fold(&file, "calltree").assert_calltree("binary only in the target's mount namespace");
}

#[test]
fn a_missing_pid_is_named() {
    let dir = scratch("sample-missing");
    let file = dir.path().join("m.holter");
    let out = agent(&["record", "--pid", "4194000", "-o", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4194000"), "{err}");
}
