//! A capture with one record of every kind, shared by the format tests.

#![allow(dead_code)]

use holter_format::*;

pub fn header() -> Header {
    Header {
        host: Host {
            hostname: "node-7".into(),
            kernel_release: "6.18.0".into(),
            arch: "x86_64".into(),
            page_size: 4096,
            boot_id: "b00t".into(),
            cpus: 2,
        },
        agent_version: "0.1.0".into(),
        target: Target {
            kind: "container".into(),
            spec: "3f2a9c1b7e4d".into(),
            pids: vec![100, 200],
            cgroups: vec!["/sys/fs/cgroup/kubepods/pod1/3f2a".into()],
            container_id: Some("3f2a9c1b7e4d".repeat(5)),
        },
        options: Options {
            samples: true,
            sample_event: "cpu-clock".into(),
            frequency_hz: 99,
            syscalls: true,
            cgroup_interval_ns: 1_000_000_000,
            duration_ns: Some(10_000_000_000),
            redact: false,
            max_size: None,
            syscalls_filter: Some("file".into()),
        },
        clock: ClockPair {
            monotonic_ns: 1_000,
            wall_ns: 1_700_000_000_000_000_000,
        },
        unwind: String::new(),
        stack_bytes: 0,
        runtime: String::new(),
        container_name: String::new(),
        syscall_mode: String::new(),
        off_cpu: false,
    }
}

/// One record of every kind but Header and Footer.
pub fn body() -> Vec<Record> {
    let mut b = body_1_0();
    b.push(
        SampleBatch::from_samples(&[
            Sample {
                time_ns: 1_000_000_000,
                pid: 100,
                tid: 101,
                cpu: 1,
                stack_id: 1,
                period: 1_001_001,
            },
            Sample {
                time_ns: 999_999_990,
                pid: 100,
                tid: 102,
                cpu: 0,
                stack_id: 2,
                period: 1_001_001,
            },
        ])
        .into(),
    );
    b
}

/// One record of every kind of format 1.0.
pub fn body_1_0() -> Vec<Record> {
    let sym = |start, name: &str| Symbol {
        start,
        size: 16,
        name: name.into(),
    };
    vec![
        Process {
            time_ns: 1,
            pid: 100,
            ns_pid: Some(1),
            ppid: 50,
            comm: "app".into(),
            argv: vec!["app".into(), "-v".into()],
            exe: "/app".into(),
            cgroups: vec!["0::/x".into()],
        }
        .into(),
        Thread {
            time_ns: 2,
            pid: 100,
            tid: 101,
            ns_tid: Some(2),
            comm: "worker".into(),
        }
        .into(),
        Exit {
            time_ns: 3,
            pid: 100,
            tid: 101,
        }
        .into(),
        Mapping {
            time_ns: 4,
            pid: 100,
            start: 0x1000,
            end: 0x2000,
            pgoff: 0x1000,
            path: "/app".into(),
            build_id: Some(vec![0xab; 20]),
        }
        .into(),
        Stack {
            id: 7,
            kernel: vec![0xffff_ffff_8100_0000],
            user: vec![0x1010, 0x1020],
            root: false,
        }
        .into(),
        Sample {
            time_ns: 5,
            pid: 100,
            tid: 101,
            cpu: 1,
            stack_id: 7,
            period: 10_101_010,
        }
        .into(),
        Syscall {
            time_ns: 6,
            pid: 100,
            tid: 101,
            nr: 0,
            duration_ns: 1234,
            ret: -2,
            summary: "open(\"/etc/x\")".into(),
            abi: String::new(),
        }
        .into(),
        CgroupSnapshot {
            time_ns: 7,
            path: "/kubepods/pod1".into(),
            version: 2,
            controller: String::new(),
            files: vec![("cpu.stat".into(), "usage_usec 5\n".into())],
        }
        .into(),
        NetSnapshot {
            time_ns: 8,
            dev: "eth0: 1 2".into(),
            snmp: "Tcp: 1".into(),
        }
        .into(),
        ContainerView {
            time_ns: 9,
            hostname: "pod-1".into(),
            resolv_conf: "nameserver 10.0.0.10\n".into(),
            root_mount: "1 0 0:1 / / rw".into(),
        }
        .into(),
        BinarySymbols {
            build_id: vec![0xab; 20],
            path: "/app".into(),
            segments: vec![Segment {
                file_offset: 0x1000,
                vaddr: 0x1000,
                filesz: 0x1000,
            }],
            symbols: vec![sym(0x1000, "main"), sym(0x1010, "work")],
            unnamed: vec![],
        }
        .into(),
        KernelSymbols {
            symbols: vec![sym(0xffff_ffff_8100_0000, "do_syscall_64")],
        }
        .into(),
        JitSymbols {
            pid: 100,
            symbols: vec![sym(0x7f00_0000_0000, "LazyCompile:foo")],
        }
        .into(),
        Lost {
            time_ns: 10,
            kind: "samples".into(),
            count: 3,
        }
        .into(),
        Warning {
            time_ns: 11,
            message: "something".into(),
        }
        .into(),
        Counters {
            time_ns: 12,
            values: vec![("task-clock".into(), 99)],
        }
        .into(),
    ]
}

