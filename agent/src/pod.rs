//! `--pod NAMESPACE/NAME [--pod-container NAME]`: a Kubernetes pod on this
//! node, found without the API server, from what the kubelet leaves on the node:
//!
//! - pod log directories `/var/log/pods/<namespace>_<name>_<uid>/<container>/`
//!   give the pod's UID and its containers' names;
//! - container log links `/var/log/containers/<name>_<namespace>_<container>-<id>.log`
//!   give a container's id;
//! - the pod's cgroup carries its UID: `pod<uid>` with the cgroupfs driver
//!   (`/kubepods/burstable/pod<uid>`), `kubepods-<qos>-pod<uid with _>.slice`
//!   with the systemd driver; its children are the containers, named by id.
//!
//! Namespaces and pod names cannot hold `_`, so `_` splits the directory name.
//! Every function takes its roots, so tests run on fixture trees.

use std::fs;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the kubelet's records are.
#[derive(Debug, Clone)]
pub struct Roots {
    /// `/var/log/pods`
    pub pod_logs: PathBuf,
    /// `/var/log/containers`
    pub container_logs: PathBuf,
    /// Mount points of the cgroup hierarchies to search, preferred first.
    pub cgroups: Vec<PathBuf>,
}

impl Roots {
    /// The node's: cgroup2 first, then the v1 `cpu` hierarchy, as mounted.
    pub fn node() -> Roots {
        let hierarchies = crate::host::proc::Proc::node().self_mountinfo();
        // Whole trees only: a pod is looked for from the hierarchy's top.
        let whole = hierarchies.iter().filter(|h| h.root == "/");
        let mut cgroups: Vec<PathBuf> = whole
            .clone()
            .filter(|h| h.version == 2)
            .map(|h| h.mount_point.clone())
            .collect();
        let (cpu, other): (Vec<_>, Vec<_>) = whole
            .filter(|h| h.version == 1)
            .partition(|h| h.controllers.iter().any(|c| c == "cpu"));
        cgroups.extend(cpu.into_iter().chain(other).map(|h| h.mount_point.clone()));
        Roots {
            pod_logs: "/var/log/pods".into(),
            container_logs: "/var/log/containers".into(),
            cgroups,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PodError {
    #[error("--pod {0}: give NAMESPACE/NAME, e.g. --pod default/web-7d9f8c6b5-x2x4q (as `kubectl get pods -A` shows)")]
    Spec(String),
    #[error("pod {pod} is not on this node: {logs} holds no {prefix}* directory (run holter-agent on the node `kubectl get pod -o wide` names; is {logs} where the kubelet writes pod logs?)")]
    NotOnNode {
        pod: String,
        logs: String,
        prefix: String,
    },
    #[error("pod {pod} (uid {uids}) has no cgroup here: it is not running (searched {roots} for kubepods pod<uid>)")]
    NotRunning {
        pod: String,
        uids: String,
        roots: String,
    },
    #[error("pod {pod} has no container {container}; its containers: {known}")]
    NoContainer {
        pod: String,
        container: String,
        known: String,
    },
    #[error("container {container} of pod {pod} is not running: no cgroup under {pod_dir} for its ids ({ids}); see `kubectl describe pod`")]
    ContainerNotRunning {
        pod: String,
        container: String,
        pod_dir: String,
        ids: String,
    },
}

/// A pod (and maybe one of its containers) found on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Container names, from the log directories, sorted.
    pub containers: Vec<String>,
    /// The pod's cgroup directory.
    pub pod_dir: PathBuf,
    /// With `--pod-container`: (name, full id, cgroup directory).
    pub container: Option<(String, String, PathBuf)>,
}

impl Pod {
    /// The cgroup to record: the container's, else the whole pod's.
    pub fn cgroup_dir(&self) -> &Path {
        self.container
            .as_ref()
            .map_or(self.pod_dir.as_path(), |c| c.2.as_path())
    }
}

/// A valid DNS label or subdomain part, as Kubernetes allows in names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// `NAMESPACE/NAME` → (namespace, name).
pub fn parse_spec(spec: &str) -> Result<(String, String), PodError> {
    match spec.split_once('/') {
        Some((ns, name)) if is_name(ns) && is_name(name) => Ok((ns.into(), name.into())),
        _ => Err(PodError::Spec(spec.into())),
    }
}

/// The UIDs of the pod's log directories (`<ns>_<name>_<uid>`), sorted.
pub fn uids_from_log_dirs<'a>(
    names: impl IntoIterator<Item = &'a str>,
    ns: &str,
    name: &str,
) -> Vec<String> {
    let mut uids: Vec<String> = names
        .into_iter()
        .filter_map(|n| {
            let mut it = n.split('_');
            match (it.next(), it.next(), it.next(), it.next()) {
                (Some(a), Some(b), Some(uid), None) if a == ns && b == name && !uid.is_empty() => {
                    Some(uid.to_string())
                }
                _ => None,
            }
        })
        .collect();
    uids.sort();
    uids
}

/// Whether a cgroup directory name is the pod cgroup of `uid`, for either driver.
pub fn is_pod_cgroup(dir_name: &str, uid: &str) -> bool {
    let under = uid.replace('-', "_");
    dir_name == format!("pod{uid}")
        || dir_name
            .strip_suffix(".slice")
            .and_then(|s| s.strip_prefix("kubepods-"))
            .is_some_and(|s| {
                s == format!("pod{under}")
                    || s.strip_suffix(&format!("-pod{under}"))
                        .is_some_and(|qos| matches!(qos, "burstable" | "besteffort"))
            })
}

/// Whether a cgroup directory name is that of container `id` (any runtime's naming).
pub fn is_container_cgroup(dir_name: &str, id: &str) -> bool {
    let base = dir_name.strip_suffix(".scope").unwrap_or(dir_name);
    base == id
        || ["docker-", "cri-containerd-", "crio-", "libpod-"]
            .iter()
            .any(|p| base.strip_prefix(p) == Some(id))
}

/// Container ids from `/var/log/containers` names `<name>_<ns>_<container>-<id>.log`.
pub fn container_ids<'a>(
    names: impl IntoIterator<Item = &'a str>,
    ns: &str,
    name: &str,
    container: &str,
) -> Vec<String> {
    let prefix = format!("{name}_{ns}_{container}-");
    names
        .into_iter()
        .filter_map(|n| n.strip_prefix(&prefix)?.strip_suffix(".log"))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

/// The pod cgroup of `uid` under a hierarchy root: in `kubepods*` at most
/// three levels down (`kubepods/burstable/pod<uid>`).
fn find_pod_dir(root: &Path, uid: &str) -> Option<PathBuf> {
    let mut level: Vec<PathBuf> = dir_names(root)
        .into_iter()
        .filter(|n| n.starts_with("kubepods"))
        .map(|n| root.join(n))
        .collect();
    for _ in 0..3 {
        let mut next = Vec::new();
        for dir in &level {
            for n in dir_names(dir) {
                let p = dir.join(&n);
                if !p.is_dir() {
                    continue;
                }
                if is_pod_cgroup(&n, uid) {
                    return Some(p);
                }
                if n.starts_with("kubepods") || matches!(n.as_str(), "burstable" | "besteffort") {
                    next.push(p);
                }
            }
        }
        level = next;
    }
    None
}

/// Resolves `NAMESPACE/NAME` (and maybe a container name) under `roots`.
pub fn resolve(spec: &str, container: Option<&str>, roots: &Roots) -> Result<Pod, PodError> {
    let (ns, name) = parse_spec(spec)?;
    let logs = dir_names(&roots.pod_logs);
    let uids = uids_from_log_dirs(logs.iter().map(String::as_str), &ns, &name);
    if uids.is_empty() {
        return Err(PodError::NotOnNode {
            pod: spec.into(),
            logs: roots.pod_logs.display().to_string(),
            prefix: format!("{ns}_{name}_"),
        });
    }
    // An old instance of the pod may have left its logs: the running one has a cgroup.
    let found = uids.iter().find_map(|uid| {
        roots
            .cgroups
            .iter()
            .find_map(|r| find_pod_dir(r, uid))
            .map(|d| (uid.clone(), d))
    });
    let Some((uid, pod_dir)) = found else {
        return Err(PodError::NotRunning {
            pod: spec.into(),
            uids: uids.join(", "),
            roots: roots
                .cgroups
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let containers: Vec<String> = dir_names(&roots.pod_logs.join(format!("{ns}_{name}_{uid}")))
        .into_iter()
        .filter(|c| is_name(c))
        .collect();
    let mut pod = Pod {
        namespace: ns.clone(),
        name: name.clone(),
        uid,
        containers,
        pod_dir,
        container: None,
    };
    let Some(want) = container else {
        return Ok(pod);
    };
    if !pod.containers.iter().any(|c| c == want) {
        return Err(PodError::NoContainer {
            pod: spec.into(),
            container: want.into(),
            known: pod.containers.join(", "),
        });
    }
    let links = dir_names(&roots.container_logs);
    let ids = container_ids(links.iter().map(String::as_str), &ns, &name, want);
    let children = dir_names(&pod.pod_dir);
    let hit = ids.iter().find_map(|id| {
        children
            .iter()
            .find(|c| is_container_cgroup(c, id))
            .map(|c| (id.clone(), pod.pod_dir.join(c)))
    });
    match hit {
        Some((id, dir)) => {
            pod.container = Some((want.to_string(), id, dir));
            Ok(pod)
        }
        None => Err(PodError::ContainerNotRunning {
            pod: spec.into(),
            container: want.into(),
            pod_dir: pod.pod_dir.display().to_string(),
            ids: if ids.is_empty() {
                format!("none in {}", roots.container_logs.display())
            } else {
                ids.join(", ")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    #[test]
    fn specs() {
        assert_eq!(
            parse_spec("shop/web-7d9f"),
            Ok(("shop".into(), "web-7d9f".into()))
        );
        for bad in ["web", "shop/", "/web", "Shop/web", "shop/web_1", "a/b/c"] {
            assert_eq!(parse_spec(bad), Err(PodError::Spec(bad.into())), "{bad}");
        }
    }

    #[test]
    fn log_dirs() {
        let names = [
            format!("shop_web-7d9f_{UID}"),
            "shop_web-7d9f-x_11111111-2222-3333-4444-555555555555".into(),
            "other_web-7d9f_22222222-2222-3333-4444-555555555555".into(),
            "shop_web-7d9f".into(),
        ];
        assert_eq!(
            uids_from_log_dirs(names.iter().map(String::as_str), "shop", "web-7d9f"),
            [UID]
        );
    }

    #[test]
    fn pod_cgroup_names_of_both_drivers() {
        let under = UID.replace('-', "_");
        for yes in [
            format!("pod{UID}"),
            format!("kubepods-burstable-pod{under}.slice"),
            format!("kubepods-besteffort-pod{under}.slice"),
            format!("kubepods-pod{under}.slice"),
        ] {
            assert!(is_pod_cgroup(&yes, UID), "{yes}");
        }
        for no in [
            format!("pod{under}"),
            format!("kubepods-burstable-pod{UID}.slice"),
            format!("kubepods-other-pod{under}.slice"),
            "kubepods-burstable.slice".to_string(),
        ] {
            assert!(!is_pod_cgroup(&no, UID), "{no}");
        }
    }

    #[test]
    fn container_names_and_ids() {
        let id = "ab".repeat(32);
        for yes in [
            id.clone(),
            format!("cri-containerd-{id}.scope"),
            format!("crio-{id}.scope"),
            format!("docker-{id}.scope"),
        ] {
            assert!(is_container_cgroup(&yes, &id), "{yes}");
        }
        assert!(!is_container_cgroup(
            &format!("crio-conmon-{id}.scope"),
            &id
        ));
        let links = [
            format!("web-7d9f_shop_app-{id}.log"),
            format!("web-7d9f_shop_app-sidecar-{id}.log"),
            format!("web-7d9f_shop_nginx-{id}.log"),
        ];
        assert_eq!(
            container_ids(links.iter().map(String::as_str), "shop", "web-7d9f", "app"),
            [id]
        );
    }
}
