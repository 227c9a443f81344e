//! Frames named as users expect them (issue 12): the symbols of short-lived
//! processes, JIT maps written at exit, stripped code named by the start of
//! its function.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use holter_e2e::*;

/// Folded stacks of a capture (`holter flamegraph --folded`, the capture alone).
fn folded(capture: &Path) -> Vec<(String, u64)> {
    let text = ok_stdout(
        "holter flamegraph --folded",
        &holter(&["flamegraph", capture.to_str().unwrap(), "--folded"]),
    );
    text.lines()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("`stack COUNT` lines");
            (stack.to_string(), count.parse().expect("a count"))
        })
        .collect()
}

/// The `warning` lines of `holter info`.
fn warnings(capture: &Path) -> Vec<String> {
    let text = ok_stdout("holter info", &holter(&["info", capture.to_str().unwrap()]));
    text.lines()
        .filter_map(|l| l.strip_prefix("warning"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// 100 runs in a row of a 20 ms workload, each gone before the agent reads
/// its mappings: their binary is read from another process mapping it or
/// from the agent's own view (same mount namespace), not given up after the
/// first run that exited.
#[test]
fn short_lived_processes_are_named() {
    if !require_privileged("short_lived_processes_are_named") {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("names-short");
    let file = dir.path().join("s.holter");
    let script = format!(
        "i=0; while [ $i -lt 100 ]; do {} 0.02; i=$((i+1)); done",
        w.path.display()
    );
    ok_stdout(
        "holter-agent record -- sh -c LOOP",
        &agent_with_timeout(
            &[
                "record",
                "--frequency",
                "999",
                "-o",
                file.to_str().unwrap(),
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
            Duration::from_secs(60),
        ),
    );
    let stacks = folded(&file);
    let ours: Vec<&(String, u64)> = stacks
        .iter()
        .filter(|(s, _)| s.starts_with("calltree;"))
        .collect();
    let samples: u64 = ours.iter().map(|(_, n)| n).sum();
    let unnamed: u64 = ours
        .iter()
        .filter(|(s, _)| s.split(';').any(|f| f.starts_with("calltree+0x")))
        .map(|(_, n)| n)
        .sum();
    assert!(
        samples >= 500,
        "{samples} samples of 100 runs of 20 ms at 999 Hz"
    );
    assert!(
        unnamed * 10 <= samples,
        "{unnamed} of {samples} samples of the short runs have a calltree+0x frame: {:?}",
        &ours[..ours.len().min(5)]
    );
    assert!(
        ours.iter().any(|(s, _)| s.contains(";main;work_a;burn")),
        "main;work_a;burn named: {:?}",
        &ours[..ours.len().min(5)]
    );
    let warned = warnings(&file);
    assert!(
        !warned.iter().any(|w| w.contains("/calltree")),
        "no warning for a binary with symbols: {warned:?}"
    );
    let mut per_binary: HashMap<&str, usize> = HashMap::new();
    for w in &warned {
        if let Some(rest) = w.strip_prefix("no symbols for ") {
            *per_binary
                .entry(rest.split(' ').next().unwrap_or(rest))
                .or_default() += 1;
        }
    }
    assert!(
        per_binary.values().all(|&n| n <= 1),
        "at most one warning per binary: {warned:?}"
    );
}

/// The leaf user frame of each folded stack (kernel frames end in `_[k]`).
fn user_leaves(stacks: &[(String, u64)]) -> HashMap<String, u64> {
    let mut out: HashMap<String, u64> = HashMap::new();
    for (stack, n) in stacks {
        if let Some(leaf) = stack.split(';').rfind(|f| !f.ends_with("_[k]")) {
            *out.entry(leaf.to_string()).or_default() += n;
        }
    }
    out
}

/// Java 17 in a container of its own (pid, mount namespaces, a private
/// /tmp): HotSpot writes /tmp/perf-1.map inside it only at exit
/// (-XX:+DumpPerfMapAtExit), when the process is gone. The map is read
/// through the root handle kept while it lived: JIT code is named.
#[test]
fn java_jit_code_is_named_from_the_perf_map_written_at_exit() {
    let test = "java_jit_code_is_named_from_the_perf_map_written_at_exit";
    if !require_privileged(test) || require_tool(test, "java", "openjdk-17-jre-headless").is_none()
    {
        return;
    }
    let dir = scratch("names-java");
    let file = dir.path().join("j.holter");
    let src = repo_root().join("tests/workloads");
    // The source is bound on /srv, then a tmpfs hides the host's /tmp: the
    // map exists inside the container only, and vanishes with it.
    let script = format!(
        "mount --bind {} /srv && mount -t tmpfs holter-test /tmp && exec java \
         -XX:+PreserveFramePointer -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit \
         /srv/Hot.java 3",
        src.display()
    );
    ok_stdout(
        "holter-agent record -- unshare ... java",
        &agent_with_timeout(
            &[
                "record",
                "--frequency",
                "999",
                "-o",
                file.to_str().unwrap(),
                "--",
                "unshare",
                "--fork",
                "--pid",
                "--mount",
                "--mount-proc",
                "sh",
                "-c",
                &script,
            ],
            Duration::from_secs(120),
        ),
    );
    let leaves = user_leaves(&folded(&file));
    // JIT code: samples whose user leaf is in anonymous memory, named from
    // the map (Java methods, the interpreter, stubs) or not (`anon+0x…`).
    let unnamed: u64 = leaves
        .iter()
        .filter(|(l, _)| l.starts_with("anon+0x"))
        .map(|(_, n)| n)
        .sum();
    let spin: u64 = leaves
        .iter()
        .filter(|(l, _)| l.contains("Hot.spin"))
        .map(|(_, n)| n)
        .sum();
    let mut top: Vec<(&String, &u64)> = leaves.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    top.truncate(8);
    assert!(
        spin >= 1000,
        "Hot.spin named in {spin} samples (3 s at 999 Hz, mostly in spin): {top:?}"
    );
    assert!(
        unnamed * 10 <= spin + unnamed,
        "{unnamed} JIT samples unnamed against {spin} in Hot.spin: {top:?}"
    );
}

/// `MODULE!fn@0xSTART` frames of folded stacks: (module, start).
fn function_starts(stacks: &[(String, u64)]) -> HashSet<(&str, u64)> {
    stacks
        .iter()
        .flat_map(|(s, _)| s.split(';'))
        .filter_map(|f| {
            let (module, start) = f.split_once("!fn@0x")?;
            Some((module, u64::from_str_radix(start, 16).ok()?))
        })
        .collect()
}

/// The output of a tool that must succeed.
fn tool(what: &str, cmd: &mut Command) -> String {
    let out = run(what, cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A workload stripped of every symbol (`strip --strip-all`: no `.symtab`,
/// no DWARF; `.eh_frame` stays): each frame of its code is named
/// `calltree!fn@0xSTART`, and each START is the address of the function the
/// unstripped copy names there, so main;work_a;burn appears as three boxes,
/// one per function, not one per address sampled.
#[test]
fn stripped_code_is_named_by_function_start() {
    let test = "stripped_code_is_named_by_function_start";
    if !require_tools(test, &["strip", "nm", "readelf"], "binutils") {
        return;
    }
    let w = compile_workload("calltree");
    let stripped = w.dir.path().join("calltree-stripped");
    std::fs::copy(&w.path, &stripped).unwrap();
    tool(
        "strip --strip-all",
        Command::new("strip").arg("--strip-all").arg(&stripped),
    );
    let nm = tool("nm calltree-stripped", Command::new("nm").arg(&stripped));
    assert!(!nm.contains(" burn"), "stripped: {nm}");
    // The unstripped twin: the same code at the same addresses, with names.
    let names: HashMap<u64, String> = tool("nm calltree", Command::new("nm").arg(&w.path))
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let addr = u64::from_str_radix(it.next()?, 16).ok()?;
            let kind = it.next()?;
            let name = it.next()?;
            matches!(kind, "T" | "t").then(|| (addr, name.to_string()))
        })
        .collect();
    // The PLT has an FDE of its own: a sample in a stub is named by its start.
    let sections = tool(
        "readelf -SW",
        Command::new("readelf").arg("-SW").arg(&stripped),
    );
    let plt: HashSet<u64> = sections
        .lines()
        .filter_map(|l| {
            let l = l.split_once(']')?.1;
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let addr = it.nth(1)?;
            name.starts_with(".plt")
                .then(|| u64::from_str_radix(addr, 16).ok())
                .flatten()
        })
        .collect();
    let dir = scratch("names-stripped");
    let file = dir.path().join("s.holter");
    ok_stdout(
        "holter-agent record -- calltree-stripped 2",
        &agent_with_timeout(
            &[
                "record",
                "--frequency",
                "999",
                "-o",
                file.to_str().unwrap(),
                "--",
                stripped.to_str().unwrap(),
                "2",
            ],
            Duration::from_secs(60),
        ),
    );
    let stacks: Vec<(String, u64)> = folded(&file)
        .into_iter()
        .filter(|(s, _)| s.starts_with("calltree-stripp"))
        .collect();
    let samples: u64 = stacks.iter().map(|(_, n)| n).sum();
    assert!(samples >= 200, "{samples} samples of 2 s at 999 Hz");
    let by_address: u64 = stacks
        .iter()
        .filter(|(s, _)| s.split(';').any(|f| f.starts_with("calltree-stripped+0x")))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        by_address,
        0,
        "no frame of the stripped binary named by its address: {:?}",
        &stacks[..stacks.len().min(5)]
    );
    let starts = function_starts(&stacks);
    let ours: Vec<u64> = starts
        .iter()
        .filter(|(m, _)| *m == "calltree-stripped")
        .map(|(_, s)| *s)
        .collect();
    for start in &ours {
        assert!(
            names.contains_key(start) || plt.contains(start),
            "calltree-stripped!fn@{start:#x} is not where a function of the unstripped copy \
             (or a PLT) starts"
        );
    }
    // Renamed by the unstripped copy's symbols, the stacks are the call tree.
    let renamed: Vec<(String, u64)> = stacks
        .iter()
        .map(|(s, n)| {
            let frames: Vec<String> = s
                .split(';')
                .map(|f| match f.split_once("calltree-stripped!fn@0x") {
                    Some((_, a)) => names
                        .get(&u64::from_str_radix(a, 16).unwrap())
                        .cloned()
                        .unwrap_or_else(|| "[plt]".into()),
                    None => f.to_string(),
                })
                .collect();
            (frames.join(";"), *n)
        })
        .collect();
    let in_burn = |via: &str| -> u64 {
        renamed
            .iter()
            .filter(|(s, _)| s.contains(&format!(";main;{via};burn")))
            .map(|(_, n)| n)
            .sum()
    };
    let (a, b) = (in_burn("work_a"), in_burn("work_b"));
    assert!(
        a + b >= samples * 8 / 10 && a > b,
        "main;work_a;burn {a} and main;work_b;burn {b} of {samples}: {renamed:?}"
    );
    // One box per function: as many distinct stacks as the call tree has.
    let distinct: HashSet<&str> = renamed
        .iter()
        .map(|(s, _)| s.split(';').rfind(|f| !f.ends_with("_[k]")).unwrap_or(""))
        .collect();
    assert!(
        ours.len() <= 8,
        "{} functions of calltree named by start (main, work_a, work_b, burn, _start...)",
        ours.len()
    );
    assert!(distinct.contains("burn"), "{distinct:?}");
}

/// The stacks of `perf script` (user and kernel frames, outermost first, as
/// perf names them: `[unknown]` where it has no name), with their counts.
fn perf_folded(data: &Path, comm: &str) -> HashMap<String, u64> {
    let text = tool(
        "perf script",
        Command::new("perf")
            .args(["script", "-F", "comm,ip,sym,dso", "--comm", comm, "-i"])
            .arg(data),
    );
    let mut out: HashMap<String, u64> = HashMap::new();
    let mut frames: Vec<String> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !frames.is_empty() {
                frames.reverse();
                *out.entry(frames.join(";")).or_default() += 1;
                frames.clear();
            }
        } else if line.starts_with([' ', '\t']) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            frames.push(if parts.len() > 2 {
                parts[1..parts.len() - 1].join(" ")
            } else {
                "[unknown]".into()
            });
        }
    }
    out
}

/// Debian's xz and its stripped liblzma (`.dynsym` only: the exported lzma_*
/// functions), recorded by holter and `perf record --call-graph dwarf` in
/// the same run: the internal functions are named
/// `liblzma.so.5…!fn@0xSTART`, each START an FDE of the file as `readelf`
/// lists them; the raw stacks hold many more distinct liblzma addresses than
/// the flame graph has boxes, and holter's flame graph has about as many
/// distinct stacks as perf's (which folds every unnamed frame into one
/// `[unknown]`), where naming by address gave ten times as many.
#[test]
fn stripped_xz_is_named_by_function_start_as_perf_groups_it() {
    let test = "stripped_xz_is_named_by_function_start_as_perf_groups_it";
    if !require_tools(
        test,
        &["xz", "perf", "readelf"],
        "xz-utils linux-perf binutils",
    ) {
        return;
    }
    let dir = scratch("names-xz");
    let input = dir.path().join("in");
    let text: String = (1..400_000).map(|i| format!("{i}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let file = dir.path().join("x.holter");
    let data = dir.path().join("x.perf");
    ok_stdout(
        "holter-agent record -- perf record -- xz",
        &agent_with_timeout(
            &[
                "record",
                "--frequency",
                "999",
                "-o",
                file.to_str().unwrap(),
                "--",
                "perf",
                "record",
                "-q",
                "--call-graph",
                "dwarf",
                "-F",
                "999",
                "-o",
                data.to_str().unwrap(),
                "--",
                "sh",
                "-c",
                &format!("exec xz -T1 -c {} >/dev/null", input.display()),
            ],
            Duration::from_secs(120),
        ),
    );
    let stacks: Vec<(String, u64)> = folded(&file)
        .into_iter()
        .filter(|(s, _)| s.starts_with("xz;"))
        .collect();
    let samples: u64 = stacks.iter().map(|(_, n)| n).sum();
    assert!(samples >= 500, "{samples} samples of xz");
    // The liblzma mapped, as the capture names it.
    let records: Vec<holter_format::Record> =
        holter_format::Reader::new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .collect();
    let lzma: Vec<&holter_format::Mapping> = records
        .iter()
        .filter_map(|r| match r {
            holter_format::Record::Mapping(m) if m.path.contains("/liblzma.so") => Some(m),
            _ => None,
        })
        .collect();
    assert!(!lzma.is_empty(), "xz maps liblzma");
    let module = lzma[0].path.rsplit('/').next().unwrap().to_string();
    // FDE starts of that file, by readelf (not by holter's own parser).
    let frames = tool(
        "readelf --debug-dump=frames",
        Command::new("readelf")
            .args(["--wide", "--debug-dump=frames"])
            .arg(&lzma[0].path),
    );
    let fdes: HashSet<u64> = frames
        .lines()
        .filter(|l| l.contains(" FDE "))
        .filter_map(|l| {
            let pc = l.split("pc=").nth(1)?.split("..").next()?;
            u64::from_str_radix(pc, 16).ok()
        })
        .collect();
    assert!(fdes.len() > 100, "{} FDEs in {module}", fdes.len());
    let starts: Vec<u64> = function_starts(&stacks)
        .into_iter()
        .filter(|(m, _)| *m == module)
        .map(|(_, s)| s)
        .collect();
    assert!(
        starts.len() >= 3,
        "{module} functions named by start: {starts:?}"
    );
    for s in &starts {
        assert!(fdes.contains(s), "{module}!fn@{s:#x} is no FDE start");
    }
    let by_address: u64 = stacks
        .iter()
        .filter(|(s, _)| s.split(';').any(|f| f.starts_with(&format!("{module}+0x"))))
        .map(|(_, n)| n)
        .sum();
    assert!(
        by_address * 50 <= samples,
        "{by_address} of {samples} samples with a liblzma frame named by its address"
    );
    // The distinct liblzma addresses in the raw stacks: one box each before.
    let mut addresses: HashSet<u64> = HashSet::new();
    for r in &records {
        if let holter_format::Record::Stack(st) = r {
            for &a in &st.user {
                if lzma.iter().any(|m| a >= m.start && a < m.end) {
                    addresses.insert(a);
                }
            }
        }
    }
    assert!(
        addresses.len() >= 10 * starts.len(),
        "{} distinct liblzma addresses, {} boxes",
        addresses.len(),
        starts.len()
    );
    let perf = perf_folded(&data, "xz");
    let perf_samples: u64 = perf.values().sum();
    assert!(perf_samples >= 500, "{perf_samples} perf samples of xz");
    eprintln!(
        "{test}: xz: holter {} distinct stacks ({samples} samples, {} liblzma functions by start, \
         {} distinct liblzma addresses), perf {} ({perf_samples} samples)",
        stacks.len(),
        starts.len(),
        addresses.len(),
        perf.len()
    );
    assert!(
        stacks.len() <= 2 * perf.len() + 10,
        "holter {} distinct stacks against perf's {}",
        stacks.len(),
        perf.len()
    );
}

/// `holter flamegraph --folded` with more arguments and environment.
fn folded_with(capture: &Path, args: &[&str], env: &[(&str, &Path)]) -> Vec<(String, u64)> {
    let mut cmd = Command::new(bin("holter"));
    cmd.args(["flamegraph", capture.to_str().unwrap(), "--folded"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let text = ok_stdout(
        "holter flamegraph --folded",
        &run("holter flamegraph", &mut cmd, Duration::from_secs(120)),
    );
    text.lines()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("`stack COUNT` lines");
            (stack.to_string(), count.parse().expect("a count"))
        })
        .collect()
}

/// Records `program args` at 999 Hz into `file`.
fn record(file: &Path, program: &Path, args: &[&str]) {
    let mut argv = vec![
        "record",
        "--frequency",
        "999",
        "-o",
        file.to_str().unwrap(),
        "--",
        program.to_str().unwrap(),
    ];
    argv.extend_from_slice(args);
    ok_stdout(
        "holter-agent record",
        &agent_with_timeout(&argv, Duration::from_secs(60)),
    );
}

fn samples_with(stacks: &[(String, u64)], frame: &str) -> u64 {
    stacks
        .iter()
        .filter(|(s, _)| s.split(';').any(|f| f == frame))
        .map(|(_, n)| n)
        .sum()
}

/// libc6-dbg installed: libc's local functions (stripped from its `.symtab`)
/// are named from `/usr/lib/debug/.build-id` by default, as perf names them
/// (`__libc_start_call_main` under `__libc_start_main_impl`); not with
/// `--no-system-debuginfo`.
#[test]
fn libc_is_named_from_usr_lib_debug_by_default() {
    let test = "libc_is_named_from_usr_lib_debug_by_default";
    if !require_privileged(test) {
        return;
    }
    if !Path::new("/usr/lib/debug/.build-id").is_dir() {
        skip(
            test,
            "libc6-dbg is not installed (scripts/deps.sh installs it)",
        );
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("names-libc-dbg");
    let file = dir.path().join("c.holter");
    record(&file, &w.path, &["1"]);
    let home: &Path = dir.path();
    let by_default = folded_with(&file, &[], &[("HOME", home)]);
    let samples: u64 = by_default.iter().map(|(_, n)| n).sum();
    let named = samples_with(&by_default, "__libc_start_call_main");
    assert!(
        named * 10 >= samples * 9,
        "{named} of {samples} stacks hold __libc_start_call_main: {:?}",
        &by_default[..by_default.len().min(3)]
    );
    assert!(
        by_default
            .iter()
            .any(|(s, _)| s
                .contains("__libc_start_main_impl;__libc_start_call_main;main;work_a;burn")),
        "{by_default:?}"
    );
    let capture_only = folded_with(&file, &["--no-system-debuginfo"], &[("HOME", home)]);
    assert_eq!(samples_with(&capture_only, "__libc_start_call_main"), 0);
}

/// A real `debuginfod` serving a directory with the debug file of a
/// stripped workload: `DEBUGINFOD_URLS` names its functions (and, with
/// `--lines`, its source lines), the file is kept in the cache, and a
/// second run needs no server.
#[test]
fn debug_files_come_from_a_real_debuginfod() {
    let test = "debug_files_come_from_a_real_debuginfod";
    if !require_tools(
        test,
        &["debuginfod", "objcopy", "strip", "readelf"],
        "debuginfod binutils",
    ) {
        return;
    }
    let w = compile_workload("calltree");
    let dir = scratch("names-debuginfod");
    let srv = dir.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    let debug = srv.join("calltree.debug");
    tool(
        "objcopy --only-keep-debug",
        Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&w.path)
            .arg(&debug),
    );
    let stripped = dir.path().join("calltree");
    std::fs::copy(&w.path, &stripped).unwrap();
    tool(
        "strip --strip-all",
        Command::new("strip").arg("--strip-all").arg(&stripped),
    );
    let file = dir.path().join("d.holter");
    record(&file, &stripped, &["1"]);
    let notes = tool(
        "readelf -n",
        Command::new("readelf").arg("-n").arg(&stripped),
    );
    let build_id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("a build-id")
        .trim()
        .to_string();
    // The server, on a free port, with its database in the scratch directory.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Proc::start(
        "debuginfod",
        Command::new("debuginfod")
            .arg("-F")
            .arg(&srv)
            .args(["-p", &port.to_string(), "-d"])
            .arg(dir.path().join("db.sqlite")),
    );
    let url = format!("http://127.0.0.1:{port}");
    // Ready once it has indexed the directory and answers for the build-id
    // (it refuses HEAD: a GET whose status line is enough).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", port)).ok().and_then(|mut s| {
            use std::io::{Read, Write};
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(
                s,
                "GET /buildid/{build_id}/debuginfo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut status = [0u8; 12];
            s.read_exact(&mut status).ok()?;
            Some(status.ends_with(b" 200"))
        });
        if got == Some(true) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline && server.try_wait().is_none(),
            "debuginfod did not serve {build_id} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let home = dir.path().join("home");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&home).unwrap();
    let urls = std::ffi::OsString::from(&url);
    let env: [(&str, &Path); 3] = [
        ("HOME", &home),
        ("HOLTER_DEBUGINFOD_CACHE", &cache),
        ("DEBUGINFOD_URLS", Path::new(&urls)),
    ];
    let without = folded_with(&file, &[], &env[..2]);
    assert_eq!(samples_with(&without, "burn"), 0, "stripped: {without:?}");
    let with = folded_with(&file, &[], &env);
    let samples: u64 = with.iter().map(|(_, n)| n).sum();
    let burn = samples_with(&with, "burn");
    assert!(
        burn * 10 >= samples * 8,
        "{burn} of {samples} samples in burn, named from debuginfod: {with:?}"
    );
    assert!(
        with.iter().any(|(s, _)| s.contains(";main;work_a;burn")),
        "{with:?}"
    );
    assert!(
        cache.join(format!("{build_id}.debug")).is_file(),
        "kept in the cache"
    );
    server.kill();
    // The cache answers; --lines adds the source lines of calltree.c.
    let lines = folded_with(&file, &["--lines"], &env);
    assert!(
        lines
            .iter()
            .any(|(s, _)| s.split(';').any(|f| f.starts_with("burn (calltree.c:"))),
        "{lines:?}"
    );
}
