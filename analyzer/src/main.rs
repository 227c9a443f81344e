use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use holter::cgroups;
use holter::escape::terminal;
use holter::load::{Capture, Keep};

#[derive(Debug, Parser)]
#[command(
    name = "holter",
    version,
    about = "Analyze holter capture files: flame graphs, syscall latency, throttling",
    after_help = "Examples:\n  holter info app.holter\n  holter info app.holter --json\n  \
      holter throttling app.holter\n  holter memory app.holter --json\n  holter network app.holter\n  \
      holter flamegraph app.holter\n  holter flamegraph app.holter --folded --pid 1234 --from 2 --to 5\n  holter report app.holter"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Most a capture may expand to in memory (e.g. 8G). Default: 32 × the
    /// file's size + 32 MiB, so that a small crafted file cannot exhaust memory.
    #[arg(long, global = true, value_name = "SIZE", env = "HOLTER_BUDGET", value_parser = holter::load::parse_size)]
    budget: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize a capture: target, host, duration, what it holds, warnings.
    #[command(
        after_help = "Examples:\n  holter info app.holter\n  holter info app.holter --json\n  \
          holter info app.holter --raw          # every cgroup and network snapshot, raw text\n  \
          holter info app.holter --raw --json"
    )]
    Info {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print every cgroup and network snapshot as the agent read it (raw
        /// file contents; those stored as differences rebuilt) instead of the summary.
        #[arg(long)]
        raw: bool,
    },
    /// CPU throttling of the target's cgroup: quota, throttled periods, usage, per interval.
    Throttling {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Memory of the target's cgroup: usage vs limit over time, peak, limit hits, OOM kills, pressure.
    Memory {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Network inside the target's namespace: per-interface rates, drops, errors, TCP retransmits and resets.
    Network {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draw a flame graph (SVG) or print folded stacks, symbolized from the capture alone.
    #[command(
        after_help = "Examples:\n  holter flamegraph app.holter                 # writes app.svg next to the capture\n  holter flamegraph app.holter --folded > app.folded\n  holter flamegraph app.holter --off-cpu        # where threads wait, in ns off the CPU\n  holter flamegraph app.holter --comm nginx --from 10 --to 20 -o nginx.svg\n  holter flamegraph app.holter --debuginfo ./debug --lines   # debug files of ./debug first, file:line added\n  holter flamegraph --diff before.holter after.holter          # writes after.diff.svg\n  holter flamegraph --diff before.holter after.holter --folded"
    )]
    Flamegraph(FlamegraphArgs),
    /// Syscall latency table (like `strace -c -w`, with percentiles) and the slowest calls.
    #[command(
        after_help = "Examples:\n  holter syscalls app.holter\n  holter syscalls app.holter --by-thread --slowest 20\n  holter syscalls app.holter --pid 4242 --from 10 --to 20 --json\n\nIn --json, slowest[].start_ns counts from the start of the capture."
    )]
    Syscalls {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// One table per thread.
        #[arg(long)]
        by_thread: bool,
        /// How many of the slowest calls to list.
        #[arg(long, value_name = "N", default_value_t = 10)]
        slowest: usize,
        /// Only calls of this process (repeatable).
        #[arg(long = "pid", value_name = "PID")]
        pids: Vec<u32>,
        /// Only calls that start this many seconds after the start of the capture, or later.
        #[arg(long, value_name = "SECONDS", value_parser = seconds)]
        from: Option<f64>,
        /// Only calls that start before this many seconds after the start of the capture.
        #[arg(long, value_name = "SECONDS", value_parser = seconds)]
        to: Option<f64>,
    },
    /// Compare captures side by side: one column per capture, differences from the first marked.
    #[command(
        after_help = "Examples:\n  holter compare before.holter after.holter\n  holter compare node1.holter node2.holter node3.holter --format markdown\n  holter compare before.holter after.holter --format html -o cmp.html\n  holter compare before.holter after.holter --json"
    )]
    Compare(cmd_compare::CompareArgs),
    /// Off-CPU time per thread (a capture recorded with --off-cpu): voluntary
    /// and involuntary switches, time blocked, run-queue delay p50/p95/p99/max.
    #[command(
        after_help = "Examples:\n  holter sched app.holter\n  holter sched app.holter --json\n\nvoluntary: left the CPU blocked (S, D); involuntary: preempted, still runnable (R).\nRun-queue delay: runnable and waiting for a CPU, from the wake-up or preemption to running."
    )]
    Sched {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write one self-contained report (HTML or Markdown) to attach to a ticket.
    #[command(
        after_help = "Examples:\n  holter report app.holter                     # writes app.html next to the capture\n  holter report app.holter --format markdown   # writes app.md, to paste into a ticket\n  holter report app.holter -o /tmp/ticket-123.html"
    )]
    Report(ReportArgs),
    /// Export the samples for speedscope, the Firefox Profiler or pprof.
    #[command(after_help = cmd_export::AFTER_HELP)]
    Export(cmd_export::ExportArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The capture file.
    pub(crate) file: PathBuf,
    /// Where to write (default: <capture name>.html or .md next to the capture; `-` for stdout).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// HTML (one page, flame graph included, no network) or Markdown (tables, top stacks).
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub(crate) format: ReportFormat,
    #[command(flatten)]
    pub(crate) debug: DebugArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    Html,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub(crate) struct FlamegraphArgs {
    /// The capture file.
    #[arg(required_unless_present = "diff")]
    pub(crate) file: Option<PathBuf>,
    /// A differential flame graph of two captures: frame widths are NEW's
    /// samples, colors the change from BASE (red grew, blue shrank), BASE
    /// scaled to NEW's sample count; with --folded, `stack base new` lines as
    /// `inferno-diff-folded --normalize` prints them.
    #[arg(long, num_args = 2, value_names = ["BASE", "NEW"], conflicts_with = "file")]
    pub(crate) diff: Option<Vec<PathBuf>>,
    /// Where to write (default: <capture name>.svg next to the capture; stdout with --folded).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Write folded stacks (`frame;frame;frame COUNT`, root first) instead of an SVG.
    #[arg(long)]
    pub(crate) folded: bool,
    /// Time off the CPU instead of CPU samples (a capture recorded with
    /// `holter-agent record --off-cpu`): the stacks the threads left the CPU
    /// from, each weighing the nanoseconds until it ran again (blocked or
    /// waiting runnable).
    #[arg(long)]
    pub(crate) off_cpu: bool,
    /// Only samples of this process (repeatable).
    #[arg(long, value_name = "PID")]
    pub(crate) pid: Vec<u32>,
    /// Only samples of this thread (repeatable).
    #[arg(long, value_name = "TID")]
    pub(crate) tid: Vec<u32>,
    /// Only samples whose process or thread has this name (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) comm: Vec<String>,
    /// Only samples at or after this many seconds from the capture start.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) from: Option<f64>,
    /// Only samples at or before this many seconds from the capture start.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) to: Option<f64>,
    /// SVG title (default: the capture's file name and target).
    #[arg(long, value_name = "TEXT")]
    pub(crate) title: Option<String>,
    #[command(flatten)]
    pub(crate) debug: DebugArgs,
}

/// Where debug files come from, and whether frames show file:line.
#[derive(Debug, clap::Args)]
pub(crate) struct DebugArgs {
    /// A directory of debug files, found by build-id (or by path, or any ELF
    /// file under it with that build-id); repeatable, looked in first.
    #[arg(long, value_name = "DIR")]
    pub(crate) debuginfo: Vec<PathBuf>,
    /// Do not look in /usr/lib/debug, ~/.debug nor the debuginfod servers of
    /// DEBUGINFOD_URLS (only in --debuginfo directories).
    #[arg(long)]
    pub(crate) no_system_debuginfo: bool,
    /// Add `(file.c:LINE)` to frames named from debug files (one box per
    /// line instead of per function).
    #[arg(long)]
    pub(crate) lines: bool,
}

impl DebugArgs {
    pub(crate) fn options(&self) -> holter::symbolize::DebugOptions {
        let mut o = holter::symbolize::DebugOptions::from_env(self.debuginfo.clone(), self.lines);
        if self.no_system_debuginfo {
            o.system = false;
            o.debuginfod_urls.clear();
        }
        o
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds (e.g. 1.5)")),
    }
}

mod cmd_compare;
mod cmd_export;
mod cmd_flamegraph;
mod cmd_report;

fn main() {
    // Like other Unix filters, end quietly when the reader goes away (`holter ... | head`).
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        // Messages may quote the capture (paths, names): no raw escapes.
        eprintln!("holter: error: {}", terminal(&format!("{e:#}")));
        std::process::exit(1);
    }
}

