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

/// The record options passed on to the agent: the agent's own `record`
/// options, by the same names; `None`/`false` passes nothing (the agent's
/// default). [`super::options::AgentOptions`] is how the command line fills it,
/// each value checked with the agent's own parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    /// `--duration` (always passed: the agent pod must end).
    pub duration: Duration,
    /// `--frequency HZ`.
    pub frequency: Option<u32>,
    /// `--nice=N`.
    pub nice: Option<i32>,
    /// `--unwind=MODE`: `dwarf` or `fp`.
    pub unwind: Option<String>,
    /// `--stack-size=BYTES`.
    pub stack_size: Option<u32>,
    /// `--no-samples`.
    pub no_samples: bool,
    /// `--off-cpu`.
    pub off_cpu: bool,
    /// `--syscalls=MODE`: `ptrace` or `kernel`.
    pub syscalls: Option<String>,
    /// `--syscalls-filter=LIST`.
    pub syscalls_filter: Option<String>,
    /// `--redact`.
    pub redact: bool,
    /// `--interval=DUR`.
    pub interval: Option<Duration>,
    /// `--max-size=BYTES`.
    pub max_size: Option<u64>,
}

impl RecordOptions {
    /// A capture of `duration` with every other option at the agent's default.
    pub fn new(duration: Duration) -> RecordOptions {
        RecordOptions {
            duration,
            frequency: None,
            nice: None,
            unwind: None,
            stack_size: None,
            no_samples: false,
            off_cpu: false,
            syscalls: None,
            syscalls_filter: None,
            redact: false,
            interval: None,
            max_size: None,
        }
    }

    /// The options as the agent's arguments, each one argv element
    /// (`--name=VALUE` for the options added after `--duration`,
    /// `--frequency` and `--syscalls`, so that no value can ever be read as
    /// another option), in the order of `holter-agent record --help`.
    pub fn args(&self) -> Vec<String> {
        let mut v: Vec<String> = vec!["--duration".into(), duration_arg(self.duration)];
        if let Some(f) = self.frequency {
            v.push("--frequency".into());
            v.push(f.to_string());
        }
        if let Some(n) = self.nice {
            v.push(format!("--nice={n}"));
        }
        if let Some(u) = &self.unwind {
            v.push(format!("--unwind={u}"));
        }
        if let Some(b) = self.stack_size {
            v.push(format!("--stack-size={b}"));
        }
        if self.no_samples {
            v.push("--no-samples".into());
        }
        if self.off_cpu {
            v.push("--off-cpu".into());
        }
        if let Some(mode) = &self.syscalls {
            v.push(format!("--syscalls={mode}"));
        }
        if let Some(list) = &self.syscalls_filter {
            v.push(format!("--syscalls-filter={list}"));
        }
        if self.redact {
            v.push("--redact".into());
        }
        if let Some(i) = self.interval {
            v.push(format!("--interval={}", duration_arg(i)));
        }
        if let Some(m) = self.max_size {
            v.push(format!("--max-size={m}"));
        }
        v
    }
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

/// A duration as the agent parses it back exactly (`30s`, `1500ms`).
pub use holter_format::args::duration_arg;

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
    v.extend(o.args());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> AgentContainer {
        AgentContainer {
            name: "agent".into(),
            target: AgentTarget::Pod {
                namespace: "shop".into(),
                name: "web".into(),
                container: None,
            },
            output: "/holter/capture-0.holter".into(),
        }
    }

    /// The arguments between the target and `-o`.
    fn options_part(o: &RecordOptions) -> Vec<String> {
        let cmd = agent_command(&container(), o);
        let start = cmd.iter().position(|a| a == "--duration").unwrap();
        let end = cmd.iter().position(|a| a == "-o").unwrap();
        assert_eq!(
            cmd[..start],
            [AGENT_PATH, "record", "--pod", "shop/web"],
            "{cmd:?}"
        );
        assert_eq!(
            cmd[end..],
            ["-o", "/holter/capture-0.holter", "--linger", "600s"],
            "{cmd:?}"
        );
        cmd[start..].iter().take(end - start).cloned().collect()
    }

    #[test]
    fn defaults_add_nothing_but_the_duration() {
        let o = RecordOptions::new(Duration::from_secs(30));
        assert_eq!(options_part(&o), ["--duration", "30s"]);
    }

