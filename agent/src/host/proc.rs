//! `Proc { root }`: typed readers of a `/proc` tree. The agent reads the
//! node's (`Proc::node()`); tests read copied trees (`fixtures/proc/`).
//!
//! Every read is capped ([`MAX_PROC_FILE`]): the files of a process are
//! kernel-made, but their size follows what the process does (a huge
//! `maps`, a long command line). Parsing lives in pure functions
//! ([`crate::procfs`], [`super::mounts`], [`crate::symbols::maps`]).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use holter_format::{Process, Thread};

use super::mounts::{self, Hierarchy, Membership};
use crate::procfs::{self, Stat};

/// The most read of one `/proc` file.
pub const MAX_PROC_FILE: u64 = 64 << 20;

/// A namespace, as `/proc/PID/ns/NAME` names it (`net:[4026531840]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NsId {
    pub inode: u64,
}

/// Parses a namespace link's text (`net:[4026531840]`).
pub fn parse_ns_link(text: &str) -> Option<NsId> {
    let inner = text.split_once(":[")?.1.strip_suffix(']')?;
    Some(NsId {
        inode: inner.parse().ok()?,
    })
}

/// The fields of `/proc/PID/status` the agent uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Thread-group id (the process of a thread).
    pub tgid: u32,
    /// Innermost pid, when a pid namespace makes it differ.
    pub ns_pid: Option<u32>,
    /// Pid of the tracer; 0 when not traced.
    pub tracer_pid: u32,
    /// Effective capabilities.
    pub cap_eff: u64,
}

