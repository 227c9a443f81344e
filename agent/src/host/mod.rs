//! How the agent sees the host and the container. The agent runs as root and
//! the container may be hostile: every path, link, FIFO or device inside it is
//! chosen by the attacker. Everything the agent reads about a target goes
//! through this layer:
//!
//! - [`proc`]: `Proc { root }`, typed readers of `/proc` (stat, status, task
//!   list, maps, cgroup, mountinfo, namespace links), injectable for fixture
//!   tests on copied trees;
//! - [`mounts`]: the one model of `/proc/PID/cgroup` and mountinfo, shared by
//!   the container, pod, snapshot and sampling code;
//! - [`open`]: files inside a container, opened relative to a kept
//!   `/proc/PID/root` handle without ever leaving it, regular files only,
//!   identity checked on the open descriptor, reads capped;
//! - [`sys`]: the thin unsafe part (`openat2`, reopening a path descriptor,
//!   dropping capabilities), usable between `fork` and `exec`;
//! - [`node`]: the header's description of the node;
//! - [`reader`]: reader processes that make those opens and reads of files
//!   the container controls, so that a file system that never answers holds
//!   one of them in the kernel, never the agent's process.

pub mod mounts;
pub mod node;
pub mod open;
pub mod proc;
pub mod reader;
pub mod sys;

pub use node::{clock_pair, describe};
