//! Hostile captures, written with the format crate as an attacker would:
//! markup and terminal escapes in every string, and small files that expand
//! to huge models or make the analysis slow. Used by `tests/hostile.rs` and,
//! to measure peak memory and time, by `examples/hostile_captures.rs`.
#![allow(dead_code)]

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use holter_format::*;

pub const T0: u64 = 1_000_000_000_000;
pub const SEC: u64 = 1_000_000_000;
const BASE: u64 = 0x5555_0000_0000;
const KBASE: u64 = 0xffff_ffff_8100_0000;

/// Strings that break out of HTML, Markdown, XML or a terminal.
pub const EVIL: &[&str] = &[
    "<script>window.__pwned=1;fetch('http://127.0.0.1:9/x')</script>",
    "\"><img src=x onerror=\"window.__pwned=2\">",
    "]]><script>window.__pwned=3</script><![CDATA[",
    "[click](javascript:alert(1)) ![i](http://127.0.0.1:9/i.png) <http://127.0.0.1:9/a> www.evil.example",
    "``a`` ` </code><b>x</b> | col | \\` *b* _i_ # h",
    "\u{1b}]0;owned title\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m\r\u{8}\u{0}\u{9b}31m\u{202e}",
    "line\nbreak\r\n- [x] item\n<style>*{display:none}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt; &#60;b&#62;",
    "{{7*7}} ${x} %s %n \u{feff}\u{fffe}\u{ffff}",
    "<svg onload=window.__pwned=4><a xlink:href=javascript:alert(1)>x</a></svg>",
];

/// One evil string per use, so that each field is told apart.
pub fn evil(i: usize) -> String {
    format!("E{i}{}", EVIL[i % EVIL.len()])
}

fn header(evil_strings: bool) -> Header {
    let e = |i: usize| if evil_strings { evil(i) } else { "x".into() };
    Header {
        host: Host {
            hostname: e(0),
            kernel_release: e(1),
            arch: "x86_64".into(),
            page_size: 4096,
            boot_id: e(2),
            cpus: 2,
        },
        agent_version: e(3),
        target: Target {
            kind: e(4),
            spec: e(5),
            pids: vec![100, 101],
            cgroups: vec![e(6)],
            container_id: Some(e(7)),
        },
        options: Options {
            samples: true,
            sample_event: e(8),
            frequency_hz: 99,
            syscalls: true,
            cgroup_interval_ns: SEC,
            duration_ns: Some(10 * SEC),
            redact: false,
            max_size: None,
            syscalls_filter: Some(e(9)),
        },
        clock: ClockPair {
            monotonic_ns: T0,
            wall_ns: 1_700_000_000 * SEC,
        },
        unwind: e(37),
        runtime: e(38),
        container_name: e(39),
        ..Header::default()
    }
}

struct Out(Writer<BufWriter<File>>);

impl Out {
    fn new(path: &Path, evil_strings: bool) -> Out {
        let f = BufWriter::new(File::create(path).unwrap());
        Out(Writer::new(f, header(evil_strings), WriterOptions::default()).unwrap())
    }
    fn put(&mut self, r: impl Into<Record>) {
        self.0.write(&r.into()).unwrap();
    }
    fn finish(self) {
        self.0
            .finish(Footer {
                end_ns: T0 + 10 * SEC,
                end_wall_ns: (1_700_000_000 + 10) * SEC,
                reason: "duration".into(),
                counts: vec![],
            })
            .unwrap();
    }
}

fn sample(time_ns: u64, pid: u32, stack_id: u32) -> Sample {
    Sample {
        time_ns,
        pid,
        tid: pid,
        cpu: 0,
        stack_id,
        period: 1_000_000,
    }
}

fn cgroup_files(i: u64, evil_strings: bool) -> Vec<(String, String)> {
    let mut files = vec![
        ("cpu.max".to_string(), "50000 100000\n".to_string()),
        (
            "cpu.stat".into(),
            format!(
                "usage_usec {}\nnr_periods {}\nnr_throttled {}\nthrottled_usec {}\n",
                i * 900_000,
                i * 10,
                i * 5,
                i * 1000
            ),
        ),
        ("memory.max".into(), "1073741824\n".into()),
        ("memory.current".into(), format!("{}\n", i << 20)),
        (
            "memory.events".into(),
            "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n".into(),
        ),
        (
            "memory.pressure".into(),
            "some avg10=1.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=10\n".into(),
        ),
        (
            "cpu.pressure".into(),
            "some avg10=1.00 avg60=0.00 avg300=0.00 total=1000\n".into(),
        ),
    ];
    if evil_strings {
        files.push((evil(30), evil(31)));
    }
    files
}