    #[test]
    fn each_option_reaches_the_agents_command() {
        let base = RecordOptions::new(Duration::from_secs(30));
        let cases: Vec<(RecordOptions, Vec<&str>)> = vec![
            (
                RecordOptions {
                    duration: Duration::from_millis(1500),
                    ..base.clone()
                },
                vec![],
            ),
            (
                RecordOptions {
                    frequency: Some(999),
                    ..base.clone()
                },
                vec!["--frequency", "999"],
            ),
            (
                RecordOptions {
                    nice: Some(-20),
                    ..base.clone()
                },
                vec!["--nice=-20"],
            ),
            (
                RecordOptions {
                    unwind: Some("fp".into()),
                    ..base.clone()
                },
                vec!["--unwind=fp"],
            ),
            (
                RecordOptions {
                    stack_size: Some(4096),
                    ..base.clone()
                },
                vec!["--stack-size=4096"],
            ),
            (
                RecordOptions {
                    no_samples: true,
                    ..base.clone()
                },
                vec!["--no-samples"],
            ),
            (
                RecordOptions {
                    off_cpu: true,
                    ..base.clone()
                },
                vec!["--off-cpu"],
            ),
            (
                RecordOptions {
                    syscalls: Some("kernel".into()),
                    ..base.clone()
                },
                vec!["--syscalls=kernel"],
            ),
            (
                RecordOptions {
                    syscalls: Some("ptrace".into()),
                    syscalls_filter: Some("openat, file".into()),
                    ..base.clone()
                },
                vec!["--syscalls=ptrace", "--syscalls-filter=openat, file"],
            ),
            (
                RecordOptions {
                    redact: true,
                    ..base.clone()
                },
                vec!["--redact"],
            ),
            (
                RecordOptions {
                    interval: Some(Duration::from_millis(250)),
                    ..base.clone()
                },
                vec!["--interval=250ms"],
            ),
            (
                RecordOptions {
                    interval: Some(Duration::from_micros(10_500)),
                    ..base.clone()
                },
                vec!["--interval=0.010500000s"],
            ),
            (
                RecordOptions {
                    max_size: Some(64 << 20),
                    ..base.clone()
                },
                vec!["--max-size=67108864"],
            ),
        ];
        for (o, extra) in cases {
            let got = options_part(&o);
            let mut want = vec!["--duration".to_string(), duration_arg(o.duration)];
            want.extend(extra.iter().map(|s| s.to_string()));
            assert_eq!(got, want, "{o:?}");
        }
        assert_eq!(duration_arg(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn every_value_is_one_argv_element_never_a_shell_word() {
        let nasty = "$(touch /tmp/pwned) `id`; rm -rf / && x='a b' \"c\" --pid 1 -o /etc/shadow\n";
        let o = RecordOptions {
            syscalls: Some("ptrace".into()),
            syscalls_filter: Some(nasty.into()),
            ..RecordOptions::new(Duration::from_secs(1))
        };
        let cmd = agent_command(&container(), &o);
        // No shell in between: the agent itself is argv[0], and the value is
        // one element, verbatim, joined to its option (never read as options).
        assert_eq!(cmd[0], AGENT_PATH);
        assert!(!cmd.iter().any(|a| a == "sh" || a == "-c"), "{cmd:?}");
        assert_eq!(
            cmd.iter()
                .filter(|a| a.starts_with("--syscalls-filter"))
                .collect::<Vec<_>>(),
            [&format!("--syscalls-filter={nasty}")]
        );
        assert!(!cmd.iter().any(|a| a == "--pid" || a == "/etc/shadow"));
        // The YAML's command list, one double-quoted scalar per element.
        let pod = AgentPod {
            name: "holter-x".into(),
            namespace: None,
            node: "n".into(),
            image: "i".into(),
            options: o,
            volume: CaptureVolume::EmptyDir,
            containers: vec![container()],
            annotations: vec![],
        };
        let yaml = pod.to_yaml();
        let items: Vec<&str> = yaml
            .lines()
            .skip_while(|l| *l != "    command:")
            .skip(1)
            .take_while(|l| l.starts_with("    - "))
            .collect();
        assert_eq!(items.len(), cmd.len(), "{yaml}");
        for (line, arg) in items.iter().zip(&cmd) {
            assert_eq!(line[6..], quote(arg));
        }
    }
}
