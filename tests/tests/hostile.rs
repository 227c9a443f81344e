//! The container is hostile: containers made with `unshare` (own pid, mount,
//! net and uts namespaces, chrooted into a tmpfs root that holds the host's
//! /usr read-only and a /tmp of their own) plant links, FIFOs and devices
//! where the agent reads. Whatever they do, the capture holds no host
//! content, the agent ends within `--duration` + 2 s with its footer, and its
//! memory stays bounded. Also: the output file with `--force`, `--redact`,
//! a main thread gone by `pthread_exit`, and launched commands' signals.
//!
//! `HOLTER_AGENT_UNDER_TEST=/path/to/holter-agent` runs these tests against
//! another build (e.g. an older one, to see them fail).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use holter_e2e::*;
use holter_format::Record;

/// Most resident memory the agent may reach here (a debug build records
/// these few seconds in ~20 MiB; the unbounded reads this guards against took GiBs).
const MAX_RSS_KIB: i64 = 256 * 1024;
/// How long past `--duration` the agent may take to end.
const GRACE: Duration = Duration::from_secs(2);

fn agent_bin() -> PathBuf {
    std::env::var_os("HOLTER_AGENT_UNDER_TEST")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| bin("holter-agent"))
}

/// An agent run, reaped with `wait4` for its peak memory; killed if the test ends early.
struct AgentRun {
    child: Option<Child>,
    started: Instant,
    /// Holds the ready file the agent creates once it records.
    _ready: TempDir,
}

struct Ended {
    success: bool,
    code: Option<i32>,
    elapsed: Duration,
    max_rss_kib: i64,
    stderr: String,
}

