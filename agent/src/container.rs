//! `--container ID`: a Docker, containerd, CRI-O or Podman container found by
//! the cgroup paths those runtimes give their containers, with the cgroupfs
//! and systemd drivers and under Kubernetes `kubepods`:
//!
//! - Docker: `/docker/<id>`, `/system.slice/docker-<id>.scope`
//! - containerd (CRI): `/kubepods/burstable/pod<uid>/<id>`,
//!   `/kubepods.slice/.../cri-containerd-<id>.scope`
//! - CRI-O: `.../crio-<id>` or `crio-<id>.scope` (not `crio-conmon-<id>`)
//! - Podman: `/machine.slice/libpod-<id>.scope`, `/libpod_parent/libpod-<id>`
//!   (not `libpod-conmon-<id>`)
//!
//! The ids are the 64-hex-digit ids these runtimes use. Parsing is pure and
//! tested on recorded lines; [`resolve`] reads `/proc/*/cgroup` and
//! `/proc/self/mountinfo`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::host::mounts::{parse_proc_cgroup, Hierarchy, Membership};
use crate::host::proc::Proc;

/// Shortest prefix accepted, as `docker ps` prints.
pub const MIN_PREFIX: usize = 12;
const ID_LEN: usize = 64;

/// Prefixes a runtime puts before the id in a cgroup directory name.
const PREFIXES: &[(&str, &str)] = &[
    ("docker-", "docker"),
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
    ("libpod-", "podman"),
];

/// A container found in a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub runtime: &'static str,
    /// The cgroup path up to and including the container's directory.
    pub path: String,
}

fn is_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The container directory named by one path component, if it is one.
fn component(c: &str, parent: &str) -> Option<(String, &'static str)> {
    let c = c.strip_suffix(".scope").unwrap_or(c);
    if c.contains("conmon") {
        return None;
    }
    for (prefix, runtime) in PREFIXES {
        if let Some(id) = c.strip_prefix(prefix) {
            return is_id(id).then(|| (id.to_string(), *runtime));
        }
    }
    if is_id(c) {
        let runtime = if parent == "docker" {
            "docker"
        } else if parent.starts_with("pod") {
            "containerd"
        } else {
            "unknown"
        };
        return Some((c.to_string(), runtime));
    }
    None
}

/// The containers of a cgroup path (outermost first, for nested containers).
pub fn containers_in_path(path: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let parts: Vec<&str> = path.split('/').collect();
    for (i, c) in parts.iter().enumerate() {
        let parent = if i > 0 { parts[i - 1] } else { "" };
        if let Some((id, runtime)) = component(c, parent) {
            out.push(Found {
                id,
                runtime,
                path: parts[..=i].join("/"),
            });
        }
    }
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContainerError {
    #[error("container id `{0}` is too short: give the full id or at least {MIN_PREFIX} characters (as `docker ps` shows)")]
    TooShort(String),
    #[error("`{0}` is not a container id: ids are hexadecimal (docker ps, crictl ps, podman ps show them)")]
    NotHex(String),
    #[error("no running container with id {0} on this node (check `docker ps`, `crictl ps` or `podman ps`; a container with no process cannot be recorded)")]
    NotFound(String),
    #[error("container id prefix {prefix} is ambiguous; it matches:\n  {}\ngive more characters", .candidates.join("\n  "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("container {id}: none of its cgroup directories is mounted here ({paths})")]
    NoDirectory { id: String, paths: String },
}

/// Everything known about the containers of the node: id → (runtime, the
/// memberships naming it, each cut at the container's directory).
pub type Index = BTreeMap<String, (&'static str, Vec<Membership>)>;

/// Adds the lines of one `/proc/PID/cgroup` to the index.
pub fn index_lines(index: &mut Index, text: &str) {
    for m in parse_proc_cgroup(text) {
        for f in containers_in_path(&m.path) {
            let entry = index.entry(f.id).or_insert((f.runtime, Vec::new()));
            let item = Membership {
                path: f.path,
                ..m.clone()
            };
            if !entry.1.contains(&item) {
                entry.1.push(item);
            }
        }
    }
}

/// A user's id or prefix, lower-cased, if it can name a container.
pub fn normalize(given: &str) -> Result<String, ContainerError> {
    let want = given.trim().to_ascii_lowercase();
    if want.is_empty() || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ContainerError::NotHex(given.to_string()));
    }
    if want.len() < MIN_PREFIX {
        return Err(ContainerError::TooShort(given.to_string()));
    }
    Ok(want)
}

