//! The user's own `kubectl`, run as a subprocess (so kubeconfig, contexts and
//! auth plugins work as they do for the user), with its refusals turned into
//! errors that name the RBAC verb needed.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Most bytes of kubectl's stderr kept for a message.
const MAX_STDERR: usize = 64 << 10;

/// The RBAC the plugin needs, as the README's "On a cluster" states it.
pub const RBAC: &str =
    "get and list on pods, create and delete on pods, get on pods/log, create on pods/exec";

#[derive(Debug, Error)]
pub enum KubectlError {
    #[error("cannot run {program}: {source} (is kubectl installed and on PATH? --kubectl names another)")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{what}: the namespace's admission policy refuses the agent pod (it must be privileged and hostPID): create it in a namespace that admits privileged pods with --agent-namespace NS (Pod Security: label pod-security.kubernetes.io/enforce=privileged); kubectl: {stderr}")]
    Admission { what: String, stderr: String },
    #[error("{what}: not found (kubectl: {stderr})")]
    NotFound { what: String, stderr: String },
    #[error("{what}: kubectl was refused (forbidden): your account needs the RBAC verb `{verb}` on `{resource}` in that namespace (all the plugin needs: {RBAC}); kubectl: {stderr}")]
    Forbidden {
        what: String,
        verb: String,
        resource: String,
        stderr: String,
    },
    #[error("{what}: kubectl is not logged in to the cluster (Unauthorized): check `kubectl config current-context` and your credentials; kubectl: {stderr}")]
    Unauthorized { what: String, stderr: String },
    #[error("{what}: kubectl failed ({status}): {stderr}")]
    Failed {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("{what}: kubectl took more than {secs} s; stopped")]
    Timeout { what: String, secs: u64 },
    #[error("interrupted")]
    Interrupted,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// How to run kubectl.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub program: PathBuf,
    /// Arguments put before every command (`--context X`, `--kubeconfig F`).
    pub global: Vec<OsString>,
}

/// What a call is, for messages and the RBAC verb a refusal names.
pub struct Call<'a> {
    pub what: String,
    pub verb: &'a str,
    pub resource: &'a str,
    pub args: Vec<String>,
    pub timeout: Duration,
}

impl Kubectl {
    pub fn new(program: impl AsRef<Path>) -> Kubectl {
        Kubectl {
            program: program.as_ref().to_path_buf(),
            global: Vec::new(),
        }
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.global).args(args);
        cmd
    }

    fn spawn(&self, cmd: &mut Command) -> Result<Child, KubectlError> {
        cmd.spawn().map_err(|source| KubectlError::Spawn {
            program: self.program.display().to_string(),
            source,
        })
    }

    /// Runs `call` to its end with `stdin` as input; its stdout on success.
    /// `stop` set (Ctrl-C) kills kubectl and returns `Interrupted`.
    pub fn run(
        &self,
        call: &Call,
        stdin: Option<&[u8]>,
        stop: &AtomicBool,
    ) -> Result<Vec<u8>, KubectlError> {
        let mut cmd = self.command(&call.args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let out = child.stdout.take().map(|s| reader(s, super::pod::MAX_JSON));
        let err = child.stderr.take().map(|s| reader(s, MAX_STDERR));
        let status = wait(&mut child, call, stop)?;
        let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        check(call, status, &stderr)?;
        Ok(stdout)
    }

    /// Runs `call` with its stdout going to `file` (a capture streamed out of a pod).
    pub fn run_to_file(
        &self,
        call: &Call,
        file: std::fs::File,
        stop: &AtomicBool,
    ) -> Result<(), KubectlError> {
        let mut cmd = self.command(&call.args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd)?;
        let err = child.stderr.take().map(|s| reader(s, MAX_STDERR));
        let status = wait(&mut child, call, stop)?;
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        check(call, status, &stderr)
    }

    /// Runs `args` in a process group of its own (so the Ctrl-C that ends the
    /// plugin does not end it too), waiting at most `timeout`; errors ignored
    /// but returned as text. For cleaning up on the way out.
    pub fn run_detached(&self, args: &[String], timeout: Duration) -> Result<(), String> {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let err = child.stderr.take().map(|s| reader(s, MAX_STDERR));
        let never = AtomicBool::new(false);
        let call = Call {
            what: "cleanup".into(),
            verb: "delete",
            resource: "pods",
            args: args.to_vec(),
            timeout,
        };
        let status = wait(&mut child, &call, &never).map_err(|e| e.to_string())?;
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        check(&call, status, &stderr).map_err(|e| e.to_string())
    }
}

fn reader(mut r: impl Read + Send + 'static, max: usize) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut r).take(max as u64).read_to_end(&mut buf);
        // Drain the rest so that the child never blocks on a full pipe.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        buf
    })
}

fn wait(child: &mut Child, call: &Call, stop: &AtomicBool) -> Result<ExitStatus, KubectlError> {
    let deadline = Instant::now() + call.timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(source) => {
                return Err(KubectlError::Io {
                    what: call.what.clone(),
                    source,
                })
            }
        }
        if stop.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(KubectlError::Interrupted);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(KubectlError::Timeout {
                what: call.what.clone(),
                secs: call.timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// kubectl's stderr as one line of text, control characters replaced.
pub fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn check(call: &Call, status: ExitStatus, stderr: &[u8]) -> Result<(), KubectlError> {
    if status.success() {
        return Ok(());
    }
    let text = clean(stderr);
    let what = call.what.clone();
    Err(
        if text.contains("violates PodSecurity") || text.contains("denied the request") {
            KubectlError::Admission { what, stderr: text }
        } else if text.contains("(Forbidden)") || text.contains(" is forbidden") {
            KubectlError::Forbidden {
                what,
                verb: call.verb.to_string(),
                resource: call.resource.to_string(),
                stderr: text,
            }
        } else if text.contains("(NotFound)") || text.contains(" not found") {
            KubectlError::NotFound { what, stderr: text }
        } else if text.contains("Unauthorized") || text.contains("provide credentials") {
            KubectlError::Unauthorized { what, stderr: text }
        } else {
            // kubectl's last line is its conclusion; the lines before it are
            // client-go's retries of the same thing.
            let last = String::from_utf8_lossy(stderr)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| clean(l.as_bytes()))
                .unwrap_or(text);
            KubectlError::Failed {
                what,
                status: status.to_string(),
                stderr: last,
            }
        },
    )
}