impl AgentRun {
    /// Starts the agent and waits (up to 30 s) until it records: its ready
    /// file is written once the handlers are installed and every collector is
    /// armed, or it has exited already (`end` then tells why).
    fn start(args: &[&str]) -> AgentRun {
        let ready = tempfile::Builder::new()
            .prefix("holter-ready-")
            .tempdir()
            .expect("tempdir");
        let flag = ready.path().join("ready");
        let child = Command::new(agent_bin())
            .args(args)
            .env("HOLTER_READY_FILE", &flag)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holter-agent");
        let run = AgentRun {
            child: Some(child),
            started: Instant::now(),
            _ready: ready,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !flag.exists() && Instant::now() < deadline {
            if exited_unreaped(run.child.as_ref().unwrap().id()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        run
    }

    /// Waits up to `timeout` for the agent to end by itself; past it, the
    /// agent is killed and the test fails. (Reaped by `wait4`, not `Child::wait`.)
    #[allow(clippy::zombie_processes)]
    fn end(mut self, timeout: Duration) -> Ended {
        let mut child = self.child.take().unwrap();
        let pid = child.id() as i32;
        let deadline = self.started + timeout;
        // The agent's own peak (VmHWM), read while it runs: wait4's ru_maxrss
        // would also count this test process's memory, inherited across exec.
        let mut peak_kib = 0i64;
        loop {
            peak_kib = peak_kib.max(vm_hwm_kib(pid as u32).unwrap_or(0));
            let mut status = 0;
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == pid {
                let elapsed = self.started.elapsed();
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                let exited = libc::WIFEXITED(status);
                return Ended {
                    success: exited && libc::WEXITSTATUS(status) == 0,
                    code: exited.then(|| libc::WEXITSTATUS(status)),
                    elapsed,
                    max_rss_kib: if peak_kib > 0 {
                        peak_kib
                    } else {
                        usage.ru_maxrss
                    },
                    stderr,
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "holter-agent still running after {timeout:?}: killed (it must honour --duration)"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `VmHWM` of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether a child has exited, leaving it to be reaped (`end` reaps it with
/// `wait4` for its resource usage).
fn exited_unreaped(pid: u32) -> bool {
    // SAFETY: waitid fills a zeroed siginfo_t we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() != 0
    }
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn records(file: &Path) -> Vec<Record> {
    let f = std::fs::File::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    holter_format::Reader::new(f).expect("a capture").collect()
}

/// Every record as text, to look for what must not be there.
fn all_text(records: &[Record]) -> String {
    records.iter().map(|r| format!("{r:?}\n")).collect()
}

fn footer(records: &[Record]) -> Option<&holter_format::Footer> {
    records.iter().find_map(|r| match r {
        Record::Footer(f) => Some(f),
        _ => None,
    })
}

/// A capture made within its time, memory and with its footer.
fn assert_bounded(end: &Ended, duration: Duration, file: &Path, what: &str) -> Vec<Record> {
    assert!(end.success, "{what}: holter-agent failed: {}", end.stderr);
    assert!(
        end.elapsed <= duration + GRACE,
        "{what}: took {:?} for --duration {duration:?}",
        end.elapsed
    );
    assert!(
        end.max_rss_kib <= MAX_RSS_KIB,
        "{what}: peak RSS {} KiB",
        end.max_rss_kib
    );
    let recs = records(file);
    let f = footer(&recs).unwrap_or_else(|| panic!("{what}: no footer"));
    assert_eq!(f.reason, "duration", "{what}");
    eprintln!(
        "{what}: ended in {:?}, peak RSS {} KiB",
        end.elapsed, end.max_rss_kib
    );
    recs
}

/// Records a hostile container's workload by `--pid` for `secs` seconds
/// (with `extra` options) and checks that the agent stayed bounded: its records.
fn record_bounded(h: &Hostile, extra: &[&str], secs: u64, what: &str) -> Vec<Record> {
    let pid = h.container.workload_pid("hostile").to_string();
    let dir = scratch("hostile-capture");
    let file = dir.path().join("c.holter");
    let duration = format!("{secs}s");
    let mut args = vec!["record", "--pid", &pid];
    args.extend_from_slice(extra);
    args.extend(["--duration", &duration, "-o", file.to_str().unwrap()]);
    let run = AgentRun::start(&args);
    let end = run.end(Duration::from_secs(secs + 30));
    assert_bounded(&end, Duration::from_secs(secs), &file, what)
}

/// A hostile container: `unshare --pid --mount --mount-proc --net --uts`,
/// chrooted into a tmpfs root made in its own mount namespace: the host's /usr
/// (read-only), /srv holding the `hostile` workload, /dev with zero and null,
/// an /etc/resolv.conf, a private /tmp. `setup` runs in that root (as cwd)
/// before `/srv/hostile ARGS` execs as the container's pid 1.
struct Hostile {
    container: Container,
    _root: tempfile::TempDir,
}

fn hostile(tag: &str, wl: &Workload, setup: &str, args: &str) -> Hostile {
    let root = scratch(&format!("{tag}-root"));
    let script = format!(
        r#"set -e
R={root}
mount -t tmpfs -o mode=755 holter-hostile "$R"
cd "$R"
mkdir -p usr tmp etc srv proc dev
chmod 1777 tmp
mount --bind /usr usr
mount -o remount,bind,ro usr
ln -s usr/bin bin; ln -s usr/lib lib; ln -s usr/lib64 lib64; ln -s usr/sbin sbin
mount --bind {wl} srv
mount -t proc proc proc
mknod dev/zero c 1 5; mknod dev/null c 1 3
echo "nameserver 192.0.2.53" > etc/resolv.conf
{setup}
exec chroot "$R" /srv/hostile {args}
"#,
        root = root.path().display(),
        wl = wl.dir.path().display(),
    );
    let container = Container::start_with(
        Cgroup::new(tag),
        &["--pid", "--mount", "--mount-proc", "--net", "--uts"],
        &["sh", "-c", &script],
    );
    Hostile {
        container,
        _root: root,
    }
}

fn jit_symbols(recs: &[Record]) -> Vec<&holter_format::JitSymbols> {
    recs.iter()
        .filter_map(|r| match r {
            Record::JitSymbols(j) => Some(j),
            _ => None,
        })
        .collect()
}

#[test]
fn a_perf_map_planted_as_link_fifo_or_device_is_not_read() {
    if !require_privileged("a_perf_map_planted_as_link_fifo_or_device_is_not_read") {
        return;
    }
    let wl = compile_workload("hostile");
    let host = scratch("hostile-host");
    let secret = host.path().join("secret.map");
    std::fs::write(&secret, "7f0000001000 100 HOLTER_HOST_SECRET_SYMBOL\n").unwrap();
    let cases = [
        (
            "a link to a host file",
            format!("ln -s {} tmp/perf-1.map", secret.display()),
        ),
        (
            "a link to /dev/zero",
            "ln -s /dev/zero tmp/perf-1.map".into(),
        ),
        ("a FIFO", "mkfifo tmp/perf-1.map".into()),
        (
            "a device node (/dev/kmsg, blocking reads)",
            "mknod tmp/perf-1.map c 1 11".into(),
        ),
        (
            "a link up and out of the root",
            format!("ln -s ../../../../../..{} tmp/perf-1.map", secret.display()),
        ),
    ];
    for (what, setup) in &cases {
        let h = hostile("hostile-perfmap", &wl, setup, "jit 30");
        let recs = record_bounded(&h, &[], 2, &format!("perf map as {what}"));
        let text = all_text(&recs);
        assert!(
            !text.contains("HOLTER_HOST_SECRET"),
            "perf map as {what}: host content in the capture"
        );
        assert!(
            jit_symbols(&recs).iter().all(|j| j.symbols.is_empty()),
            "perf map as {what}: JIT symbols from it: {:?}",
            jit_symbols(&recs)
        );
        let samples = recs
            .iter()
            .filter(|r| matches!(r, Record::SampleBatch(_) | Record::SampleBatchLessPeriod(_)))
            .count();
        assert!(samples > 0, "perf map as {what}: the JIT code was sampled");
    }
}

#[test]
fn a_real_perf_map_inside_the_root_is_still_read() {
    if !require_privileged("a_real_perf_map_inside_the_root_is_still_read") {
        return;
    }
    let wl = compile_workload("hostile");
    // The map is a link inside the container (absolute, to its own file): followed within the root.
    let setup = "mkdir -p tmp/maps && printf '7f0000001000 100 container_jit_symbol\\n' > tmp/maps/m && ln -s /tmp/maps/m tmp/perf-1.map";
    let h = hostile("hostile-perfmap-ok", &wl, setup, "jit 30");
    let recs = record_bounded(&h, &[], 2, "a real perf map");
    let names: Vec<&str> = jit_symbols(&recs)
        .iter()
        .flat_map(|j| j.symbols.iter().map(|s| s.name.as_str()))
        .collect();
    assert_eq!(names, ["container_jit_symbol"]);
}

#[test]
fn a_mapped_library_swapped_for_dev_zero_is_read_through_map_files() {
    if !require_privileged("a_mapped_library_swapped_for_dev_zero_is_read_through_map_files") {
        return;
    }
    let wl = compile_workload("hostile");
    // The "library": an ELF file with a build-id of its own (not one the
    // agent has read already), here a copy of the host's `true`.
    let h = hostile(
        "hostile-swap",
        &wl,
        "cp usr/bin/true tmp/lib.so",
        "swap 30 /tmp/lib.so",
    );
    let pid = h.container.workload_pid("hostile");
    let dir = scratch("hostile-swap");
    let file = dir.path().join("s.holter");
    let run = AgentRun::start(&[
        "record",
        "--pid",
        &pid.to_string(),
        "--duration",
        "3s",
        "-o",
        file.to_str().unwrap(),
    ]);
    // Mapped, then swapped at once, while the agent records.
    std::thread::sleep(Duration::from_millis(1000));
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let recs = assert_bounded(
        &run.end(Duration::from_secs(40)),
        Duration::from_secs(3),
        &file,
        "a library swapped for /dev/zero",
    );
    let mapping = recs
        .iter()
        .find_map(|r| match r {
            Record::Mapping(m) if m.path == "/tmp/lib.so" => Some(m),
            _ => None,
        })
        .expect("the swapped library's mapping");
    assert!(
        mapping.build_id.as_ref().is_some_and(|b| !b.is_empty()),
        "the mapped file itself was read: {mapping:?}"
    );
    let warned: Vec<&String> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Warning(w) if w.message.contains("/tmp/lib.so") => Some(&w.message),
            _ => None,
        })
        .collect();
    assert!(warned.is_empty(), "{warned:?}");
}

fn container_view(recs: &[Record]) -> &holter_format::ContainerView {
    recs.iter()
        .find_map(|r| match r {
            Record::ContainerView(v) => Some(v),
            _ => None,
        })
        .expect("a ContainerView record")
}

#[test]
fn resolv_conf_over_a_fifo_or_a_device_is_not_opened() {
    if !require_privileged("resolv_conf_over_a_fifo_or_a_device_is_not_opened") {
        return;
    }
    let wl = compile_workload("hostile");
    // Bound over the container's resolv.conf and over the one of its mount
    // namespace's root (where a helper that only entered the namespace looks).
    let over = |node: &str| {
        format!(
            "{node}; mount --bind {n} etc/resolv.conf; mount --bind \"$R/{n}\" /etc/resolv.conf",
            n = node.split_whitespace().nth(1).unwrap()
        )
    };
    let cases = [
        (
            "a plain file",
            String::new(),
            Some("nameserver 192.0.2.53\n"),
        ),
        ("a FIFO", over("mkfifo tmp/fifo"), None),
        ("a device (/dev/kmsg)", over("mknod dev/kmsg c 1 11"), None),
    ];
    for (what, setup, expected) in &cases {
        let h = hostile("hostile-resolv", &wl, setup, "jit 30");
        let recs = record_bounded(&h, &["--no-samples"], 2, &format!("resolv.conf as {what}"));
        let view = container_view(&recs);
        assert_eq!(
            view.resolv_conf,
            expected.unwrap_or(""),
            "resolv.conf as {what}"
        );
        let text = all_text(&recs);
        assert!(
            !text.contains("stopped answering"),
            "resolv.conf as {what}: {text}"
        );
        assert!(
            recs.iter().any(|r| matches!(r, Record::NetSnapshot(_))),
            "resolv.conf as {what}: the helper still answers"
        );
    }
}

#[test]
fn force_refuses_links_and_fifos_in_a_shared_directory() {
    if !require_privileged("force_refuses_links_and_fifos_in_a_shared_directory") {
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = scratch("hostile-force");
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = shared.join("link.holter");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let created = dir.path().join("created-by-root");
    let dangling = shared.join("dangling.holter");
    std::os::unix::fs::symlink(&created, &dangling).unwrap();
    let fifo = shared.join("fifo.holter");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (path, kind) in [
        (&link, "symbolic link"),
        (&dangling, "symbolic link"),
        (&fifo, "FIFO"),
    ] {
        let run = AgentRun::start(&[
            "record",
            "--no-samples",
            "--force",
            "-o",
            path.to_str().unwrap(),
            "--",
            "true",
        ]);
        let end = run.end(Duration::from_secs(10));
        assert!(!end.success, "{}: accepted", path.display());
        assert!(end.code.is_some(), "ended by itself, not by a signal");
        assert!(
            end.stderr.contains(kind) && end.stderr.contains("--force"),
            "{}: {}",
            path.display(),
            end.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!created.exists(), "a dangling link's target was created");
    let names: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");

    // A regular file someone else made, world-writable: replaced by a new file of ours, 0600.
    let old = shared.join("old.holter");
    std::fs::write(&old, "old").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::chown(&old, Some(1000), Some(1000)).unwrap();
    let ino = std::fs::metadata(&old).unwrap().ino();
    let end = AgentRun::start(&[
        "record",
        "--no-samples",
        "--force",
        "-o",
        old.to_str().unwrap(),
        "--",
        "true",
    ])
    .end(Duration::from_secs(20));
    assert!(end.success, "{}", end.stderr);
    let m = std::fs::symlink_metadata(&old).unwrap();
    assert!(m.file_type().is_file());
    assert_ne!(m.ino(), ino, "a new file, not the old one truncated");
    assert_eq!((m.mode() & 0o777, m.uid()), (0o600, 0));
    assert!(footer(&records(&old)).is_some());
}

#[test]
fn redact_covers_late_joiners_the_command_paths_hostname_and_resolv_conf() {
    if !require_privileged("redact_covers_late_joiners_the_command_paths_hostname_and_resolv_conf")
    {
        return;
    }
    let wl = compile_workload("hostile");
    let setup =
        "hostname holter-secret-host; echo 'search secret-domain.example' >> etc/resolv.conf";
    let h = hostile("hostile-redact", &wl, setup, "jit 30 --password=hunter1");
    let pid = h.container.workload_pid("hostile");
    let cpu = h.container.cgroup.dir("cpu");
    assert!(cpu.is_dir(), "a v1 cpu hierarchy at {}", cpu.display());
    let dir = scratch("hostile-redact");
    let file = dir.path().join("r.holter");
    let run = AgentRun::start(&[
        "record",
        "--cgroup",
        cpu.to_str().unwrap(),
        "--redact",
        "--duration",
        "3s",
        "-o",
        file.to_str().unwrap(),
    ]);
    // A late joiner of the v1 cgroup, with a secret on its command line.
    std::thread::sleep(Duration::from_millis(1000));
    let procs = cpu.join("cgroup.procs");
    let mut late = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {} && exec {} jit 30 --password=hunter2",
            procs.display(),
            wl.path.display()
        ))
        .spawn()
        .expect("spawn the late joiner");
    let end = run.end(Duration::from_secs(40));
    let _ = late.kill();
    let _ = late.wait();
    let recs = assert_bounded(&end, Duration::from_secs(3), &file, "--redact");
    assert!(
        recs.iter()
            .any(|r| matches!(r, Record::Process(p) if p.pid == late.id() && p.comm == "hostile")),
        "the late joiner is described"
    );
    assert!(
        recs.iter()
            .any(|r| matches!(r, Record::Process(p) if p.pid == pid)),
        "the first process is described"
    );
    let text = all_text(&recs);
    for secret in [
        "hunter1",
        "hunter2",
        "holter-secret-host",
        "secret-domain",
        "/srv/hostile",
        "holter-wl-",
        "192.0.2.53",
    ] {
        assert!(!text.contains(secret), "`{secret}` in the capture");
    }
    // Cgroup paths: the container's cgroup name is a token, the same token in
    // the process lines, the snapshots and the header; controllers are kept.
    let name = &h.container.cgroup.name;
    assert!(
        !text.contains(name.as_str()),
        "the cgroup name `{name}` in the capture"
    );
    let snaps: Vec<&str> = recs
        .iter()
        .filter_map(|r| match r {
            Record::CgroupSnapshot(c) => Some(c.path.as_str()),
            _ => None,
        })
        .collect();
    assert!(!snaps.is_empty(), "cgroup snapshots recorded");
    let tok = snaps[0].strip_prefix('/').unwrap_or(snaps[0]);
    assert!(
        tok.starts_with('#') && !tok.contains('/') && snaps.iter().all(|p| *p == snaps[0]),
        "{snaps:?}"
    );
    let late_cgroups = recs
        .iter()
        .find_map(|r| match r {
            Record::Process(p) if p.pid == late.id() => Some(p.cgroups.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        late_cgroups
            .iter()
            .any(|l| l.contains(":cpu") && l.ends_with(&format!("/{tok}"))),
        "{late_cgroups:?}"
    );
    let header = recs
        .iter()
        .find_map(|r| match r {
            Record::Header(h) => Some(h),
            _ => None,
        })
        .unwrap();
    assert!(
        header
            .target
            .cgroups
            .iter()
            .any(|c| c.ends_with(&format!("/{tok}"))),
        "{:?}",
        header.target.cgroups
    );
    let view = container_view(&recs);
    assert!(view.hostname.starts_with('#'), "{view:?}");
    assert!(view.resolv_conf.starts_with("nameserver #"), "{view:?}");

    // The launched command in the header.
    let file2 = dir.path().join("c.holter");
    let end = AgentRun::start(&[
        "record",
        "--redact",
        "--no-samples",
        "-o",
        file2.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "exit 0",
        "--password=hunter3",
    ])
    .end(Duration::from_secs(20));
    assert!(end.success, "{}", end.stderr);
    let text = all_text(&records(&file2));
    assert!(
        !text.contains("hunter3"),
        "the launched command's argv: {text}"
    );
    assert!(!text.contains("exit 0"), "{text}");
}

fn syscall_count(file: &Path, name: &str) -> u64 {
    let out = ok_stdout(
        "holter syscalls",
        &holter(&["syscalls", file.to_str().unwrap(), "--json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["count"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_main_thread_gone_by_pthread_exit_does_not_end_the_capture() {
    if !require_privileged("a_main_thread_gone_by_pthread_exit_does_not_end_the_capture") {
        return;
    }
    let wl = compile_workload("hostile");
    let dir = scratch("hostile-mainexit");

    // Launched: the main thread leaves at once, the two others make 100 calls over ~0.5 s.
    let file = dir.path().join("launched.holter");
    let end = AgentRun::start(&[
        "record",
        "--syscalls",
        "--no-samples",
        "-o",
        file.to_str().unwrap(),
        "--",
        wl.path.to_str().unwrap(),
        "mainexit",
        "100",
    ])
    .end(Duration::from_secs(30));
    assert!(end.success, "{}", end.stderr);
    let recs = records(&file);
    assert_eq!(footer(&recs).unwrap().reason, "target exited");
    assert_eq!(syscall_count(&file, "getppid"), 100, "every call recorded");

    // By --pid, once its main thread is a zombie.
    let mut child = Command::new(&wl.path)
        .args(["mainexit", "100", "wait"])
        .spawn()
        .expect("spawn");
    let pid = child.id();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_state(pid) != Some('Z') {
        assert!(Instant::now() < deadline, "the main thread did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Samples on too: its threads take the events its main thread cannot.
    let file = dir.path().join("pid.holter");
    let run = AgentRun::start(&[
        "record",
        "--syscalls",
        "--pid",
        &pid.to_string(),
        "-o",
        file.to_str().unwrap(),
    ]);
    // Every live thread traced, then the calls start.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tids: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let traced = tids.iter().filter(|t| **t != pid.to_string()).all(|t| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{t}/status"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
        });
        if traced && tids.len() > 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not traced within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(pid as i32, libc::SIGUSR2) };
    let end = run.end(Duration::from_secs(30));
    assert!(
        end.success,
        "--pid of a process whose main thread exited: {}",
        end.stderr
    );
    drop(guard);
    let recs = records(&file);
    assert_eq!(footer(&recs).unwrap().reason, "target exited");
    assert_eq!(syscall_count(&file, "getppid"), 100, "every call recorded");
}

#[test]
fn a_launched_command_has_default_signals() {
    if !require_privileged("a_launched_command_has_default_signals") {
        return;
    }
    let dir = scratch("hostile-sigpipe");
    let out = dir.path().join("out");
    let file = dir.path().join("s.holter");
    let script = format!(
        "set -o pipefail; yes | head -1 > /dev/null; echo $? > {o}; grep -E '^Sig(Blk|Ign)' /proc/self/status >> {o}",
        o = out.display()
    );
    let end = AgentRun::start(&[
        "record",
        "--no-samples",
        "-o",
        file.to_str().unwrap(),
        "--",
        "bash",
        "-c",
        &script,
    ])
    .end(Duration::from_secs(20));
    assert!(end.success, "{}", end.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "141", "`yes | head -1` ends by SIGPIPE: {text}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.split_whitespace().nth(1) == Some("0000000000000000")),
        "nothing blocked or ignored in what the command starts: {text}"
    );
}

/// A FUSE file system served by `tests/workloads/slowfs.py`, unmounted
/// (lazily) when dropped, even if the test fails.
struct SlowFs {
    server: Child,
    mnt: PathBuf,
}

impl SlowFs {
    /// Mounts `mnt` holding a copy of `file`; it hangs once `trigger` exists.
    fn start(python: &Path, mnt: &Path, file: &Path, trigger: &Path) -> SlowFs {
        std::fs::create_dir_all(mnt).unwrap();
        let server = Command::new(python)
            .arg(repo_root().join("tests/workloads/slowfs.py"))
            .args([mnt, file, trigger])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn slowfs.py");
        let fs = SlowFs {
            server,
            mnt: mnt.to_path_buf(),
        };
        let name = file.file_name().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !mnt.join(name).exists() {
            assert!(Instant::now() < deadline, "slowfs did not mount {mnt:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        fs
    }
}

impl Drop for SlowFs {
    fn drop(&mut self) {
        // SIGTERM: the server unmounts (MNT_DETACH) and exits; the lazy
        // unmount here covers a server that died first.
        unsafe { libc::kill(self.server.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let c = std::ffi::CString::new(self.mnt.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The calltree workload, under the name `name`, run (30 s) from a FUSE
/// mount of `tests/workloads/slowfs.py` that is told `mode` half a second
/// in (empty: it stops reading requests; `swallow`: it reads them and never
/// answers). Every page of the binary was read once before (and cached,
/// FOPEN_KEEP_CACHE), so the workload runs on while the file system hangs.
/// With the scratch directory, the server, the workload and the binary's
/// path on the mount; `None` (the test skipped, or failed under
/// HOLTER_REQUIRE_PRIVILEGED) without privileges, python3 or /dev/fuse.
fn workload_on_a_fuse_file_system(
    test: &str,
    name: &str,
    mode: &[u8],
) -> Option<(tempfile::TempDir, SlowFs, Proc, PathBuf)> {
    if !require_privileged(test) {
        return None;
    }
    let python = require_tool(test, "python3", "python3")?;
    if !Path::new("/dev/fuse").exists() {
        skip(test, "no /dev/fuse (the kernel's FUSE module)");
        return None;
    }
    let wl = compile_workload("calltree");
    let dir = scratch(name);
    let mnt = dir.path().join("mnt");
    let trigger = dir.path().join("hang");
    // Served as a copy, under a name of its own.
    let served = dir.path().join(name);
    std::fs::copy(&wl.path, &served).unwrap();
    let fs = SlowFs::start(&python, &mnt, &served, &trigger);
    let exe = mnt.join(name);
    assert_eq!(
        std::fs::read(&exe).unwrap(),
        std::fs::read(&served).unwrap()
    );
    let run = spawn(&exe, &["30"]);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&trigger, mode).unwrap();
    Some((dir, fs, run, exe))
}

/// A workload whose binary sits on a file system that hangs once it runs
/// (FUSE, its server no longer answering: the agent's open of the mapped
/// file waits): the sampler never waits for it. Samples keep flowing (its
/// frames unwound by frame pointers, counted as `unwind:table-pending`),
/// the capture ends within `--duration` + 2 s with its footer, and a warning
/// names the file. Before, the sampler's thread read the file itself and
/// sat in that open: no sample at all.
/// (It failed 1 run in 2, "is a zombie", while the suite's first agent
/// build ran after `spawn` and outlasted the 30 s workload; `spawn` now
/// builds first.)
#[test]
fn a_binary_on_a_hung_fuse_file_system_does_not_hold_the_sampler() {
    let test = "a_binary_on_a_hung_fuse_file_system_does_not_hold_the_sampler";
    let Some((dir, fs, run, exe)) = workload_on_a_fuse_file_system(test, "hungfs-wl", b"") else {
        return;
    };
    let file = dir.path().join("c.holter");
    let pid = run.id().to_string();
    let secs = 3;
    let agent = AgentRun::start(&[
        "record",
        "--pid",
        &pid,
        "--frequency",
        "499",
        "--duration",
        "3s",
        "-o",
        file.to_str().unwrap(),
    ]);
    let end = agent.end(Duration::from_secs(secs + 30));
    drop(run);
    let recs = assert_bounded(
        &end,
        Duration::from_secs(secs),
        &file,
        "a binary on a hung FUSE file system",
    );
    drop(fs);
    let samples: usize = recs
        .iter()
        .filter_map(|r| match r {
            Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => Some(b.samples().count()),
            _ => None,
        })
        .sum();
    // 499 Hz for 3 s of a CPU-bound workload: ~1500; the agent's start and a
    // loaded machine take some.
    assert!(samples >= 500, "{samples} samples");
    let warnings: Vec<&str> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Warning(w) => Some(w.message.as_str()),
            _ => None,
        })
        .collect();
    let named = exe.to_str().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("reading {named} for its symbols has taken"))),
        "{warnings:?}"
    );
    let pending = recs
        .iter()
        .filter_map(|r| match r {
            Record::Counters(c) => c
                .values
                .iter()
                .find(|(k, _)| k == "unwind:table-pending")
                .map(|(_, v)| *v),
            _ => None,
        })
        .sum::<u64>();
    assert!(
        pending > 0,
        "no sample counted as unwound without its table"
    );
    eprintln!("{samples} samples, {pending} unwound without their table; warnings {warnings:?}");
}

/// The pids of the children of `pid` now (`/proc/*/stat`, field 4).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((_, ppid)) = state_and_ppid(p) {
            if ppid == pid {
                out.push(p);
            }
        }
    }
    out
}

/// A process's state letter and parent pid, while it exists.
fn state_and_ppid(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    Some((state, f.next()?.parse().ok()?))
}

/// A file system that reads the agent's request and never answers it (a
/// FUSE server the container runs, that `swallow`s requests): the kernel
/// waits for that answer uninterruptibly, so whatever asked is held in the
/// kernel until the server answers or dies. The agent's *process* still ends
/// within `--duration` + 2 s with its footer (the reads are made by reader
/// processes it leaves behind, not by its own threads); the one left is the
/// reader stuck in the kernel (state D) and it ends as soon as the server
/// does. Before, the agent's process waited for its stuck reader thread: it
/// exited only once the test killed the FUSE server (an hour, here).
#[test]
fn the_agent_exits_while_a_fuse_server_never_answers_its_read() {
    let test = "the_agent_exits_while_a_fuse_server_never_answers_its_read";
    let Some((dir, fs, run, exe)) =
        workload_on_a_fuse_file_system(test, "swallowfs-wl", b"swallow")
    else {
        return;
    };
    let file = dir.path().join("c.holter");
    let pid = run.id().to_string();
    let secs = 2;
    let mut agent = AgentRun::start(&[
        "record",
        "--pid",
        &pid,
        "--duration",
        "2s",
        "-o",
        file.to_str().unwrap(),
    ]);
    let child = agent.child.take().unwrap();
    let apid = child.id();
    // Its children, seen while it runs (they are reparented once it exits).
    let mut kids = std::collections::BTreeSet::new();
    let limit = agent.started + Duration::from_secs(secs + 15);
    let mut status = 0;
    let exited = loop {
        kids.extend(children_of(apid));
        // SAFETY: our own child.
        if unsafe { libc::waitpid(apid as i32, &mut status, libc::WNOHANG) } == apid as i32 {
            break Some(agent.started.elapsed());
        }
        if Instant::now() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let Some(elapsed) = exited else {
        // Held in the kernel: only the server's end releases it.
        drop(fs);
        // SAFETY: our own child.
        unsafe { libc::waitpid(apid as i32, &mut status, 0) };
        panic!(
            "holter-agent had not exited {:?} after it started (--duration {secs}s), \
             with its read on the FUSE file system unanswered; it exited only once \
             the FUSE server was killed, after {:?}",
            limit - agent.started,
            agent.started.elapsed()
        );
    };
    let mut stderr = String::new();
    if let Some(mut e) = { child }.stderr.take() {
        e.read_to_string(&mut stderr).unwrap();
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{stderr}"
    );
    assert!(
        elapsed <= Duration::from_secs(secs) + GRACE,
        "took {elapsed:?} for --duration {secs}s: {stderr}"
    );
    let recs = records(&file);
    assert_eq!(footer(&recs).expect("a footer").reason, "duration");
    // What it left behind: only readers stuck in the kernel on the FUSE file.
    let left: Vec<(u32, char)> = kids
        .iter()
        .filter_map(|&k| state_and_ppid(k).map(|(s, _)| (k, s)))
        .filter(|(_, s)| *s != 'Z')
        .collect();
    assert!(
        !left.is_empty(),
        "no reader was held by the FUSE server: the test did not hang a read ({kids:?})"
    );
    assert!(
        left.iter().all(|(_, s)| *s == 'D'),
        "left behind, not stuck in the kernel: {left:?}"
    );
    let warned = recs.iter().any(|r| match r {
        Record::Warning(w) => w.message.contains(exe.to_str().unwrap()),
        _ => false,
    });
    assert!(warned, "no warning names the unread file");
    drop(run);
    drop(fs);
    // The server gone, the stuck readers end too.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = left
            .iter()
            .map(|(k, _)| *k)
            .filter(|&k| state_and_ppid(k).is_some_and(|(s, _)| s != 'Z'))
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readers still alive after the server ended: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("agent exited after {elapsed:?}; left stuck: {left:?}");
}

/// Whether `pid` runs as one of the agent's file readers.
fn is_reader(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == b"__holter-file-reader"))
}

/// Waits until none of `pids` is alive (gone, or a zombie no one reaped).
fn all_end(pids: &std::collections::BTreeSet<u32>, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&k| state_and_ppid(k).is_some_and(|(s, _)| s != 'Z'))
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The agent's file readers (processes, `host::reader`) never outlive it
/// when nothing holds them: a capture that ends leaves no process of its
/// own behind, and an agent killed by SIGKILL mid-capture (the pod deleted,
/// the OOM killer) takes its readers and its namespace helper with it
/// (`PR_SET_PDEATHSIG`).
#[test]
fn the_agents_file_readers_end_with_it() {
    let test = "the_agents_file_readers_end_with_it";
    if !require_privileged(test) {
        return;
    }
    let wl = compile_workload("calltree");
    let run = spawn(&wl.path, &["60"]);
    let pid = run.id().to_string();
    let dir = scratch("readers-end");
    let file = dir.path().join("c.holter");
    // A capture that ends by itself.
    let mut agent = AgentRun::start(&[
        "record",
        "--pid",
        &pid,
        "--duration",
        "2s",
        "-o",
        file.to_str().unwrap(),
    ]);
    let child = agent.child.take().unwrap();
    let apid = child.id();
    let mut kids = std::collections::BTreeSet::new();
    let mut status = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        kids.extend(children_of(apid).into_iter().filter(|&k| is_reader(k)));
        // SAFETY: our own child.
        if unsafe { libc::waitpid(apid as i32, &mut status, libc::WNOHANG) } == apid as i32 {
            break;
        }
        if Instant::now() > deadline {
            drop(child);
            panic!("holter-agent did not end");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(child);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert!(!kids.is_empty(), "no file reader was started");
    // Reaped by the agent before it exited: no such process at all.
    let left: Vec<u32> = kids
        .iter()
        .copied()
        .filter(|k| Path::new(&format!("/proc/{k}")).exists())
        .collect();
    assert!(left.is_empty(), "readers left after the capture: {left:?}");
    assert_eq!(footer(&records(&file)).expect("footer").reason, "duration");

    // An agent killed mid-capture.
    let file = dir.path().join("k.holter");
    let mut agent = AgentRun::start(&[
        "record",
        "--pid",
        &pid,
        "--duration",
        "60s",
        "-o",
        file.to_str().unwrap(),
    ]);
    let child = agent.child.take().unwrap();
    let apid = child.id();
    let mut kids = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kids.iter().any(|&k| is_reader(k)) {
        kids.extend(children_of(apid));
        assert!(Instant::now() < deadline, "no file reader started");
        std::thread::sleep(Duration::from_millis(5));
    }
    kids.extend(children_of(apid));
    // SAFETY: our own child.
    unsafe {
        libc::kill(apid as i32, libc::SIGKILL);
        libc::waitpid(apid as i32, &mut status, 0);
    }
    drop(child);
    let alive = all_end(&kids, Duration::from_secs(2));
    assert!(
        alive.is_empty(),
        "outlived the agent killed by SIGKILL: {alive:?} (of {kids:?})"
    );
    drop(run);
}

/// The container's resolv.conf on a FUSE server of its own that reads the
/// namespace helper's request and never answers: the helper is held in the
/// kernel, so the view (hostname, resolv.conf, root mount) is given up after
/// 1 s with a warning, another helper reads the network counters, and the
/// capture completes (before: the capture was abandoned, "the namespace
/// helper stopped answering", after 5 s, and the helper was waited for
/// forever).
#[test]
fn resolv_conf_on_a_fuse_server_that_never_answers_costs_only_the_view() {
    let test = "resolv_conf_on_a_fuse_server_that_never_answers_costs_only_the_view";
    if !require_privileged(test) {
        return;
    }
    let Some(python) = require_tool(test, "python3", "python3") else {
        return;
    };
    if !Path::new("/dev/fuse").exists() {
        skip(test, "no /dev/fuse (the kernel's FUSE module)");
        return;
    }
    let wl = compile_workload("hostile");
    let dir = scratch("resolv-fuse");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("resolv.conf"), "nameserver 192.0.2.99\n").unwrap();
    let trigger = dir.path().join("hang");
    // Mounted over the container's /etc by a server inside its mount
    // namespace (it dies with the container), then told to swallow.
    let setup = format!(
        r#"rm etc/resolv.conf
{python} {slowfs} "$R/etc" {src}/resolv.conf {trigger} </dev/null >/dev/null 2>&1 &
i=0; while [ ! -e "$R/etc/resolv.conf" ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 1; done
echo swallow > {trigger}"#,
        python = python.display(),
        slowfs = repo_root().join("tests/workloads/slowfs.py").display(),
        src = src.display(),
        trigger = trigger.display(),
    );
    let h = hostile("hostile-resolv-fuse", &wl, &setup, "jit 30");
    let pid = h.container.workload_pid("hostile").to_string();
    let file = dir.path().join("c.holter");
    let run = AgentRun::start(&[
        "record",
        "--pid",
        &pid,
        "--no-samples",
        "--duration",
        "2s",
        "-o",
        file.to_str().unwrap(),
    ]);
    let end = run.end(Duration::from_secs(30));
    // The view is waited for 1 s before the capture starts.
    let recs = assert_bounded(
        &end,
        Duration::from_secs(3),
        &file,
        "resolv.conf on a FUSE server that never answers",
    );
    let view = recs.iter().find(|r| matches!(r, Record::ContainerView(_)));
    assert!(
        view.is_none(),
        "a view was read: the test did not hang the helper: {view:?}"
    );
    assert!(
        recs.iter().any(|r| matches!(r, Record::NetSnapshot(_))),
        "no network counters"
    );
    let warned = recs.iter().any(|r| match r {
        Record::Warning(w) => w.message.starts_with("no container view"),
        _ => false,
    });
    assert!(warned, "no warning about the view: {}", all_text(&recs));
    drop(h);
}
