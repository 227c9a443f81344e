//! Synthetic captures for analyzer tests: written with `holter_format::Writer`,
//! exactly as the agent would write them.
#![allow(dead_code)]

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use holter_format::*;

/// Monotonic time of the capture start.
pub const T0: u64 = 1_000_000_000_000;
pub const SEC: u64 = 1_000_000_000;

/// Where the fake `app` binary is mapped and how its file is laid out.
pub const APP_BASE: u64 = 0x5555_0000;
pub const APP_PGOFF: u64 = 0x1000;
pub const APP_SEG_VADDR: u64 = 0x40_1000;
pub const LIBC_BASE: u64 = 0x7f00_0000;
pub const KBASE: u64 = 0xffff_ffff_8100_0000;
pub const JIT_BASE: u64 = 0x3000_0000;

/// Runtime address of an ELF virtual address of `app`.
pub fn app(svma: u64) -> u64 {
    svma - APP_SEG_VADDR + APP_PGOFF - APP_PGOFF + APP_BASE
}

pub fn sym(start: u64, size: u64, name: &str) -> Symbol {
    Symbol {
        start,
        size,
        name: name.into(),
    }
}

pub fn header() -> Header {
    Header {
        clock: ClockPair {
            monotonic_ns: T0,
            wall_ns: 1_700_000_000 * SEC,
        },
        target: Target {
            kind: "pid".into(),
            spec: "100".into(),
            ..Target::default()
        },
        ..Header::default()
    }
}

pub fn sample(secs: f64, pid: u32, tid: u32, stack_id: u32) -> Record {
    Record::Sample(Sample {
        time_ns: T0 + (secs * SEC as f64) as u64,
        pid,
        tid,
        cpu: 0,
        stack_id,
        period: 10_101_010,
    })
}

pub fn stack(id: u32, user: &[u64], kernel: &[u64]) -> Record {
    Record::Stack(Stack {
        id,
        kernel: kernel.to_vec(),
        user: user.to_vec(),
        root: false,
    })
}

pub fn process(pid: u32, comm: &str) -> Record {
    Record::Process(Process {
        time_ns: T0,
        pid,
        ppid: 1,
        comm: comm.into(),
        ..Process::default()
    })
}

pub fn thread(pid: u32, tid: u32, comm: &str) -> Record {
    Record::Thread(Thread {
        time_ns: T0,
        pid,
        tid,
        ns_tid: None,
        comm: comm.into(),
    })
}

pub fn mapping(
    secs: u64,
    pid: u32,
    start: u64,
    end: u64,
    pgoff: u64,
    path: &str,
    id: &[u8],
) -> Record {
    Record::Mapping(Mapping {
        time_ns: T0 + secs * SEC,
        pid,
        start,
        end,
        pgoff,
        path: path.into(),
        build_id: (!id.is_empty()).then(|| id.to_vec()),
    })
}

