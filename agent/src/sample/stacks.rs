//! Callchains to interned stacks: context markers stripped, kernel and user
//! frames apart, each distinct stack given an id once.

use std::collections::HashMap;

/// `PERF_CONTEXT_*` markers, as u64.
const CONTEXT_KERNEL: u64 = -128i64 as u64;
const CONTEXT_USER: u64 = -512i64 as u64;
/// Every value at or above this is a context marker (`PERF_CONTEXT_MAX`).
const CONTEXT_MAX: u64 = -4095i64 as u64;

/// Splits a raw callchain into (kernel, user) frames, leaf first, without
/// markers. Frames of other contexts (hypervisor, guest) are dropped.
pub fn split(chain: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    let mut context = None;
    for &ip in chain {
        if ip >= CONTEXT_MAX {
            context = Some(ip);
            continue;
        }
        match context {
            Some(CONTEXT_KERNEL) => kernel.push(ip),
            Some(CONTEXT_USER) => user.push(ip),
            _ => {}
        }
    }
    (kernel, user)
}

/// A bounded intern table. When full it starts over; ids keep increasing,
/// so a stack seen again after that gets a new id (and a new Stack record).
pub struct Interner {
    /// Key: kernel frame count, kernel frames, user frames.
    table: HashMap<Vec<u64>, u32>,
    key: Vec<u64>,
    next: u32,
    capacity: usize,
}

impl Interner {
    pub fn new(capacity: usize) -> Self {
        Interner {
            table: HashMap::new(),
            key: Vec::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// The id of a stack, and whether it is new (its record must be written first).
    pub fn intern(&mut self, kernel: &[u64], user: &[u64]) -> (u32, bool) {
        self.key.clear();
        self.key.push(kernel.len() as u64);
        self.key.extend_from_slice(kernel);
        self.key.extend_from_slice(user);
        if let Some(&id) = self.table.get(self.key.as_slice()) {
            return (id, false);
        }
        if self.table.len() >= self.capacity {
            self.table.clear();
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.table.insert(self.key.clone(), id);
        (id, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stripped_and_contexts_split() {
        let chain = [
            CONTEXT_KERNEL,
            0xffff_ffff_8100_0001,
            0xffff_ffff_8100_0002,
            CONTEXT_USER,
            0x401010,
            0x401200,
        ];
        let (k, u) = split(&chain);
        assert_eq!(k, [0xffff_ffff_8100_0001, 0xffff_ffff_8100_0002]);
        assert_eq!(u, [0x401010, 0x401200]);
        // User-only, and a guest context whose frames are dropped.
        let guest = -2048i64 as u64;
        let (k, u) = split(&[CONTEXT_USER, 0x10, guest, 0x20]);
        assert!(k.is_empty());
        assert_eq!(u, [0x10]);
        assert_eq!(split(&[]), (vec![], vec![]));
    }

    #[test]
    fn interning_is_bounded() {
        let mut i = Interner::new(2);
        assert_eq!(i.intern(&[], &[1]), (0, true));
        assert_eq!(i.intern(&[], &[1]), (0, false));
        assert_eq!(i.intern(&[], &[2]), (1, true));
        // Full: the table starts over and ids go on increasing.
        assert_eq!(i.intern(&[], &[3]), (2, true));
        assert_eq!(i.intern(&[], &[1]), (3, true));
        assert_eq!(i.intern(&[], &[1]), (3, false));
        // The same address in the kernel part is another stack.
        let mut j = Interner::new(8);
        assert_eq!(j.intern(&[1], &[]), (0, true));
        assert_eq!(j.intern(&[], &[1]), (1, true));
    }
}
