#[cfg(target_os = "linux")]
fn main() {
    use clap::Parser;
    use holter_agent::cli::{Cli, Command};

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
    let s = holter_agent::record::run(args)?;
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
