//! Cgroup directories of a target and their control files, read raw.
//!
//! Parsing `/proc/PID/cgroup` and `/proc/self/mountinfo` are pure functions of
//! text; reading takes the cgroupfs root (a mount point) as a parameter, so
//! tests read fake trees in temp dirs.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use holter_format::CgroupSnapshot;
use thiserror::Error;

/// The files of a cgroup v2 directory that a snapshot reads.
pub const V2_FILES: &[&str] = &[
    "cpu.stat",
    "cpu.max",
    "cpu.weight",
    "memory.current",
    "memory.max",
    "memory.high",
    "memory.peak",
    "memory.stat",
    "memory.events",
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
    "io.stat",
    "pids.current",
    "pids.max",
    "cgroup.freeze",
    "cgroup.events",
];

/// The files a snapshot reads in a v1 hierarchy, by controller.
pub fn v1_files(controller: &str) -> &'static [&'static str] {
    match controller {
        "cpu" => &["cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
        "cpuacct" => &["cpuacct.usage"],
        "memory" => &[
            "memory.usage_in_bytes",
            "memory.limit_in_bytes",
            "memory.max_usage_in_bytes",
            "memory.failcnt",
            "memory.stat",
            "memory.oom_control",
        ],
        "blkio" => &[
            "blkio.throttle.io_serviced",
            "blkio.throttle.io_service_bytes",
        ],
        "pids" => &["pids.current", "pids.max"],
        "freezer" => &["freezer.state"],
        _ => &[],
    }
}

#[derive(Debug, Error)]
pub enum CgroupError {
    #[error("cgroup {0} does not exist")]
    NoSuchCgroup(PathBuf),
    #[error("{0} is not under a mounted cgroup hierarchy (see /proc/self/mountinfo)")]
    NotCgroupfs(PathBuf),
}

pub use crate::host::mounts::{parse_mountinfo, parse_proc_cgroup, Hierarchy, Membership};

/// A cgroup directory of the target and what to read in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupDir {
    /// The mount point of its hierarchy: the root the reader is given.
    pub root: PathBuf,
    /// The cgroup path inside the hierarchy, starting with `/`.
    pub path: String,
    pub version: u8,
    /// `cpu`, `cpu,cpuacct`, `memory`, ... for v1; empty for v2.
    pub controller: String,
    pub files: Vec<&'static str>,
}

impl CgroupDir {
    pub fn v2(root: &Path, path: &str) -> CgroupDir {
        CgroupDir {
            root: root.to_path_buf(),
            path: normalize(path),
            version: 2,
            controller: String::new(),
            files: V2_FILES.to_vec(),
        }
    }

