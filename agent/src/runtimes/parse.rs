//! The runtimes' records of their containers, parsed from bytes (pure).
//!
//! The files are the node's, but what they say was chosen by users (names,
//! labels, annotations): every string kept is checked by [`valid_name`] or
//! [`valid_id`], everything else is ignored, and the caller caps the bytes.

use serde::Deserialize;

/// Longest name kept (a Kubernetes name is at most 253 characters).
pub const MAX_NAME: usize = 253;

/// Which runtime wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
    Runc,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Runc => "runc",
        }
    }
}

/// A container as a runtime's record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The runtime's id (64 hex digits for docker, containerd, CRI-O and
    /// podman; any valid name for plain runc).
    pub id: String,
    /// Names a user may give for it: docker's name without its `/`,
    /// podman's names, a Kubernetes container's name.
    pub names: Vec<String>,
    pub runtime: Runtime,
    /// `NAMESPACE/POD` of a Kubernetes container, where the record says.
    pub pod: Option<String>,
    /// Whether the record says it runs (docker's `State.Running`); `None`: it does not say.
    pub running: Option<bool>,
    /// (pid, start time in clock ticks) of its first process (runc's `state.json`).
    pub init: Option<(u32, u64)>,
    /// The uid owning the store it came from, when not root (a rootless store).
    pub owner: Option<u32>,
}

impl Named {
    fn new(id: String, runtime: Runtime) -> Named {
        Named {
            id,
            names: Vec::new(),
            runtime,
            pod: None,
            running: None,
            init: None,
            owner: None,
        }
    }

    fn add_name(&mut self, name: &str) {
        if valid_name(name) && !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
    }
}

/// A name as runtimes allow them: `[A-Za-z0-9][A-Za-z0-9_.+-]*`, at most
/// [`MAX_NAME`] bytes. Anything else (control characters, slashes, spaces)
/// is not a name any of these runtimes gives, and is never kept.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'+'))
}

/// A 64-hex-digit id, lower case, as docker, containerd, CRI-O and podman make them.
pub fn valid_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Docker's `/var/lib/docker/containers/<id>/config.v2.json`.
pub fn docker_config(bytes: &[u8]) -> Option<Named> {
    #[derive(Deserialize)]
    struct State {
        #[serde(rename = "Running", default)]
        running: bool,
    }
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "ID")]
        id: String,
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "State")]
        state: Option<State>,
    }
    let c: Config = serde_json::from_slice(bytes).ok()?;
    if !valid_id(&c.id) {
        return None;
    }
    let mut n = Named::new(c.id, Runtime::Docker);
    n.add_name(c.name.strip_prefix('/').unwrap_or(&c.name));
    n.running = c.state.map(|s| s.running);
    Some(n)
}

/// The `containers.json` of a containers/storage store (podman, CRI-O,
/// buildah): podman's names are the entry's `names`; CRI-O's entries are
/// named `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` and say the
/// Kubernetes container's name in their `metadata` (`metadata-name`,
/// `pod-name`); pod sandboxes (`"pod": true`) are left out.
pub fn storage_containers(bytes: &[u8]) -> Vec<Named> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        id: String,
        #[serde(default)]
        names: Vec<String>,
        #[serde(default)]
        metadata: String,
    }
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(default)]
        pod: bool,
        #[serde(rename = "pod-name", default)]
        pod_name: String,
        #[serde(rename = "metadata-name", default)]
        metadata_name: String,
    }
    let Ok(entries) = serde_json::from_slice::<Vec<Entry>>(bytes) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|e| valid_id(&e.id))
        .filter_map(|e| {
            let meta: Meta = serde_json::from_str(&e.metadata).unwrap_or_default();
            if meta.pod {
                return None;
            }
            let cri_o = !meta.pod_name.is_empty();
            let mut n = Named::new(
                e.id,
                if cri_o {
                    Runtime::CriO
                } else {
                    Runtime::Podman
                },
            );
            if cri_o {
                n.add_name(&meta.metadata_name);
                if valid_name(&meta.pod_name) {
                    // The namespace is the k8s_ name's fourth field.
                    let ns = e.names.iter().find_map(|s| {
                        let f: Vec<&str> = s.split('_').collect();
                        (f.len() == 6 && f[0] == "k8s" && valid_name(f[3])).then(|| f[3])
                    });
                    n.pod = Some(match ns {
                        Some(ns) => format!("{ns}/{}", meta.pod_name),
                        None => meta.pod_name.clone(),
                    });
                }
            }
            for name in &e.names {
                n.add_name(name);
            }
            Some(n)
        })
        .collect()
}

