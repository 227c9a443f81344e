//! End-to-end test helpers: real containers made of namespaces and cgroups,
//! workloads compiled from `tests/workloads/*.c`, and the two binaries.
//!
//! Privileged tests call [`require_privileged`] first: it returns false (and
//! says why) where they cannot run, and fails the test instead when
//! `HOLTER_REQUIRE_PRIVILEGED=1` (as in CI).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// v1 hierarchies a test container gets a directory in (where mounted).
pub const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
pub const CGROUP2_ROOT: &str = "/sys/fs/cgroup/unified";

/// Whether privileged tests can run here; under `HOLTER_REQUIRE_PRIVILEGED=1` a
/// missing privilege panics instead of skipping.
pub fn require_privileged(test: &str) -> bool {
    let why = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root".to_string())
    } else if !Path::new(CGROUP_ROOT).join("cpu").is_dir()
        && !Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
    {
        Some(format!("no cgroup filesystem at {CGROUP_ROOT}"))
    } else if which("unshare").is_none() {
        Some("`unshare` (util-linux) is not installed".to_string())
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if std::env::var("HOLTER_REQUIRE_PRIVILEGED").as_deref() == Ok("1") => {
            panic!("{test}: HOLTER_REQUIRE_PRIVILEGED=1 but {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED {test}: {why} (run as root to test against real containers)");
            false
        }
    }
}

/// [`require_privileged`], and the commands a test runs: missing ones skip
/// the test (or fail it under `HOLTER_REQUIRE_PRIVILEGED=1`), naming the
/// Debian packages that bring them (`scripts/deps.sh` installs them).
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
    let why = format!(
        "{} not installed (Debian: {packages}; scripts/deps.sh installs them)",
        missing.join(", ")
    );
    if std::env::var("HOLTER_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: HOLTER_REQUIRE_PRIVILEGED=1 but {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
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

/// The cargo target profile directory this test runs from (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

/// A binary of the workspace (`holter-agent`, `holter`), built by `cargo test --workspace`.
pub fn bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo test --workspace` (or `cargo build --workspace` first)",
        p.display()
    );
    p
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `holter-agent` with `args`, returning its output.
pub fn agent(args: &[&str]) -> Output {
    Command::new(bin("holter-agent"))
        .args(args)
        .output()
        .expect("run holter-agent")
}

/// Runs `holter` with `args`, returning its output.
pub fn holter(args: &[&str]) -> Output {
    Command::new(bin("holter"))
        .args(args)
        .output()
        .expect("run holter")
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
    let out = Command::new("cc")
        .args(["-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o"])
        .arg(&path)
        .arg(&src)
        .args(extra)
        .output()
        .expect("run cc (install gcc)");
    assert!(
        out.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Workload { dir, path }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Cgroup directories made for a test, in every v1 hierarchy of
/// [`V1_CONTROLLERS`] that is mounted and in cgroup2. Dropping it kills what
/// is inside and removes the directories.
pub struct Cgroup {
    pub name: String,
    pub dirs: Vec<PathBuf>,
}

impl Cgroup {
    pub fn new(tag: &str) -> Cgroup {
        let name = format!(
            "holter-test-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut dirs = Vec::new();
        let mut roots: Vec<PathBuf> = V1_CONTROLLERS
            .iter()
            .map(|c| Path::new(CGROUP_ROOT).join(c))
            .collect();
        roots.push(PathBuf::from(CGROUP2_ROOT));
        for root in roots {
            if root.join("cgroup.procs").exists() {
                let dir = root.join(&name);
                std::fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                dirs.push(dir);
            }
        }
        assert!(
            !dirs.is_empty(),
            "no cgroup hierarchy found under {CGROUP_ROOT}"
        );
        Cgroup { name, dirs }
    }

    /// The directory in one v1 hierarchy (`cpu`, `memory`, ...) or `unified` for cgroup2.
    pub fn dir(&self, hierarchy: &str) -> PathBuf {
        let root = if hierarchy == "unified" {
            PathBuf::from(CGROUP2_ROOT)
        } else {
            Path::new(CGROUP_ROOT).join(hierarchy)
        };
        root.join(&self.name)
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

    /// Kills every task in the cgroup and waits (up to 5 s) until it is empty.
    pub fn kill_all(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() > deadline {
                return;
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
        self.kill_all();
        for d in &self.dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
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
    pub cgroup: Cgroup,
    launcher: Child,
}

impl Container {
    /// Starts `cmd` as pid 1 of a new container in `cgroup` (configure the cgroup first).
    pub fn start(cgroup: Cgroup, cmd: &[&str]) -> Container {
        Container::start_with(cgroup, NAMESPACES, cmd)
    }

    /// Like [`Container::start`], with other `unshare` namespace flags.
    pub fn start_with(cgroup: Cgroup, namespaces: &[&str], cmd: &[&str]) -> Container {
        let procs: Vec<String> = cgroup
            .procs_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        // The shell joins every hierarchy, then becomes `unshare`, whose child runs `cmd`.
        let launcher = Command::new("sh")
            .arg("-c")
            .arg(r#"for f in $HOLTER_CG_PROCS; do echo $$ > "$f" || exit 99; done; exec "$@""#)
            .arg("sh")
            .arg("unshare")
            .arg("--fork")
            .args(namespaces)
            .arg("--")
            .args(cmd)
            .env("HOLTER_CG_PROCS", procs.join(" "))
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        Container { cgroup, launcher }
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
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.launcher.try_wait().expect("wait unshare") {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.cgroup.kill_all();
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
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
