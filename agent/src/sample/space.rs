//! The executable mappings of each process, as the capture saw them, to tell
//! which mapped files the samples hit.

use std::collections::HashMap;
use std::sync::Arc;

use holter_format::BinarySymbols;

#[derive(Debug, Clone)]
pub struct Map {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub pgoff: u64,
    /// The file's symbols where it could be read; `None` for anonymous or
    /// unreadable mappings.
    pub file: Option<Arc<BinarySymbols>>,
    /// The file's unwind sections (DWARF mode only).
    pub unwind: Option<Arc<crate::unwind::Sections>>,
    /// Its file is being read on a reader thread: until then samples in it
    /// are unwound by frame pointers (and counted).
    pub loading: bool,
}

#[derive(Default)]
pub struct Spaces {
    by_pid: HashMap<u32, Vec<Map>>,
    /// Bumped on every change of a process's mappings (its unwinder is rebuilt).
    versions: HashMap<u32, u64>,
    clock: u64,
}

impl Spaces {
    fn bump(&mut self, pid: u32) {
        self.clock += 1;
        self.versions.insert(pid, self.clock);
    }

    /// Changes whenever the mappings of `pid` change.
    pub fn version(&self, pid: u32) -> u64 {
        self.versions.get(&pid).copied().unwrap_or(0)
    }

    /// The mappings of a process, by start.
    pub fn maps(&self, pid: u32) -> &[Map] {
        self.by_pid.get(&pid).map_or(&[], |m| m.as_slice())
    }

    pub fn knows(&self, pid: u32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    /// Marks a process as known with no mappings yet.
    pub fn touch(&mut self, pid: u32) {
        self.by_pid.entry(pid).or_default();
    }

    /// Adds a mapping; whatever it overlaps is unmapped.
    pub fn insert(&mut self, pid: u32, map: Map) {
        self.bump(pid);
        let maps = self.by_pid.entry(pid).or_default();
        maps.retain(|m| m.end <= map.start || m.start >= map.end);
        let at = maps.partition_point(|m| m.start < map.start);
        maps.insert(at, map);
    }

    /// A new process starts with a copy of its parent's mappings.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let maps = self.by_pid.get(&parent).cloned().unwrap_or_default();
        self.by_pid.insert(child, maps);
        self.bump(child);
    }

    /// exec replaces the address space.
    pub fn exec(&mut self, pid: u32) {
        self.by_pid.insert(pid, Vec::new());
        self.bump(pid);
    }

    /// The file of the mapping of `pid` at `start` was read (`file` set) or
    /// given up on (`None`): no longer loading. False if that mapping is gone.
    pub fn set_file(
        &mut self,
        pid: u32,
        start: u64,
        file: Option<Arc<BinarySymbols>>,
        unwind: Option<Arc<crate::unwind::Sections>>,
    ) -> bool {
        let Some(m) = self
            .by_pid
            .get_mut(&pid)
            .and_then(|maps| maps.iter_mut().find(|m| m.start == start))
        else {
            return false;
        };
        m.loading = false;
        if file.is_some() {
            m.file = file;
            m.unwind = unwind;
        }
        self.bump(pid);
        true
    }

    pub fn remove(&mut self, pid: u32) {
        self.by_pid.remove(&pid);
        self.versions.remove(&pid);
    }

    pub fn find(&self, pid: u32, addr: u64) -> Option<&Map> {
        let maps = self.by_pid.get(&pid)?;
        let i = maps.partition_point(|m| m.start <= addr);
        maps.get(i.checked_sub(1)?).filter(|m| addr < m.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(start: u64, end: u64) -> Map {
        Map {
            start,
            end,
            pgoff: 0,
            file: None,
            unwind: None,
            loading: false,
        }
    }

    #[test]
    fn lookups_forks_and_execs() {
        let mut s = Spaces::default();
        s.insert(1, map(0x1000, 0x2000));
        s.insert(1, map(0x5000, 0x6000));
        assert_eq!(s.find(1, 0x1800).map(|m| m.start), Some(0x1000));
        assert!(s.find(1, 0x2000).is_none());
        assert!(s.find(1, 0x500).is_none());
        assert!(s.find(2, 0x1800).is_none());
        // An overlapping mapping replaces the old one.
        s.insert(1, map(0x1800, 0x3000));
        assert_eq!(s.find(1, 0x1100).map(|m| m.start), None);
        assert_eq!(s.find(1, 0x2800).map(|m| m.start), Some(0x1800));
        s.fork(1, 2);
        assert_eq!(s.find(2, 0x5800).map(|m| m.start), Some(0x5000));
        s.exec(2);
        assert!(s.find(2, 0x5800).is_none());
        assert!(s.knows(2));
        s.remove(2);
        assert!(!s.knows(2));
    }
}
