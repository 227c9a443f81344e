//! Per-syscall counts of a capture and the [`SyscallTotal`] records made
//! of them: shared by both tracers (ptrace and kernel tracepoints).

use std::collections::BTreeMap;

use holter_format::syscall_names::{syscall_name, Arch};
use holter_format::SyscallTotal;

use super::summary::Table;
use crate::clock::monotonic_ns;

#[derive(Default, Clone)]
pub struct Count {
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    /// errno → calls.
    pub errnos: BTreeMap<u32, u64>,
}

impl Count {
    pub fn add(&mut self, ret: i64, duration: u64) {
        self.calls += 1;
        self.total_ns = self.total_ns.saturating_add(duration);
        if (-4095..=-1).contains(&ret) {
            self.errors += 1;
            *self.errnos.entry((-ret) as u32).or_default() += 1;
        }
    }
}

/// The totals of every syscall called at least once; 32-bit calls under the i386 ABI.
pub fn totals(table: &Table, counts: &[Count], compat_counts: &[Count]) -> Vec<SyscallTotal> {
    let time_ns = monotonic_ns();
    let native = std::env::consts::ARCH;
    let compat = compat_counts.iter().enumerate().map(|(nr, c)| {
        (
            Arch::I386.name(),
            nr,
            syscall_name(Arch::I386, nr as u32),
            c,
        )
    });
    counts
        .iter()
        .enumerate()
        .map(|(nr, c)| (native, nr, table.names.get(nr).copied().flatten(), c))
        .chain(compat)
        .filter(|(_, _, _, c)| c.calls > 0)
        .map(|(abi, nr, name, c)| {
            let mut errnos: Vec<(u32, u64)> = c.errnos.iter().map(|(&e, &n)| (e, n)).collect();
            errnos.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            SyscallTotal {
                time_ns,
                abi: abi.to_string(),
                nr: nr as u32,
                name: name.map_or_else(|| format!("syscall_{nr}"), str::to_string),
                calls: c.calls,
                errors: c.errors,
                total_ns: c.total_ns,
                errnos,
            }
        })
        .collect()
}
