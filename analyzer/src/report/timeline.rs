//! The report's one timeline ([`crate::doc::timeline::Timeline`]): CPU
//! samples by the hottest functions (each sample's leaf frame, named as the
//! flame graph names it), throttled periods, memory and the slowest
//! syscalls, all from what the report already computed, on the capture's
//! clock.

use std::collections::HashMap;

use crate::doc::timeline::{Call, CpuBin, Timeline};
use crate::flamegraph::{frame_text, CONTEXT_MARKER};
use crate::load::Capture;
use crate::symbolize::{epoch_in, Loc, Symbolizer};

/// Time bins of the CPU lane.
pub const BINS: usize = 60;

/// The bin of `rel_ns` in a capture of `span_ns` cut in `bins`.
pub fn bin_of(rel_ns: u64, span_ns: u64, bins: usize) -> usize {
    if span_ns == 0 || bins == 0 {
        return 0;
    }
    ((rel_ns as u128 * bins as u128 / span_ns as u128) as usize).min(bins - 1)
}

/// Samples per time bin and leaf function: `functions` (each its own
/// count), then every other leaf together.
pub fn cpu_bins(c: &Capture, sym: &Symbolizer, functions: &[String]) -> Vec<CpuBin> {
    let start = c.start_ns();
    let span = c.duration_ns();
    // Samples by (bin, pid, epoch, stack), then each distinct leaf named once.
    let mut counts: HashMap<(usize, u32, u32, u32), u64> = HashMap::new();
    for s in &c.samples {
        let bin = bin_of(s.time_ns.saturating_sub(start), span, BINS);
        let epoch = epoch_in(sym.maps().times(s.pid), s.time_ns);
        *counts.entry((bin, s.pid, epoch, s.stack_id)).or_default() += 1;
    }
    // The leaf of each (pid, epoch, stack): a kernel or a user location.
    let mut leaf_of: HashMap<(u32, u32, u32), Option<(Loc, bool)>> = HashMap::new();
    let mut queries: Vec<(u32, u32, u64)> = Vec::new();
    for &(_, pid, epoch, stack) in counts.keys() {
        leaf_of.entry((pid, epoch, stack)).or_insert_with(|| {
            let st = c.stacks.get(&stack)?;
            if let Some(&k) = st.kernel.iter().find(|&&a| a < CONTEXT_MARKER) {
                return Some((Loc::Kernel { addr: k }, true));
            }
            let &u = st.user.iter().find(|&&a| a < CONTEXT_MARKER)?;
            queries.push((pid, epoch, u));
            Some((Loc::Unmapped { pid, addr: u }, false))
        });
    }
    queries.sort_unstable();
    queries.dedup();
    let found = sym.maps().find_many(&queries);
    let mut locs: Vec<Loc> = Vec::new();
    let mut index: HashMap<Loc, usize> = HashMap::new();
    let mut key_loc: HashMap<(u32, u32, u32), (usize, bool)> = HashMap::new();
    for (key, leaf) in &leaf_of {
        let Some((loc, kernel)) = leaf else { continue };
        let loc = match *loc {
            Loc::Unmapped { pid, addr } => {
                let map = queries
                    .binary_search(&(pid, key.1, addr))
                    .ok()
                    .and_then(|i| found[i])
                    .map(|m| m as usize);
                sym.loc_in(pid, addr, map)
            }
            l => l,
        };
        let i = *index.entry(loc).or_insert_with(|| {
            locs.push(loc);
            locs.len() - 1
        });
        key_loc.insert(*key, (i, *kernel));
    }
    let resolved = sym.resolve(&locs);
    let column = |key: &(u32, u32, u32)| -> usize {
        let name = key_loc.get(key).and_then(|&(i, kernel)| {
            let f = resolved[i].frames.last()?;
            Some(frame_text(f, if kernel { "_[k]" } else { "" }))
        });
        name.and_then(|n| functions.iter().position(|f| *f == n))
            .unwrap_or(functions.len())
    };
    let mut bins: Vec<CpuBin> = (0..BINS)
        .map(|b| CpuBin {
            start_s: span as f64 / 1e9 * b as f64 / BINS as f64,
            end_s: span as f64 / 1e9 * (b + 1) as f64 / BINS as f64,
            counts: vec![0; functions.len() + 1],
        })
        .collect();
    for ((bin, pid, epoch, stack), n) in counts {
        let col = column(&(pid, epoch, stack));
        bins[bin].counts[col] += n;
    }
    bins
}

/// The timeline of a report, from its sections; `None` when none of them has
/// anything on the time axis.
pub fn build(r: &super::Report) -> Option<Timeline> {
    let c = r.capture;
    let start = c.start_ns();
    let rel = |t: u64| t.saturating_sub(start) as f64 / 1e9;
    let mut t = Timeline {
        span_s: c.duration_ns() as f64 / 1e9,
        ..Timeline::default()
    };
    if let Ok(f) = &r.flame {
        t.functions = f.timeline_functions.clone();
        t.cpu = f.by_time.clone();
    }
    if let Ok(th) = &r.throttling {
        t.throttled = th
            .intervals
            .iter()
            .filter_map(|i| {
                let (p, thr) = (i.periods?, i.throttled_periods?);
                (thr > 0).then(|| (rel(i.start_ns), rel(i.end_ns), thr as f64 / p.max(1) as f64))
            })
            .collect();
    }
    if let Ok(m) = &r.memory {
        t.memory = m
            .samples
            .iter()
            .map(|p| (rel(p.time_ns), p.usage_bytes))
            .collect();
        t.memory_limit = m.limit_bytes;
    }
    if let Ok(s) = &r.syscalls {
        t.calls = s
            .slowest
            .iter()
            .map(|x| Call {
                start_s: x.start_ns as f64 / 1e9,
                duration_s: x.duration_ns as f64 / 1e9,
                name: x.name.clone(),
                throttled: x.throttled == Some(true),
                throttled_wait_ns: x.throttled_wait_ns,
            })
            .collect();
    }
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_the_capture() {
        assert_eq!(bin_of(0, 60, 60), 0);
        assert_eq!(bin_of(59, 60, 60), 59);
        assert_eq!(bin_of(60, 60, 60), 59, "the end is in the last bin");
        assert_eq!(bin_of(u64::MAX, 60, 60), 59);
        assert_eq!(bin_of(5, 0, 60), 0);
        assert_eq!(bin_of(30, 60, 2), 1);
    }
}
