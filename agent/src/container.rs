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
use crate::runtimes::{Named, Runtime};

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
    #[error("no container named `{0}` on this node, and `{0}` is too short for an id prefix: give the name or at least {MIN_PREFIX} characters of the id (as `docker ps`, `crictl ps` or `podman ps` show)")]
    TooShort(String),
    #[error("no running container named or with id `{given}` on this node (check `docker ps`, `crictl ps` or `podman ps`; a container with no process cannot be recorded); names were looked for in {roots}{skipped}")]
    NotFound {
        given: String,
        roots: String,
        skipped: String,
    },
    #[error("container `{name}` ({id}, {runtime}) is not running: start it, or give a running container")]
    NotRunning {
        name: String,
        id: String,
        runtime: &'static str,
    },
    #[error("`{prefix}` names more than one container:\n  {}\ngive the full id (or more characters of it)", .candidates.join("\n  "))]
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

/// A user's id or prefix, lower-cased, if it can be one (hexadecimal, at
/// least [`MIN_PREFIX`] characters).
pub fn normalize(given: &str) -> Option<String> {
    let want = given.trim().to_ascii_lowercase();
    (want.len() >= MIN_PREFIX && want.bytes().all(|b| b.is_ascii_hexdigit())).then_some(want)
}

/// The container a user's name, id or id prefix names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: String,
    /// `docker`, `containerd`, `cri-o`, `podman`, `runc`; `None`: unknown.
    pub runtime: Option<&'static str>,
    pub name: Option<String>,
    /// Its cgroup memberships (each cut at the container's directory when
    /// found by the cgroup paths).
    pub lines: Vec<Membership>,
}

/// The record that says most about `id`: a runtime's own before runc's
/// (podman and docker containers also have a runc state).
fn record_of<'a>(named: &'a [Named], id: &str) -> Option<&'a Named> {
    named
        .iter()
        .filter(|n| n.id == id)
        .min_by_key(|n| n.runtime == Runtime::Runc)
}

fn choice(index: &Index, named: &[Named], id: &str) -> Choice {
    let (rt, lines) = &index[id];
    let record = record_of(named, id);
    Choice {
        id: id.to_string(),
        runtime: match (*rt, record) {
            ("unknown", Some(n)) => Some(n.runtime.name()),
            ("unknown", None) => None,
            (rt, _) => Some(rt),
        },
        name: record
            .and_then(|n| n.names.first())
            .filter(|n| n.as_str() != id)
            .cloned(),
        lines: lines.clone(),
    }
}

fn describe(c: &Choice, named: &[Named]) -> String {
    let mut about = vec![c.runtime.unwrap_or("unknown runtime").to_string()];
    if let Some(n) = &c.name {
        about.push(format!("name {n}"));
    }
    if let Some(pod) = record_of(named, &c.id).and_then(|n| n.pod.as_ref()) {
        about.push(format!("pod {pod}"));
    }
    format!("{} ({})", c.id, about.join(", "))
}

