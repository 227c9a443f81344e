//! End-to-end test helpers: real containers made of namespaces and cgroups,
//! workloads compiled from `tests/workloads/*.c`, and the two binaries.
//!
//! The gate: privileged tests call [`require_privileged`] (or
//! [`require_tools`], [`require_tool`], [`require_hierarchy`]) first. Where a
//! privilege, tool or cgroup hierarchy is missing they return false/`None`
//! and the test returns — a *skip*, said on stderr and appended to the file
//! named by `HOLTER_SKIP_LOG` (scripts/test.sh counts it). When
//! `HOLTER_REQUIRE_PRIVILEGED` is set to anything but empty or `0` (as in CI),
//! the same miss fails the test instead.
//!
//! Every process a test starts is held by a guard ([`Proc`], [`RunningAgent`])
//! that kills it (and its process group) when the test ends or panics, and
//! every wait has a timeout: [`agent`] and [`holter`] fail the test instead of
//! hanging. The agent says when it is recording by writing the file named by
//! `HOLTER_READY_FILE` ([`RunningAgent::wait_ready`]): no sleeps stand in for it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// v1 hierarchies a test container gets a directory in (where mounted).
pub const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Where cgroup2 is mounted beside v1 (hybrid layout); see [`cgroup2_root`].
pub const CGROUP2_ROOT: &str = "/sys/fs/cgroup/unified";
/// Prefix of every cgroup directory a test makes (stale ones are removed).
pub const CGROUP_PREFIX: &str = "holter-test-";

// ---------------------------------------------------------------------------
// The gate and the skip log

/// Whether a missing privilege, tool or hierarchy fails the test
/// (`HOLTER_REQUIRE_PRIVILEGED` set to anything but empty or `0`).
pub fn strict() -> bool {
    std::env::var_os("HOLTER_REQUIRE_PRIVILEGED").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Skips `test` because of `why`: fails it under [`strict`], else says so on
/// stderr and appends `test: why` to the file named by `HOLTER_SKIP_LOG`.
/// Always returns false (`if !x { return skip(...) }` reads naturally).
pub fn skip(test: &str, why: &str) -> bool {
    if strict() {
        panic!("{test}: HOLTER_REQUIRE_PRIVILEGED is set but {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    if let Some(log) = std::env::var_os("HOLTER_SKIP_LOG").filter(|v| !v.is_empty()) {
        use std::io::Write;
        let line = format!("{test}: {}\n", why.replace('\n', " "));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("{test}: cannot log the skip to {log:?}: {e}");
        }
    }
    false
}

/// Whether privileged tests can run here (root, a cgroup hierarchy, `unshare`);
/// see [`skip`] for what happens when they cannot.
pub fn require_privileged(test: &str) -> bool {
    let why = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root (run as root to test against real containers)".to_string())
    } else if !Path::new(CGROUP_ROOT).join("cpu/cgroup.procs").exists()
        && !cgroup2_root().join("cgroup.procs").exists()
    {
        Some(format!("no cgroup hierarchy at {CGROUP_ROOT}"))
    } else if which("unshare").is_none() {
        Some("`unshare` (util-linux) is not installed".to_string())
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => skip(test, &why),
    }
}

/// [`require_privileged`], and the commands a test runs: missing ones skip
/// the test (or fail it under [`strict`]), naming the Debian packages that
/// bring them (`scripts/deps.sh` installs them).
pub fn require_tools(test: &str, commands: &[&str], packages: &str) -> bool {
    if !require_privileged(test) {
        return false;
    }
    let missing: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|c| which(c).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip(
        test,
        &format!(
            "{} not installed (Debian: {packages}; scripts/deps.sh installs them)",
            missing.join(", ")
        ),
    )
}

/// One command's path, or a skip (a failure under [`strict`]) naming its package.
/// Does not check privileges.
pub fn require_tool(test: &str, command: &str, package: &str) -> Option<PathBuf> {
    match which(command) {
        Some(p) => Some(p),
        None => {
            skip(
                test,
                &format!(
                    "{command} not installed (Debian: {package}; scripts/deps.sh installs it)"
                ),
            );
            None
        }
    }
}

