//! `kubectl holter record`: read the pod(s), start one agent pod per node,
//! wait for the captures, copy them out and delete the agent pods, on every
//! way out (an error, Ctrl-C, a panic: the deletion is in a guard's `drop`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::kubectl::{clean, Call, Kubectl, KubectlError};
use super::manifest::{
    AgentContainer, AgentPod, AgentTarget, CaptureVolume, RecordOptions, CAPTURE_DIR,
};
use super::pod::{Pod, PodError, State, Target};

/// The line `holter-agent record --linger` prints once its capture is complete.
pub const LINGER_MARK: &str = "holter-agent: capture complete, lingering: ";
/// How long one quick kubectl call (get, create, logs) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the agent pod is looked at.
const POLL: Duration = Duration::from_secs(1);
/// Lines of the agent's log shown when it fails.
const LOG_LINES: usize = 40;
/// How long an agent may run past its duration (stopping, symbolizing, writing).
const GRACE: Duration = Duration::from_secs(120);

const IMAGE_PULL: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
];
const CANNOT_START: &[&str] = &[
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
    "StartError",
];

#[derive(Debug, Error)]
pub enum RecordError {
    #[error(transparent)]
    Kubectl(#[from] KubectlError),
    #[error(transparent)]
    Pod(#[from] PodError),
    #[error("no pod matches `-l {selector}`{scope}")]
    NoMatch { selector: String, scope: String },
    #[error("{path} already exists: name another file with -o (nothing was started)")]
    OutputExists { path: String },
    #[error("agent pod {pod}: its image {image} cannot be pulled ({reason}: {message}); build and push it with deploy/build.sh, then pass --image")]
    ImagePull {
        pod: String,
        image: String,
        reason: String,
        message: String,
    },
    #[error("agent pod {pod} failed to start: {reason}: {message}")]
    AgentPod {
        pod: String,
        reason: String,
        message: String,
    },
    #[error(
        "the agent in pod {pod} (container {container}) failed, exit code {code}; its log:\n{log}"
    )]
    AgentFailed {
        pod: String,
        container: String,
        code: i64,
        log: String,
    },
    #[error("agent pod {pod} (container {container}): no capture: {detail}")]
    CaptureMissing {
        pod: String,
        container: String,
        detail: String,
    },
    #[error("agent pod {pod} did not start within {secs} s ({state}); see kubectl describe pod -n {namespace} {name}")]
    StartTimeout {
        pod: String,
        namespace: String,
        name: String,
        secs: u64,
        state: String,
    },
    #[error("agent pod {pod} still recording {secs} s past its duration; stopped")]
    Stuck { pod: String, secs: u64 },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("interrupted: the agent pods were deleted, no capture kept")]
    Interrupted,
    #[error("{} of {} agent pods failed:\n{}", .failed.len(), .total, .failed.join("\n"))]
    Several { failed: Vec<String>, total: usize },
}

impl From<KubectlError> for Box<RecordError> {
    fn from(e: KubectlError) -> Self {
        Box::new(e.into())
    }
}

impl From<PodError> for Box<RecordError> {
    fn from(e: PodError) -> Self {
        Box::new(e.into())
    }
}

/// What `kubectl holter record` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub container: Option<String>,
    pub selector: Option<String>,
    pub all_namespaces: bool,
    pub options: RecordOptions,
    pub image: String,
    /// A file (one pod) or a directory (`-l`).
    pub output: Option<PathBuf>,
    /// Where the agent pods go (default: the target pod's namespace).
    pub agent_namespace: Option<String>,
    pub start_timeout: Duration,
}

/// A capture brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub pod: String,
    pub path: PathBuf,
    pub bytes: u64,
}

fn ns_args(namespace: &Option<String>, all: bool) -> Vec<String> {
    if all {
        vec!["--all-namespaces".into()]
    } else if let Some(ns) = namespace {
        vec!["-n".into(), ns.clone()]
    } else {
        Vec::new()
    }
}

/// A file name made of a pod's name: `[A-Za-z0-9._-]` only, never hidden.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "pod".into()
    } else {
        s.into()
    }
}

/// `20261201T003512Z` for `secs` since the epoch (UTC).
pub fn timestamp(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:06x}", h.finish() & 0xff_ffff)
}

/// The live status line: redrawn in place on a terminal; elsewhere one line
/// per change of state.
pub struct StatusLine {
    tty: bool,
    slots: Mutex<(Vec<String>, Vec<String>)>,
}

impl StatusLine {
    pub fn new(slots: usize) -> StatusLine {
        StatusLine {
            tty: std::io::stderr().is_terminal(),
            slots: Mutex::new((vec![String::new(); slots], vec![String::new(); slots])),
        }
    }

