//! `holter export`: the command around `holter::export`.

use std::path::{Path, PathBuf};

use anyhow::bail;
use holter::export::{firefox, pprof, speedscope, Profile};
use holter::filter::Filter;
use holter::load::{Capture, Keep};
use holter::output::{write_file, Existing};
use holter::symbolize::Symbolizer;

use crate::DebugArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// speedscope JSON (drag it into https://www.speedscope.app): one profile per thread.
    Speedscope,
    /// pprof profile.proto, gzipped (`go tool pprof`, Pyroscope, Parca, Grafana).
    Pprof,
    /// Firefox Profiler JSON (load it in https://profiler.firefox.com): threads,
    /// samples, and syscalls, throttled intervals and OOM kills as markers.
    Firefox,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Speedscope => "speedscope.json",
            ExportFormat::Pprof => "pb.gz",
            ExportFormat::Firefox => "firefox.json",
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// The capture file.
    pub(crate) file: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    pub(crate) format: ExportFormat,
    /// Where to write (default: <capture name>.speedscope.json,
    /// .firefox.json or .pb.gz next to the capture; `-` for stdout).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
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
    #[arg(long, value_name = "SECONDS", value_parser = crate::seconds)]
    pub(crate) from: Option<f64>,
    /// Only samples at or before this many seconds from the capture start.
    #[arg(long, value_name = "SECONDS", value_parser = crate::seconds)]
    pub(crate) to: Option<f64>,
    #[command(flatten)]
    pub(crate) debug: DebugArgs,
}

pub(crate) const AFTER_HELP: &str = "Examples:\n  \
  holter export app.holter --format speedscope       # writes app.speedscope.json next to the capture\n  \
  holter export app.holter --format pprof -o app.pb.gz && go tool pprof -top app.pb.gz\n  \
  holter export app.holter --format speedscope --comm nginx --from 10 --to 20 -o nginx.json";

pub(crate) fn run(args: ExportArgs, budget: Option<u64>) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from > to {
            bail!("--from {from} is after --to {to}: give --from before --to");
        }
    }
    // Firefox exports carry syscalls and the cgroup's throttling and OOM kills too.
    let keep = match args.format {
        ExportFormat::Firefox => Keep::ALL,
        _ => Keep::PROFILE,
    };
    let capture = Capture::load_keeping(&args.file, budget, keep)?;
    if capture.samples.is_empty() && capture.off_cpu.is_empty() {
        bail!(
            "{}: the capture holds no samples (was it recorded with --no-samples, or did the target never run?)",
            args.file.display()
        );
    }
    let filter = Filter {
        pids: args.pid,
        tids: args.tid,
        comms: args.comm,
        from_secs: args.from,
        to_secs: args.to,
    };
    let symbolizer = Symbolizer::with_options(&capture, &args.debug.options())?;
    let profile = Profile::build(&capture, &filter, &symbolizer)?;
    for e in symbolizer.debug_errors() {
        eprintln!("holter: warning: {}", holter::escape::terminal(&e));
    }
    if profile.sample_count() == 0 && profile.off_cpu_count() == 0 {
        bail!(
            "{}: no sample matches {} (the capture has {} samples over {:.3} s; see `holter info`)",
            args.file.display(),
            filter.describe(),
            capture.samples.len(),
            capture.duration_ns() as f64 / 1e9
        );
    }
    if !capture.complete {
        eprintln!(
            "holter: warning: {} is incomplete (no footer: the agent was killed or the file was cut); \
             the export holds what it has",
            holter::escape::terminal(&args.file.display().to_string())
        );
    }
    let budget = capture.budget.bytes;
    let name = args.file.display().to_string();
    let markers = std::cell::Cell::new(None);
    let write = |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        let r = match args.format {
            ExportFormat::Speedscope => speedscope::write(&profile, budget, &name, out),
            ExportFormat::Pprof => pprof::write(&profile, budget, &name, out),
            ExportFormat::Firefox => {
                firefox::write(&profile, &capture, &filter, budget, &name, out)
                    .map(|m| markers.set(Some(m)))
            }
        };
        r.map_err(std::io::Error::other)
    };
    match &args.output {
        Some(p) if p.as_os_str() == "-" => write(&mut std::io::stdout().lock())?,
        _ => {
            let existing = match args.output {
                Some(_) => Existing::UserChoice,
                None => Existing::Refuse,
            };
            let path = args
                .output
                .clone()
                .unwrap_or_else(|| default_output(&args.file, args.format.extension()));
            write_file(&path, existing, |w| write(w))?;
            eprintln!(
                "holter: {} samples, {} off-CPU times, of {} threads; {} functions",
                profile.sample_count(),
                profile.off_cpu_count(),
                profile.threads.len(),
                profile.functions.len()
            );
            if let Some(m) = markers.get() {
                eprintln!(
                    "holter: markers: {} syscalls, {} off-CPU, {} throttled intervals, {} OOM kills",
                    m.syscalls, m.off_cpu, m.throttled, m.oom_kills
                );
            }
            println!("{}", holter::escape::terminal(&path.display().to_string()));
        }
    }
    // The process ends with this command: the capture and the profile (for a
    // million samples, half a GiB in millions of blocks) go back to the
    // system at its exit, not freed block by block.
    std::mem::forget(profile);
    std::mem::forget(symbolizer);
    std::mem::forget(capture);
    Ok(())
}

/// `dir/app.holter` → `dir/app.EXT`, never the capture itself.
fn default_output(capture: &Path, ext: &str) -> PathBuf {
    let out = capture.with_extension(ext);
    if out == capture {
        let mut name = capture.as_os_str().to_owned();
        name.push(".");
        name.push(ext);
        return PathBuf::from(name);
    }
    out
}
