//! Write and read speed of the capture format, and bytes per sample after
//! compression, on a million synthetic CPU samples shaped like a real capture
//! (few threads, a few hundred distinct stacks with a skewed distribution,
//! timestamps 10 ms apart per CPU). Run: `cargo bench -p holter-format`.

use std::time::Instant;

use holter_format::*;

const SAMPLES: u64 = 1_000_000;

fn main() {
    // A small xorshift so the stream is the same at every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let tids = [4242u32, 4243, 4244, 4250];
    let samples: Vec<Sample> = (0..SAMPLES)
        .map(|i| {
            let r = next();
            // Skewed: half the samples in 8 stacks, the rest over 400.
            let stack_id = if r & 1 == 0 {
                (r >> 8) % 8
            } else {
                (r >> 8) % 400
            } as u32;
            Sample {
                time_ns: 1_000_000_000 + i * 5_050_505 + (r >> 40) % 20_000,
                pid: 4242,
                tid: tids[(r >> 20) as usize % tids.len()],
                cpu: (i % 2) as u32,
                stack_id,
                period: 10_101_010,
            }
        })
        .collect();

    println!("samples                 {SAMPLES}");
    let plain: Vec<Record> = samples.iter().cloned().map(Record::from).collect();
    run("one Sample record each", &plain, SAMPLES);
    // As the agent writes them: columns of up to BATCH samples.
    let batches: Vec<Record> = samples
        .chunks(BATCH)
        .map(|c| SampleBatch::from_samples(c).into())
        .collect();
    run("SampleBatch records", &batches, SAMPLES);
}

/// The agent's largest batch (`MAX_BATCH` in agent/src/sample/state.rs).
const BATCH: usize = 4096;

fn run(what: &str, records: &[Record], samples: u64) {
    let t = Instant::now();
    let mut w = Writer::new(
        Vec::with_capacity(64 << 20),
        Header::default(),
        WriterOptions::default(),
    )
    .unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    let bytes = w.finish(Footer::default()).unwrap();
    let write_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let n: usize = Reader::new(&bytes[..])
        .unwrap()
        .map(|r| match r {
            Record::Sample(_) => 1,
            Record::SampleBatch(b) => b.samples().count(),
            _ => 0,
        })
        .sum();
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(n as u64, samples);

    println!("{what}:");
    println!(
        "  write                 {:.1} M samples/s ({write_s:.3} s)",
        samples as f64 / write_s / 1e6
    );
    println!(
        "  read                  {:.1} M samples/s ({read_s:.3} s)",
        samples as f64 / read_s / 1e6
    );
    println!("  file                  {} bytes", bytes.len());
    println!(
        "  bytes per sample      {:.2}",
        bytes.len() as f64 / samples as f64
    );
}