    /// `state` of agent `slot` (a change of state is printed off a terminal),
    /// `live` the part that changes every second (terminal only).
    fn update(&self, slot: usize, state: &str, live: &str) {
        let Ok(mut g) = self.slots.lock() else { return };
        let (states, lives) = &mut *g;
        let changed = states[slot] != state;
        states[slot] = state.to_string();
        lives[slot] = live.to_string();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let line: Vec<String> = states
                .iter()
                .zip(lives.iter())
                .filter(|(s, _)| !s.is_empty())
                .map(|(s, l)| format!("{s}{l}"))
                .collect();
            let _ = write!(err, "\r\x1b[K{}", line.join(" | "));
        } else if changed {
            let _ = writeln!(err, "{state}");
        }
        let _ = err.flush();
    }

    /// Ends the line (before other messages).
    pub fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }

    pub fn message(&self, text: &str) {
        let _g = self.slots.lock();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "{text}");
    }
}

/// Deletes the agent pod when dropped: every way out of [`run_agent`].
struct Cleanup<'a> {
    kubectl: &'a Kubectl,
    namespace: String,
    name: String,
    status: &'a StatusLine,
    /// False once kubectl said it created nothing.
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let args: Vec<String> = [
            "delete",
            "pod",
            &self.name,
            "-n",
            &self.namespace,
            "--ignore-not-found",
            "--wait=false",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match self.kubectl.run_detached(&args, CALL_TIMEOUT) {
            Ok(()) => self.status.message(&format!(
                "holter: deleted agent pod {}/{}",
                self.namespace, self.name
            )),
            Err(e) => self.status.message(&format!(
                "holter: could not delete agent pod {ns}/{n} ({e}): delete it with `kubectl delete pod -n {ns} {n}`",
                ns = self.namespace,
                n = self.name
            )),
        }
    }
}

fn call(
    what: String,
    verb: &'static str,
    resource: &'static str,
    args: Vec<String>,
) -> Call<'static> {
    Call {
        what,
        verb,
        resource,
        args,
        timeout: CALL_TIMEOUT,
    }
}

/// The agent's log, control characters removed, last [`LOG_LINES`] lines.
fn agent_log(k: &Kubectl, pod: &AgentPod, ns: &str, container: &str, stop: &AtomicBool) -> String {
    let args = vec![
        "logs".into(),
        pod.name.clone(),
        "-n".into(),
        ns.into(),
        "-c".into(),
        container.into(),
        format!("--tail={LOG_LINES}"),
    ];
    match k.run(
        &call(
            format!("logs of agent pod {ns}/{}", pod.name),
            "get",
            "pods/log",
            args,
        ),
        None,
        stop,
    ) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| format!("  | {}", clean(l.as_bytes())))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("  (its log could not be read: {e})"),
    }
}