pub fn parse_status(text: &str) -> Status {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    Status {
        tgid: field("Tgid").and_then(|v| v.parse().ok()).unwrap_or(0),
        ns_pid: procfs::parse_nspid(text),
        tracer_pid: field("TracerPid").and_then(|v| v.parse().ok()).unwrap_or(0),
        cap_eff: field("CapEff")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .unwrap_or(0),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub root: PathBuf,
}

impl Proc {
    /// The node's `/proc`.
    pub fn node() -> Proc {
        Proc {
            root: PathBuf::from("/proc"),
        }
    }

    /// A `/proc` tree elsewhere (a copied fixture).
    pub fn at(root: impl Into<PathBuf>) -> Proc {
        Proc { root: root.into() }
    }

    pub fn pid_dir(&self, pid: u32) -> PathBuf {
        self.root.join(pid.to_string())
    }

    fn task_dir(&self, pid: u32, tid: u32) -> PathBuf {
        self.pid_dir(pid).join("task").join(tid.to_string())
    }

    /// A file, at most [`MAX_PROC_FILE`] bytes.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        fs::File::open(path)?
            .take(MAX_PROC_FILE)
            .read_to_end(&mut out)?;
        Ok(out)
    }

    fn read_text(&self, path: &Path) -> io::Result<String> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Every pid of the tree, sorted.
    pub fn pids(&self) -> Vec<u32> {
        numeric_entries(&self.root)
    }

    /// Thread ids of a process, sorted.
    pub fn tasks(&self, pid: u32) -> io::Result<Vec<u32>> {
        let dir = self.pid_dir(pid).join("task");
        fs::metadata(&dir)?;
        Ok(numeric_entries(&dir))
    }

    pub fn stat(&self, pid: u32) -> io::Result<Stat> {
        parse(&self.read_text(&self.pid_dir(pid).join("stat"))?)
    }

    /// The CPU a thread last ran on (`processor`, field 39 of
    /// `/proc/TID/stat`), read into `buf` (reused: this runs at syscall
    /// stops) and at most [`MAX_PROC_FILE`] bytes.
    pub fn last_cpu(&self, tid: u32, buf: &mut Vec<u8>) -> Option<usize> {
        buf.clear();
        fs::File::open(self.pid_dir(tid).join("stat"))
            .ok()?
            .take(MAX_PROC_FILE)
            .read_to_end(buf)
            .ok()?;
        procfs::parse_processor(buf)
    }

    pub fn task_stat(&self, pid: u32, tid: u32) -> io::Result<Stat> {
        parse(&self.read_text(&self.task_dir(pid, tid).join("stat"))?)
    }

    pub fn status(&self, pid: u32) -> io::Result<Status> {
        Ok(parse_status(
            &self.read_text(&self.pid_dir(pid).join("status"))?,
        ))
    }

    pub fn task_status(&self, pid: u32, tid: u32) -> io::Result<Status> {
        Ok(parse_status(
            &self.read_text(&self.task_dir(pid, tid).join("status"))?,
        ))
    }

    /// Whether one thread is a zombie or gone.
    pub fn task_is_dead(&self, pid: u32, tid: u32) -> bool {
        self.task_stat(pid, tid)
            .map_or(true, |s| procfs::is_dead(s.state))
    }

    /// Whether a process has a task that is not dead: its main thread may
    /// have ended (`pthread_exit`, a zombie) while the others run on.
    pub fn is_alive(&self, pid: u32) -> bool {
        match self.stat(pid) {
            Ok(s) if !procfs::is_dead(s.state) => true,
            Ok(_) => {
                self.tasks(pid)
                    .unwrap_or_default()
                    .into_iter()
                    .any(|tid| !self.task_is_dead(pid, tid))
                    // An exec from another thread: the leader is a zombie
                    // until the execing thread takes its tid, which may
                    // happen between the reads above (the thread seen in the
                    // list is gone): the pid is then alive again.
                    || self.stat(pid).is_ok_and(|s| !procfs::is_dead(s.state))
            }
            Err(_) => false,
        }
    }

    /// A live task of a process: the process itself, else its first live thread.
    pub fn live_task(&self, pid: u32) -> Option<u32> {
        if !self.task_is_dead(pid, pid) {
            return Some(pid);
        }
        self.tasks(pid)
            .ok()?
            .into_iter()
            .find(|&tid| !self.task_is_dead(pid, tid))
    }

    pub fn cmdline(&self, pid: u32) -> io::Result<Vec<String>> {
        Ok(procfs::parse_cmdline(
            &self.read(&self.pid_dir(pid).join("cmdline"))?,
        ))
    }

    pub fn exe(&self, pid: u32) -> io::Result<String> {
        fs::read_link(self.pid_dir(pid).join("exe")).map(|p| p.to_string_lossy().into_owned())
    }

    /// `/proc/PID/maps` as text.
    pub fn maps(&self, pid: u32) -> io::Result<String> {
        self.read_text(&self.pid_dir(pid).join("maps"))
    }

    /// The executable mappings of a process.
    pub fn executable_maps(&self, pid: u32) -> io::Result<Vec<crate::symbols::maps::MapLine>> {
        Ok(crate::symbols::maps::parse_executable(&self.maps(pid)?))
    }

    pub fn cgroup_text(&self, pid: u32) -> io::Result<String> {
        self.read_text(&self.pid_dir(pid).join("cgroup"))
    }

    /// The cgroups of a process, one per hierarchy.
    pub fn cgroup(&self, pid: u32) -> io::Result<Vec<Membership>> {
        Ok(mounts::parse_proc_cgroup(&self.cgroup_text(pid)?))
    }

    /// The directory of a live task of the process: a main thread gone by
    /// `pthread_exit` has no mountinfo or namespace links left.
    fn live_dir(&self, pid: u32) -> PathBuf {
        match self.live_task(pid) {
            Some(tid) if tid != pid => self.task_dir(pid, tid),
            _ => self.pid_dir(pid),
        }
    }

    pub fn mountinfo_text(&self, pid: u32) -> io::Result<String> {
        self.read_text(&self.live_dir(pid).join("mountinfo"))
    }

    /// The cgroup hierarchies mounted in a process's mount namespace.
    pub fn mountinfo(&self, pid: u32) -> io::Result<Vec<Hierarchy>> {
        Ok(mounts::parse_mountinfo(&self.mountinfo_text(pid)?))
    }

    /// The cgroup hierarchies as the agent itself sees them (empty if unreadable).
    pub fn self_mountinfo(&self) -> Vec<Hierarchy> {
        self.read_text(&self.root.join("self/mountinfo"))
            .map(|t| mounts::parse_mountinfo(&t))
            .unwrap_or_default()
    }

    /// The namespace of a process (`net`, `mnt`, `pid`, `cgroup`, ...).
    pub fn ns(&self, pid: u32, name: &str) -> io::Result<NsId> {
        let link = fs::read_link(self.live_dir(pid).join("ns").join(name))?;
        parse_ns_link(&link.to_string_lossy())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a namespace link"))
    }

    /// Describes a running process for the capture (argv left out and the
    /// executable's path and cgroup paths tokens under `--redact`).
    pub fn describe_process(&self, pid: u32, time_ns: u64, redact: bool) -> io::Result<Process> {
        let stat = self.stat(pid)?;
        let r = crate::redact::Redact::new(redact);
        Ok(Process {
            time_ns,
            pid,
            ns_pid: self.status(pid).ok().and_then(|s| s.ns_pid),
            ppid: stat.ppid,
            comm: stat.comm,
            argv: r.argv(self.cmdline(pid).unwrap_or_default()),
            exe: self.exe(pid).map(|e| r.path(&e)).unwrap_or_default(),
            cgroups: self
                .cgroup_text(pid)
                .unwrap_or_default()
                .lines()
                .map(|l| r.cgroup_line(l))
                .collect(),
        })
    }

    pub fn describe_thread(&self, pid: u32, tid: u32, time_ns: u64) -> io::Result<Thread> {
        let stat = self.task_stat(pid, tid)?;
        Ok(Thread {
            time_ns,
            pid,
            tid,
            ns_tid: self.task_status(pid, tid).ok().and_then(|s| s.ns_pid),
            comm: stat.comm,
        })
    }
}