    /// A v1 directory of a hierarchy with these controllers (`cpu,cpuacct`).
    pub fn v1(root: &Path, path: &str, controllers: &str) -> CgroupDir {
        let files: Vec<&'static str> = controllers.split(',').flat_map(v1_files).copied().collect();
        CgroupDir {
            root: root.to_path_buf(),
            path: normalize(path),
            version: 1,
            controller: controllers.to_string(),
            files,
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(self.path.trim_start_matches('/'))
    }
}

fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// Whether a v1 hierarchy holds a controller that snapshots read.
fn interesting(h: &Hierarchy) -> bool {
    h.controllers.iter().any(|c| !v1_files(c).is_empty())
}

/// The cgroup directories to snapshot for a target.
///
/// - `target_dir` (the directory the user named, if any): for a v2 path just
///   it; for a v1 path it and, for every other interesting controller, the
///   directory of the target's processes in that controller's own hierarchy;
/// - without one, the directories of the processes' `/proc/PID/cgroup` lines:
///   every interesting v1 controller, or the v2 directory when no v1
///   hierarchy holds cpu or memory.
///
/// A root cgroup (`/`) found from a process line is left out: its counters
/// are the whole node's, not the target's.
pub fn find_dirs(
    target_dir: Option<&Path>,
    hierarchies: &[Hierarchy],
    proc_cgroups: &[Vec<Membership>],
) -> Result<Vec<CgroupDir>, CgroupError> {
    let mut out: Vec<CgroupDir> = Vec::new();
    let mut hybrid_v2: Option<CgroupDir> = None;
    if let Some(dir) = target_dir {
        let h = hierarchies
            .iter()
            .filter(|h| dir.starts_with(&h.mount_point))
            .max_by_key(|h| h.mount_point.as_os_str().len())
            .ok_or_else(|| CgroupError::NotCgroupfs(dir.to_path_buf()))?;
        let rel = dir
            .strip_prefix(&h.mount_point)
            .map(|p| format!("/{}", p.display()))
            .unwrap_or_else(|_| "/".into());
        let rel = if h.root == "/" {
            rel
        } else {
            format!("{}{}", h.root.trim_end_matches('/'), rel)
        };
        if h.version == 2 {
            let v2 = CgroupDir::v2(&h.mount_point, &rel);
            if has_cpu_or_memory(dir) || proc_cgroups.is_empty() {
                return Ok(vec![v2]);
            }
            // A hybrid layout (runc names a container's v2 directory first):
            // the v2 directory has no quota or limit; the processes' v1
            // directories have them, and come first so the reports read them.
            hybrid_v2 = Some(v2);
        } else {
            out.push(CgroupDir::v1(&h.mount_point, &rel, &h.name()));
        }
    }
    let mut seen: BTreeSet<String> = out.iter().map(|d| d.controller.clone()).collect();
    let mut v2: Option<CgroupDir> = None;
    for lines in proc_cgroups {
        for m in lines {
            if m.path == "/" || m.path.is_empty() {
                continue;
            }
            if m.controllers.is_empty() {
                if let Some(h) = hierarchies.iter().find(|h| h.version == 2) {
                    if let Some(d) = h.dir_of(&m.path) {
                        if v2.is_none() && d.is_dir() {
                            let rel = d
                                .strip_prefix(&h.mount_point)
                                .map(|p| format!("/{}", p.display()))
                                .unwrap_or_default();
                            v2 = Some(CgroupDir::v2(&h.mount_point, &rel));
                        }
                    }
                }
                continue;
            }
            let Some(h) = hierarchies
                .iter()
                .find(|h| h.version == 1 && h.controllers == m.controllers)
            else {
                continue;
            };
            if !interesting(h) || seen.contains(&h.name()) {
                continue;
            }
            if let Some(d) = h.dir_of(&m.path) {
                if d.is_dir() {
                    seen.insert(h.name());
                    out.push(CgroupDir::v1(&h.mount_point, &m.path, &h.name()));
                }
            }
        }
    }
    let v1_cpu_or_memory = out.iter().any(|d| {
        d.controller
            .split(',')
            .any(|c| c == "cpu" || c == "cpuacct" || c == "memory")
    });
    if target_dir.is_none() && !v1_cpu_or_memory {
        out.extend(v2);
    }
    out.extend(hybrid_v2);
    Ok(out)
}

/// Whether a cgroup2 directory has the cpu or memory controller enabled.
fn has_cpu_or_memory(dir: &Path) -> bool {
    dir.join("cpu.max").exists() || dir.join("memory.max").exists()
}

/// Reads the control files of one directory, keeping them open between
/// snapshots: each snapshot is one `pread` per file. A file that cannot be
/// read (the cgroup was removed) is reopened by path at the next snapshot, so
/// a recreated cgroup is picked up again.
pub struct Snapshotter {
    pub dir: CgroupDir,
    open: Vec<Option<File>>,
    buf: Vec<u8>,
}

impl Snapshotter {
    pub fn new(dir: CgroupDir) -> Snapshotter {
        let open = dir.files.iter().map(|_| None).collect();
        Snapshotter {
            dir,
            open,
            buf: vec![0; 64 * 1024],
        }
    }

