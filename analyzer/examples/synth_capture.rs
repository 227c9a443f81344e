//! Writes a large synthetic capture for benchmarking `holter flamegraph`
//! (see bench/flamegraph.sh): `cargo run --release --example synth_capture -- OUT [SAMPLES]`.
//!
//! 8 processes of 4 threads; a binary of 5,000 functions and a libc of 2,000
//! with symbols, a library without symbols, 3,000 kernel functions; 20,000
//! distinct stacks 8 to 40 frames deep (a third with 3 to 10 kernel frames),
//! sampled with a skewed distribution, as an agent at 999 Hz would write them.

use std::fs::File;
use std::io::BufWriter;

use holter_format::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Skewed towards small values.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
}

const APP_BASE: u64 = 0x5555_5555_0000;
const LIBC_BASE: u64 = 0x7f00_0000_0000;
const NOSYM_BASE: u64 = 0x7f10_0000_0000;
const KBASE: u64 = 0xffff_ffff_8100_0000;
const FN_SIZE: u64 = 0x100;

fn symbols(n: u64, base: u64, prefix: &str) -> Vec<Symbol> {
    (0..n)
        .map(|i| Symbol {
            start: base + i * FN_SIZE,
            size: FN_SIZE,
            name: format!("{prefix}_{i}"),
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: synth_capture OUT [SAMPLES]")?;
    let samples: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t0 = 1_000_000_000_000u64;
    let header = Header {
        clock: ClockPair {
            monotonic_ns: t0,
            wall_ns: 1_700_000_000_000_000_000,
        },
        target: Target {
            kind: "cgroup".into(),
            spec: "/synthetic".into(),
            ..Target::default()
        },
        options: Options {
            samples: true,
            sample_event: "cpu-clock".into(),
            frequency_hz: 999,
            ..Options::default()
        },
        ..Header::default()
    };
    let file = BufWriter::new(File::create(&out)?);
    let mut w = Writer::new(file, header, WriterOptions::default())?;
    let pids: Vec<u32> = (1000..1008).collect();
    for &pid in &pids {
        w.write(&Record::Process(Process {
            time_ns: t0,
            pid,
            ppid: 1,
            comm: format!("svc-{}", pid - 1000),
            ..Process::default()
        }))?;
        for t in 0..4 {
            w.write(&Record::Thread(Thread {
                time_ns: t0,
                pid,
                tid: pid * 10 + t,
                ns_tid: None,
                comm: format!("worker-{t}"),
            }))?;
        }
        for (base, len, path, id) in [
            (APP_BASE, 5000 * FN_SIZE, "/usr/bin/app", vec![1u8; 20]),
            (
                LIBC_BASE,
                2000 * FN_SIZE,
                "/usr/lib/libc.so.6",
                vec![2u8; 20],
            ),
            (
                NOSYM_BASE,
                1000 * FN_SIZE,
                "/usr/lib/libnosym.so",
                vec![3u8; 20],
            ),
        ] {
            w.write(&Record::Mapping(Mapping {
                time_ns: t0,
                pid,
                start: base,
                end: base + len,
                pgoff: 0x1000,
                path: path.into(),
                build_id: Some(id),
            }))?;
        }
    }
    for (id, n, path) in [(1u8, 5000, "/usr/bin/app"), (2, 2000, "/usr/lib/libc.so.6")] {
        w.write(&Record::BinarySymbols(BinarySymbols {
            build_id: vec![id; 20],
            path: path.into(),
            segments: vec![Segment {
                file_offset: 0x1000,
                vaddr: 0x1000,
                filesz: n * FN_SIZE,
            }],
            symbols: symbols(n, 0x1000, if id == 1 { "app_fn" } else { "libc_fn" }),
            unnamed: vec![],
        }))?;
    }
    w.write(&Record::KernelSymbols(KernelSymbols {
        symbols: symbols(3000, KBASE, "kfn"),
    }))?;

    // Stacks: random walks down a call tree, so prefixes are shared.
    let n_stacks = 20_000u32;
    let mut owner = Vec::with_capacity(n_stacks as usize);
    for id in 0..n_stacks {
        let depth = 8 + rng.below(33);
        let mut user = Vec::with_capacity(depth as usize);
        let mut f = rng.skewed(50);
        for level in 0..depth {
            let (base, nfn) = match rng.below(10) {
                0 | 1 if level > 4 => (LIBC_BASE, 2000),
                2 if level > 6 => (NOSYM_BASE, 1000),
                _ => (APP_BASE, 5000),
            };
            f = (f * 7 + 1 + rng.skewed(20)) % nfn;
            user.push(base + f * FN_SIZE + 0x10 + rng.below(0xe0));
        }
        user.reverse();
        let kernel = if rng.below(3) == 0 {
            (0..3 + rng.below(8))
                .map(|_| KBASE + rng.skewed(3000) * FN_SIZE + 0x8)
                .collect()
        } else {
            Vec::new()
        };
        w.write(&Record::Stack(Stack {
            id,
            kernel,
            user,
            root: false,
        }))?;
        owner.push(pids[rng.below(pids.len() as u64) as usize]);
    }
    let step = 60_000_000_000 / samples.max(1);
    for i in 0..samples {
        let stack_id = rng.skewed(n_stacks as u64) as u32;
        let pid = owner[stack_id as usize];
        w.write(&Record::Sample(Sample {
            time_ns: t0 + i * step,
            pid,
            tid: pid * 10 + rng.below(4) as u32,
            cpu: rng.below(2) as u32,
            stack_id,
            period: 1_001_001,
        }))?;
        w.flush_if_due()?;
    }
    w.write(&Record::Lost(Lost {
        time_ns: t0 + 60_000_000_000,
        kind: "samples".into(),
        count: 12,
    }))?;
    w.finish(Footer {
        end_ns: t0 + 60_000_000_000,
        end_wall_ns: 0,
        reason: "duration".into(),
        counts: Vec::new(),
    })?;
    eprintln!("wrote {out}: {samples} samples, {n_stacks} stacks");
    Ok(())
}