fn sleep_or_stop(d: Duration, stop: &AtomicBool) -> Result<(), Box<RecordError>> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return Err(Box::new(RecordError::Interrupted));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Creates `pod`, waits for its captures, copies them to `locals` (one per
/// container) and deletes it.
pub fn run_agent(
    k: &Kubectl,
    pod: &AgentPod,
    locals: &[PathBuf],
    start_timeout: Duration,
    stop: &AtomicBool,
    status: &StatusLine,
    slot: usize,
) -> Result<Vec<Fetched>, Box<RecordError>> {
    let ns = pod.namespace.clone().unwrap_or_else(|| "default".into());
    let label = format!("{ns}/{}", pod.name);
    let created = call(
        format!("create agent pod {label} on node {}", pod.node),
        "create",
        "pods",
        vec![
            "create".into(),
            "-f".into(),
            "-".into(),
            "-o".into(),
            "name".into(),
        ],
    );
    // The guard first: a Ctrl-C while kubectl creates it still deletes it.
    let mut cleanup = Cleanup {
        kubectl: k,
        namespace: ns.clone(),
        name: pod.name.clone(),
        status,
        armed: true,
    };
    status.update(
        slot,
        &format!("holter: {label} on {}: creating", pod.node),
        "",
    );
    match k.run(&created, Some(pod.to_yaml().as_bytes()), stop) {
        Ok(_) => {}
        // kubectl's own answer that it made nothing: nothing to delete.
        Err(
            e @ (KubectlError::Forbidden { .. }
            | KubectlError::Admission { .. }
            | KubectlError::Unauthorized { .. }
            | KubectlError::Spawn { .. }),
        ) => {
            cleanup.armed = false;
            return Err(Box::new(e.into()));
        }
        Err(e) => return Err(Box::new(e.into())),
    }

    let started = Instant::now();
    let mut running_since: Option<Instant> = None;
    let mut ready = vec![false; pod.containers.len()];
    let get = call(
        format!("read agent pod {label}"),
        "get",
        "pods",
        vec![
            "get".into(),
            "pod".into(),
            pod.name.clone(),
            "-n".into(),
            ns.clone(),
            "-o".into(),
            "json".into(),
        ],
    );
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Box::new(RecordError::Interrupted));
        }
        let seen = Pod::from_json(&k.run(&get, None, stop)?)?;
        let mut waiting = String::new();
        for (i, c) in pod.containers.iter().enumerate() {
            let state = seen
                .containers
                .iter()
                .find(|s| s.name == c.name)
                .map(|s| s.state.clone())
                .unwrap_or(State::Unknown);
            match state {
                State::Waiting { reason, message } if IMAGE_PULL.contains(&reason.as_str()) => {
                    return Err(Box::new(RecordError::ImagePull {
                        pod: label,
                        image: pod.image.clone(),
                        reason,
                        message: clean(message.as_bytes()),
                    }))
                }
                State::Waiting { reason, message } if CANNOT_START.contains(&reason.as_str()) => {
                    let log = agent_log(k, pod, &ns, &c.name, stop);
                    return Err(Box::new(RecordError::AgentPod {
                        pod: label,
                        reason,
                        message: format!("{}\n{log}", clean(message.as_bytes())),
                    }));
                }
                State::Waiting { reason, .. } => waiting = reason,
                State::Terminated { exit_code, .. } if exit_code != 0 => {
                    return Err(Box::new(RecordError::AgentFailed {
                        pod: label,
                        container: c.name.clone(),
                        code: exit_code,
                        log: agent_log(k, pod, &ns, &c.name, stop),
                    }))
                }
                State::Terminated { .. } if !ready[i] => {
                    return Err(Box::new(RecordError::CaptureMissing {
                        pod: label,
                        container: c.name.clone(),
                        detail: format!(
                            "the agent exited before its capture could be copied; its log:\n{}",
                            agent_log(k, pod, &ns, &c.name, stop)
                        ),
                    }))
                }
                State::Running if !ready[i] => {
                    running_since.get_or_insert_with(Instant::now);
                    let args = vec![
                        "logs".into(),
                        pod.name.clone(),
                        "-n".into(),
                        ns.clone(),
                        "-c".into(),
                        c.name.clone(),
                        "--tail=5".into(),
                    ];
                    let log = k.run(
                        &call(
                            format!("logs of agent pod {label}"),
                            "get",
                            "pods/log",
                            args,
                        ),
                        None,
                        stop,
                    )?;
                    ready[i] = String::from_utf8_lossy(&log)
                        .lines()
                        .any(|l| l.starts_with(LINGER_MARK));
                }
                _ => {}
            }
        }
        if seen.phase == "Failed" && running_since.is_none() {
            return Err(Box::new(RecordError::AgentPod {
                pod: label,
                reason: seen.reason,
                message: clean(seen.message.as_bytes()),
            }));
        }
        if ready.iter().all(|r| *r) {
            break;
        }
        match running_since {
            None if started.elapsed() > start_timeout => {
                return Err(Box::new(RecordError::StartTimeout {
                    pod: label,
                    namespace: ns.clone(),
                    name: pod.name.clone(),
                    secs: start_timeout.as_secs(),
                    state: format!(
                        "{}{}",
                        seen.phase,
                        if waiting.is_empty() {
                            String::new()
                        } else {
                            format!(", {waiting}")
                        }
                    ),
                }))
            }
            None => status.update(
                slot,
                &format!(
                    "holter: {label} on {}: {}{}",
                    pod.node,
                    seen.phase,
                    if waiting.is_empty() {
                        String::new()
                    } else {
                        format!(" ({waiting})")
                    }
                ),
                &format!(" {}s", started.elapsed().as_secs()),
            ),
            Some(t) => {
                let d = pod.options.duration;
                if t.elapsed() > d + GRACE {
                    return Err(Box::new(RecordError::Stuck {
                        pod: label,
                        secs: GRACE.as_secs(),
                    }));
                }
                let state = if t.elapsed() < d {
                    "recording"
                } else {
                    "finishing"
                };
                status.update(
                    slot,
                    &format!("holter: {label} on {}: {state}", pod.node),
                    &format!(" {}s/{}s", t.elapsed().as_secs(), d.as_secs()),
                );
            }
        }
        sleep_or_stop(POLL, stop)?;
    }

    status.update(
        slot,
        &format!("holter: {label} on {}: copying", pod.node),
        "",
    );
    let mut fetched = Vec::new();
    for (c, local) in pod.containers.iter().zip(locals) {
        fetched.push(fetch(k, pod, &ns, c, local, stop)?);
    }
    status.update(slot, &format!("holter: {label} on {}: done", pod.node), "");
    Ok(fetched)
}

