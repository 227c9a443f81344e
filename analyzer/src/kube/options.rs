//! The agent's `record` options as `kubectl holter record` and `manifest`
//! take them: the same names, value syntax and defaults as
//! `holter-agent record` (its durations and sizes read by the same
//! functions, `holter_format::args`), checked here before any pod is
//! created, and passed on as [`RecordOptions`] only when given (else the
//! agent's own default applies). Left out, because they make no sense from a
//! laptop: the target (`--pid`, `--cgroup`, `--container`, `--pod`,
//! `--pod-container`, `-- CMD`: the plugin finds it from the pod), `-o` and
//! `--force` (a path on the node: the plugin's `-o` is the local file) and
//! `--linger` (how the plugin copies the capture out).

use std::time::Duration;

use clap::Args;
use holter_format::args::{parse_duration, parse_interval, parse_size};
use holter_format::syscall_names::{parse_filter, Arch};

use super::manifest::RecordOptions;

/// The agent's `--stack-size` bounds (`agent/src/unwind`).
pub const STACK_SIZE_MIN: i64 = 1024;
pub const STACK_SIZE_MAX: i64 = 57344;

#[derive(Debug, Clone, Args)]
pub struct AgentOptions {
    /// How long to record (500ms, 30s, 2m). The agent's default (until the
    /// target exits) would keep the agent pod up for good: 30s here.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Sampling frequency of CPU samples, in Hz (default: the agent's, 99).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub frequency: Option<u32>,
    /// Scheduling niceness of the agent's own threads, -20..19 (default: the
    /// agent's, -10: keeps it reading its rings on a saturated node).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: Option<i32>,
    /// How user stacks are taken: `dwarf` (unwound from .eh_frame) or `fp`
    /// (frame pointers only, cheaper) (default: the agent's, dwarf).
    #[arg(long, value_name = "MODE", value_parser = ["dwarf", "fp"])]
    pub unwind: Option<String>,
    /// With --unwind dwarf: bytes of user stack copied with each sample,
    /// 1024..57344 (default: the agent's, 16384).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(STACK_SIZE_MIN..=STACK_SIZE_MAX))]
    pub stack_size: Option<u32>,
    /// Do not sample CPU stacks (other collectors only).
    #[arg(long)]
    pub no_samples: bool,
    /// Also record time off the CPU (sched_switch with stacks, run-queue delay).
    #[arg(long, conflicts_with = "no_samples")]
    pub off_cpu: bool,
    /// Trace syscalls with their latency (`--syscalls` = ptrace, `--syscalls=kernel`).
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "ptrace", value_parser = ["ptrace", "kernel"])]
    pub syscalls: Option<String>,
    /// With --syscalls: record only these (names, or classes file, network,
    /// process); the others are still counted.
    #[arg(long, value_name = "LIST", requires = "syscalls", value_parser = check_filter)]
    pub syscalls_filter: Option<String>,
    /// Replace paths, syscall strings, the hostname and resolv.conf with
    /// tokens of a hash keyed per capture, and leave out argv.
    #[arg(long)]
    pub redact: bool,
    /// Interval of cgroup and network snapshots, 10ms and up (default: the agent's, 1s).
    #[arg(long, value_name = "DUR", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Stop recording when the capture reaches this size (e.g. 100M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
}

/// `--syscalls-filter`: names the agent knows on some architecture (the
/// node's is not known here; the agent checks its own), or classes.
fn check_filter(list: &str) -> Result<String, String> {
    let x86 = parse_filter(Arch::X86_64, list);
    if x86.is_ok() || parse_filter(Arch::Aarch64, list).is_ok() {
        return Ok(list.to_string());
    }
    let e = x86.unwrap_err();
    Err(e
        .strip_prefix("--syscalls-filter: ")
        .unwrap_or(&e)
        .replace("of X86_64", "of x86_64 or aarch64"))
}

impl AgentOptions {
    /// What the agent is started with.
    pub fn record_options(&self) -> RecordOptions {
        RecordOptions {
            duration: self.duration,
            frequency: self.frequency,
            nice: self.nice,
            unwind: self.unwind.clone(),
            stack_size: self.stack_size,
            no_samples: self.no_samples,
            off_cpu: self.off_cpu,
            syscalls: self.syscalls.clone(),
            syscalls_filter: self.syscalls_filter.clone(),
            redact: self.redact,
            interval: self.interval,
            max_size: self.max_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        o: AgentOptions,
    }

    fn parse(args: &[&str]) -> Result<RecordOptions, String> {
        let mut argv = vec!["kubectl-holter"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map(|c| c.o.record_options())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn given_nothing_the_agent_keeps_its_defaults() {
        assert_eq!(
            parse(&[]).unwrap(),
            RecordOptions::new(Duration::from_secs(30))
        );
    }

    #[test]
    fn each_option_is_taken_as_the_agent_takes_it() {
        let o = parse(&[
            "--duration",
            "1.5s",
            "--frequency",
            "997",
            "--nice",
            "-5",
            "--unwind",
            "fp",
            "--stack-size",
            "8192",
            "--off-cpu",
            "--syscalls=kernel",
            "--syscalls-filter",
            "openat, network",
            "--redact",
            "--interval",
            "250ms",
            "--max-size",
            "64M",
        ])
        .unwrap();
        assert_eq!(
            o,
            RecordOptions {
                duration: Duration::from_millis(1500),
                frequency: Some(997),
                nice: Some(-5),
                unwind: Some("fp".into()),
                stack_size: Some(8192),
                no_samples: false,
                off_cpu: true,
                syscalls: Some("kernel".into()),
                syscalls_filter: Some("openat, network".into()),
                redact: true,
                interval: Some(Duration::from_millis(250)),
                max_size: Some(64 << 20),
            }
        );
        assert!(parse(&["--no-samples"]).unwrap().no_samples);
        assert_eq!(
            parse(&["--syscalls"]).unwrap().syscalls.as_deref(),
            Some("ptrace")
        );
        // aarch64 has no `open`: accepted here (some node has it); an agent
        // on an arm64 node refuses it itself, its log shown.
        assert!(parse(&["--syscalls", "--syscalls-filter", "open,file"]).is_ok());
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_option() {
        for (args, flag) in [
            (&["--interval", "5ms"][..], "--interval"),
            (&["--interval", "often"], "--interval"),
            (&["--max-size", "12Q"], "--max-size"),
            (&["--max-size", "0"], "--max-size"),
            (&["--frequency", "0"], "--frequency"),
            (&["--nice", "20"], "--nice"),
            (&["--unwind", "lbr"], "--unwind"),
            (&["--stack-size", "512"], "--stack-size"),
            (&["--stack-size", "57345"], "--stack-size"),
            (&["--syscalls=ebpf"], "--syscalls"),
            (
                &["--syscalls", "--syscalls-filter", "nope"],
                "--syscalls-filter",
            ),
            (
                &["--syscalls", "--syscalls-filter", "$(id)"],
                "--syscalls-filter",
            ),
            (
                &["--syscalls", "--syscalls-filter", ""],
                "--syscalls-filter",
            ),
            (&["--syscalls-filter", "read"], "--syscalls"),
            (&["--off-cpu", "--no-samples"], "--no-samples"),
            (&["--duration", "0s"], "--duration"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
        let e = parse(&["--syscalls", "--syscalls-filter", "read,nope"]).unwrap_err();
        assert!(
            e.contains("`nope` is neither a syscall of x86_64 or aarch64"),
            "{e}"
        );
    }
}
