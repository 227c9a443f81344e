//! The command line of `holter-agent`.

#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
/// The option values' parsers, shared with `kubectl holter` (which checks a
/// value before it starts an agent pod).
pub use holter_format::args::{parse_duration, parse_interval, parse_size};

#[derive(Debug, Parser)]
#[command(
    name = "holter-agent",
    version,
    about = "Record a container (or a process, a cgroup, a command) into one capture file",
    after_help = "Examples:\n  \
      holter-agent record --pid 4242 --duration 10s -o app.holter\n  \
      holter-agent record --container web-1 --syscalls -o ticket-123.holter\n  \
      holter-agent record --cgroup /sys/fs/cgroup/kubepods/pod1/abc --syscalls=kernel -o node.holter\n  \
      holter-agent record --pod shop/web-7d9f --pod-container app -o web.holter\n  \
      holter-agent record --syscalls -o demo.holter -- ./workload --iterations 100\n\n\
      Then, anywhere: holter info app.holter; holter flamegraph app.holter"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a target into a capture file.
    Record(Box<RecordArgs>),
    /// Write a finished capture file to stdout (how `kubectl holter` copies a
    /// capture out of the agent's pod, whose image holds nothing else).
    Cat {
        /// The capture file: a regular file, never read through a link.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["pid", "cgroup", "container", "pod", "command"])))]
pub struct RecordArgs {
    /// A process: all its threads, and the processes it starts during the capture.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Every task of a cgroup (v2, or v1 of any controller), including tasks that join later.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// A Docker, containerd (Kubernetes), CRI-O, Podman or runc container: its
    /// name (as `docker ps`, `podman ps` or `kubectl` show it), its full id,
    /// or a unique id prefix of 12+ characters. Found from the runtimes'
    /// records on the node, no API needed.
    #[arg(long, value_name = "NAME|ID")]
    pub container: Option<String>,
    /// A Kubernetes pod on this node, as NAMESPACE/NAME.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub pod: Option<String>,
    /// With --pod: the container of the pod (default: all of them).
    #[arg(long, value_name = "NAME", requires = "pod")]
    pub pod_container: Option<String>,
    /// Launch this command and record it until it exits.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// Output capture file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite an existing output file (a regular file only: a link, FIFO or device is refused).
    #[arg(long)]
    pub force: bool,
    /// How long to record (500ms, 10s, 2m); default: until the target exits or SIGINT/SIGTERM.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Sampling frequency of CPU samples, in Hz.
    #[arg(long, value_name = "HZ", default_value_t = 99, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub frequency: u32,
    /// Scheduling niceness of the agent's own threads (-20..19). The default,
    /// -10, keeps the agent reading its rings on a node whose CPUs the target
    /// saturates (else samples are lost); the target and launched commands keep
    /// their own. 0 leaves the agent at the caller's.
    #[arg(long, value_name = "N", default_value_t = -10, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: i32,
    /// How user stacks are taken: `dwarf` unwinds each sample in the agent from
    /// the files' .eh_frame (frame pointers where a module has none), `fp`
    /// keeps the kernel's frame-pointer chain only (cheaper).
    #[arg(long, value_name = "MODE", default_value = "dwarf", value_parser = ["dwarf", "fp"])]
    pub unwind: String,
    /// With --unwind dwarf: bytes of user stack copied with each sample (unwound, never stored).
    #[arg(long, value_name = "BYTES", default_value_t = crate::unwind::DEFAULT_STACK_BYTES, value_parser = clap::value_parser!(u32).range(1024..=crate::unwind::MAX_STACK_BYTES as i64))]
    pub stack_size: u32,
    /// Do not sample CPU stacks (other collectors only).
    #[arg(long)]
    pub no_samples: bool,
    /// Also record time off the CPU: each time a thread of the target leaves
    /// a CPU (sched:sched_switch), the stack it leaves from (unwound like a
    /// CPU sample), why (blocked or preempted) and how long until it runs
    /// again, of which how long it waited runnable (run-queue delay, from
    /// sched:sched_wakeup). Read with `holter flamegraph --off-cpu` and
    /// `holter sched`.
    #[arg(long, conflicts_with = "no_samples")]
    pub off_cpu: bool,
    /// Trace syscalls with their latency: `--syscalls` or `--syscalls=ptrace`
    /// stops the target at each call and reads its arguments (paths,
    /// addresses); `--syscalls=kernel` reads the kernel's raw_syscalls
    /// tracepoints through perf: the target never stops, several times
    /// cheaper, raw arguments only (fds, sizes).
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "ptrace", value_parser = ["ptrace", "kernel"])]
    pub syscalls: Option<String>,
    /// With --syscalls: record only these (names, or classes file, network, process); the others are still counted.
    #[arg(long, value_name = "LIST", requires = "syscalls")]
    pub syscalls_filter: Option<String>,
    /// Replace paths (in every record), syscall strings, the hostname and resolv.conf with tokens of a hash keyed per capture, and leave out argv.
    #[arg(long)]
    pub redact: bool,
    /// Interval of cgroup and network snapshots (10ms and up).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Stop recording when the capture reaches this size (e.g. 100M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Once the capture is complete, print a line saying so and stay up to
    /// DUR (until SIGTERM or SIGINT) so that it can be copied out of a pod
    /// (`holter-agent cat FILE`); a failed capture exits at once.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub linger: Option<Duration>,
}