/// Whether cgroup hierarchy `hierarchy` (`cpu`, `memory`, ... or `unified`
/// for cgroup2) is mounted; a skip (a failure under [`strict`]) if not.
pub fn require_hierarchy(test: &str, hierarchy: &str) -> bool {
    let root = hierarchy_root(hierarchy);
    if root.join("cgroup.procs").exists() {
        true
    } else {
        skip(
            test,
            &format!("no cgroup hierarchy `{hierarchy}` at {}", root.display()),
        )
    }
}

/// Where cgroup2 is: `/sys/fs/cgroup` on a cgroup2-only host, else
/// `/sys/fs/cgroup/unified` (hybrid layout, as on this project's CI).
pub fn cgroup2_root() -> PathBuf {
    let root = Path::new(CGROUP_ROOT);
    if root.join("cgroup.controllers").exists() {
        root.to_path_buf()
    } else {
        PathBuf::from(CGROUP2_ROOT)
    }
}

/// The root of a v1 hierarchy (`cpu`, ...) or of cgroup2 (`unified`).
pub fn hierarchy_root(hierarchy: &str) -> PathBuf {
    if hierarchy == "unified" {
        cgroup2_root()
    } else {
        Path::new(CGROUP_ROOT).join(hierarchy)
    }
}

/// A 64-hex-digit id, as container runtimes make them.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("read /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------
// The binaries

/// The cargo target profile directory this test runs from (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

/// A binary of the workspace (`holter-agent`, `holter`). The first call of a
/// test process builds both with cargo (same profile as the test), so a test
/// never runs a binary older than the sources it is built from.
/// `HOLTER_E2E_NO_BUILD=1` skips the build (the binaries must exist).
/// `HOLTER_AGENT_BIN=PATH` runs that agent instead of the workspace's (e.g. the
/// static one of `deploy/build.sh`, built from the same sources).
pub fn bin(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(build_binaries);
    if name == "holter-agent" {
        if let Some(p) = std::env::var_os("HOLTER_AGENT_BIN").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "HOLTER_AGENT_BIN={} is not a file",
                p.display()
            );
            return p;
        }
    }
    let p = target_dir().join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build --workspace`",
        p.display()
    );
    p
}

fn build_binaries() {
    if std::env::var_os("HOLTER_E2E_NO_BUILD").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root())
        .args([
            "build",
            "--quiet",
            "--bins",
            "-p",
            "holter-agent",
            "-p",
            "holter",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if target_dir().file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    // The binaries go where this test binary is, whatever CARGO_TARGET_DIR says.
    if let Some(t) = target_dir().parent() {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let out = run(
        "cargo build (the binaries under test)",
        &mut cmd,
        Duration::from_secs(1800),
    );
    assert!(
        out.status.success(),
        "cargo build of holter-agent and holter failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

// ---------------------------------------------------------------------------
// Processes: guards and timeouts

/// A process the test started, in a process group of its own. Dropping it
/// (the test ends or panics) kills the group and reaps the process. Piped
/// stdout/stderr are collected as it runs (so it never blocks on a full pipe).
pub struct Proc {
    child: Child,
    what: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
}

fn collect(stream: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    stream.map(|mut s| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = s.read_to_end(&mut v);
            v
        })
    })
}

impl Proc {
    /// Spawns `cmd` in a new process group; `what` names it in failures.
    pub fn start(what: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        Proc {
            child,
            what: what.to_string(),
            stdout,
            stderr,
            status: None,
        }
    }

    /// Wraps a child spawned elsewhere (its pipes left to the caller).
    pub fn from_child(what: &str, child: Child) -> Proc {
        Proc {
            child,
            what: what.to_string(),
            stdout: None,
            stderr: None,
            status: None,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, e.g. to take a pipe the caller reads itself.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `sig` to the process (not its group).
    pub fn signal(&self, sig: i32) {
        if self.status.is_none() {
            unsafe { libc::kill(self.child.id() as i32, sig) };
        }
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("wait {}: {e}", self.what));
        }
        self.status
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the process group with SIGKILL and reaps the process.
    pub fn kill(&mut self) -> ExitStatus {
        let pid = self.child.id() as i32;
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            if self.status.is_none() {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        if self.status.is_none() {
            self.status = Some(
                self.child
                    .wait()
                    .unwrap_or_else(|e| panic!("wait {}: {e}", self.what)),
            );
        }
        self.status.unwrap()
    }

    fn output(&mut self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: self
                .stdout
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        }
    }

    /// Waits up to `timeout` for the process to exit and returns its output;
    /// past it, kills the process and fails the test with what it printed.
    pub fn finish(mut self, timeout: Duration) -> Output {
        if let Some(st) = self.wait_timeout(timeout) {
            // Children left in the group (a launched command...) go with it.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
            return self.output(st);
        }
        let st = self.kill();
        let out = self.output(st);
        panic!(
            "{} did not end within {timeout:?} (killed):\nstdout:\n{}\nstderr:\n{}",
            self.what,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` (stdin null, stdout and stderr collected) for at most `timeout`.