/// A command builds tables of hundreds of MiB and frees them for the next
/// step: glibc gives large blocks back to the system at once (`munmap`, and
/// the heap's top trimmed), and the next step takes them again a page fault
/// at a time. Kept for reuse instead, the export of a 1 M-sample capture
/// takes 27% fewer page faults and 6% less CPU; the process is short-lived,
/// so what it keeps goes back at its exit.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing, before any thread or allocation that
    // matters; mallopt only sets the allocator's thresholds.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let budget = cli.budget;
    let load = |file: &std::path::Path| Capture::load_with_budget(file, budget);
    let load_only = |file: &std::path::Path, keep| Capture::load_keeping(file, budget, keep);
    match cli.command {
        Command::Info { file, json, raw } => {
            let capture = load(&file)?;
            if raw && json {
                print!("{}", self::json(&holter::info::raw_to_json(&capture))?);
            } else if raw {
                print!("{}", terminal(&holter::info::raw_to_text(&capture)));
            } else if json {
                print!("{}", self::json(&holter::info::to_json(&capture))?);
            } else {
                print!("{}", terminal(&holter::info::to_text(&capture)));
            }
        }
        Command::Throttling { file, json } => {
            let report = cgroups::throttling::report(&load_only(&file, Keep::CGROUPS)?)?;
            emit(&report, json, cgroups::throttling::to_text)?;
        }
        Command::Memory { file, json } => {
            let report = cgroups::memory::report(&load_only(&file, Keep::CGROUPS)?)?;
            emit(&report, json, cgroups::memory::to_text)?;
        }
        Command::Network { file, json } => {
            let report = cgroups::network::report(&load_only(&file, Keep::NETWORK)?)?;
            emit(&report, json, cgroups::network::to_text)?;
        }
        Command::Flamegraph(args) => cmd_flamegraph::run(args, budget)?,
        Command::Syscalls {
            file,
            json,
            by_thread,
            slowest,
            pids,
            from,
            to,
        } => {
            let opts = holter::syscalls::Options {
                by_thread,
                slowest,
                pids,
                from,
                to,
            };
            cmd_syscalls(&file, &opts, json, budget)?;
        }
        Command::Report(args) => cmd_report::run(args, budget)?,
        Command::Export(args) => cmd_export::run(args, budget)?,
        Command::Compare(args) => cmd_compare::run(args, budget)?,
        Command::Sched { file, json } => {
            let keep = Keep {
                profile: true,
                syscalls: false,
                cgroups: true,
                network: false,
                off_cpu: true,
            };
            let capture = load_only(&file, keep)?;
            if capture.off_cpu.is_empty() && !capture.header.off_cpu {
                anyhow::bail!(
                    "{} holds no off-CPU intervals: record with `holter-agent record --off-cpu ...`",
                    file.display()
                );
            }
            let report = holter::sched::analyze(&capture);
            emit(&report, json, holter::sched::to_text)?;
        }
    }
    Ok(())
}

