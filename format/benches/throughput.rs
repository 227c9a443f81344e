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
    let samples: Vec<Record> = (0..SAMPLES)
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
            .into()
        })
        .collect();

    let t = Instant::now();
    let mut w = Writer::new(
        Vec::with_capacity(64 << 20),
        Header::default(),
        WriterOptions::default(),
    )
    .unwrap();
    for s in &samples {
        w.write(s).unwrap();
    }
    let bytes = w.finish(Footer::default()).unwrap();
    let write_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let n = Reader::new(&bytes[..])
        .unwrap()
        .filter(|r| matches!(r, Record::Sample(_)))
        .count();
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(n as u64, SAMPLES);

    println!("samples                 {SAMPLES}");
    println!(
        "write                   {:.1} M records/s ({write_s:.3} s)",
        SAMPLES as f64 / write_s / 1e6
    );
    println!(
        "read                    {:.1} M records/s ({read_s:.3} s)",
        SAMPLES as f64 / read_s / 1e6
    );
    println!("file                    {} bytes", bytes.len());
    println!(
        "bytes per sample record {:.2}",
        bytes.len() as f64 / SAMPLES as f64
    );
}
