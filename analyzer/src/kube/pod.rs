//! A pod as `kubectl get pod -o json` shows it: its node, phase and
//! containers (init, sidecar, app, ephemeral) with their runtime ids. Pure:
//! bytes in, typed pod out. Every string comes from the cluster and is
//! untrusted: ids are checked to be ids, names are only ever quoted.

use serde_json::Value;
use thiserror::Error;

/// Most bytes of one `kubectl get` answer read (a pod list of a big namespace fits).
pub const MAX_JSON: usize = 256 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PodError {
    #[error("kubectl's answer is not a pod's JSON: {0}")]
    Json(String),
    #[error("pod {pod} is {phase}, not Running{detail}: record it once it runs (kubectl get pod -n {namespace} {name})", pod = qualified(.namespace, .name))]
    NotRunning {
        namespace: String,
        name: String,
        phase: String,
        detail: String,
    },
    #[error("pod {} has no node yet (not scheduled)", qualified(.namespace, .name))]
    NoNode { namespace: String, name: String },
    #[error("pod {pod} has no container `{container}`; its containers: {names}", pod = qualified(.namespace, .name))]
    NoSuchContainer {
        namespace: String,
        name: String,
        container: String,
        names: String,
    },
    #[error("container `{container}` of pod {pod} is not running ({state}): nothing to record", pod = qualified(.namespace, .name))]
    ContainerNotRunning {
        namespace: String,
        name: String,
        container: String,
        state: String,
    },
    #[error("container `{container}` of pod {pod} has no usable runtime id ({id:?}): expected containerd://, cri-o:// or docker:// and 64 hex digits", pod = qualified(.namespace, .name))]
    BadContainerId {
        namespace: String,
        name: String,
        container: String,
        id: String,
    },
    #[error("pod {} has no running container to record", qualified(.namespace, .name))]
    NothingRunning { namespace: String, name: String },
}

fn qualified(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// What a container is to its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `spec.initContainers`: runs to completion before the app containers.
    Init,
    /// An init container with `restartPolicy: Always` (a native sidecar).
    Sidecar,
    /// `spec.containers`.
    App,
    /// `spec.ephemeralContainers` (`kubectl debug`).
    Ephemeral,
}

/// A container's state, from `status.*ContainerStatuses[].state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    Waiting { reason: String, message: String },
    Terminated { reason: String, exit_code: i64 },
    Unknown,
}

impl State {
    pub fn describe(&self) -> String {
        match self {
            State::Running => "running".into(),
            State::Waiting { reason, .. } => format!("waiting: {reason}"),
            State::Terminated { reason, exit_code } => {
                format!("terminated: {reason}, exit code {exit_code}")
            }
            State::Unknown => "no status yet".into(),
        }
    }
}

/// A runtime's id of a container: `containerd://<id>`, `cri-o://<id>`, `docker://<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerId {
    pub runtime: String,
    /// 64 lowercase hex digits.
    pub id: String,
}