/// The metadata of the standard synthetic capture: two processes, a fake
/// binary with symbols (C, Rust and C++ names), a libc without symbols,
/// kernel and JIT symbols.
pub fn metadata() -> Vec<Record> {
    vec![
        process(100, "app"),
        thread(100, 100, "app"),
        thread(100, 101, "worker"),
        process(200, "jitted"),
        thread(200, 200, "jitted"),
        mapping(
            0,
            100,
            APP_BASE,
            APP_BASE + 0x2000,
            APP_PGOFF,
            "/usr/bin/app",
            &[0xaa, 0xbb],
        ),
        mapping(
            0,
            100,
            LIBC_BASE,
            LIBC_BASE + 0x1000,
            0,
            "/lib/x86_64-linux-gnu/libc.so.6",
            &[0xcc],
        ),
        Record::BinarySymbols(BinarySymbols {
            build_id: vec![0xaa, 0xbb],
            path: "/usr/bin/app".into(),
            segments: vec![
                Segment {
                    file_offset: 0,
                    vaddr: 0x40_0000,
                    filesz: 0x1000,
                },
                Segment {
                    file_offset: APP_PGOFF,
                    vaddr: APP_SEG_VADDR,
                    filesz: 0x2000,
                },
            ],
            symbols: vec![
                sym(0x40_1000, 0x100, "main"),
                sym(0x40_1100, 0x100, "_ZN3app4work17h0123456789abcdefE"),
                sym(0x40_1200, 0, "_ZN3foo3barEi"),
                sym(0x40_1400, 0x50, "leaf_c"),
            ],
            unnamed: vec![],
        }),
        Record::KernelSymbols(KernelSymbols {
            symbols: vec![
                sym(KBASE, 0, "do_syscall_64"),
                sym(KBASE + 0x100, 0x80, "ksys_write"),
            ],
        }),
        Record::JitSymbols(JitSymbols {
            pid: 200,
            symbols: vec![sym(JIT_BASE, 0x100, "LazyCompile:*foo")],
        }),
        Record::Lost(Lost {
            time_ns: T0 + SEC,
            kind: "samples".into(),
            count: 4,
        }),
        Record::Lost(Lost {
            time_ns: T0 + SEC,
            kind: "syscalls".into(),
            count: 7,
        }),
    ]
}

/// Stacks of the standard capture.
pub fn stacks() -> Vec<Record> {
    vec![
        // Leaf in main.
        stack(1, &[app(0x40_1010)], &[]),
        // work called from main (a return address, just after the call).
        stack(2, &[app(0x40_1120), app(0x40_1031)], &[]),
        // A syscall from foo::bar.
        stack(
            3,
            &[app(0x40_1250), app(0x40_1141), app(0x40_1011)],
            &[KBASE + 0x110, KBASE + 0x21],
        ),
        // libc without symbols.
        stack(4, &[LIBC_BASE + 0x123, app(0x40_1011)], &[]),
        // The return address is the first byte of `work`: the call was the last
        // instruction of `main`, so the frame is `main`.
        stack(5, &[app(0x40_1404), app(0x40_1100)], &[]),
        // JIT code called from an address no mapping holds.
        stack(6, &[JIT_BASE + 0x10, 0x1234], &[]),
    ]
}

/// The standard capture: 10 samples over 4.5 s.
pub fn standard() -> Vec<Record> {
    let mut r = metadata();
    r.extend(stacks());
    r.extend([
        sample(0.5, 100, 100, 1),
        sample(1.0, 100, 100, 1),
        sample(1.5, 100, 100, 1),
        sample(2.0, 100, 101, 2),
        sample(2.5, 100, 101, 2),
        sample(3.0, 100, 100, 3),
        sample(3.5, 100, 100, 4),
        sample(4.0, 100, 100, 5),
        sample(4.25, 200, 200, 6),
        sample(4.5, 200, 200, 6),
    ]);
    r
}

/// The folded output of the standard capture.
pub const STANDARD_FOLDED: &str = "\
app;main 3
app;main;app::work 2
app;main;app::work;foo::bar(int);do_syscall_64_[k];ksys_write_[k] 1
app;main;leaf_c 1
app;main;libc.so.6+0x123 1
jitted;[unknown];LazyCompile:*foo 2
";

pub fn write_capture(path: &Path, records: &[Record]) {
    write_capture_with(path, header(), records);
}

pub fn write_capture_with(path: &Path, header: Header, records: &[Record]) {
    let file = BufWriter::new(File::create(path).expect("create capture"));
    let mut w = Writer::new(file, header, WriterOptions::default()).expect("writer");
    for r in records {
        w.write(r).expect("write record");
    }
    w.finish(Footer {
        end_ns: T0 + 5 * SEC,
        reason: "duration".into(),
        ..Footer::default()
    })
    .expect("finish");
}

pub fn holter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holter"))
        .args(args)
        .output()
        .expect("run holter")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}