/// The line `record --linger` prints once the capture is complete (what
/// `kubectl holter` waits for in the agent's log), followed by the file.
pub const LINGER_MARK: &str = "holter-agent: capture complete, lingering: ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_modes() {
        let mode = |extra: &[&str]| {
            let mut argv = vec!["holter-agent", "record", "-o", "x"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|c| {
                let Command::Record(a) = c.command else {
                    panic!("not record")
                };
                (a.syscalls, a.pid, a.command)
            })
        };
        // Plain --syscalls is ptrace, as before modes existed, and takes no
        // following argument as its value.
        let (s, pid, _) = mode(&["--syscalls", "--pid", "7"]).unwrap();
        assert_eq!((s.as_deref(), pid), (Some("ptrace"), Some(7)));
        let (s, _, cmd) = mode(&["--syscalls", "--", "sleep", "1"]).unwrap();
        assert_eq!((s.as_deref(), cmd.len()), (Some("ptrace"), 2));
        let (s, _, _) = mode(&["--syscalls=kernel", "--pid", "7"]).unwrap();
        assert_eq!(s.as_deref(), Some("kernel"));
        let (s, _, _) = mode(&["--syscalls=ptrace", "--pid", "7"]).unwrap();
        assert_eq!(s.as_deref(), Some("ptrace"));
        let (s, _, _) = mode(&["--pid", "7"]).unwrap();
        assert_eq!(s, None);
        assert!(mode(&["--syscalls=ebpf", "--pid", "7"]).is_err());
        assert!(mode(&["--syscalls-filter", "read", "--pid", "7"]).is_err());
        assert!(mode(&[
            "--syscalls=kernel",
            "--syscalls-filter",
            "read",
            "--pid",
            "7"
        ])
        .is_ok());
    }

    #[test]
    fn linger_and_cat() {
        let cli = Cli::try_parse_from([
            "holter-agent",
            "record",
            "--container",
            "abc",
            "-o",
            "/holter/c.holter",
            "--linger",
            "10m",
        ])
        .unwrap();
        let Command::Record(args) = cli.command else {
            panic!("not record")
        };
        assert_eq!(args.linger, Some(Duration::from_secs(600)));
        let cli = Cli::try_parse_from(["holter-agent", "cat", "/holter/c.holter"]).unwrap();
        assert!(
            matches!(cli.command, Command::Cat { file } if file == Path::new("/holter/c.holter"))
        );
    }

    #[test]
    fn targets_are_exclusive_and_required() {
        let ok = Cli::try_parse_from(["holter-agent", "record", "--pid", "1", "-o", "x"]);
        assert!(ok.is_ok());
        let cmd =
            Cli::try_parse_from(["holter-agent", "record", "-o", "x", "--", "sleep", "1"]).unwrap();
        let Command::Record(args) = cmd.command else {
            panic!("not record")
        };
        assert_eq!(args.command, ["sleep", "1"]);
        assert!(Cli::try_parse_from(["holter-agent", "record", "-o", "x"]).is_err());
        assert!(Cli::try_parse_from([
            "holter-agent",
            "record",
            "--pid",
            "1",
            "--cgroup",
            "/a",
            "-o",
            "x"
        ])
        .is_err());
    }
}
