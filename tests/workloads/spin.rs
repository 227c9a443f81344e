//! A Rust workload for the unwinding tests, built in release mode without
//! frame pointers (`rustc -C opt-level=3 -C force-frame-pointers=no`):
//! main -> spin_outer -> spin_middle -> spin_leaf, on the main thread and on
//! one spawned thread (std's thread start, then start_thread/clone3).
//! Usage: spin SECONDS

use std::hint::black_box;
use std::time::{Duration, Instant};

#[inline(never)]
fn spin_leaf(n: u64) -> u64 {
    let mut acc = [0u64; 4];
    for i in 0..n {
        acc[(i & 3) as usize] = acc[(i & 3) as usize].wrapping_add(i ^ (acc[((i + 1) & 3) as usize] >> 3));
    }
    black_box(acc).iter().sum()
}

#[inline(never)]
fn spin_middle(n: u64) -> u64 {
    black_box(spin_leaf(black_box(n))).wrapping_add(1)
}

#[inline(never)]
fn spin_outer(until: Instant) -> u64 {
    let mut s = 0u64;
    while Instant::now() < until {
        s = s.wrapping_add(black_box(spin_middle(black_box(200_000))));
    }
    s
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2.0);
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let t = std::thread::spawn(move || spin_outer(until));
    let a = spin_outer(until);
    let b = t.join().unwrap();
    black_box(a.wrapping_add(b));
}