fn net_dev(i: u64, iface: &str) -> String {
    format!(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n\
         {iface}: {} {} 0 1 0 0 0 0 {} {} 0 0 0 0 0 0\n    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        i * 1000,
        i * 10,
        i * 2000,
        i * 20
    )
}

const SNMP: &str = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
Tcp: 1 200 120000 -1 10 10 1 1 1 1000 1000 50 0 3 0\n\
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
Udp: 10 1 0 10 0 0 0 0 0\n";

/// Every string of every record kind holds markup or escapes.
pub fn xss(path: &Path) {
    let mut o = Out::new(path, true);
    o.put(Process {
        time_ns: T0,
        pid: 100,
        ns_pid: Some(1),
        ppid: 1,
        comm: evil(10),
        argv: vec![evil(11), evil(12)],
        exe: evil(13),
        cgroups: vec![evil(14)],
    });
    o.put(Thread {
        time_ns: T0,
        pid: 100,
        tid: 101,
        ns_tid: None,
        comm: evil(15),
    });
    o.put(Mapping {
        time_ns: T0,
        pid: 100,
        start: BASE,
        end: BASE + 0x10000,
        pgoff: 0,
        path: format!("/{}", evil(16)),
        build_id: Some(vec![1, 2, 3]),
    });
    o.put(Mapping {
        time_ns: T0,
        pid: 100,
        start: BASE + 0x20000,
        end: BASE + 0x30000,
        pgoff: 0,
        path: format!("/lib/{}", evil(17)),
        build_id: None,
    });
    o.put(BinarySymbols {
        build_id: vec![1, 2, 3],
        path: evil(18),
        segments: vec![],
        symbols: (0..EVIL.len() as u64)
            .map(|i| Symbol {
                start: i * 0x100,
                size: 0x100,
                name: evil(40 + i as usize),
            })
            .collect(),
        unnamed: vec![(0, u64::MAX), (u64::MAX, u64::MAX)],
    });
    o.put(KernelSymbols {
        symbols: vec![Symbol {
            start: KBASE,
            size: 0x1000,
            name: evil(19),
        }],
    });
    o.put(JitSymbols {
        pid: 100,
        symbols: vec![Symbol {
            start: 0x3000_0000,
            size: 0x1000,
            name: evil(20),
        }],
    });
    for i in 0..EVIL.len() as u64 {
        o.put(Stack {
            root: false,
            id: i as u32,
            kernel: vec![KBASE + 0x10],
            user: vec![BASE + i * 0x100 + 8, BASE + 0x20010, 0x3000_0010, 0x9999],
        });
    }
    let samples: Vec<Sample> = (0..200u64)
        .map(|i| sample(T0 + i * SEC / 25, 100 + (i % 2) as u32, (i % 10) as u32))
        .collect();
    o.put(SampleBatch::from_samples(&samples));
    for i in 0..40u64 {
        o.put(Syscall {
            time_ns: T0 + i * SEC / 5,
            pid: 100,
            tid: if i % 2 == 0 { 100 } else { 101 },
            nr: [0, 1, 2, 257, 999_999][i as usize % 5],
            duration_ns: 1000 * (i + 1),
            ret: if i % 3 == 0 { -2 } else { 5 },
            summary: evil(21 + i as usize % 5),
            abi: String::new(),
        });
    }
    for i in 0..10u64 {
        o.put(CgroupSnapshot {
            time_ns: T0 + i * SEC,
            path: evil(26),
            version: 2,
            controller: String::new(),
            files: cgroup_files(i, true),
        });
        o.put(NetSnapshot {
            time_ns: T0 + i * SEC,
            dev: net_dev(i, &format!("e{}", evil(27).replace([':', '\n', ' '], ""))),
            snmp: SNMP.into(),
        });
    }
    o.put(ContainerView {
        time_ns: T0,
        hostname: evil(28),
        resolv_conf: format!("nameserver {}\n", evil(29)),
        root_mount: evil(32),
    });
    o.put(Lost {
        time_ns: T0,
        kind: evil(33),
        count: 1,
    });
    o.put(Warning {
        time_ns: T0,
        message: evil(34),
    });
    o.put(Counters {
        time_ns: T0,
        values: vec![
            (format!("syscall:{}", evil(35)), 7),
            (format!("syscall_errors:{}", evil(35)), 1),
            (evil(36), 1),
        ],
    });
    o.finish();
}

