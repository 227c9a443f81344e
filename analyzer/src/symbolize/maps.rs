//! Which mapping of a process held an address at a given time.
//!
//! A later mapping at an overlapping range replaces an earlier one from its
//! `time_ns` on. Time enters lookups only as an *epoch*: the number of the
//! process's mappings recorded at or before the sample, so that samples of one
//! epoch share every lookup result (and can be grouped before symbolizing).

use std::collections::BTreeMap;

use holter_format::Mapping;
use std::collections::HashMap;

#[derive(Debug, Default)]
struct PidMaps {
    /// Times of the process's mappings, sorted.
    times: Vec<u64>,
    /// (start, end, index in the capture), in `times` order.
    by_rank: Vec<(u64, u64, u32)>,
}

/// The epoch of a sample at `time_ns`, given [`MapIndex::times`] of its process.
pub fn epoch_in(times: &[u64], time_ns: u64) -> u32 {
    times.partition_point(|&t| t <= time_ns) as u32
}

#[derive(Debug, Default)]
pub struct MapIndex {
    pids: HashMap<u32, PidMaps>,
}

impl MapIndex {
    pub fn new(mappings: &[Mapping]) -> MapIndex {
        let mut grouped: HashMap<u32, Vec<u32>> = HashMap::default();
        for (i, m) in mappings.iter().enumerate() {
            if m.end > m.start {
                grouped.entry(m.pid).or_default().push(i as u32);
            }
        }
        let pids = grouped
            .into_iter()
            .map(|(pid, mut idx)| {
                // Stable: equal times keep file order, a later record wins.
                idx.sort_by_key(|&i| mappings[i as usize].time_ns);
                let mut p = PidMaps {
                    times: Vec::with_capacity(idx.len()),
                    by_rank: Vec::with_capacity(idx.len()),
                };
                for &i in &idx {
                    let m = &mappings[i as usize];
                    p.times.push(m.time_ns);
                    p.by_rank.push((m.start, m.end, i));
                }
                (pid, p)
            })
            .collect();
        MapIndex { pids }
    }

    /// The epoch of a sample of `pid` at `time_ns`.
    pub fn epoch(&self, pid: u32, time_ns: u64) -> u32 {
        epoch_in(self.times(pid), time_ns)
    }

    /// Sorted times of the mappings of `pid`, for [`epoch_in`].
    pub fn times(&self, pid: u32) -> &[u64] {
        self.pids.get(&pid).map_or(&[], |p| &p.times)
    }

    /// [`MapIndex::find`] for many `(pid, epoch, addr)` at once, in
    /// O((mappings + queries) log mappings) whatever the mappings: one sweep
    /// per process over its mappings in time order keeps the address space
    /// as it stood (each mapping replacing what it overlaps), answering each
    /// query at its epoch; a second sweep, backwards, answers the addresses
    /// no mapping held yet. The result is in `queries` order.
    pub fn find_many(&self, queries: &[(u32, u32, u64)]) -> Vec<Option<u32>> {
        let mut out = vec![None; queries.len()];
        let mut by_pid: HashMap<u32, Vec<usize>> = HashMap::default();
        for (i, q) in queries.iter().enumerate() {
            by_pid.entry(q.0).or_default().push(i);
        }
        for (pid, mut idx) in by_pid {
            let Some(p) = self.pids.get(&pid) else {
                continue;
            };
            let n = p.by_rank.len();
            idx.sort_by_key(|&q| queries[q].1);
            let mut view = View::default();
            let mut next = 0;
            for &q in &idx {
                let (_, epoch, addr) = queries[q];
                while next < (epoch as usize).min(n) {
                    view.insert(p.by_rank[next]);
                    next += 1;
                }
                out[q] = view.get(addr).map(|i| i as u32);
            }
            // Lower ranks inserted last win: the earliest mapping after the epoch.
            let mut view = View::default();
            let mut next = n;
            for &q in idx.iter().rev() {
                if out[q].is_some() {
                    continue;
                }
                let (_, epoch, addr) = queries[q];
                while next > epoch as usize {
                    next -= 1;
                    view.insert(p.by_rank[next]);
                }
                out[q] = view.get(addr).map(|i| i as u32);
            }
        }
        out
    }

