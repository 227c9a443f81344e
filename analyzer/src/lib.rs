//! holter: turns capture files into flame graphs, syscall tables and cgroup reports.

pub mod cgroups;
pub mod compare;
pub mod diff;
pub mod doc;
pub mod escape;
pub mod export;
pub mod filter;
pub mod flamegraph;
pub mod info;
pub mod kube;
pub mod load;
pub mod output;
pub mod report;
pub mod sched;
pub mod symbolize;
pub mod syscalls;
pub mod throttled_calls;

/// A sum that stops at `u64::MAX`: counters in a capture are untrusted.
pub(crate) fn sum_sat(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}