/// The container `given` names: a full id, a name (any runtime's record,
/// hexadecimal names included), or a unique id prefix of [`MIN_PREFIX`]+
/// characters. A name and a prefix naming different containers, or a name
/// several containers carry, are ambiguous: the candidates are listed.
/// `init_lines` gives the cgroup memberships of a runc record's first process
/// if it is still that process (pid and start time), for containers whose
/// cgroup path carries no id.
pub fn choose(
    index: &Index,
    named: &[Named],
    given: &str,
    init_lines: impl Fn((u32, u64)) -> Option<Vec<Membership>>,
    roots: &str,
    skipped: &[String],
) -> Result<Choice, ContainerError> {
    let given_trim = given.trim();
    let lower = given_trim.to_ascii_lowercase();
    if index.contains_key(&lower) {
        return Ok(choice(index, named, &lower));
    }
    let mut found: Vec<Choice> = Vec::new();
    let mut stopped: Vec<&Named> = Vec::new();
    for n in named
        .iter()
        .filter(|n| n.names.iter().any(|m| m == given_trim))
    {
        if found.iter().any(|c| c.id == n.id) {
            continue;
        }
        if let Some((_, lines)) = index.get(&n.id) {
            let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
            if crate::runtimes::owned_by(n.owner, &paths) {
                let mut c = choice(index, named, &n.id);
                c.name = Some(given_trim.to_string());
                found.push(c);
            }
        } else if let Some(lines) = n.init.and_then(&init_lines).filter(|l| !l.is_empty()) {
            let paths: Vec<&str> = lines.iter().map(|l| l.path.as_str()).collect();
            if crate::runtimes::owned_by(n.owner, &paths) {
                found.push(Choice {
                    id: n.id.clone(),
                    runtime: Some(n.runtime.name()),
                    name: (n.id != given_trim).then(|| given_trim.to_string()),
                    lines,
                });
            }
        } else if n.owner.is_none() {
            stopped.push(n);
        }
    }
    if let Some(want) = normalize(given_trim) {
        for id in index.keys().filter(|id| id.starts_with(&want)) {
            if !found.iter().any(|c| &c.id == id) {
                found.push(choice(index, named, id));
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => {
            if let Some(n) = stopped.first() {
                return Err(ContainerError::NotRunning {
                    name: given_trim.to_string(),
                    id: n.id.clone(),
                    runtime: n.runtime.name(),
                });
            }
            let hex = !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_hexdigit());
            if hex && lower.len() < MIN_PREFIX {
                return Err(ContainerError::TooShort(given.to_string()));
            }
            Err(ContainerError::NotFound {
                given: given.to_string(),
                roots: roots.to_string(),
                skipped: if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (not read: {})", skipped.join("; "))
                },
            })
        }
        _ => Err(ContainerError::Ambiguous {
            prefix: given.to_string(),
            candidates: found.iter().map(|c| describe(c, named)).collect(),
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

/// A container found on the node: its choice and the cgroup directory to record.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub id: String,
    pub runtime: Option<&'static str>,
    pub name: Option<String>,
    pub dir: PathBuf,
}

/// Resolves a container name, id or unique id prefix on this node: the
/// processes' cgroup paths and the runtimes' records under `roots`.
pub fn resolve(given: &str, roots: &crate::runtimes::Roots) -> Result<Resolved, ContainerError> {
    let proc = Proc::node();
    let mut index = Index::new();
    for pid in proc.pids() {
        if let Ok(text) = proc.cgroup_text(pid) {
            index_lines(&mut index, &text);
        }
    }
    let scan = crate::runtimes::scan(roots);
    let init_lines = |(pid, start): (u32, u64)| {
        let stat = crate::procfs::read_stat(pid).ok()?;
        (stat.starttime == start)
            .then(|| proc.cgroup(pid).ok())
            .flatten()
    };
    let c = choose(
        &index,
        &scan.named,
        given,
        init_lines,
        &roots.describe(),
        &scan.skipped,
    )?;
    let dirs = directories(&c.lines, &proc.self_mountinfo());
    let dir = dirs
        .iter()
        .find(|d| d.join("cgroup.procs").exists())
        .cloned()
        .ok_or_else(|| ContainerError::NoDirectory {
            id: c.id.clone(),
            paths: c
                .lines
                .iter()
                .map(|l| l.path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok(Resolved {
        id: c.id,
        runtime: c.runtime,
        name: c.name,
        dir,
    })
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

    /// The full id a prefix names, with no runtime records.
    fn pick<'a>(idx: &Index, given: &str) -> Result<&'a str, ContainerError> {
        let c = choose(idx, &[], given, |_| None, "", &[])?;
        Ok([A, B, C, RUNC]
            .into_iter()
            .find(|id| *id == c.id)
            .expect("a known id"))
    }

    const RUNC: &str = "4bed0da5f51aea583473913cb2801e18e0115052778d8812e0f6edc16df59e6c";

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
        for none in ["not-an-id-at-all", "ffffffffffffff"] {
            assert!(
                matches!(pick(&idx, none), Err(ContainerError::NotFound { given, .. }) if given == none)
            );
        }
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