/// Copies one capture out of the pod (`kubectl exec … holter-agent cat`) to
/// `local` (a new file: never overwritten), checking it is a capture.
fn fetch(
    k: &Kubectl,
    pod: &AgentPod,
    ns: &str,
    c: &AgentContainer,
    local: &Path,
    stop: &AtomicBool,
) -> Result<Fetched, Box<RecordError>> {
    let label = format!("{ns}/{}", pod.name);
    let io = |what: String| move |source| Box::new(RecordError::Io { what, source });
    let dir = local
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let part = dir.join(format!(
        ".{}.{}.part",
        local
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        random_suffix()
    ));
    let file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&part)
        .map_err(io(format!("cannot create {}", part.display())))?;
    let args = vec![
        "exec".into(),
        pod.name.clone(),
        "-n".into(),
        ns.into(),
        "-c".into(),
        c.name.clone(),
        "--".into(),
        super::manifest::AGENT_PATH.into(),
        "cat".into(),
        c.output.clone(),
    ];
    let copy = Call {
        what: format!("copy the capture out of agent pod {label}"),
        verb: "create",
        resource: "pods/exec",
        args,
        // A capture streams at the cluster's pace: bounded generously.
        timeout: Duration::from_secs(1800),
    };
    let result = k.run_to_file(&copy, file, stop);
    let checked = result
        .map_err(|e| Box::new(RecordError::from(e)))
        .and_then(|()| {
            let mut head = [0u8; 8];
            let mut f = std::fs::File::open(&part)
                .map_err(io(format!("cannot read {}", part.display())))?;
            let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
            let n = f.read(&mut head).unwrap_or(0);
            if n < head.len() || head != holter_format::MAGIC {
                return Err(Box::new(RecordError::CaptureMissing {
                    pod: label.clone(),
                    container: c.name.clone(),
                    detail: format!("{} held {bytes} bytes, not a holter capture", c.output),
                }));
            }
            std::fs::hard_link(&part, local).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Box::new(RecordError::OutputExists {
                        path: local.display().to_string(),
                    })
                } else {
                    Box::new(RecordError::Io {
                        what: format!("cannot write {}", local.display()),
                        source: e,
                    })
                }
            })?;
            Ok(bytes)
        });
    let _ = std::fs::remove_file(&part);
    Ok(Fetched {
        pod: label,
        path: local.to_path_buf(),
        bytes: checked?,
    })
}

fn agent_target(pod: &Pod, target: &Target) -> AgentTarget {
    match target {
        Target::Container { id, .. } => AgentTarget::Container(id.clone()),
        Target::Pod { .. } => AgentTarget::Pod {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            container: None,
        },
    }
}

fn describe_target(pod: &Pod, target: &Target) -> String {
    match target {
        Target::Container { name, id } => {
            format!(
                "{}/{}, container {name} ({} {})",
                pod.namespace,
                pod.name,
                id.runtime,
                &id.id[..12]
            )
        }
        Target::Pod { containers } => {
            format!(
                "{}/{}, containers {}",
                pod.namespace,
                pod.name,
                containers.join(", ")
            )
        }
    }
}

/// A pod to record, what in it, and its local capture file.
type Planned = (Pod, Target, PathBuf);