/// A report as JSON, through the output layer.
fn json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    holter::doc::json::render(value).context("JSON")
}

/// Prints a report as pretty JSON or as text.
fn emit<T: serde::Serialize>(report: &T, json: bool, text: fn(&T) -> String) -> anyhow::Result<()> {
    if json {
        print!("{}", self::json(report)?);
    } else {
        print!("{}", terminal(&text(report)));
    }
    Ok(())
}

fn cmd_syscalls(
    file: &std::path::Path,
    opts: &holter::syscalls::Options,
    json: bool,
    budget: Option<u64>,
) -> anyhow::Result<()> {
    if let (Some(f), Some(t)) = (opts.from, opts.to) {
        if f >= t {
            anyhow::bail!("--from {f} is not before --to {t}");
        }
    }
    // The cgroup snapshots and off-CPU intervals too: slow calls are set
    // against throttled periods, exactly where off-CPU data covers them.
    let keep = Keep {
        cgroups: true,
        off_cpu: true,
        ..Keep::SYSCALLS
    };
    let capture = Capture::load_keeping(file, budget, keep)?;
    if capture.syscalls.is_empty() && capture.syscall_totals.is_empty() {
        anyhow::bail!(
            "{} holds no syscall records: record with `holter-agent record --syscalls ...`",
            file.display()
        );
    }
    let report = holter::syscalls::analyze(&capture, opts);
    if json {
        print!("{}", self::json(&holter::syscalls::to_json(&report))?);
    } else {
        print!("{}", terminal(&holter::syscalls::to_text(&report)));
    }
    Ok(())
}
