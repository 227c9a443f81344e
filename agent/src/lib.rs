//! holter-agent: finds a target on a Linux node and records it into one capture file.
#![cfg(target_os = "linux")]

pub mod cadence;
pub mod catfile;
pub mod cgroup;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod container;
pub mod freezer;
pub mod host;
pub mod ns;
pub mod offcpu;
pub mod output;
pub mod pod;
pub mod procfs;
pub mod record;
pub mod redact;
pub mod runtimes;
pub mod sample;
pub mod snapshot;
pub mod status;
pub mod symbols;
pub mod sync;
pub mod syscalls;
pub mod target;
pub mod unwind;
