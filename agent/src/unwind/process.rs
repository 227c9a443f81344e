//! The unwinders of the target's processes, built from their mappings
//! (rebuilt when those change), a rule cache shared by all, and the counts
//! of how unwinds ended.

use std::collections::HashMap;

use super::walk::{self, End, ModuleMap, NativeCache, NativeUnwinder, Regs};
use crate::sample::space::Spaces;

/// How the unwinds of a capture ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub root: u64,
    pub stack_copy: u64,
    pub failed: u64,
    pub loops: u64,
    pub too_deep: u64,
    /// Samples without user registers (kernel threads, or in the kernel only).
    pub no_regs: u64,
    /// Samples with a frame in a mapped file whose unwind table was still
    /// being read (on the reader thread): unwound there by frame pointers.
    pub table_pending: u64,
}

impl Stats {
    /// As counters for the capture (`unwind:root`, ...).
    pub fn counters(&self) -> Vec<(String, u64)> {
        [
            ("unwind:root", self.root),
            ("unwind:stack-copy-end", self.stack_copy),
            ("unwind:failed", self.failed),
            ("unwind:loop", self.loops),
            ("unwind:too-deep", self.too_deep),
            ("unwind:no-user-regs", self.no_regs),
            ("unwind:table-pending", self.table_pending),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

pub struct Unwinders {
    by_pid: HashMap<u32, (u64, NativeUnwinder)>,
    cache: Box<NativeCache>,
    pub stats: Stats,
}

impl Default for Unwinders {
    fn default() -> Self {
        Unwinders {
            by_pid: HashMap::new(),
            cache: Box::new(NativeCache::new()),
            stats: Stats::default(),
        }
    }
}

impl Unwinders {
    /// The user frames of one sample, leaf first, into `out`: unwound from
    /// `regs` and the stack copy; where the copy ends early, continued with
    /// the kernel's frame-pointer chain `kernel_user` when it agrees.
    /// Returns whether the unwind reached the outermost frame.
    pub fn user_stack(
        &mut self,
        pid: u32,
        spaces: &Spaces,
        regs: Option<Regs>,
        stack: &[u8],
        kernel_user: &[u64],
        out: &mut Vec<u64>,
    ) -> bool {
        let Some(regs) = regs else {
            self.stats.no_regs += 1;
            out.clear();
            out.extend_from_slice(kernel_user);
            return false;
        };
        let version = spaces.version(pid);
        let stale = self.by_pid.get(&pid).is_none_or(|(v, _)| *v != version);
        if stale {
            let modules = spaces.maps(pid).iter().filter_map(|m| {
                Some(ModuleMap {
                    start: m.start,
                    end: m.end,
                    pgoff: m.pgoff,
                    name: m.file.as_ref().map_or("", |f| f.path.as_str()),
                    sections: m.unwind.as_deref()?,
                })
            });
            self.by_pid.insert(pid, (version, walk::unwinder(modules)));
        }
        let (_, unwinder) = &self.by_pid[&pid];
        let end = walk::unwind(unwinder, &mut self.cache, regs, stack, out);
        match end {
            End::Root => self.stats.root += 1,
            End::StackCopy => {
                self.stats.stack_copy += 1;
                let more = walk::continuation(out, kernel_user);
                let room = walk::MAX_FRAMES.saturating_sub(out.len());
                out.extend_from_slice(&more[..more.len().min(room)]);
            }
            End::Failed => self.stats.failed += 1,
            End::Loop => self.stats.loops += 1,
            End::TooDeep => self.stats.too_deep += 1,
        }
        end == End::Root
    }

    /// Forgets the unwinders of processes no longer followed.
    pub fn prune(&mut self, spaces: &Spaces) {
        self.by_pid.retain(|pid, _| spaces.knows(*pid));
    }
}