/// The Header of format 1.2: `unwind` and `stack_bytes` set.
pub fn header_1_2() -> Header {
    Header {
        unwind: "dwarf".into(),
        stack_bytes: 16384,
        ..header()
    }
}

/// The Header of format 1.5: [`header_1_2`] with the container's runtime and name.
pub fn header_1_5() -> Header {
    Header {
        runtime: "docker".into(),
        container_name: "web-1".into(),
        ..header_1_2()
    }
}

/// The Header of format 1.8: [`header_1_5`] with syscalls traced by the
/// kernel's tracepoints.
pub fn header_1_8() -> Header {
    let mut h = header_1_5();
    h.options.syscalls = true;
    h.syscall_mode = "kernel".into();
    h
}

/// One record of every kind of format 1.2: [`body`] and a Stack known to be whole.
pub fn body_1_2() -> Vec<Record> {
    let mut b = body();
    b.push(
        Stack {
            id: 8,
            kernel: vec![],
            user: vec![0x1030, 0x1000],
            root: true,
        }
        .into(),
    );
    b
}

/// One record of every kind of format 1.3: [`body_1_2`], a 32-bit call
/// (`Syscall::abi`) and the typed totals.
pub fn body_1_3() -> Vec<Record> {
    let mut b = body_1_2();
    b.push(
        Syscall {
            time_ns: 13,
            pid: 100,
            tid: 101,
            nr: 20,
            duration_ns: 300,
            ret: 100,
            summary: String::new(),
            abi: "i386".into(),
        }
        .into(),
    );
    b.push(
        SyscallTotal {
            time_ns: 14,
            abi: "x86_64".into(),
            nr: 0,
            name: "read".into(),
            calls: 9,
            errors: 3,
            total_ns: 12_345,
            errnos: vec![(11, 2), (4, 1)],
        }
        .into(),
    );
    b.push(
        SyscallTotal {
            time_ns: 14,
            abi: "i386".into(),
            nr: 20,
            name: "getpid".into(),
            calls: 1,
            errors: 0,
            total_ns: 300,
            errnos: vec![],
        }
        .into(),
    );
    b
}

/// One record of every kind of format 1.4: [`body_1_3`] and a CgroupDelta
/// following the body's CgroupSnapshot (one file changed, one appeared).
pub fn body_1_4() -> Vec<Record> {
    let mut b = body_1_3();
    b.push(
        CgroupDelta {
            time_ns: 15,
            base_time_ns: 7,
            path: "/kubepods/pod1".into(),
            version: 2,
            controller: String::new(),
            changed: vec![
                ("cpu.stat".into(), "usage_usec 9\n".into()),
                ("memory.current".into(), "4096\n".into()),
            ],
            removed: vec![],
        }
        .into(),
    );
    b
}

/// One record of every kind of format 1.6: [`body_1_4`] (1.5 changed the
/// header only) and the symbols of a stripped file, its functions known
/// only by their start (`BinarySymbols::unnamed`).
pub fn body_1_6() -> Vec<Record> {
    let mut b = body_1_4();
    b.push(
        BinarySymbols {
            build_id: vec![0xcd; 20],
            path: "/usr/lib/liblzma.so.5".into(),
            segments: vec![Segment {
                file_offset: 0x3000,
                vaddr: 0x3000,
                filesz: 0x20000,
            }],
            symbols: vec![Symbol {
                start: 0x3100,
                size: 0x40,
                name: "lzma_code".into(),
            }],
            unnamed: vec![(0x4000, 0x1a0), (0x41a0, 0x33)],
        }
        .into(),
    );
    b
}

/// One record of every kind of format 1.7: [`body_1_6`], then a
/// CgroupNumDelta following the rebuilt 1.4 snapshot (a counter edited, a
/// file removed, one added) and a NetDelta following the body's NetSnapshot
/// (`dev` edited, `snmp` as new text).
pub fn body_1_7() -> Vec<Record> {
    let mut b = body_1_6();
    b.push(
        CgroupNumDelta {
            time_ns: 16,
            base_time_ns: 15,
            path: "/kubepods/pod1".into(),
            version: 2,
            controller: String::new(),
            numbers: vec![(0, vec![(0, 1000)])],
            changed: vec![("memory.max".into(), "max\n".into())],
            removed: vec!["memory.current".into()],
        }
        .into(),
    );
    b.push(
        NetDelta {
            time_ns: 17,
            base_time_ns: 8,
            dev_numbers: vec![(1, 5), (1, -1)],
            dev: None,
            snmp_numbers: vec![],
            snmp: Some("Tcp: 1\nUdp: 2".into()),
        }
        .into(),
    );
    b
}