/// The full id a user's id or prefix names.
pub fn pick<'a>(index: &'a Index, given: &str) -> Result<&'a str, ContainerError> {
    let want = normalize(given)?;
    let matches: Vec<(&String, &'static str)> = index
        .iter()
        .filter(|(id, _)| id.starts_with(&want))
        .map(|(id, (rt, _))| (id, *rt))
        .collect();
    match matches.as_slice() {
        [] => Err(ContainerError::NotFound(given.to_string())),
        [(id, _)] => Ok(id.as_str()),
        many => Err(ContainerError::Ambiguous {
            prefix: given.to_string(),
            candidates: many.iter().map(|(id, rt)| format!("{id} ({rt})")).collect(),
        }),
    }
}

/// The directories of a container: its cgroup2 directory first, then v1
/// directories (`cpu` first), each as an absolute path under the mounts.
pub fn directories(lines: &[Membership], hierarchies: &[Hierarchy]) -> Vec<PathBuf> {
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for m in lines {
        let Some(dir) = m.dir(hierarchies) else {
            continue;
        };
        if m.is_v2() {
            v2.push(dir);
        } else if m.controllers.iter().any(|c| c == "cpu") {
            v1.insert(0, dir);
        } else {
            v1.push(dir);
        }
    }
    v2.into_iter().chain(v1).collect()
}

