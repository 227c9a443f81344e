#[cfg(target_os = "linux")]
fn main() {
    use clap::Parser;
    use holter_agent::cli::{Cli, Command};

    // A reader process of container files (`host::reader`): the agent's
    // own binary in a hidden mode, before anything else.
    if let Some(code) = holter_agent::host::reader::serve_if_asked() {
        std::process::exit(code);
    }
    holter_agent::host::reader::use_processes("/proc/self/exe".into());
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => record(&args),
        Command::Cat { file } => holter_agent::catfile::cat(&file, &mut std::io::stdout().lock())
            .map(drop)
            .map_err(anyhow::Error::from),
    };
    if let Err(e) = result {
        eprintln!("holter-agent: error: {e:#}");
        std::process::exit(1);
    }
}

/// `record`, then with `--linger` the wait for the capture to be copied.
#[cfg(target_os = "linux")]
fn record(args: &holter_agent::cli::RecordArgs) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;

    // Installed before the capture, so that a SIGTERM while recording (the
    // pod deleted) ends the capture and then the lingering at once.
    let stop = Arc::new(AtomicBool::new(false));
    if args.linger.is_some() {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone())
                .context("cannot install signal handlers")?;
        }
    }
    let s = holter_agent::record::run(args);
    // Reads of files still unanswered are not waited for: their readers
    // are ended, and one held in the kernel by a file system that never
    // answers is left behind (it ends when that file system does).
    let left = holter_agent::host::reader::shutdown(std::time::Duration::from_millis(100));
    if !left.is_empty() {
        eprintln!(
            "holter-agent: warning: file reader process {left:?} is held in the kernel by a \
             file system that does not answer (a FUSE server of the container?): left behind, \
             it ends when that file system answers or goes away"
        );
    }
    let s = s?;
    eprintln!(
        "{}",
        holter_agent::status::summary(
            &args.output.display().to_string(),
            (s.bytes, s.written),
            s.elapsed,
            &s.counts,
            &s.reason
        )
    );
    if let Some(linger) = args.linger {
        eprintln!(
            "{}{}",
            holter_agent::cli::LINGER_MARK,
            args.output.display()
        );
        let end = Instant::now() + linger;
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("holter-agent runs on Linux only; analyze captures with `holter`");
    std::process::exit(2)
}