/// Columns of zeros: a few KiB that expand to millions of samples (160 MB).
pub fn sample_bomb(path: &Path) {
    let mut o = Out::new(path, false);
    o.put(Stack {
        root: false,
        id: 0,
        kernel: vec![],
        user: vec![1],
    });
    let n = 2_000_000;
    let batch = SampleBatch {
        time_deltas_ns: vec![0; n],
        pid: vec![0; n],
        tid: vec![0; n],
        cpu: vec![0; n],
        stack_id: vec![0; n],
        period: vec![0; n],
        time_less_period_ns: Vec::new(),
    };
    for _ in 0..2 {
        o.put(batch.clone());
    }
    o.finish();
}

/// Megabytes of repeated characters and of empty strings.
pub fn string_bomb(path: &Path) {
    let mut o = Out::new(path, false);
    for i in 0..8 {
        o.put(Warning {
            time_ns: T0,
            message: "A".repeat(8 << 20),
        });
        o.put(Process {
            time_ns: T0,
            pid: i,
            ppid: 1,
            comm: "B".repeat(1 << 20),
            argv: vec![String::new(); 4 << 20],
            ..Process::default()
        });
    }
    o.finish();
}

/// One million distinct stacks, each sampled once.
pub fn stacks_1m(path: &Path) {
    let mut o = Out::new(path, false);
    o.put(Mapping {
        time_ns: T0,
        pid: 100,
        start: BASE,
        end: BASE + (1 << 30),
        pgoff: 0,
        path: "/app".into(),
        build_id: None,
    });
    let n = 1_000_000u64;
    for i in 0..n {
        o.put(Stack {
            root: false,
            id: i as u32,
            kernel: vec![],
            user: vec![BASE + i * 16, BASE + (i % 1000) * 16, BASE],
        });
    }
    let samples: Vec<Sample> = (0..n).map(|i| sample(T0 + i, 100, i as u32)).collect();
    for chunk in samples.chunks(100_000) {
        o.put(SampleBatch::from_samples(chunk));
    }
    o.finish();
}

/// A few stacks 100,000 frames deep, each frame a distinct symbol with a long name.
pub fn deep_stacks(path: &Path) {
    let mut o = Out::new(path, false);
    o.put(Mapping {
        time_ns: T0,
        pid: 100,
        start: BASE,
        end: BASE + (1 << 30),
        pgoff: 0,
        path: "/app".into(),
        build_id: None,
    });
    o.put(KernelSymbols {
        symbols: (0..1000u64)
            .map(|i| Symbol {
                start: KBASE + i * 16,
                size: 16,
                name: format!("{}{i}", "k".repeat(200)),
            })
            .collect(),
    });
    for id in 0..20u32 {
        o.put(Stack {
            root: false,
            id,
            kernel: (0..100_000u64)
                .map(|i| KBASE + ((i * 7 + u64::from(id)) % 1000) * 16)
                .collect(),
            user: (0..1000u64).map(|i| BASE + i * 16).collect(),
        });
    }
    let samples: Vec<Sample> = (0..2000u64)
        .map(|i| sample(T0 + i, 100, (i % 20) as u32))
        .collect();
    o.put(SampleBatch::from_samples(&samples));
    o.finish();
}

/// 200,000 samples of one process, each in its own mapping epoch.
pub fn epochs_200k(path: &Path) {
    let mut o = Out::new(path, false);
    o.put(Stack {
        root: false,
        id: 0,
        kernel: vec![],
        user: vec![BASE + 8, BASE + 0x20],
    });
    let n = 200_000u64;
    let mut samples = Vec::new();
    for i in 0..n {
        o.put(Mapping {
            time_ns: T0 + 2 * i,
            pid: 100,
            start: BASE + (i % 16) * 0x1000,
            end: BASE + (i % 16) * 0x1000 + 0x1000,
            pgoff: 0,
            path: "/app".into(),
            build_id: None,
        });
        samples.push(sample(T0 + 2 * i + 1, 100, 0));
    }
    o.put(SampleBatch::from_samples(&samples));
    o.finish();
}

