//! Reader processes (`host::reader`): the agent binary in its hidden mode
//! reads files the container controls with the agent's rules, keeps only
//! the capabilities those reads need, and ends with the thread that uses it.

#![cfg(target_os = "linux")]

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holter_agent::host::open::Root;
use holter_agent::host::reader;
use holter_agent::symbols::files::Locator;

fn processes() {
    reader::use_processes(env!("CARGO_BIN_EXE_holter-agent").into());
}

fn status(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// Whether `pid` is gone (or a zombie: ended, not reaped yet).
fn ended(pid: u32) -> bool {
    status(pid).is_none_or(|s| s.contains("\nState:\tZ"))
}

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A fake container root: a file, a link inside it, a link out of it, a FIFO.
fn tree() -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::write(t.path().join("secret"), "host secret\n").unwrap();
    std::fs::write(root.join("tmp/perf-7.map"), "10 20 jitted\n".repeat(1000)).unwrap();
    symlink("/tmp/perf-7.map", root.join("tmp/inside")).unwrap();
    symlink(t.path().join("secret"), root.join("tmp/out")).unwrap();
    nix::unistd::mkfifo(&root.join("tmp/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let r = Root::at(&root).unwrap();
    (t, r)
}

/// Files come back as the agent's own rules read them, from a process that
/// is not the agent: whole (mapped files, capped), a prefix (perf maps), a
/// directory kept as a root; links resolve inside the root, never out of
/// it, and only regular files are read.
#[test]
fn a_reader_process_reads_with_the_agents_rules() {
    processes();
    let (t, root) = tree();
    let root = Arc::new(root);
    let at = |path: &str| Locator {
        pid: std::process::id(),
        root: Some(root.clone()),
        path: path.into(),
        start: 0,
        end: 0,
        map_files: false,
    };
    let want = std::fs::read(t.path().join("root/tmp/perf-7.map")).unwrap();
    let got = reader::fetch_mapped(&at("/tmp/inside"), None, 1 << 20).unwrap();
    assert_eq!(got.bytes, want);
    let pid = reader::this_threads_reader().expect("read by a reader process");
    assert_ne!(pid, std::process::id());
    // Larger than allowed: refused, not cut.
    let big = reader::fetch_mapped(&at("/tmp/perf-7.map"), None, 100).unwrap_err();
    assert!(big.contains("is larger than 100 bytes"), "{big}");
    // The identity asked for is checked before reading.
    let wrong = reader::fetch_mapped(&at("/tmp/perf-7.map"), Some((0, 0, 1)), 1 << 20);
    assert!(wrong.unwrap_err().contains("replaced since it was mapped"));
    let out = reader::fetch_mapped(&at("/tmp/out"), None, 1 << 20).unwrap_err();
    assert!(!out.contains("host secret"), "{out}");
    let fifo = reader::fetch_mapped(&at("/tmp/fifo"), None, 1 << 20).unwrap_err();
    assert!(fifo.contains("FIFO"), "{fifo}");
    // A prefix, through a directory the reader opened and passed back.
    let tmp = reader::subdir(&root, "/tmp").unwrap();
    assert_eq!(
        reader::read_prefix(&tmp, "perf-7.map", 13).unwrap(),
        b"10 20 jitted\n"
    );
    assert!(reader::read_prefix(&tmp, "out", 1 << 20).is_err());
    assert!(reader::subdir(&root, "/tmp/perf-7.map").is_err());
    // Still the same reader: one per thread, started once.
    assert_eq!(reader::this_threads_reader(), Some(pid));
}

/// A reader keeps only what its reads need: reading any file and
/// `/proc/PID/map_files` (no `CAP_SYS_ADMIN` where the kernel has
/// `CAP_CHECKPOINT_RESTORE`), and `no_new_privs`.
#[test]
fn a_reader_keeps_only_the_capabilities_its_reads_need() {
    processes();
    let (_t, root) = tree();
    reader::read_prefix(&root, "/tmp/perf-7.map", 10).unwrap();
    let pid = reader::this_threads_reader().unwrap();
    let s = status(pid).unwrap();
    assert_eq!(field(&s, "NoNewPrivs:"), "1", "{s}");
    let eff = u64::from_str_radix(&field(&s, "CapEff:"), 16).unwrap();
    let own =
        u64::from_str_radix(&field(&status(std::process::id()).unwrap(), "CapEff:"), 16).unwrap();
    let needed: u64 = (1 << 1) | (1 << 2) | (1 << 19) | (1 << 40) | (1 << 21);
    assert_eq!(eff & !needed, 0, "more than needed: {eff:x}");
    let prm = u64::from_str_radix(&field(&s, "CapPrm:"), 16).unwrap();
    assert_eq!(eff, prm);
    if own & (1 << 40) != 0 {
        assert_eq!(
            eff,
            own & ((1 << 1) | (1 << 2) | (1 << 19) | (1 << 40)),
            "{eff:x}"
        );
    }
}

/// A reader ends with the thread that uses it (a thread that ends drops
/// it: killed and reaped); a request after the reader died starts another.
#[test]
fn a_reader_ends_with_its_thread() {
    processes();
    let (_t, root) = tree();
    let root = Arc::new(root);
    let r = root.clone();
    let pid = std::thread::spawn(move || {
        reader::read_prefix(&r, "/tmp/perf-7.map", 10).unwrap();
        reader::this_threads_reader().unwrap()
    })
    .join()
    .unwrap();
    let t = Instant::now();
    while !ended(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "reader {pid} outlived its thread"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A reader killed under a thread: the thread's next read starts another.
    reader::read_prefix(&root, "/tmp/perf-7.map", 10).unwrap();
    let first = reader::this_threads_reader().unwrap();
    // SAFETY: our own child.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    assert!(reader::read_prefix(&root, "/tmp/perf-7.map", 10).is_err());
    assert_eq!(
        reader::read_prefix(&root, "/tmp/perf-7.map", 10).unwrap(),
        b"10 20 jitt"
    );
    assert_ne!(reader::this_threads_reader(), Some(first));
}