/// Resolves a container id (or unique prefix) to (full id, runtime, cgroup directory).
pub fn resolve(given: &str) -> Result<(String, &'static str, PathBuf), ContainerError> {
    // A malformed id is refused before every process is scanned.
    normalize(given)?;
    let proc = Proc::node();
    let mut index = Index::new();
    for pid in proc.pids() {
        if let Ok(text) = proc.cgroup_text(pid) {
            index_lines(&mut index, &text);
        }
    }
    let id = pick(&index, given)?.to_string();
    let (runtime, lines) = &index[&id];
    let dirs = directories(lines, &proc.self_mountinfo());
    let dir = dirs
        .iter()
        .find(|d| d.join("cgroup.procs").exists())
        .cloned()
        .ok_or_else(|| ContainerError::NoDirectory {
            id: id.clone(),
            paths: lines
                .iter()
                .map(|l| l.path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok((id, runtime, dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mounts::parse_mountinfo;

    const A: &str = "3f2a9c1b7e4d5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d";
    const B: &str = "3f2a9c1b7e4d00000000000000000000000000000000000000000000000000aa";
    const C: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b";

    #[test]
    fn runtime_paths() {
        let cases = [
            (format!("/docker/{A}"), "docker", format!("/docker/{A}")),
            (format!("/system.slice/docker-{A}.scope"), "docker", format!("/system.slice/docker-{A}.scope")),
            (format!("/kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/{A}"), "containerd", format!("/kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/{A}")),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa.slice/cri-containerd-{A}.scope"),
                "containerd",
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa.slice/cri-containerd-{A}.scope"),
            ),
            (format!("/kubepods.slice/kubepods-pod1.slice/crio-{A}.scope"), "cri-o", format!("/kubepods.slice/kubepods-pod1.slice/crio-{A}.scope")),
            (format!("/machine.slice/libpod-{A}.scope/container"), "podman", format!("/machine.slice/libpod-{A}.scope")),
            (format!("/libpod_parent/libpod-{A}"), "podman", format!("/libpod_parent/libpod-{A}")),
        ];
        for (path, runtime, dir) in cases {
            let found = containers_in_path(&path);
            assert_eq!(found.len(), 1, "{path}");
            assert_eq!(
                (
                    found[0].id.as_str(),
                    found[0].runtime,
                    found[0].path.as_str()
                ),
                (A, runtime, dir.as_str()),
                "{path}"
            );
        }
        // Monitors and ordinary services are not containers.
        assert!(containers_in_path(&format!("/machine.slice/libpod-conmon-{A}.scope")).is_empty());
        assert!(containers_in_path(&format!("/kubepods.slice/crio-conmon-{A}.scope")).is_empty());
        assert!(containers_in_path("/system.slice/sshd.service").is_empty());
        assert!(containers_in_path("/process_api/b8525c44b6498d8f2beb7425ba33b78c").is_empty());
        // Docker in Docker: both, outermost first.
        let nested = containers_in_path(&format!("/docker/{A}/docker/{C}"));
        assert_eq!(
            nested.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            [A, C]
        );
    }

    fn index() -> Index {
        let mut idx = Index::new();
        index_lines(&mut idx, &format!("12:cpu,cpuacct:/docker/{A}\n4:memory:/docker/{A}\n0::/system.slice/docker-{A}.scope\n"));
        index_lines(&mut idx, &format!("0::/system.slice/docker-{B}.scope\n"));
        index_lines(
            &mut idx,
            &format!("1:name=systemd:/kubepods/besteffort/podx/{C}\n0::/\n"),
        );
        idx
    }

    #[test]
    fn prefixes() {
        let idx = index();
        assert_eq!(pick(&idx, A), Ok(A));
        assert_eq!(pick(&idx, &A.to_uppercase()[..20]), Ok(A));
        assert_eq!(pick(&idx, &C[..12]), Ok(C));
        match pick(&idx, &A[..12]) {
            Err(ContainerError::Ambiguous { candidates, .. }) => {
                assert_eq!(candidates.len(), 2);
                assert!(candidates[0].contains(B) || candidates[1].contains(B));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            pick(&idx, &A[..11]),
            Err(ContainerError::TooShort(A[..11].to_string()))
        );
        assert_eq!(
            pick(&idx, "not-an-id-at-all"),
            Err(ContainerError::NotHex("not-an-id-at-all".into()))
        );
        assert_eq!(
            pick(&idx, "ffffffffffffff"),
            Err(ContainerError::NotFound("ffffffffffffff".into()))
        );
        let msg = pick(&idx, &A[..12]).unwrap_err().to_string();
        assert!(msg.contains(A) && msg.contains(B), "{msg}");
    }

    /// `/proc/PID/cgroup` of a runc container recorded on the hybrid test VM
    /// (`runc run` with `cgroupsPath: /<id>`), and its mountinfo lines.
    const RUNC_PROC_CGROUP: &str =
        "9:name=systemd:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
8:pids:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
7:blkio:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
6:freezer:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
5:devices:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
4:memory:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
3:cpuset:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
2:cpuacct:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
1:cpu:/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
0::/4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c
";
    const VM_MOUNTINFO: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn a_cgroup_namespaced_mount_maps_only_below_its_root() {
        // The agent itself in a cgroup namespace: its cgroupfs shows /kubepods/x as /.
        let mounts = parse_mountinfo(
            "50 40 0:29 /kubepods/x /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             51 40 0:38 /kubepods/x /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        let mut idx = Index::new();
        index_lines(
            &mut idx,
            &format!("1:cpu:/kubepods/x/docker/{A}\n0::/kubepods/x/docker/{A}\n"),
        );
        assert_eq!(
            directories(&idx[A].1, &mounts),
            [
                PathBuf::from(format!("/sys/fs/cgroup/unified/docker/{A}")),
                PathBuf::from(format!("/sys/fs/cgroup/cpu/docker/{A}")),
            ]
        );
        let mut idx = Index::new();
        index_lines(&mut idx, &format!("0::/elsewhere/docker/{A}\n"));
        assert!(directories(&idx[A].1, &mounts).is_empty());
    }

    #[test]
    fn runc_on_a_hybrid_node_and_crio_under_cgroupfs() {
        let id = "4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c";
        let mut idx = Index::new();
        index_lines(&mut idx, RUNC_PROC_CGROUP);
        assert_eq!(pick(&idx, &id[..12]), Ok(id));
        let (runtime, lines) = &idx[id];
        assert_eq!(*runtime, "unknown", "runc names no runtime in the path");
        let dirs = directories(lines, &parse_mountinfo(VM_MOUNTINFO));
        assert_eq!(
            dirs[..2],
            [
                PathBuf::from(format!("/sys/fs/cgroup/unified/{id}")),
                PathBuf::from(format!("/sys/fs/cgroup/cpu/{id}")),
            ]
        );
        // CRI-O with the cgroupfs driver (v1 and v2 lines alike).
        let crio = format!(
            "4:memory:/kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/crio-{A}\n\
             0::/kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/crio-{A}\n"
        );
        let mut idx = Index::new();
        index_lines(&mut idx, &crio);
        assert_eq!(idx[A].0, "cri-o");
        assert_eq!(idx[A].1.len(), 2);
    }

    #[test]
    fn directories_v2_first_then_cpu() {
        let mounts = parse_mountinfo(
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
             32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             40 31 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n\
             41 31 0:36 /sub /mnt/bind rw - cgroup cgroup rw,pids\n",
        );
        let v2: Vec<&Hierarchy> = mounts.iter().filter(|h| h.version == 2).collect();
        assert_eq!(v2[0].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        // A bind mount of a sub-tree (pids at /mnt/bind) maps only below its root.
        assert_eq!(mounts.iter().filter(|h| h.version == 1).count(), 3);
        let idx = index();
        let dirs = directories(&idx[A].1, &mounts);
        assert_eq!(
            dirs,
            [
                PathBuf::from(format!(
                    "/sys/fs/cgroup/unified/system.slice/docker-{A}.scope"
                )),
                PathBuf::from(format!("/sys/fs/cgroup/cpu,cpuacct/docker/{A}")),
                PathBuf::from(format!("/sys/fs/cgroup/memory/docker/{A}")),
            ]
        );
    }
}