/// Running totals (format 1.14) of 200,000 distinct counters and 200,000
/// distinct syscalls, each written twice (a later value of each key), and
/// no final records of them.
pub fn totals_200k(path: &Path) {
    let mut o = Out::new(path, false);
    let n = 200_000u32;
    for round in 0..2u64 {
        for chunk in 0..n / 1000 {
            let keys = chunk * 1000..(chunk + 1) * 1000;
            o.put(Record::CountersSoFar(Counters {
                time_ns: T0 + round,
                values: keys.clone().map(|k| (format!("c{k}"), round + 1)).collect(),
            }));
            for k in keys {
                o.put(Record::SyscallTotalSoFar(SyscallTotal {
                    time_ns: T0 + round,
                    nr: k,
                    abi: "x86_64".into(),
                    calls: round + 1,
                    ..SyscallTotal::default()
                }));
            }
        }
    }
    o.put(Stack {
        root: false,
        id: 0,
        kernel: vec![],
        user: vec![BASE + 8],
    });
    o.put(SampleBatch::from_samples(&[sample(T0 + 5, 100, 0)]));
    o.finish();
}

/// One mapping `0..u64::MAX` and 160,000 small ones.
pub fn mappings_160k(path: &Path) {
    let mut o = Out::new(path, false);
    o.put(Mapping {
        time_ns: T0,
        pid: 100,
        start: 0,
        end: u64::MAX,
        pgoff: 0,
        path: "/huge".into(),
        build_id: None,
    });
    let n = 160_000u64;
    for i in 0..n {
        o.put(Mapping {
            time_ns: T0,
            pid: 100,
            start: BASE + i * 0x1000,
            end: BASE + i * 0x1000 + 0x1000,
            pgoff: 0,
            path: "/app".into(),
            build_id: None,
        });
    }
    for id in 0..1000u32 {
        o.put(Stack {
            root: false,
            id,
            kernel: vec![],
            user: (0..32u64)
                .map(|f| BASE + ((u64::from(id) * 131 + f * 977) % n) * 0x1000 + 0x10)
                .chain([0x10, u64::MAX - 0x2000])
                .collect(),
        });
    }
    let samples: Vec<Sample> = (0..20_000u64)
        .map(|i| sample(T0 + i, 100, (i % 1000) as u32))
        .collect();
    o.put(SampleBatch::from_samples(&samples));
    o.finish();
}

/// 100,000 mappings that all overlap one another, recorded at distinct times.
pub fn overlapping(path: &Path) {
    let mut o = Out::new(path, false);
    let n = 100_000u64;
    for i in 0..n {
        o.put(Mapping {
            time_ns: T0 + i,
            pid: 100,
            start: BASE - i * 0x1000,
            end: BASE + (1 << 40) + i * 0x1000,
            pgoff: i,
            path: format!("/m{}", i % 100),
            build_id: None,
        });
    }
    for id in 0..2000u32 {
        o.put(Stack {
            root: false,
            id,
            kernel: vec![],
            user: (0..16u64)
                .map(|f| BASE + u64::from(id) * 0x10_0000 + f * 0x100)
                .collect(),
        });
    }
    let samples: Vec<Sample> = (0..20_000u64)
        .map(|i| sample(T0 + i * 5, 100, (i % 2000) as u32))
        .collect();
    o.put(SampleBatch::from_samples(&samples));
    o.finish();
}

