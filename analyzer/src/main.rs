use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use holter::cgroups;
use holter::load::Capture;

#[derive(Debug, Parser)]
#[command(
    name = "holter",
    version,
    about = "Analyze holter capture files: flame graphs, syscall latency, throttling",
    after_help = "Examples:\n  holter info app.holter\n  holter info app.holter --json\n  \
      holter throttling app.holter\n  holter memory app.holter --json\n  holter network app.holter"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize a capture: target, host, duration, what it holds, warnings.
    Info {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
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
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("holter: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info { file, json } => {
            let capture = Capture::load(&file)?;
            if json {
                let text = serde_json::to_string_pretty(&holter::info::to_json(&capture))
                    .context("JSON")?;
                println!("{text}");
            } else {
                print!("{}", holter::info::to_text(&capture));
            }
        }
        Command::Throttling { file, json } => {
            let report = cgroups::throttling::report(&Capture::load(&file)?)?;
            emit(&report, json, cgroups::throttling::to_text)?;
        }
        Command::Memory { file, json } => {
            let report = cgroups::memory::report(&Capture::load(&file)?)?;
            emit(&report, json, cgroups::memory::to_text)?;
        }
        Command::Network { file, json } => {
            let report = cgroups::network::report(&Capture::load(&file)?)?;
            emit(&report, json, cgroups::network::to_text)?;
        }
    }
    Ok(())
}

/// Prints a report as pretty JSON or as text.
fn emit<T: serde::Serialize>(report: &T, json: bool, text: fn(&T) -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report).context("JSON")?);
    } else {
        print!("{}", text(report));
    }
    Ok(())
}
