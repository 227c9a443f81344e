//! holter: turns capture files into flame graphs, syscall tables and cgroup reports.

pub mod info;
pub mod load;