fn parse(text: &str) -> io::Result<Stat> {
    procfs::parse_stat(text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat"))
}

fn numeric_entries(dir: &Path) -> Vec<u32> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<u32> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Proc {
        Proc::at(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/proc")
                .join(name)
                .join("proc"),
        )
    }

    #[test]
    fn ns_links_and_status() {
        assert_eq!(
            parse_ns_link("net:[4026531840]"),
            Some(NsId { inode: 4026531840 })
        );
        assert_eq!(parse_ns_link("garbage"), None);
        let s = parse_status(
            "Name:\tx\nTgid:\t42\nNSpid:\t42\t1\nTracerPid:\t7\nCapEff:\t000001ffffffffff\n",
        );
        assert_eq!(
            s,
            Status {
                tgid: 42,
                ns_pid: Some(1),
                tracer_pid: 7,
                cap_eff: 0x1ff_ffff_ffff
            }
        );
    }

    #[test]
    fn the_node_tree_reads_this_process() {
        let p = Proc::node();
        let me = std::process::id();
        assert!(p.pids().contains(&me));
        assert!(p.is_alive(me));
        assert!(p.tasks(me).unwrap().contains(&me));
        assert!(p.ns(me, "net").is_ok());
        assert!(!p.executable_maps(me).unwrap().is_empty());
        assert!(!p.describe_process(me, 1, false).unwrap().argv.is_empty());
        assert!(p.describe_process(me, 1, true).unwrap().argv.is_empty());
        assert!(!p.is_alive(4_000_000));
    }

    /// A process in its own pid, mount and net namespaces (unshare), copied
    /// from the VM by fixtures/proc/make.sh.
    #[test]
    fn a_container_process_from_a_copied_tree() {
        let p = fixture("container");
        let pid: u32 = std::fs::read_to_string(p.root.join("../pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(p.pids(), [pid]);
        let stat = p.stat(pid).unwrap();
        assert_eq!(stat.comm, "sleep");
        assert_eq!(p.status(pid).unwrap().ns_pid, Some(1));
        assert_eq!(p.tasks(pid).unwrap(), [pid]);
        assert!(p.is_alive(pid));
        assert_eq!(p.cmdline(pid).unwrap(), ["sleep", "1000"]);
        assert!(p.exe(pid).unwrap().ends_with("/sleep"));
        let maps = p.executable_maps(pid).unwrap();
        assert!(maps.iter().any(|m| m.path.ends_with("/sleep")), "{maps:?}");
        let node_net = std::fs::read_link(p.root.join("self/ns/net")).unwrap();
        let node_net = parse_ns_link(&node_net.to_string_lossy()).unwrap();
        assert_ne!(
            p.ns(pid, "net").unwrap(),
            node_net,
            "its own network namespace"
        );
        let cg = p.cgroup(pid).unwrap();
        assert!(
            cg.iter()
                .any(|m| m.is_v2() && m.path.contains("holter-fixture")),
            "{cg:?}"
        );
        // Its cgroup's directories, with the node's mounts.
        let dirs: Vec<PathBuf> = cg
            .iter()
            .filter(|m| m.controllers.iter().any(|c| c == "cpu") || m.is_v2())
            .filter_map(|m| m.dir(&p.self_mountinfo()))
            .collect();
        assert!(
            dirs.iter().any(|d| d.starts_with("/sys/fs/cgroup/cpu")),
            "{dirs:?}"
        );
        let d = p.describe_process(pid, 5, false).unwrap();
        assert_eq!((d.ns_pid, d.comm.as_str()), (Some(1), "sleep"));
    }

    /// A process in a cgroup namespace (`unshare --cgroup`): its own
    /// /proc/PID/cgroup shows `/`, its mountinfo shows the hierarchies' roots
    /// as the container's cgroup, and its pid 1 main thread exited
    /// (`pthread_exit`) while a thread runs on.
    #[test]
    fn a_cgroup_namespaced_container_from_a_copied_tree() {
        let p = fixture("cgroupns");
        let pid: u32 = std::fs::read_to_string(p.root.join("../pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Seen from the container itself: at the root of its cgroup namespace.
        let inside = p.cgroup(pid).unwrap();
        assert!(inside.iter().all(|m| m.path == "/"), "{inside:?}");
        // Its own mounts show where that root is on the node.
        let mounts = p.mountinfo(pid).unwrap();
        let v2 = mounts
            .iter()
            .find(|h| h.version == 2)
            .expect("cgroup2 in mountinfo");
        assert!(v2.root.contains("holter-fixture"), "{v2:?}");
        // Read from the node, a node path maps below that root only.
        assert_eq!(v2.dir_of(&v2.root), Some(v2.mount_point.clone()));
        assert_eq!(
            v2.dir_of(&format!("{}/child", v2.root)),
            Some(v2.mount_point.join("child"))
        );
        assert_eq!(v2.dir_of("/elsewhere"), None);
        // From the node's side, the same process names its full path.
        let outside = p.cgroup_text(pid).unwrap();
        let node_view = std::fs::read_to_string(p.root.join("../cgroup-from-node")).unwrap();
        assert_ne!(outside, node_view);
        let from_node = mounts::parse_proc_cgroup(&node_view);
        let v2_line = from_node.iter().find(|m| m.is_v2()).unwrap();
        assert_eq!(v2_line.path, v2.root);
        // The main thread is a zombie; the process lives on in its other thread.
        assert_eq!(p.stat(pid).unwrap().state, 'Z');
        assert!(p.is_alive(pid));
        let tasks = p.tasks(pid).unwrap();
        assert_eq!(
            tasks.len(),
            4,
            "the main thread, two callers and the starter"
        );
        assert_eq!(p.live_task(pid), Some(tasks[1]));
        assert!(p.ns(pid, "net").is_ok(), "read through a live thread");
    }
}
