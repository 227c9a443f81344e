//! For each kind of data a capture holds (samples, syscalls, off-cpu,
//! cgroups, net): the time (CLOCK_MONOTONIC ns) its newest data was taken
//! and how much of it there is, one line each: `KIND NEWEST_NS COUNT`. With
//! the time a `kill -9` cut the capture, how late each kind reaches the file
//! (bench/kill9.py). Kinds absent from the file print `KIND 0 0`.
//!
//! `cargo run -p holter-format --example newest -- FILE`

use holter_format::taken::KINDS;
use holter_format::Reader;

fn main() {
    let path = std::env::args().nth(1).expect("usage: newest FILE");
    let file = std::fs::File::open(&path).expect("cannot open the capture");
    let mut by_kind = [(0u64, 0u64); KINDS.len()];
    for r in Reader::new(std::io::BufReader::new(file)).expect("not a capture") {
        if let Some(t) = r.taken() {
            let i = KINDS
                .iter()
                .position(|&k| k == t.kind)
                .expect("a known kind");
            by_kind[i].0 = by_kind[i].0.max(t.newest_ns);
            by_kind[i].1 += t.count;
        }
    }
    for (kind, (newest, n)) in KINDS.iter().zip(by_kind) {
        println!("{kind} {newest} {n}");
    }
}
