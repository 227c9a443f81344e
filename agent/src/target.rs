//! Resolving what the user named (pid, cgroup, container, pod, command) to
//! processes and cgroups.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::cli::RecordArgs;
use crate::procfs;

#[derive(Debug, Error)]
pub enum TargetError {
    #[error("no process with pid {0} on this node (check the pid with `ps -p {0}`; a pid inside a container is not a node pid)")]
    NoSuchPid(u32),
    #[error("pid {0} is a zombie: it has exited and there is nothing to record")]
    Zombie(u32),
    #[error("cgroup {0} does not exist (give a directory under /sys/fs/cgroup, e.g. /sys/fs/cgroup/cpu/mycontainer or /sys/fs/cgroup/unified/mycontainer)")]
    NoSuchCgroup(PathBuf),
    #[error("{0} is not a cgroup directory (it has no cgroup.procs)")]
    NotACgroup(PathBuf),
    #[error("command `{0}` not found in PATH")]
    CommandNotFound(String),
    #[error("cannot launch `{command}`: {source}")]
    Launch { command: String, source: nix::Error },
    #[error("{0}")]
    Container(String),
    #[error(transparent)]
    Pod(#[from] crate::pod::PodError),
}

/// What a capture records: shared, read-only, with every collector.
#[derive(Debug, Clone)]
pub struct Target {
    /// `pid`, `cgroup`, `container`, `pod` or `command`.
    pub kind: &'static str,
    /// What the user gave.
    pub spec: String,
    /// The processes named at start (for a cgroup: its tasks at start).
    pub pids: Vec<u32>,
    /// The cgroup directory that holds the target, where there is one.
    pub cgroup_dir: Option<PathBuf>,
    pub container_id: Option<String>,
    /// The container runtime (`docker`, `containerd`, `cri-o`, `podman`, `runc`), where known.
    pub runtime: Option<String>,
    /// The container's name as its runtime knows it, where it has one.
    pub container_name: Option<String>,
}

impl Target {
    /// The processes of the target now: the cgroup's processes, or the named
    /// processes still alive (the children they start are followed by the collectors).
    pub fn current_pids(&self) -> Vec<u32> {
        match (&self.cgroup_dir, self.kind) {
            (Some(dir), "cgroup" | "container" | "pod") => cgroup_procs(dir).unwrap_or_default(),
            _ => self
                .pids
                .iter()
                .copied()
                .filter(|&p| procfs::is_alive(p))
                .collect(),
        }
    }

    /// Whether the capture should go on: a named process is alive, or the cgroup still exists.
    pub fn alive(&self) -> bool {
        match (&self.cgroup_dir, self.kind) {
            (Some(dir), "cgroup" | "container" | "pod") => dir.join("cgroup.procs").exists(),
            _ => self.pids.iter().any(|&p| procfs::is_alive(p)),
        }
    }
}

/// A launched command, held before `exec` until the collectors are armed.
pub struct Launched {
    pub pid: u32,
    go: Option<OwnedFd>,
}

impl Launched {
    /// Lets the command run (exec).
    pub fn release(&mut self) {
        if let Some(fd) = self.go.take() {
            let _ = nix::unistd::write(&fd, b"g");
        }
    }

    /// Reaps the child if it has exited (it is ours to reap).
    ///
    /// It peeks first (`WNOWAIT`): when the syscall tracer, a thread of this
    /// process, traces the child, a plain `waitpid` here would consume the
    /// child's ptrace stops and leave it stopped for good.
    pub fn reap(&self) {
        use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) = waitid(Id::Pid(pid), flags) {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        }
    }
}

