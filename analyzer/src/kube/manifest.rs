//! The agent's Pod, as YAML: what `kubectl holter record` creates and
//! `kubectl holter manifest` prints. Every scalar is written as a YAML
//! double-quoted string with everything outside printable ASCII escaped (see
//! [`quote`]), so that names read from the cluster can never end a string,
//! start a key or break a line.

use std::fmt::Write as _;
use std::time::Duration;

use super::pod::ContainerId;

/// Where the agent's image puts the agent (`deploy/Containerfile`).
pub const AGENT_PATH: &str = "/holter-agent";
/// The directory of the captures inside the agent's pod.
pub const CAPTURE_DIR: &str = "/holter";
/// How long a finished agent waits for its capture to be copied out.
pub const LINGER: Duration = Duration::from_secs(600);
/// The default image: what `deploy/build.sh` tags.
pub const DEFAULT_IMAGE: &str = concat!("localhost/holter-agent:", env!("CARGO_PKG_VERSION"));

/// What one agent records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentTarget {
    /// `--container ID`.
    Container(ContainerId),
    /// `--pod NAMESPACE/NAME`, with `--pod-container` when one is named.
    Pod {
        namespace: String,
        name: String,
        container: Option<String>,
    },
}

/// The record options passed on to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    pub duration: Duration,
    pub frequency: Option<u32>,
    /// `ptrace` or `kernel`.
    pub syscalls: Option<String>,
}

/// Where the captures are written on the agent's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureVolume {
    /// An `emptyDir`: gone with the pod, copied out with `holter-agent cat`.
    EmptyDir,
    /// A directory of the node (`hostPath`), kept after the pod.
    HostPath(String),
}

/// One agent container of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentContainer {
    /// Container name in the agent pod (`agent`, `agent-1`, ...).
    pub name: String,
    pub target: AgentTarget,
    /// The capture's path inside the pod.
    pub output: String,
}

/// The agent pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPod {
    pub name: String,
    /// `None`: no `metadata.namespace` (kubectl's `-n` or context decides).
    pub namespace: Option<String>,
    pub node: String,
    pub image: String,
    pub options: RecordOptions,
    pub volume: CaptureVolume,
    pub containers: Vec<AgentContainer>,
    /// `metadata.annotations`: what the pod records (for `kubectl describe`).
    pub annotations: Vec<(String, String)>,
}

/// A duration as the agent parses it (`30s`, `1500ms`).
pub fn duration_arg(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The agent's command line for one container.
pub fn agent_command(c: &AgentContainer, o: &RecordOptions) -> Vec<String> {
    let mut v: Vec<String> = vec![AGENT_PATH.into(), "record".into()];
    match &c.target {
        AgentTarget::Container(id) => {
            v.push("--container".into());
            v.push(id.id.clone());
        }
        AgentTarget::Pod {
            namespace,
            name,
            container,
        } => {
            v.push("--pod".into());
            v.push(format!("{namespace}/{name}"));
            if let Some(c) = container {
                v.push("--pod-container".into());
                v.push(c.clone());
            }
        }
    }
    v.push("--duration".into());
    v.push(duration_arg(o.duration));
    if let Some(f) = o.frequency {
        v.push("--frequency".into());
        v.push(f.to_string());
    }
    if let Some(mode) = &o.syscalls {
        v.push(format!("--syscalls={mode}"));
    }
    v.push("-o".into());
    v.push(c.output.clone());
    v.push("--linger".into());
    v.push(duration_arg(LINGER));
    v
}

/// A YAML double-quoted scalar: printable ASCII as is (but `"` and `\`),
/// everything else escaped (`\n`, `\t`, `\xNN`, `\uNNNN`, `\UNNNNNNNN`), so
/// no character of `s` can act as YAML syntax or a line break.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(ch),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A Kubernetes name (RFC 1123 label) made of `parts`: lowercase letters,
/// digits and `-`, at most 63 characters.
pub fn pod_name(prefix: &str, base: &str, suffix: &str) -> String {
    let mut clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let room = 63 - prefix.len() - suffix.len() - 2;
    clean.truncate(room);
    let clean = clean.trim_matches('-');
    if clean.is_empty() {
        format!("{prefix}-{suffix}")
    } else {
        format!("{prefix}-{clean}-{suffix}")
    }
}

impl AgentPod {
    /// The pod as YAML (one document).
    pub fn to_yaml(&self) -> String {
        let q = |s: &str| quote(s);
        let mut y = String::new();
        y.push_str("apiVersion: \"v1\"\nkind: \"Pod\"\nmetadata:\n");
        let _ = writeln!(y, "  name: {}", q(&self.name));
        if let Some(ns) = &self.namespace {
            let _ = writeln!(y, "  namespace: {}", q(ns));
        }
        y.push_str("  labels:\n    app.kubernetes.io/name: \"holter-agent\"\n    app.kubernetes.io/managed-by: \"kubectl-holter\"\n");
        if !self.annotations.is_empty() {
            y.push_str("  annotations:\n");
            for (k, v) in &self.annotations {
                let _ = writeln!(y, "    {}: {}", q(k), q(v));
            }
        }
        y.push_str("spec:\n");
        let _ = writeln!(y, "  nodeName: {}", q(&self.node));
        y.push_str(concat!(
            "  restartPolicy: \"Never\"\n",
            "  hostPID: true\n",
            "  automountServiceAccountToken: false\n",
            "  enableServiceLinks: false\n",
            "  terminationGracePeriodSeconds: 10\n",
            "  tolerations:\n",
            "  - operator: \"Exists\"\n",
            "  containers:\n",
        ));
        for c in &self.containers {
            let _ = writeln!(y, "  - name: {}", q(&c.name));
            let _ = writeln!(y, "    image: {}", q(&self.image));
            y.push_str("    imagePullPolicy: \"IfNotPresent\"\n    command:\n");
            for a in agent_command(c, &self.options) {
                let _ = writeln!(y, "    - {}", q(&a));
            }
            y.push_str(concat!(
                "    securityContext:\n",
                "      privileged: true\n",
                "    volumeMounts:\n",
                "    - name: \"cgroup\"\n",
                "      mountPath: \"/sys/fs/cgroup\"\n",
                "      readOnly: true\n",
                "    - name: \"pod-logs\"\n",
                "      mountPath: \"/var/log/pods\"\n",
                "      readOnly: true\n",
                "    - name: \"container-logs\"\n",
                "      mountPath: \"/var/log/containers\"\n",
                "      readOnly: true\n",
                "    - name: \"capture\"\n",
            ));
            let _ = writeln!(y, "      mountPath: {}", q(CAPTURE_DIR));
        }
        y.push_str(concat!(
            "  volumes:\n",
            "  - name: \"cgroup\"\n",
            "    hostPath:\n",
            "      path: \"/sys/fs/cgroup\"\n",
            "      type: \"Directory\"\n",
            "  - name: \"pod-logs\"\n",
            "    hostPath:\n",
            "      path: \"/var/log/pods\"\n",
            "  - name: \"container-logs\"\n",
            "    hostPath:\n",
            "      path: \"/var/log/containers\"\n",
            "  - name: \"capture\"\n",
        ));
        match &self.volume {
            CaptureVolume::EmptyDir => y.push_str("    emptyDir: {}\n"),
            CaptureVolume::HostPath(p) => {
                let _ = writeln!(
                    y,
                    "    hostPath:\n      path: {}\n      type: \"DirectoryOrCreate\"",
                    q(p)
                );
            }
        }
        y
    }
}