pub fn run(what: &str, cmd: &mut Command, timeout: Duration) -> Output {
    Proc::start(
        what,
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .finish(timeout)
}

/// A `--duration` argument (`300ms`, `1.5s`, `2m`) as a [`Duration`].
fn parse_duration(text: &str) -> Option<Duration> {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// How long `holter-agent` may take: its `--duration` plus 30 s, or 60 s.
fn agent_timeout(args: &[&str]) -> Duration {
    args.windows(2)
        .find(|w| w[0] == "--duration")
        .and_then(|w| parse_duration(w[1]))
        .map_or(Duration::from_secs(60), |d| d + Duration::from_secs(30))
}

/// Runs `holter-agent` with `args` to its end, returning its output; fails the
/// test (the agent killed) if it outlasts its `--duration` by 30 s (60 s without).
pub fn agent(args: &[&str]) -> Output {
    agent_with_timeout(args, agent_timeout(args))
}

/// [`agent`] with extra environment variables (a launched command inherits them).
pub fn agent_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    run(
        &format!("holter-agent {}", args.join(" ")),
        Command::new(bin("holter-agent"))
            .args(args)
            .envs(env.iter().copied()),
        agent_timeout(args),
    )
}

pub fn agent_with_timeout(args: &[&str], timeout: Duration) -> Output {
    run(
        &format!("holter-agent {}", args.join(" ")),
        Command::new(bin("holter-agent")).args(args),
        timeout,
    )
}

/// Runs `holter` with `args`, returning its output; fails the test after 60 s.
pub fn holter(args: &[&str]) -> Output {
    run(
        &format!("holter {}", args.join(" ")),
        Command::new(bin("holter")).args(args),
        Duration::from_secs(60),
    )
}

/// A `holter-agent` running in the background (stdout and stderr collected),
/// killed if the test ends first. It writes its ready file once it records.
pub struct RunningAgent {
    pub proc: Proc,
    ready: PathBuf,
    _dir: TempDir,
}

/// Starts `holter-agent` with `args` in the background; see [`RunningAgent::wait_ready`].
pub fn start_agent(args: &[&str]) -> RunningAgent {
    let dir = tempfile::Builder::new()
        .prefix("holter-ready-")
        .tempdir()
        .expect("tempdir");
    let ready = dir.path().join("ready");
    let proc = Proc::start(
        &format!("holter-agent {}", args.join(" ")),
        Command::new(bin("holter-agent"))
            .args(args)
            .env("HOLTER_READY_FILE", &ready)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    RunningAgent {
        proc,
        ready,
        _dir: dir,
    }
}

/// [`start_agent`], then [`RunningAgent::wait_ready`].
pub fn start_agent_ready(args: &[&str]) -> RunningAgent {
    let mut a = start_agent(args);
    a.wait_ready();
    a
}

impl RunningAgent {
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Waits (up to 30 s) until the agent records: its signal handlers are
    /// installed and every collector is armed. Fails the test, with the
    /// agent's output, if it exits first.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.ready.exists() {
                return;
            }
            if let Some(st) = self.proc.try_wait() {
                let out = self.proc.output(st);
                panic!(
                    "{} exited ({st}) before it was ready:\n{}",
                    self.proc.what,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within 30 s",
                self.proc.what
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, sig: i32) {
        self.proc.signal(sig)
    }

    /// The agent's output if it has exited already (for failure messages).
    pub fn exited(&mut self) -> Option<Output> {
        let st = self.proc.try_wait()?;
        Some(self.proc.output(st))
    }

    /// SIGKILL (no footer), and the process reaped.
    pub fn kill9(&mut self) -> ExitStatus {
        self.proc.kill()
    }

    /// Waits up to `timeout` for the agent to end; its output (killed and failed past it).
    pub fn finish(self, timeout: Duration) -> Output {
        self.proc.finish(timeout)
    }
}

/// Asserts success and returns stdout as text, with stderr in the failure message.
pub fn ok_stdout(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (up to 10 s) until `pid` runs a program named `comm` (first 15
/// bytes), i.e. it has exec'd it. Fails the test if it exits first.
pub fn wait_exec(pid: u32, comm: &str) {
    let comm: String = comm.chars().take(15).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            Ok(c) if c.trim() == comm => return,
            Ok(_) => {}
            Err(e) => panic!("pid {pid} is gone before it ran `{comm}`: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} did not exec `{comm}` within 10 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Starts `program` with `args` (a workload) and waits until it has exec'd.
pub fn spawn(program: &Path, args: &[&str]) -> Proc {
    // Built first: a workload that runs for a set time must not spend it
    // waiting for the agent's build (it would be gone, "a zombie", by then).
    bin("holter-agent");
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let p = Proc::start(
        &format!("{} {}", program.display(), args.join(" ")),
        Command::new(program).args(args).stdin(Stdio::null()),
    );
    wait_exec(p.id(), &name);
    p
}

/// CPU time (user + system) `pid` has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = text[text.rfind(')')? + 2..].split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the state (field 3).
    let ticks: u64 = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

// ---------------------------------------------------------------------------
// Workloads

/// A workload compiled from `tests/workloads/<name>.c` into a directory of its own
/// (so a test may delete it).
pub struct Workload {
    pub dir: TempDir,
    pub path: PathBuf,
}

pub fn compile_workload(name: &str) -> Workload {
    compile_workload_with(name, &[])
}

/// Compiles with `-O1 -g -fno-omit-frame-pointer -pthread` plus `extra` flags.
pub fn compile_workload_with(name: &str, extra: &[&str]) -> Workload {
    let src = repo_root()
        .join("tests/workloads")
        .join(format!("{name}.c"));
    let dir = tempfile::Builder::new()
        .prefix("holter-wl-")
        .tempdir()
        .expect("tempdir");
    let path = dir.path().join(name);
    let Some(cc) = which("cc") else {
        panic!("cc is not installed (Debian: gcc; scripts/deps.sh installs it)")
    };
    let out = run(
        &format!("cc {}", src.display()),
        Command::new(cc)
            .args(["-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o"])
            .arg(&path)
            .arg(&src)
            .args(extra),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Workload { dir, path }
}

// ---------------------------------------------------------------------------
// Cgroups

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Every hierarchy root a test cgroup may be made in (mounted or not).
fn all_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = V1_CONTROLLERS
        .iter()
        .map(|c| Path::new(CGROUP_ROOT).join(c))
        .collect();
    roots.push(cgroup2_root());
    roots
}

/// The tasks of one cgroup directory (not of its children).
fn tasks_of(dir: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .collect()
}

/// Kills every task of `dir` and its descendants, then removes them all,
/// children first; `Err` names what is left after 5 s.
pub fn remove_cgroup_tree(dir: &Path) -> Result<(), String> {
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let mut errors = Vec::new();
    for c in &children {
        if let Err(e) = remove_cgroup_tree(c) {
            errors.push(e);
        }
    }
    // cgroup2 kills a whole subtree in one write (Linux 5.14+).
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tasks = tasks_of(dir);
        for &p in &tasks {
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        if (tasks.is_empty() && std::fs::remove_dir(dir).is_ok()) || !dir.exists() {
            break;
        }
        if Instant::now() > deadline {
            let states: Vec<String> = tasks
                .iter()
                .map(|&p| format!("{p} ({:?})", proc_state(p)))
                .collect();
            errors.push(format!(
                "cannot remove {}: tasks left {states:?}",
                dir.display()
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Removes the test cgroups (`holter-test-<tag>-<pid>-<n>`) of test processes
/// that are gone (runs killed before they cleaned up). Once per process.
pub fn remove_stale_cgroups() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for root in all_roots() {
            let Ok(rd) = std::fs::read_dir(&root) else {
                continue;
            };
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix(CGROUP_PREFIX) else {
                    continue;
                };
                let owner = rest.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
                let alive = owner.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    if let Err(e) = remove_cgroup_tree(&e.path()) {
                        panic!("a stale test cgroup cannot be removed: {e}");
                    }
                    eprintln!("removed the stale test cgroup {}", e.path().display());
                }
            }
        }
    });
}

/// Cgroup directories made for a test, in every v1 hierarchy of
/// [`V1_CONTROLLERS`] that is mounted and in cgroup2. Dropping it kills what
/// is inside (children included) and removes the directories — and fails the
/// test if it cannot.
pub struct Cgroup {
    pub name: String,
    pub dirs: Vec<PathBuf>,
}

impl Cgroup {
    pub fn new(tag: &str) -> Cgroup {
        remove_stale_cgroups();
        let name = format!(
            "{CGROUP_PREFIX}{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut dirs = Vec::new();
        for root in all_roots() {
            if root.join("cgroup.procs").exists() {
                let dir = root.join(&name);
                std::fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                dirs.push(dir);
            }
        }
        assert!(
            !dirs.is_empty(),
            "no cgroup hierarchy found under {CGROUP_ROOT} (require_privileged checks for one)"
        );
        Cgroup { name, dirs }
    }

    /// The directory in one v1 hierarchy (`cpu`, `memory`, ...) or `unified` for cgroup2.
    pub fn dir(&self, hierarchy: &str) -> PathBuf {
        hierarchy_root(hierarchy).join(&self.name)
    }

    /// Writes a control file, e.g. `set("cpu", "cpu.cfs_quota_us", "20000")`.
    pub fn set(&self, hierarchy: &str, file: &str, value: &str) {
        let p = self.dir(hierarchy).join(file);
        std::fs::write(&p, value)
            .unwrap_or_else(|e| panic!("write {value} to {}: {e}", p.display()));
    }

    pub fn read(&self, hierarchy: &str, file: &str) -> String {
        let p = self.dir(hierarchy).join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// `cgroup.procs` files of every directory, for a launcher to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Moves `pid` into every directory of this cgroup.
    pub fn join(&self, pid: u32) {
        for f in self.procs_files() {
            std::fs::write(&f, pid.to_string())
                .unwrap_or_else(|e| panic!("write {pid} to {}: {e}", f.display()));
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        let mut all: Vec<u32> = Vec::new();
        for f in self.procs_files() {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            all.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Kills every task in the cgroup and waits (up to 5 s) until it is
    /// empty; fails the test if it does not become empty.
    pub fn kill_all(&self) {
        if let Err(e) = self.try_kill_all() {
            panic!("{e}");
        }
    }

    /// [`Cgroup::kill_all`], saying what is left instead of failing.
    pub fn try_kill_all(&self) -> Result<(), String> {
        for d in &self.dirs {
            let _ = std::fs::write(d.join("cgroup.kill"), "1");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let states: Vec<String> = pids
                    .iter()
                    .map(|&p| format!("{p} ({:?})", proc_state(p)))
                    .collect();
                return Err(format!(
                    "cgroup {}: tasks still there after SIGKILL and 5 s: {states:?}",
                    self.name
                ));
            }
            for p in pids {
                unsafe { libc::kill(p as i32, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let mut errors = Vec::new();
        if let Err(e) = self.try_kill_all() {
            errors.push(e);
        }
        for d in &self.dirs {
            if let Err(e) = remove_cgroup_tree(d) {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            let msg = format!("test cgroup not cleaned up: {}", errors.join("; "));
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// Namespaces a [`Container`] gets (those of `unshare --fork --pid --mount-proc --net --uts --ipc`).
pub const NAMESPACES: &[&str] = &["--pid", "--mount-proc", "--net", "--uts", "--ipc"];

/// A real container: a process in its own pid, mount, net, uts and ipc
/// namespaces (made by `unshare`) and in a cgroup of its own. Dropping it
/// kills everything in it and removes the cgroup.
pub struct Container {
    // Dropped first: the launcher's process group is killed before the cgroup goes.
    launcher: Proc,
    pub cgroup: Cgroup,
}

impl Container {
    /// Starts `cmd` as pid 1 of a new container in `cgroup` (configure the cgroup first).
    pub fn start(cgroup: Cgroup, cmd: &[&str]) -> Container {
        Container::start_with(cgroup, NAMESPACES, cmd)
    }

    /// Like [`Container::start`], with other `unshare` namespace flags.
    pub fn start_with(cgroup: Cgroup, namespaces: &[&str], cmd: &[&str]) -> Container {
        // Built first, as in [`spawn`]: the workload's clock starts below.
        bin("holter-agent");
        let procs: Vec<String> = cgroup
            .procs_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        // The shell joins every hierarchy, then becomes `unshare`, whose child runs `cmd`.
        let launcher = Proc::start(
            &format!("container {}", cmd.join(" ")),
            Command::new("sh")
                .arg("-c")
                .arg(r#"for f in $HOLTER_CG_PROCS; do echo $$ > "$f" || exit 99; done; exec "$@""#)
                .arg("sh")
                .arg("unshare")
                .arg("--fork")
                .args(namespaces)
                .arg("--")
                .args(cmd)
                .env("HOLTER_CG_PROCS", procs.join(" "))
                .stdin(Stdio::null()),
        );
        Container { launcher, cgroup }
    }

    /// The host pid of the `unshare` process.
    pub fn launcher_pid(&self) -> u32 {
        self.launcher.id()
    }

    /// The host pid of the container's pid 1 (the command), once it has exec'd
    /// `expected_comm` (first 15 bytes of the program name).
    pub fn workload_pid(&self, expected_comm: &str) -> u32 {
        let comm: String = expected_comm.chars().take(15).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.launcher.id()))
                    .unwrap_or_default();
            for pid in children
                .split_whitespace()
                .filter_map(|s| s.parse::<u32>().ok())
            {
                let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if c.trim() == comm {
                    return pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "container workload `{comm}` did not start within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the container to exit by itself, up to `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.launcher.wait_timeout(timeout)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.cgroup.try_kill_all();
        self.launcher.kill();
    }
}

/// A scratch directory for captures and reports.
pub fn scratch(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("holter-{tag}-"))
        .tempdir()
        .expect("tempdir")
}

/// State letter of `/proc/PID/stat` (`R`, `S`, `T`, `t`, `Z`...), `None` once gone.
pub fn proc_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// (calls, errors) by syscall name, from `holter syscalls --json`.
pub fn counts(report: &serde_json::Value) -> std::collections::BTreeMap<String, (u64, u64)> {
    report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                (r["count"].as_u64().unwrap(), r["errors"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// The row of one syscall in `holter syscalls --json`.
pub fn row<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} row in {report:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_timeouts() {
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(
            agent_timeout(&["record", "--duration", "1s"]),
            Duration::from_secs(31)
        );
        assert_eq!(agent_timeout(&["record"]), Duration::from_secs(60));
    }

    #[test]
    fn a_process_past_its_timeout_is_killed_and_fails_the_test() {
        let started = Instant::now();
        let r = std::panic::catch_unwind(|| {
            run(
                "sleep 30",
                Command::new("sleep").arg("30"),
                Duration::from_millis(200),
            )
        });
        let msg = r.expect_err("a timeout fails");
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("did not end within"), "{msg}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_dropped_proc_kills_its_process_group() {
        let dir = scratch("pgroup");
        let pidfile = dir.path().join("pid");
        let p = Proc::start(
            "sh",
            Command::new("sh")
                .arg("-c")
                .arg(format!("sleep 30 & echo $! > {}; wait", pidfile.display()))
                .stdout(Stdio::piped()),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let child: u32 = loop {
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "sh did not start sleep");
            std::thread::sleep(Duration::from_millis(5));
        };
        drop(p);
        // The shell's child, in its process group, is killed too (a zombie
        // at most until whoever inherited it reaps it).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(proc_state(child), None | Some('Z') | Some('X')) {
            assert!(
                Instant::now() < deadline,
                "sleep {child} survived its group"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