/// An OCI runtime `config.json` of a containerd task
/// (`<root>/<namespace>/<id>/config.json`) or of CRI-O: the Kubernetes
/// container's name from the annotations the CRI plugins write
/// (`io.kubernetes.cri.container-name` and CRI-O's
/// `io.kubernetes.container.name`). Sandboxes and tasks without those
/// annotations (docker's `moby` namespace) name nothing: `None`.
pub fn task_config(id: &str, bytes: &[u8]) -> Option<Named> {
    #[derive(Deserialize)]
    struct Spec {
        #[serde(default)]
        annotations: std::collections::BTreeMap<String, String>,
    }
    if !valid_id(id) {
        return None;
    }
    let spec: Spec = serde_json::from_slice(bytes).ok()?;
    let a = |k: &str| spec.annotations.get(k).map(String::as_str);
    let (runtime, name, pod, ns) = if let Some(name) = a("io.kubernetes.cri.container-name") {
        if a("io.kubernetes.cri.container-type") == Some("sandbox") {
            return None;
        }
        (
            Runtime::Containerd,
            name,
            a("io.kubernetes.cri.sandbox-name"),
            a("io.kubernetes.cri.sandbox-namespace"),
        )
    } else if let Some(name) = a("io.kubernetes.container.name") {
        if name == "POD" || a("io.kubernetes.cri-o.ContainerType") == Some("sandbox") {
            return None;
        }
        (
            Runtime::CriO,
            name,
            a("io.kubernetes.pod.name"),
            a("io.kubernetes.pod.namespace"),
        )
    } else {
        return None;
    };
    let mut n = Named::new(id.to_string(), runtime);
    n.add_name(name);
    if n.names.is_empty() {
        return None;
    }
    n.pod = match (ns.filter(|s| valid_name(s)), pod.filter(|s| valid_name(s))) {
        (Some(ns), Some(pod)) => Some(format!("{ns}/{pod}")),
        (None, Some(pod)) => Some(pod.to_string()),
        _ => None,
    };
    Some(n)
}

/// runc's `<root>/<id>/state.json`: the id is the name the user gave
/// `runc run`, and the first process is known (pid and start time, so a
/// reused pid is not taken for it).
pub fn runc_state(bytes: &[u8]) -> Option<Named> {
    #[derive(Deserialize)]
    struct State {
        id: String,
        #[serde(default)]
        init_process_pid: u32,
        #[serde(default)]
        init_process_start: u64,
    }
    let s: State = serde_json::from_slice(bytes).ok()?;
    if !valid_name(&s.id) {
        return None;
    }
    let mut n = Named::new(s.id.clone(), Runtime::Runc);
    n.add_name(&s.id);
    n.init = (s.init_process_pid > 0).then_some((s.init_process_pid, s.init_process_start));
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["dkspin", "deadbeefcafe", "web-1", "a", "my_app.v2+x"] {
            assert!(valid_name(ok), "{ok}");
        }
        let long = "a".repeat(MAX_NAME + 1);
        for bad in [
            "",
            "-x",
            "/web",
            "a b",
            "a/b",
            "x\u{1b}[2J",
            "naïve",
            "a\nb",
            long.as_str(),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_id(&"ab".repeat(32)));
        assert!(!valid_id(&"AB".repeat(32)));
        assert!(!valid_id("abc"));
    }

    #[test]
    fn hostile_records_name_nothing() {
        let id = "ab".repeat(32);
        // A name that is not one, a bad id, garbage, deep nesting.
        let bad_name =
            format!(r#"{{"ID":"{id}","Name":"/x\u001b[31m","State":{{"Running":true}}}}"#);
        assert_eq!(
            docker_config(bad_name.as_bytes()).unwrap().names,
            Vec::<String>::new()
        );
        assert!(docker_config(br#"{"ID":"../../etc","Name":"/x"}"#).is_none());
        assert!(docker_config(b"\x00\xff garbage").is_none());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(docker_config(deep.as_bytes()).is_none());
        assert!(storage_containers(deep.as_bytes()).is_empty());
        assert!(task_config(&id, deep.as_bytes()).is_none());
        assert!(runc_state(br#"{"id":"../x","init_process_pid":1}"#).is_none());
        // Metadata that is not JSON: the entry keeps its names.
        let s = format!(r#"[{{"id":"{id}","names":["p1"],"metadata":"{{not json"}}]"#);
        assert_eq!(storage_containers(s.as_bytes())[0].names, ["p1"]);
    }
}
