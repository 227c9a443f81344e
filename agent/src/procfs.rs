//! Parsing `/proc` files (pure functions of text), and shorthands for the
//! node's `/proc` read through [`crate::host::proc::Proc`].

use std::io;
use std::path::PathBuf;

use holter_format::{Process, Thread};

use crate::host::proc::Proc;

pub fn pid_dir(pid: u32) -> PathBuf {
    Proc::node().pid_dir(pid)
}

/// The fields of `/proc/PID/stat` that holter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
}

/// The `processor` field (39th) of a `/proc/PID/stat` line; the comm (field 2)
/// may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_processor(stat: &[u8]) -> Option<usize> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After the comm come fields 3, 4, ...: field 39 is the 37th.
    rest.split_ascii_whitespace().nth(36)?.parse().ok()
}

/// Parses `/proc/PID/stat`. The comm may contain spaces and parentheses: it
/// runs from the first `(` to the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        starttime: rest.get(19)?.parse().ok()?,
    })
}

/// The innermost pid from the `NSpid:` line of `/proc/PID/status`, when it
/// differs from the outermost.
pub fn parse_nspid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    let ids: Vec<u32> = line["NSpid:".len()..]
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    match ids.as_slice() {
        [first, .., last] if first != last => Some(*last),
        _ => None,
    }
}

/// Splits a NUL-separated `/proc/PID/cmdline`.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

// The node's /proc through the one reader, [`crate::host::proc::Proc`].

pub fn read_stat(pid: u32) -> io::Result<Stat> {
    Proc::node().stat(pid)
}

/// Whether a process has a task that is not dead. Its main thread may have
/// ended (`pthread_exit`, shown as a zombie) while other threads run on.
pub fn is_alive(pid: u32) -> bool {
    Proc::node().is_alive(pid)
}

/// Whether one thread of a process is a zombie or gone.
pub fn thread_is_dead(pid: u32, tid: u32) -> bool {
    Proc::node().task_is_dead(pid, tid)
}

/// Zombie or dead.
pub fn is_dead(state: char) -> bool {
    state == 'Z' || state == 'X'
}

/// Thread ids of a process.
pub fn threads(pid: u32) -> io::Result<Vec<u32>> {
    Proc::node().tasks(pid)
}

/// Every pid on the host.
pub fn all_pids() -> Vec<u32> {
    Proc::node().pids()
}

/// Direct and indirect children of `root` (not `root` itself), from the ppid of every process.
pub fn descendants(root: u32) -> Vec<u32> {
    let proc = Proc::node();
    let parents: Vec<(u32, u32)> = proc
        .pids()
        .into_iter()
        .filter_map(|p| Some((p, proc.stat(p).ok()?.ppid)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parents {
            if parent == p && child != root && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Describes a running process for the capture.
pub fn describe_process(pid: u32, time_ns: u64, redact: bool) -> io::Result<Process> {
    Proc::node().describe_process(pid, time_ns, redact)
}

pub fn describe_thread(pid: u32, tid: u32, time_ns: u64) -> io::Result<Thread> {
    Proc::node().describe_thread(pid, tid, time_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s = "4242 (my (weird) app) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 1000 10";
        let st = parse_stat(s).unwrap();
        assert_eq!(st.comm, "my (weird) app");
        assert_eq!(st.state, 'S');
        assert_eq!(st.ppid, 1);
        assert_eq!(st.starttime, 987654);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn nspid() {
        assert_eq!(parse_nspid("Name:\tx\nNSpid:\t4242\t7\n"), Some(7));
        assert_eq!(parse_nspid("NSpid:\t4242\n"), None);
        assert_eq!(parse_nspid("Name: x\n"), None);
    }

    #[test]
    fn cmdline() {
        assert_eq!(parse_cmdline(b"sleep\x0010\x00"), ["sleep", "10"]);
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn this_process_is_alive_and_described() {
        let me = std::process::id();
        assert!(is_alive(me));
        let p = describe_process(me, 1, false).unwrap();
        assert_eq!(p.pid, me);
        assert!(!p.argv.is_empty());
        assert!(threads(me).unwrap().contains(&me));
    }
}