/// The samples of the 1.9 body's batch: two threads, a time that goes back.
pub fn samples_1_9() -> Vec<Sample> {
    (0..6u64)
        .map(|i| Sample {
            time_ns: 2_000_000_000 + i * 1_001_001 + (i % 2) * 3_000 - (i / 5) * 4_000_000,
            pid: 100,
            tid: 101 + (i % 2) as u32,
            cpu: (i % 2) as u32,
            stack_id: 7,
            period: 1_001_001,
        })
        .collect()
}

/// The 1.9 body: [`body_1_7`] (1.8 changed the
/// header only) and a SampleBatch with times less the period
/// (`SampleBatch::time_less_period_ns`).
pub fn body_1_9() -> Vec<Record> {
    let mut b = body_1_7();
    b.push(SampleBatch::from_samples_less_period(&samples_1_9()).into());
    b
}

/// One record of every kind of format 1.10: [`body_1_9`] and the same
/// batch as a `SampleBatchLessPeriod` record, the kind 1.10 writes.
pub fn body_1_10() -> Vec<Record> {
    let mut b = body_1_9();
    b.push(Record::SampleBatchLessPeriod(
        SampleBatch::from_samples_less_period(&samples_1_9()),
    ));
    b
}

/// The 1.11 header: [`header_1_8`] with off-CPU intervals recorded.
pub fn header_1_11() -> Header {
    let mut h = header_1_8();
    h.off_cpu = true;
    h
}

/// The intervals of the 1.11 body's batch: blocked, woken, preempted, and
/// one still off the CPU when the capture ended.
pub fn off_cpu_1_11() -> Vec<OffCpu> {
    let one = |i: u64, state: u8, runq_ns: u64, flags: u8| OffCpu {
        time_ns: 3_000_000_000 + i * 7_000_000,
        pid: 100,
        tid: 101 + (i % 2) as u32,
        cpu: (i % 2) as u32,
        stack_id: 7,
        off_ns: 5_000_000 + i,
        runq_ns,
        state,
        flags,
    };
    vec![
        one(0, b'S', 20_000, OffCpu::WOKEN),
        one(1, b'R', 5_000_001, 0),
        one(2, b'D', 0, 0),
        one(3, b'S', 0, OffCpu::ENDED),
    ]
}

/// One record of every kind of format 1.11: [`body_1_10`] and an
/// `OffCpuBatch`.
pub fn body_1_11() -> Vec<Record> {
    let mut b = body_1_10();
    b.push(OffCpuBatch::from_intervals(&off_cpu_1_11()).into());
    b
}

/// Format 1.12: the 1.11 capture (1.11 header and body) as the agent
/// leaves it at close: repacked, its records after the header in one packed
/// record (dictionary 1).
pub fn capture_1_12() -> (Vec<u8>, Vec<Record>) {
    let (bytes, records) = capture_with(header_1_11(), body_1_11, 1, 0);
    let mut out = Vec::new();
    holter_format::repack(&bytes[..], &mut out, 1 << 20, 19, true).unwrap();
    (out, records)
}

/// The stacks format 1.13 adds to the body: they share outer frames with
/// each other and with stack 8 of [`body_1_0`], one has kernel frames, ids
/// jump, one is empty.
pub fn stacks_1_13() -> Vec<Stack> {
    let main = [0x5555_5555_5010u64, 0x7f12_3456_7890];
    let st = |id: u32, kernel: &[u64], leaf: &[u64], outer: &[u64], root: bool| Stack {
        id,
        kernel: kernel.to_vec(),
        user: leaf.iter().chain(outer).copied().collect(),
        root,
    };
    vec![
        st(20, &[], &[0x5555_5555_6001, 0x5555_5555_5800], &main, true),
        st(21, &[], &[0x5555_5555_6009, 0x5555_5555_5800], &main, true),
        st(
            22,
            &[0xffff_ffff_8100_1234, 0xffff_ffff_8120_0040],
            &[0x5555_5555_6009, 0x5555_5555_5800],
            &main,
            true,
        ),
        st(40, &[], &[0x5555_5555_7000], &main, false),
        st(23, &[], &[0x1040], &[0x1000], true),
        st(24, &[], &[], &[], false),
    ]
}

