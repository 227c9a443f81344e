//! Containers as their users name them, from what the runtimes leave on the
//! node (no API, no daemon socket):
//!
//! - Docker: `/var/lib/docker/containers/<id>/config.v2.json` (`Name`);
//! - Podman and CRI-O: the `containers.json` of containers/storage
//!   (`<graphroot>/<driver>-containers/`), under the root store
//!   `/var/lib/containers/storage` and the rootless stores
//!   `~/.local/share/containers/storage` of the node's users;
//! - containerd (Kubernetes): the task bundles'
//!   `<root>/<namespace>/<id>/config.json` annotations
//!   (`io.kubernetes.cri.container-name`), under
//!   `/run/containerd/io.containerd.runtime.v2.task` (and v1's `.linux`);
//! - runc: `/run/runc/<id>/state.json` (the id is the user's name).
//!
//! Every root can be replaced for tests by an environment variable
//! (`HOLTER_DOCKER_ROOTS`, `HOLTER_STORAGE_ROOTS`, `HOLTER_CONTAINERD_ROOTS`,
//! `HOLTER_RUNC_ROOTS`, each a `:`-separated list). Files are opened inside
//! their store's root (a link cannot lead out of it), regular files only,
//! read up to a cap; what they say is parsed by [`parse`] and kept only where
//! it is a valid id or name.

pub mod parse;

use std::path::{Path, PathBuf};

pub use parse::{valid_name, Named, Runtime};

use crate::host::open::Root;

/// Largest `config.v2.json`, task `config.json` or `state.json` read.
pub const MAX_CONFIG: u64 = 4 << 20;
/// Largest `containers.json` read (a store of thousands of containers).
pub const MAX_STORE: u64 = 64 << 20;
/// Most entries looked at in one directory.
pub const MAX_ENTRIES: usize = 100_000;

/// Where the runtimes keep their records.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    pub docker: Vec<PathBuf>,
    pub storage: Vec<PathBuf>,
    pub containerd: Vec<PathBuf>,
    pub runc: Vec<PathBuf>,
}

fn from_env(var: &str, default: impl FnOnce() -> Vec<PathBuf>) -> Vec<PathBuf> {
    match std::env::var_os(var) {
        Some(v) => std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => default(),
    }
}

impl Roots {
    /// The node's (or those the environment names).
    pub fn node() -> Roots {
        Roots {
            docker: from_env("HOLTER_DOCKER_ROOTS", || vec!["/var/lib/docker".into()]),
            storage: from_env("HOLTER_STORAGE_ROOTS", || {
                let mut v = vec![PathBuf::from("/var/lib/containers/storage")];
                v.extend(
                    homes()
                        .into_iter()
                        .map(|h| h.join(".local/share/containers/storage")),
                );
                v
            }),
            containerd: from_env("HOLTER_CONTAINERD_ROOTS", || {
                vec![
                    "/run/containerd/io.containerd.runtime.v2.task".into(),
                    "/run/containerd/io.containerd.runtime.v1.linux".into(),
                ]
            }),
            runc: from_env("HOLTER_RUNC_ROOTS", || vec!["/run/runc".into()]),
        }
    }

    /// Every root, for messages.
    pub fn describe(&self) -> String {
        let list = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "docker: {}; podman/CRI-O: {}; containerd: {}; runc: {}",
            list(&self.docker),
            list(&self.storage),
            list(&self.containerd),
            list(&self.runc)
        )
    }
}

/// Home directories that may hold a rootless store: `/root` and `/home/*`.
fn homes() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/root")];
    v.extend(
        dir_names(Path::new("/home"))
            .into_iter()
            .map(|n| Path::new("/home").join(n)),
    );
    v
}

/// Names of the entries of a directory, sorted, at most [`MAX_ENTRIES`].
fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .take(MAX_ENTRIES)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

/// The owner of a root's directory.
fn owner(root: &Root) -> Option<u32> {
    // SAFETY: zero is a valid stat; a valid descriptor we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(root.as_raw_fd(), &mut st) } == 0).then_some(st.st_uid)
}

/// What a scan found, and the files it left out (for messages).
#[derive(Debug, Default)]
pub struct Scan {
    pub named: Vec<Named>,
    pub skipped: Vec<String>,
}

impl Scan {
    fn read(&mut self, root: &Root, rel: &str, max: u64) -> Option<Vec<u8>> {
        match root.open(rel).and_then(|mut f| f.read_capped(max)) {
            Ok(b) => Some(b),
            // Absent files are the common case (a runtime not installed).
            Err(crate::host::open::OpenError::Io { reason, .. })
                if reason.contains("No such file") =>
            {
                None
            }
            Err(e) => {
                self.skipped.push(e.to_string());
                None
            }
        }
    }
}

/// Every container the runtimes' records under `roots` name.
pub fn scan(roots: &Roots) -> Scan {
    let mut s = Scan::default();
    for dir in &roots.docker {
        let Ok(root) = Root::at(dir) else { continue };
        for id in dir_names(&dir.join("containers")) {
            if !parse::valid_id(&id) {
                continue;
            }
            let rel = format!("containers/{id}/config.v2.json");
            if let Some(n) = s
                .read(&root, &rel, MAX_CONFIG)
                .and_then(|b| parse::docker_config(&b))
            {
                // The record of another directory's id is not this one's.
                if n.id == id {
                    s.named.push(n);
                }
            }
        }
    }
    for dir in &roots.storage {
        let Ok(root) = Root::at(dir) else { continue };
        let uid = owner(&root).filter(|&u| u != 0);
        for sub in dir_names(dir) {
            if !sub.ends_with("-containers") || !valid_name(&sub) {
                continue;
            }
            let rel = format!("{sub}/containers.json");
            if let Some(b) = s.read(&root, &rel, MAX_STORE) {
                s.named
                    .extend(parse::storage_containers(&b).into_iter().map(|mut n| {
                        n.owner = uid;
                        n
                    }));
            }
        }
    }
    for dir in &roots.containerd {
        let Ok(root) = Root::at(dir) else { continue };
        for ns in dir_names(dir).into_iter().filter(|n| valid_name(n)) {
            for id in dir_names(&dir.join(&ns)) {
                if !parse::valid_id(&id) {
                    continue;
                }
                let rel = format!("{ns}/{id}/config.json");
                if let Some(n) = s
                    .read(&root, &rel, MAX_CONFIG)
                    .and_then(|b| parse::task_config(&id, &b))
                {
                    s.named.push(n);
                }
            }
        }
    }
    for dir in &roots.runc {
        let Ok(root) = Root::at(dir) else { continue };
        for id in dir_names(dir).into_iter().filter(|n| valid_name(n)) {
            let rel = format!("{id}/state.json");
            if let Some(n) = s
                .read(&root, &rel, MAX_CONFIG)
                .and_then(|b| parse::runc_state(&b))
            {
                if n.id == id {
                    s.named.push(n);
                }
            }
        }
    }
    s
}

/// Whether a container's cgroup paths fit the store its record came from:
/// a rootless store's user names only containers under that user's own
/// cgroups (`user-UID.slice`, `user@UID.service`), never a root container.
pub fn owned_by(owner: Option<u32>, cgroup_paths: &[&str]) -> bool {
    let Some(uid) = owner else { return true };
    let slice = format!("/user-{uid}.slice/");
    let service = format!("/user@{uid}.service/");
    !cgroup_paths.is_empty()
        && cgroup_paths
            .iter()
            .all(|p| p.contains(&slice) || p.contains(&service))
}

#[cfg(test)]
mod tests;