impl Drop for Launched {
    /// A command never released never ran: it is killed, not let loose unrecorded.
    fn drop(&mut self) {
        if self.go.take().is_some() {
            let pid = nix::unistd::Pid::from_raw(self.pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}

/// Whether our launched child runs its own program (it has exec'd): its
/// executable is no longer the agent's. False if it is gone.
pub fn ran_program(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    match (id(&format!("/proc/{pid}/exe")), id("/proc/self/exe")) {
        (Some(child), Some(me)) => child != me,
        _ => false,
    }
}

/// Resolves the target of `record`. A launched command is forked and held
/// before exec; call [`Launched::release`] once the collectors are armed.
pub fn resolve(args: &RecordArgs) -> Result<(Target, Option<Launched>), TargetError> {
    if let Some(pid) = args.pid {
        return Ok((by_pid(pid)?, None));
    }
    if let Some(path) = &args.cgroup {
        return Ok((by_cgroup(path)?, None));
    }
    if let Some(id) = &args.container {
        return Ok((by_container(id)?, None));
    }
    if let Some(pod) = &args.pod {
        let roots = crate::pod::Roots::node();
        return Ok((by_pod(pod, args.pod_container.as_deref(), &roots)?, None));
    }
    let (target, launched) = launch(&args.command)?;
    Ok((target, Some(launched)))
}

pub fn by_pid(pid: u32) -> Result<Target, TargetError> {
    procfs::read_stat(pid).map_err(|_| TargetError::NoSuchPid(pid))?;
    // A main thread gone by pthread_exit is a zombie while the others run.
    if !procfs::is_alive(pid) {
        return Err(TargetError::Zombie(pid));
    }
    Ok(Target {
        kind: "pid",
        spec: pid.to_string(),
        pids: vec![pid],
        cgroup_dir: None,
        container_id: None,
        runtime: None,
        container_name: None,
    })
}

pub fn by_cgroup(path: &Path) -> Result<Target, TargetError> {
    if !path.is_dir() {
        return Err(TargetError::NoSuchCgroup(path.to_path_buf()));
    }
    let pids = cgroup_procs(path).map_err(|_| TargetError::NotACgroup(path.to_path_buf()))?;
    Ok(Target {
        kind: "cgroup",
        spec: path.display().to_string(),
        pids,
        cgroup_dir: Some(path.to_path_buf()),
        container_id: None,
        runtime: None,
        container_name: None,
    })
}

/// A container by id or unique prefix, found by its cgroup paths.
pub fn by_container(id: &str) -> Result<Target, TargetError> {
    let roots = crate::runtimes::Roots::node();
    let crate::container::Resolved {
        id: full,
        runtime,
        name,
        dir,
    } = crate::container::resolve(id, &roots).map_err(|e| TargetError::Container(e.to_string()))?;
    let pids = cgroup_procs(&dir).map_err(|_| TargetError::NotACgroup(dir.clone()))?;
    Ok(Target {
        kind: "container",
        spec: id.to_string(),
        pids,
        cgroup_dir: Some(dir),
        container_id: Some(full),
        runtime: runtime.map(str::to_string),
        container_name: name,
    })
}

/// A pod (or one container of it) found from the kubelet's records under `roots`.
pub fn by_pod(
    spec: &str,
    container: Option<&str>,
    roots: &crate::pod::Roots,
) -> Result<Target, TargetError> {
    let pod = crate::pod::resolve(spec, container, roots)?;
    let dir = pod.cgroup_dir().to_path_buf();
    let pids = cgroup_procs(&dir).map_err(|_| TargetError::NotACgroup(dir.clone()))?;
    Ok(Target {
        kind: "pod",
        spec: match &pod.container {
            Some((name, _, _)) => format!("{spec}/{name}"),
            None => spec.to_string(),
        },
        runtime: crate::container::containers_in_path(&dir.to_string_lossy())
            .last()
            .map(|f| f.runtime)
            .filter(|r| *r != "unknown")
            .map(str::to_string),
        container_name: pod.container.as_ref().map(|c| c.0.clone()),
        pids,
        cgroup_dir: Some(dir),
        container_id: pod.container.map(|c| c.1),
    })
}

/// The processes of a cgroup directory (v1 or v2).
pub fn cgroup_procs(dir: &Path) -> std::io::Result<Vec<u32>> {
    let path = dir.join("cgroup.procs");
    let text = crate::host::node::read_text(&path.to_string_lossy())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut pids: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Finds a command the way `execvp` will.
fn find_in_path(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Path::new(cmd).is_file().then(|| PathBuf::from(cmd));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// Gives a child about to exec the signal state a shell would: every
/// disposition default (the Rust runtime ignores SIGPIPE, and ignored signals
/// survive exec) and nothing blocked.
///
/// # Safety
/// Async-signal-safe; call in a forked child before exec.
unsafe fn default_signals() {
    /// The kernel's `struct sigaction` (x86-64, aarch64): glibc refuses to
    /// touch its own signals 32 and 33, which an ignoring parent passes on too.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: raw calls on local, initialised structs.
    unsafe {
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn launch(command: &[String]) -> Result<(Target, Launched), TargetError> {
    let first = command.first().cloned().unwrap_or_default();
    let program =
        find_in_path(&first).ok_or_else(|| TargetError::CommandNotFound(first.clone()))?;
    let launch_err = |source| TargetError::Launch {
        command: first.clone(),
        source,
    };
    // Everything the child needs is prepared before fork: it only reads and execs.
    let prog = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|_| launch_err(nix::Error::EINVAL))?;
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| launch_err(nix::Error::EINVAL))?;
    let (wait_rd, go_wr) = nix::unistd::pipe().map_err(launch_err)?;
    // SAFETY: the child only calls async-signal-safe functions (read, close, execv, _exit).
    match unsafe { nix::unistd::fork() }.map_err(launch_err)? {
        nix::unistd::ForkResult::Child => {
            drop(go_wr);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&wait_rd, &mut b);
            drop(wait_rd);
            // SAFETY: async-signal-safe calls on a local signal set.
            unsafe { default_signals() };
            let _ = nix::unistd::execv(&prog, &argv);
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(127) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wait_rd);
            let pid = child.as_raw() as u32;
            Ok((
                Target {
                    kind: "command",
                    spec: command.join(" "),
                    pids: vec![pid],
                    cgroup_dir: None,
                    container_id: None,
                    runtime: None,
                    container_name: None,
                },
                Launched {
                    pid,
                    go: Some(go_wr),
                },
            ))
        }
    }
}
