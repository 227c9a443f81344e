//! holter: turns capture files into flame graphs, syscall tables and cgroup reports.

pub mod cgroups;
pub mod info;
pub mod load;