/// Parses a `containerID` of a pod's status; `None` when it is not one.
pub fn parse_container_id(s: &str) -> Option<ContainerId> {
    let (scheme, id) = s.split_once("://")?;
    let runtime = match scheme {
        "containerd" => "containerd",
        "cri-o" => "cri-o",
        "docker" => "docker",
        _ => return None,
    };
    let hex = id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    hex.then(|| ContainerId {
        runtime: runtime.to_string(),
        id: id.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub kind: Kind,
    /// The raw `containerID` (may be empty before the container starts).
    pub raw_id: String,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `spec.nodeName` (empty until scheduled).
    pub node: String,
    /// `status.phase`: Pending, Running, Succeeded, Failed, Unknown.
    pub phase: String,
    /// `status.reason` and `status.message` when the pod failed as a whole.
    pub reason: String,
    pub message: String,
    /// In spec order: init containers (and sidecars), app, ephemeral.
    pub containers: Vec<Container>,
}

/// What to record in a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One container, by its runtime id (`holter-agent record --container ID`).
    Container { name: String, id: ContainerId },
    /// Every running container of the pod (`holter-agent record --pod NS/NAME`).
    Pod { containers: Vec<String> },
}

fn text(v: &Value, path: &[&str]) -> String {
    let mut v = v;
    for p in path {
        match v.get(p) {
            Some(x) => v = x,
            None => return String::new(),
        }
    }
    v.as_str().unwrap_or_default().to_string()
}

fn state(status: Option<&Value>) -> State {
    let Some(st) = status.and_then(|s| s.get("state")) else {
        return State::Unknown;
    };
    if st.get("running").is_some() {
        State::Running
    } else if let Some(w) = st.get("waiting") {
        State::Waiting {
            reason: text(w, &["reason"]),
            message: text(w, &["message"]),
        }
    } else if let Some(t) = st.get("terminated") {
        State::Terminated {
            reason: text(t, &["reason"]),
            exit_code: t.get("exitCode").and_then(Value::as_i64).unwrap_or(-1),
        }
    } else {
        State::Unknown
    }
}

impl Pod {
    /// A pod from its JSON document (`kubectl get pod NAME -o json`).
    pub fn from_json(bytes: &[u8]) -> Result<Pod, PodError> {
        if bytes.len() > MAX_JSON {
            return Err(PodError::Json(format!(
                "{} bytes, more than read",
                bytes.len()
            )));
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|e| PodError::Json(e.to_string()))?;
        Pod::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Pod, PodError> {
        if v.get("kind").and_then(Value::as_str) != Some("Pod") {
            return Err(PodError::Json("its `kind` is not `Pod`".into()));
        }
        let spec = v.get("spec").cloned().unwrap_or(Value::Null);
        let status = v.get("status").cloned().unwrap_or(Value::Null);
        let mut containers = Vec::new();
        for (spec_key, status_key) in [
            ("initContainers", "initContainerStatuses"),
            ("containers", "containerStatuses"),
            ("ephemeralContainers", "ephemeralContainerStatuses"),
        ] {
            let statuses = status
                .get(status_key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in spec
                .get(spec_key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = text(c, &["name"]);
                let kind = match spec_key {
                    "initContainers" if text(c, &["restartPolicy"]) == "Always" => Kind::Sidecar,
                    "initContainers" => Kind::Init,
                    "containers" => Kind::App,
                    _ => Kind::Ephemeral,
                };
                let st = statuses
                    .iter()
                    .find(|s| s.get("name").and_then(Value::as_str) == Some(&name));
                containers.push(Container {
                    raw_id: st.map(|s| text(s, &["containerID"])).unwrap_or_default(),
                    state: state(st),
                    name,
                    kind,
                });
            }
        }
        Ok(Pod {
            namespace: text(v, &["metadata", "namespace"]),
            name: text(v, &["metadata", "name"]),
            uid: text(v, &["metadata", "uid"]),
            node: text(&spec, &["nodeName"]),
            phase: text(&status, &["phase"]),
            reason: text(&status, &["reason"]),
            message: text(&status, &["message"]),
            containers,
        })
    }

    /// The pods of a `kubectl get pods -o json` list (`kind: List` or `PodList`).
    pub fn list_from_json(bytes: &[u8]) -> Result<Vec<Pod>, PodError> {
        if bytes.len() > MAX_JSON {
            return Err(PodError::Json(format!(
                "{} bytes, more than read",
                bytes.len()
            )));
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|e| PodError::Json(e.to_string()))?;
        let items = v
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| PodError::Json("a list has no `items`".into()))?;
        items.iter().map(Pod::from_value).collect()
    }

    fn err_names(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    /// The containers that can be recorded: app containers and sidecars.
    fn workload(&self) -> impl Iterator<Item = &Container> {
        self.containers
            .iter()
            .filter(|c| matches!(c.kind, Kind::App | Kind::Sidecar))
    }

    /// What to record: `container` by name (any kind, running), else the only
    /// running app container (when no sidecar runs beside it), else the whole pod.
    pub fn target(&self, container: Option<&str>) -> Result<Target, PodError> {
        let (namespace, name) = self.err_names();
        if self.phase != "Running" {
            let detail: Vec<String> = self
                .containers
                .iter()
                .filter(|c| c.state != State::Running)
                .map(|c| format!("{}: {}", c.name, c.state.describe()))
                .collect();
            return Err(PodError::NotRunning {
                namespace,
                name,
                phase: if self.phase.is_empty() {
                    "without a phase".into()
                } else {
                    self.phase.clone()
                },
                detail: if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", detail.join("; "))
                },
            });
        }
        if self.node.is_empty() {
            return Err(PodError::NoNode { namespace, name });
        }
        let one = |c: &Container| -> Result<Target, PodError> {
            if c.state != State::Running {
                return Err(PodError::ContainerNotRunning {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    container: c.name.clone(),
                    state: c.state.describe(),
                });
            }
            let id = parse_container_id(&c.raw_id).ok_or_else(|| PodError::BadContainerId {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                container: c.name.clone(),
                id: c.raw_id.clone(),
            })?;
            Ok(Target::Container {
                name: c.name.clone(),
                id,
            })
        };
        if let Some(wanted) = container {
            let Some(c) = self.containers.iter().find(|c| c.name == wanted) else {
                return Err(PodError::NoSuchContainer {
                    namespace,
                    name,
                    container: wanted.to_string(),
                    names: self
                        .containers
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            return one(c);
        }
        let running: Vec<&Container> = self
            .workload()
            .filter(|c| c.state == State::Running)
            .collect();
        match running.as_slice() {
            [] => Err(PodError::NothingRunning { namespace, name }),
            [c] => one(c),
            many => Ok(Target::Pod {
                containers: many.iter().map(|c| c.name.clone()).collect(),
            }),
        }
    }
}