/// Extreme numbers: u64::MAX times, durations and periods, counters going
/// backwards, `nan` and huge values in cgroup files.
pub fn extremes(path: &Path) {
    let mut h = header(false);
    h.clock.monotonic_ns = u64::MAX - 10;
    h.clock.wall_ns = u64::MAX;
    h.options.cgroup_interval_ns = u64::MAX;
    h.options.duration_ns = Some(u64::MAX);
    h.options.frequency_hz = u32::MAX;
    h.host.cpus = u32::MAX;
    h.host.page_size = u64::MAX;
    let f = BufWriter::new(File::create(path).unwrap());
    let mut w = Writer::new(f, h, WriterOptions::default()).unwrap();
    let mut put = |r: Record| w.write(&r).unwrap();
    put(Record::Stack(Stack {
        root: false,
        id: u32::MAX,
        kernel: vec![u64::MAX, 0, u64::MAX - 0x1000],
        user: vec![u64::MAX, 0],
    }));
    put(Record::Mapping(Mapping {
        time_ns: u64::MAX,
        pid: u32::MAX,
        start: u64::MAX - 1,
        end: u64::MAX,
        pgoff: u64::MAX,
        path: String::new(),
        build_id: Some(vec![]),
    }));
    put(Record::BinarySymbols(BinarySymbols {
        build_id: vec![],
        path: String::new(),
        segments: vec![Segment {
            file_offset: u64::MAX,
            vaddr: u64::MAX,
            filesz: u64::MAX,
        }],
        symbols: vec![Symbol {
            start: u64::MAX,
            size: u64::MAX,
            name: String::new(),
        }],
        unnamed: vec![(u64::MAX, u64::MAX), (0, 0), (u64::MAX - 1, 2)],
    }));
    for t in [0, u64::MAX, u64::MAX - 5, 1] {
        put(Record::Sample(Sample {
            time_ns: t,
            pid: u32::MAX,
            tid: u32::MAX,
            cpu: u32::MAX,
            stack_id: u32::MAX,
            period: u64::MAX,
        }));
        put(Record::Syscall(Syscall {
            time_ns: t,
            pid: u32::MAX,
            tid: u32::MAX,
            nr: u32::MAX,
            duration_ns: u64::MAX,
            ret: i64::MIN,
            summary: String::new(),
            abi: String::new(),
        }));
    }
    for (i, t) in [u64::MAX - 10, 0, u64::MAX, 5].into_iter().enumerate() {
        let big = if i % 2 == 0 {
            u64::MAX.to_string()
        } else {
            "0".into()
        };
        put(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/x".into(),
            version: 2,
            controller: String::new(),
            files: vec![
                ("cpu.max".into(), format!("{big} 0\n")),
                (
                    "cpu.stat".into(),
                    format!("usage_usec {big}\nnr_periods {big}\nnr_throttled {big}\nthrottled_usec {big}\n"),
                ),
                ("memory.max".into(), format!("{big}\n")),
                ("memory.current".into(), format!("{big}\n")),
                ("memory.high".into(), "nan\n".into()),
                (
                    "memory.pressure".into(),
                    "some avg10=nan avg60=inf avg300=-1e308 total=18446744073709551615\nfull avg10=NaN avg60=0 avg300=0 total=99999999999999999999\n".into(),
                ),
                ("cpu.pressure".into(), "some avg10=inf avg60=nan avg300=1 total=18446744073709551615\n".into()),
                ("memory.events".into(), format!("oom_kill {big}\nmax {big}\n")),
            ],
        }));
        put(Record::NetSnapshot(NetSnapshot {
            time_ns: t,
            dev: format!("h\nh\neth0: {big} {big} {big} {big} 0 0 0 0 {big} {big} {big} {big} 0 0 0 0\n"),
            snmp: format!("Tcp: InSegs OutSegs RetransSegs\nTcp: {big} 0 {big}\nUdp: InDatagrams\nUdp: {big}\n"),
        }));
    }
    put(Record::Lost(Lost {
        time_ns: u64::MAX,
        kind: "samples".into(),
        count: u64::MAX,
    }));
    put(Record::Lost(Lost {
        time_ns: 0,
        kind: "samples".into(),
        count: u64::MAX,
    }));
    put(Record::Counters(Counters {
        time_ns: 0,
        values: vec![
            ("syscall:read".into(), u64::MAX),
            ("syscall:write".into(), u64::MAX),
        ],
    }));
    w.finish(Footer {
        end_ns: 0,
        end_wall_ns: 0,
        reason: String::new(),
        counts: vec![],
    })
    .unwrap();
}

/// Writes one hostile capture.
pub type Make = fn(&Path);

/// Every hostile capture: (name, writer, is a resource bomb).
pub const ALL: &[(&str, Make, bool)] = &[
    ("xss", xss, false),
    ("extremes", extremes, false),
    ("sample_bomb", sample_bomb, true),
    ("string_bomb", string_bomb, true),
    ("stacks_1m", stacks_1m, true),
    ("deep_stacks", deep_stacks, true),
    ("epochs_200k", epochs_200k, true),
    ("mappings_160k", mappings_160k, true),
    ("overlapping", overlapping, true),
    ("totals_200k", totals_200k, true),
];