    /// One snapshot; files that do not exist are absent.
    pub fn snapshot(&mut self, time_ns: u64) -> CgroupSnapshot {
        let base = self.dir.dir();
        let mut files = Vec::with_capacity(self.dir.files.len());
        for (name, slot) in self.dir.files.iter().zip(self.open.iter_mut()) {
            if slot.is_none() {
                *slot = File::open(base.join(name)).ok();
            }
            let Some(f) = slot.as_ref() else { continue };
            match read_whole(f, &mut self.buf) {
                Some(text) => files.push((name.to_string(), text)),
                None => *slot = None,
            }
        }
        CgroupSnapshot {
            time_ns,
            path: self.dir.path.clone(),
            version: self.dir.version,
            controller: self.dir.controller.clone(),
            files,
        }
    }
}

/// Reads a whole control file from offset 0 (files longer than the buffer grow it).
fn read_whole(f: &File, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        let n = f.read_at(buf, 0).ok()?;
        if n < buf.len() || buf.len() >= 16 << 20 {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        buf.resize(buf.len() * 2, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 20 0:40 /kubepods /mnt/my\\040cg rw - cgroup cgroup rw,cpu,cpuacct
";

    const PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/box
7:blkio:/
4:memory:/box
2:cpuacct:/box
1:cpu:/box
0::/
";

    #[test]
    fn mountinfo_hierarchies() {
        let hs = parse_mountinfo(MOUNTINFO);
        assert_eq!(hs.len(), 8);
        assert_eq!(hs[0].controllers, ["cpu"]);
        assert_eq!(hs[0].mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(hs[5].controllers, ["name=systemd"]);
        assert_eq!(hs[6].version, 2);
        assert_eq!(hs[7].name(), "cpu,cpuacct");
        assert_eq!(hs[7].mount_point, Path::new("/mnt/my cg"));
        assert_eq!(
            hs[7].dir_of("/kubepods/pod1"),
            Some(PathBuf::from("/mnt/my cg/pod1"))
        );
        assert_eq!(hs[7].dir_of("/other"), None);
    }

    #[test]
    fn proc_cgroup_lines() {
        let ms = parse_proc_cgroup(PROC_CGROUP);
        assert_eq!(ms.len(), 7);
        assert_eq!(ms[1].controllers, ["pids"]);
        assert_eq!(ms[1].path, "/box");
        assert!(ms[6].controllers.is_empty());
        assert_eq!(ms[6].path, "/");
    }

    /// A fake node: hierarchies mounted in a temp dir.
    fn fake_node(tmp: &Path) -> Vec<Hierarchy> {
        let mut hs = Vec::new();
        for c in ["cpu", "cpuacct", "memory", "pids", "blkio"] {
            std::fs::create_dir_all(tmp.join(c).join("box")).unwrap();
            hs.push(Hierarchy {
                version: 1,
                controllers: vec![c.to_string()],
                mount_point: tmp.join(c),
                root: "/".into(),
            });
        }
        std::fs::create_dir_all(tmp.join("unified/box2")).unwrap();
        hs.push(Hierarchy {
            version: 2,
            controllers: vec![],
            mount_point: tmp.join("unified"),
            root: "/".into(),
        });
        hs
    }

    #[test]
    fn v1_dirs_from_each_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let hs = fake_node(tmp.path());
        let procs = vec![parse_proc_cgroup(PROC_CGROUP)];
        let dirs = find_dirs(Some(&tmp.path().join("cpu/box")), &hs, &procs).unwrap();
        let names: Vec<(&str, &str)> = dirs
            .iter()
            .map(|d| (d.controller.as_str(), d.path.as_str()))
            .collect();
        // blkio is at the root for this process: left out.
        assert_eq!(
            names,
            [
                ("cpu", "/box"),
                ("pids", "/box"),
                ("memory", "/box"),
                ("cpuacct", "/box")
            ]
        );
        assert_eq!(dirs[0].files, v1_files("cpu"));
        // Without a named directory: the same, from the process lines.
        let dirs = find_dirs(None, &hs, &procs).unwrap();
        assert_eq!(dirs.len(), 4);
    }

    #[test]
    fn hybrid_v2_path_without_controllers_adds_the_v1_dirs_first() {
        let tmp = tempfile::tempdir().unwrap();
        let hs = fake_node(tmp.path());
        let procs = vec![parse_proc_cgroup(PROC_CGROUP)];
        let dirs = find_dirs(Some(&tmp.path().join("unified/box2")), &hs, &procs).unwrap();
        let names: Vec<(&str, &str)> = dirs
            .iter()
            .map(|d| (d.controller.as_str(), d.path.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("pids", "/box"),
                ("memory", "/box"),
                ("cpuacct", "/box"),
                ("cpu", "/box"),
                ("", "/box2")
            ]
        );
        // No process to ask: just the directory.
        let dirs = find_dirs(Some(&tmp.path().join("unified/box2")), &hs, &[]).unwrap();
        assert_eq!(dirs, [CgroupDir::v2(&tmp.path().join("unified"), "/box2")]);
    }

    #[test]
    fn v2_path_is_just_it() {
        let tmp = tempfile::tempdir().unwrap();
        let hs = fake_node(tmp.path());
        let procs = vec![parse_proc_cgroup(PROC_CGROUP)];
        std::fs::write(tmp.path().join("unified/box2/cpu.max"), "max 100000\n").unwrap();
        let dirs = find_dirs(Some(&tmp.path().join("unified/box2")), &hs, &procs).unwrap();
        assert_eq!(dirs, [CgroupDir::v2(&tmp.path().join("unified"), "/box2")]);
        // A pure v2 process, no v1 membership: its v2 directory.
        let v2only = vec![parse_proc_cgroup("0::/box2\n")];
        let dirs = find_dirs(None, &hs, &v2only).unwrap();
        assert_eq!(dirs, [CgroupDir::v2(&tmp.path().join("unified"), "/box2")]);
        let outside = find_dirs(Some(Path::new("/nowhere/x")), &hs, &procs);
        assert!(matches!(outside, Err(CgroupError::NotCgroupfs(_))));
    }

    #[test]
    fn snapshot_reads_present_files_and_follows_recreation() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("g");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cpu.stat"), "usage_usec 10\n").unwrap();
        std::fs::write(dir.join("memory.current"), "4096\n").unwrap();
        let mut s = Snapshotter::new(CgroupDir::v2(tmp.path(), "g"));
        let a = s.snapshot(5);
        assert_eq!(a.time_ns, 5);
        assert_eq!(a.path, "/g");
        assert_eq!(a.version, 2);
        assert_eq!(
            a.files,
            [
                ("cpu.stat".to_string(), "usage_usec 10\n".to_string()),
                ("memory.current".to_string(), "4096\n".to_string())
            ]
        );
        // Rewritten in place: the open file sees the new content.
        std::fs::write(dir.join("memory.current"), "8192\n").unwrap();
        let b = s.snapshot(6);
        assert_eq!(b.files[1].1, "8192\n");
        // A file that appears later is picked up.
        std::fs::write(dir.join("pids.current"), "3\n").unwrap();
        assert_eq!(s.snapshot(7).files.len(), 3);
    }
}
