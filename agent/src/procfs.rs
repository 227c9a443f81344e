//! Reading `/proc` (thin) apart from parsing it (pure functions of text).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use holter_format::{Process, Thread};

/// The `/proc` root; tests and helpers in other namespaces may pass another.
pub fn proc_root() -> &'static Path {
    Path::new("/proc")
}

pub fn pid_dir(pid: u32) -> PathBuf {
    proc_root().join(pid.to_string())
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

pub fn read_stat(pid: u32) -> io::Result<Stat> {
    let text = fs::read_to_string(pid_dir(pid).join("stat"))?;
    parse_stat(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat"))
}

/// Whether a process has a task that is not dead. Its main thread may have
/// ended (`pthread_exit`, shown as a zombie) while other threads run on.
pub fn is_alive(pid: u32) -> bool {
    match read_stat(pid) {
        Ok(s) if !is_dead(s.state) => true,
        Ok(_) => threads(pid)
            .unwrap_or_default()
            .into_iter()
            .any(|tid| !thread_is_dead(pid, tid)),
        Err(_) => false,
    }
}

/// Whether one thread of a process is a zombie or gone.
pub fn thread_is_dead(pid: u32, tid: u32) -> bool {
    fs::read_to_string(pid_dir(pid).join("task").join(tid.to_string()).join("stat"))
        .ok()
        .and_then(|t| parse_stat(&t))
        .is_none_or(|s| is_dead(s.state))
}

/// Zombie or dead.
pub fn is_dead(state: char) -> bool {
    state == 'Z' || state == 'X'
}

/// Thread ids of a process.
pub fn threads(pid: u32) -> io::Result<Vec<u32>> {
    let mut tids: Vec<u32> = fs::read_dir(pid_dir(pid).join("task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

/// Every pid on the host.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir(proc_root()) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// Direct and indirect children of `root` (not `root` itself), from the ppid of every process.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, read_stat(p).ok()?.ppid)))
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
    let dir = pid_dir(pid);
    let stat = read_stat(pid)?;
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let argv = if redact {
        Vec::new()
    } else {
        parse_cmdline(&fs::read(dir.join("cmdline")).unwrap_or_default())
    };
    let exe = fs::read_link(dir.join("exe"))
        .map(|p| crate::redact::Redact::new(redact).path(&p.to_string_lossy()))
        .unwrap_or_default();
    let cgroups = fs::read_to_string(dir.join("cgroup"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    Ok(Process {
        time_ns,
        pid,
        ns_pid: parse_nspid(&status),
        ppid: stat.ppid,
        comm: stat.comm,
        argv,
        exe,
        cgroups,
    })
}

pub fn describe_thread(pid: u32, tid: u32, time_ns: u64) -> io::Result<Thread> {
    let dir = pid_dir(pid).join("task").join(tid.to_string());
    let stat = parse_stat(&fs::read_to_string(dir.join("stat"))?)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable stat"))?;
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    Ok(Thread {
        time_ns,
        pid,
        tid,
        ns_tid: parse_nspid(&status),
        comm: stat.comm,
    })
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
