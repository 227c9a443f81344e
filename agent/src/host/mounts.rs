//! The one model of cgroup membership and cgroup mounts, shared by the
//! container, pod, snapshot and sampling code: `/proc/PID/cgroup` lines and
//! the cgroup hierarchies of a mountinfo text, pure functions of text.
//!
//! Mount points are unescaped (mountinfo writes a space as `\040`), and a
//! hierarchy mounted with another root than `/` (inside a cgroup namespace,
//! or a bind mount of a sub-tree) maps a cgroup path only below that root.

use std::path::PathBuf;

/// A mounted cgroup hierarchy, from one line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// 1 or 2.
    pub version: u8,
    /// v1 controllers of the hierarchy (`["cpu", "cpuacct"]`); empty for v2.
    pub controllers: Vec<String>,
    /// The mount point on this node.
    pub mount_point: PathBuf,
    /// The cgroup path the mount shows as its root (`/` unless a cgroup namespace hides the rest).
    pub root: String,
}

impl Membership {
    /// The cgroup2 line (`0::/path`).
    pub fn is_v2(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }

    /// The directory on this node of this membership, under its hierarchy's mount.
    pub fn dir(&self, hierarchies: &[Hierarchy]) -> Option<PathBuf> {
        let h = if self.is_v2() {
            hierarchies.iter().find(|h| h.version == 2)?
        } else {
            hierarchies
                .iter()
                .find(|h| h.version == 1 && h.controllers == self.controllers)?
        };
        h.dir_of(&self.path)
    }
}

impl Hierarchy {
    /// `cpu,cpuacct` for v1, empty for v2.
    pub fn name(&self) -> String {
        self.controllers.join(",")
    }

    /// The directory on this node of a cgroup path of this hierarchy.
    pub fn dir_of(&self, cgroup_path: &str) -> Option<PathBuf> {
        let rel = if self.root == "/" {
            cgroup_path
        } else {
            let rest = cgroup_path.strip_prefix(self.root.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest
        };
        Some(self.mount_point.join(rel.trim_start_matches('/')))
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup hierarchies of a mountinfo text. A hierarchy mounted twice is
/// listed once: its first mount of the whole tree (root `/`), else its first.
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mount_point), Some(fstype)) = (l.get(3), l.get(4), r.first()) else {
            continue;
        };
        let (version, controllers) = match *fstype {
            "cgroup2" => (2, Vec::new()),
            "cgroup" => {
                let supers = r.get(2).copied().unwrap_or("");
                let known: Vec<String> = supers
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro" | "noprefix" | "clone_children" | "xattr")
                            && !o.contains('=')
                    })
                    .map(str::to_string)
                    .collect();
                let named: Vec<String> = supers
                    .split(',')
                    .filter_map(|o| o.strip_prefix("name="))
                    .map(|n| format!("name={n}"))
                    .collect();
                (1, if known.is_empty() { named } else { known })
            }
            _ => continue,
        };
        let h = Hierarchy {
            version,
            controllers,
            mount_point: PathBuf::from(unescape(mount_point)),
            root: unescape(root),
        };
        match out
            .iter_mut()
            .find(|o| o.version == h.version && o.controllers == h.controllers)
        {
            None => out.push(h),
            Some(o) if o.root != "/" && h.root == "/" => *o = h,
            Some(_) => {}
        }
    }
    out
}

/// One line of `/proc/PID/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The hierarchy id (0 for cgroup2).
    pub hierarchy_id: u32,
    /// v1 controllers; empty for the v2 line `0::/path`.
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                hierarchy_id,
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_roots_and_preferred_mounts() {
        let h = parse_mountinfo(
            "41 31 0:36 /sub /mnt/bind rw - cgroup cgroup rw,pids\n\
             42 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
             43 31 0:38 /kubepods/pod1/c1 /sys/fs/cgroup/my\\040cg rw - cgroup2 cgroup2 rw\n\
             44 31 0:39 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n",
        );
        assert_eq!(h.len(), 3);
        assert_eq!(
            h[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/pids"),
            "the whole tree wins"
        );
        assert_eq!(h[1].mount_point, PathBuf::from("/sys/fs/cgroup/my cg"));
        assert_eq!(h[1].root, "/kubepods/pod1/c1");
        assert_eq!(h[2].controllers, ["name=systemd"]);
        // Inside the namespace root only.
        assert_eq!(
            h[1].dir_of("/kubepods/pod1/c1/sub"),
            Some(PathBuf::from("/sys/fs/cgroup/my cg/sub"))
        );
        assert_eq!(h[1].dir_of("/kubepods/pod1/c10"), None);
        assert_eq!(h[1].dir_of("/other"), None);
    }

    #[test]
    fn memberships() {
        let m = parse_proc_cgroup("12:cpu,cpuacct:/docker/a\n0::/system.slice/x.scope\ngarbage\n");
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].hierarchy_id, m[0].controllers.len()), (12, 2));
        assert!(m[1].is_v2() && !m[0].is_v2());
        let h = parse_mountinfo(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(
            m[0].dir(&h),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/a"))
        );
        assert_eq!(
            m[1].dir(&h),
            Some(PathBuf::from("/sys/fs/cgroup/unified/system.slice/x.scope"))
        );
    }
}