/// `kubectl holter record`: the captures written, or why not.
pub fn record(
    k: &Kubectl,
    req: &Request,
    stop: &AtomicBool,
) -> Result<Vec<Fetched>, Box<RecordError>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = timestamp(now);
    // The targets, each with its local capture file.
    let mut targets: Vec<Planned> = Vec::new();
    if let Some(selector) = &req.selector {
        let mut args = vec!["get".into(), "pods".into(), "-l".into(), selector.clone()];
        args.extend(ns_args(&req.namespace, req.all_namespaces));
        args.extend(["-o".into(), "json".into()]);
        let bytes = k.run(
            &call(
                format!("list pods matching `-l {selector}`"),
                "list",
                "pods",
                args,
            ),
            None,
            stop,
        )?;
        let pods = Pod::list_from_json(&bytes)?;
        if pods.is_empty() {
            return Err(Box::new(RecordError::NoMatch {
                selector: selector.clone(),
                scope: if req.all_namespaces {
                    " in any namespace".into()
                } else {
                    req.namespace
                        .as_ref()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                },
            }));
        }
        let dir = req.output.clone().unwrap_or_else(|| PathBuf::from("."));
        let status = StatusLine::new(1);
        for pod in pods {
            match pod.target(req.container.as_deref()) {
                Ok(t) => {
                    let local = dir.join(format!(
                        "{}-{}-{stamp}.holter",
                        file_stem(&pod.namespace),
                        file_stem(&pod.name)
                    ));
                    targets.push((pod, t, local));
                }
                Err(e) => status.message(&format!("holter: skipped: {e}")),
            }
        }
        if targets.is_empty() {
            return Err(Box::new(RecordError::NoMatch {
                selector: selector.clone(),
                scope: " that can be recorded (see the reasons above)".into(),
            }));
        }
    } else {
        let Some(name) = &req.pod else {
            return Err(Box::new(RecordError::NoMatch {
                selector: String::new(),
                scope: ": name a POD or pass -l SELECTOR".into(),
            }));
        };
        let mut args = vec!["get".into(), "pod".into(), name.clone()];
        args.extend(ns_args(&req.namespace, false));
        args.extend(["-o".into(), "json".into()]);
        let what = format!(
            "pod {name}{}",
            req.namespace
                .as_ref()
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default()
        );
        let bytes = k.run(&call(what, "get", "pods", args), None, stop)?;
        let pod = Pod::from_json(&bytes)?;
        let t = pod.target(req.container.as_deref())?;
        let local = req
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}-{stamp}.holter", file_stem(&pod.name))));
        targets.push((pod, t, local));
    }
    for (_, _, local) in &targets {
        if local.symlink_metadata().is_ok() {
            return Err(Box::new(RecordError::OutputExists {
                path: local.display().to_string(),
            }));
        }
    }

    // One agent pod per (namespace, node).
    let mut groups: BTreeMap<(String, String), Vec<Planned>> = BTreeMap::new();
    for (pod, t, local) in targets {
        let ns = req
            .agent_namespace
            .clone()
            .unwrap_or_else(|| pod.namespace.clone());
        groups
            .entry((ns, pod.node.clone()))
            .or_default()
            .push((pod, t, local));
    }
    let mut agents: Vec<(AgentPod, Vec<PathBuf>)> = Vec::new();
    for ((ns, node), members) in groups {
        let base = if members.len() == 1 {
            members[0].0.name.clone()
        } else {
            node.clone()
        };
        let mut containers = Vec::new();
        let mut annotations = Vec::new();
        let mut locals = Vec::new();
        for (i, (pod, t, local)) in members.iter().enumerate() {
            let name = if members.len() == 1 {
                "agent".to_string()
            } else {
                format!("agent-{i}")
            };
            annotations.push((format!("holter.dev/{name}"), describe_target(pod, t)));
            containers.push(AgentContainer {
                name,
                target: agent_target(pod, t),
                output: format!("{CAPTURE_DIR}/capture-{i}.holter"),
            });
            locals.push(local.clone());
        }
        agents.push((
            AgentPod {
                name: super::manifest::pod_name("holter", &base, &random_suffix()),
                namespace: Some(ns),
                node,
                image: req.image.clone(),
                options: req.options.clone(),
                volume: CaptureVolume::EmptyDir,
                containers,
                annotations,
            },
            locals,
        ));
    }

    let status = StatusLine::new(agents.len());
    for (a, _) in &agents {
        for (_, v) in &a.annotations {
            status.message(&format!(
                "holter: recording {v} for {} on node {}",
                super::manifest::duration_arg(a.options.duration),
                a.node
            ));
        }
    }
    let results: Vec<Result<Vec<Fetched>, Box<RecordError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = agents
            .iter()
            .enumerate()
            .map(|(slot, (a, locals))| {
                let status = &status;
                s.spawn(move || run_agent(k, a, locals, req.start_timeout, stop, status, slot))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Box::new(RecordError::Interrupted)))
            })
            .collect()
    });
    status.finish();
    if stop.load(Ordering::Relaxed) {
        return Err(Box::new(RecordError::Interrupted));
    }
    let total = results.len();
    let mut fetched = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(f) => fetched.extend(f),
            Err(e) if total == 1 => return Err(e),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !failed.is_empty() {
        for f in &fetched {
            status.message(&format!(
                "holter: kept {} ({} bytes)",
                f.path.display(),
                f.bytes
            ));
        }
        return Err(Box::new(RecordError::Several { failed, total }));
    }
    Ok(fetched)
}