    /// Index (in the capture's mapping list) of the mapping holding `addr`:
    /// the latest one recorded within the epoch, else, for a sample that came
    /// before its mapping's record, the earliest one recorded after it. A
    /// scan of the process's mappings: the reference [`MapIndex::find_many`]
    /// is tested against, not for many lookups.
    pub fn find(&self, pid: u32, addr: u64, epoch: u32) -> Option<usize> {
        let p = self.pids.get(&pid)?;
        let holds = |&&(start, end, _): &&(u64, u64, u32)| start <= addr && addr < end;
        let (before, after) = p.by_rank.split_at((epoch as usize).min(p.by_rank.len()));
        before
            .iter()
            .rev()
            .find(holds)
            .or_else(|| after.iter().find(holds))
            .map(|m| m.2 as usize)
    }
}

/// An address space: disjoint ranges `start → (end, mapping)`.
#[derive(Default)]
struct View(BTreeMap<u64, (u64, u32)>);

impl View {
    /// Maps `[start, end)` to `idx`, over whatever it overlaps.
    fn insert(&mut self, (start, end, idx): (u64, u64, u32)) {
        if let Some((&s, &(e, i))) = self.0.range(..start).next_back() {
            if e > start {
                self.0.insert(s, (start, i));
                if e > end {
                    self.0.insert(end, (e, i));
                }
            }
        }
        let inside: Vec<u64> = self.0.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some((e, i)) = self.0.remove(&s) {
                if e > end {
                    self.0.insert(end, (e, i));
                }
            }
        }
        self.0.insert(start, (end, idx));
    }

    fn get(&self, addr: u64) -> Option<usize> {
        let (_, &(end, idx)) = self.0.range(..=addr).next_back()?;
        (addr < end).then_some(idx as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(time_ns: u64, pid: u32, start: u64, end: u64, path: &str) -> Mapping {
        Mapping {
            time_ns,
            pid,
            start,
            end,
            pgoff: 0,
            path: path.into(),
            build_id: None,
        }
    }

    #[test]
    fn finds_by_pid_and_range() {
        let maps = [
            map(0, 1, 0x1000, 0x2000, "a"),
            map(0, 1, 0x3000, 0x4000, "b"),
            map(0, 2, 0x1000, 0x2000, "c"),
        ];
        let ix = MapIndex::new(&maps);
        let e = ix.epoch(1, 10);
        assert_eq!(ix.find(1, 0x1800, e), Some(0));
        assert_eq!(ix.find(1, 0x3000, e), Some(1));
        assert_eq!(ix.find(1, 0x2800, e), None);
        assert_eq!(ix.find(2, 0x1000, ix.epoch(2, 10)), Some(2));
        assert_eq!(ix.find(3, 0x1000, 0), None);
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn find_many_agrees_with_find(
            maps in proptest::collection::vec((0u64..6, 1u32..3, 0u64..40, 1u64..20), 0..24),
            queries in proptest::collection::vec((1u32..4, 0u32..30, 0u64..64), 0..64),
        ) {
            let maps: Vec<Mapping> = maps
                .iter()
                .map(|&(t, pid, start, len)| map(t, pid, start, start + len, "m"))
                .collect();
            let ix = MapIndex::new(&maps);
            let many = ix.find_many(&queries);
            for (q, got) in queries.iter().zip(many) {
                prop_assert_eq!(got.map(|i| i as usize), ix.find(q.0, q.2, q.1), "{:?}", q);
            }
        }
    }

    #[test]
    fn later_mapping_replaces_from_its_time() {
        let maps = [
            map(100, 1, 0x1000, 0x3000, "old"),
            map(200, 1, 0x2000, 0x4000, "new"),
        ];
        let ix = MapIndex::new(&maps);
        assert_eq!(ix.find(1, 0x2800, ix.epoch(1, 150)), Some(0));
        assert_eq!(ix.find(1, 0x2800, ix.epoch(1, 200)), Some(1));
        assert_eq!(ix.find(1, 0x1800, ix.epoch(1, 250)), Some(0));
        // Before any record: the earliest mapping that will hold it.
        assert_eq!(ix.find(1, 0x2800, ix.epoch(1, 50)), Some(0));
        assert_eq!(ix.find(1, 0x3800, ix.epoch(1, 50)), Some(1));
    }
}
