//! holter: turns capture files into flame graphs, syscall tables and cgroup reports.

pub mod cgroups;
pub mod filter;
pub mod flamegraph;
pub mod info;
pub mod load;
pub mod report;
pub mod symbolize;
pub mod syscalls;