/// One record of every kind of format 1.13: [`body_1_11`], then more
/// stacks ([`stacks_1_13`]) and a batch of samples naming them. What 1.13
/// changes is how a capture is repacked at close ([`capture_1_13`]).
pub fn body_1_13() -> Vec<Record> {
    let mut b = body_1_11();
    let stacks = stacks_1_13();
    // Times a period apart and, as on a busy machine, milliseconds off the
    // CPU in between: times the samples record Rice-codes.
    let mut t = 4_000_000_000u64;
    let samples: Vec<Sample> = (0..48u64)
        .map(|i| {
            t += 10_101_010 + (i * 7_919_993 + i * i * 104_729) % 9_000_000;
            Sample {
                time_ns: t,
                pid: 100,
                tid: 101,
                cpu: (i % 2) as u32,
                stack_id: stacks[(i * i % 6) as usize].id,
                period: 10_101_010,
            }
        })
        .collect();
    b.extend(stacks.into_iter().map(Record::from));
    b.push(Record::SampleBatchLessPeriod(
        SampleBatch::from_samples_less_period(&samples),
    ));
    b
}

/// Format 1.13: the 1.13 body (1.11 header) as the agent leaves it at
/// close: repacked, its stacks in a stack batch, all in one packed record.
/// The records as written, in order.
pub fn capture_1_13() -> (Vec<u8>, Vec<Record>) {
    let (bytes, records) = capture_with(header_1_11(), body_1_13, 1, 0);
    let mut out = Vec::new();
    holter_format::repack(&bytes[..], &mut out, 1 << 20, 19, true).unwrap();
    (out, records)
}

/// The totals format 1.14 writes while a capture is recorded: `read` so
/// far twice (cumulative, the second supersedes the first), counters so far.
pub fn so_far_1_14() -> Vec<Record> {
    let read = |time_ns: u64, calls: u64| SyscallTotal {
        time_ns,
        abi: "x86_64".into(),
        nr: 0,
        name: "read".into(),
        calls,
        errors: 1,
        total_ns: 1_000 * calls,
        errnos: vec![(11, 1)],
    };
    vec![
        Record::SyscallTotalSoFar(read(5_000_000_000, 4)),
        Record::CountersSoFar(Counters {
            time_ns: 5_000_000_001,
            values: vec![("task-clock".into(), 40), ("off-cpu:lost".into(), 0)],
        }),
        Record::SyscallTotalSoFar(read(6_000_000_000, 7)),
    ]
}

/// One record of every kind of format 1.14: [`body_1_13`] and the totals
/// so far ([`so_far_1_14`]).
pub fn body_1_14() -> Vec<Record> {
    let mut b = body_1_13();
    b.extend(so_far_1_14());
    b
}

/// Format 1.14: the 1.14 body (1.11 header) as the agent leaves it at
/// close (repacked as [`capture_1_13`]). The records as written, in order.
pub fn capture_1_14() -> (Vec<u8>, Vec<Record>) {
    let (bytes, records) = capture_with(header_1_11(), body_1_14, 1, 0);
    let mut out = Vec::new();
    holter_format::repack(&bytes[..], &mut out, 1 << 20, 19, true).unwrap();
    (out, records)
}

pub const PREAMBLE: usize = PREAMBLE_LEN;

pub fn footer() -> Footer {
    Footer {
        end_ns: 20,
        end_wall_ns: 21,
        reason: "duration".into(),
        counts: Vec::new(),
    }
}

/// A capture of `header()`, `n` copies of `body()` flushed as `frames` frames, and the footer.
pub fn capture(copies: usize, flush_every: usize) -> (Vec<u8>, Vec<Record>) {
    capture_of(body, copies, flush_every)
}

/// [`capture`] of another body.
pub fn capture_of(
    body: fn() -> Vec<Record>,
    copies: usize,
    flush_every: usize,
) -> (Vec<u8>, Vec<Record>) {
    capture_with(header(), body, copies, flush_every)
}

/// [`capture_of`] with another header.
pub fn capture_with(
    header: Header,
    body: fn() -> Vec<Record>,
    copies: usize,
    flush_every: usize,
) -> (Vec<u8>, Vec<Record>) {
    let mut w = Writer::new(Vec::new(), header.clone(), WriterOptions::default()).unwrap();
    let mut all = vec![Record::from(header)];
    for i in 0..copies {
        for r in body() {
            w.write(&r).unwrap();
            all.push(r);
        }
        if flush_every > 0 && (i + 1) % flush_every == 0 {
            w.flush().unwrap();
        }
    }
    let out = w.finish(footer()).unwrap();
    let read_back: Vec<Record> = Reader::new(&out[..]).unwrap().collect();
    all.push(read_back.last().unwrap().clone());
    (out, all)
}

/// File offsets of the frames of a capture.
pub fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = PREAMBLE_LEN;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        out.push(at);
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    out
}
