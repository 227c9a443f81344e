//! The time (CLOCK_MONOTONIC ns) of the last sample a capture holds, and
//! how many samples it holds: with the time a `kill -9` cut it, how late
//! the newest samples reach the file (bench/kill9.py).
//!
//! `cargo run -p holter-format --example last_sample -- FILE`

use holter_format::{Reader, Record};

fn main() {
    let path = std::env::args().nth(1).expect("usage: last_sample FILE");
    let file = std::fs::File::open(&path).expect("cannot open the capture");
    let (mut last, mut n) = (0u64, 0u64);
    for r in Reader::new(std::io::BufReader::new(file)).expect("not a capture") {
        match r {
            Record::Sample(s) => {
                last = last.max(s.time_ns);
                n += 1;
            }
            Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => {
                for s in b.samples() {
                    last = last.max(s.time_ns);
                    n += 1;
                }
            }
            _ => {}
        }
    }
    println!("{last} {n}");
}
