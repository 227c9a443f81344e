use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use holter::load::Capture;

#[derive(Debug, Parser)]
#[command(
    name = "holter",
    version,
    about = "Analyze holter capture files: flame graphs, syscall latency, throttling",
    after_help = "Examples:\n  holter info app.holter\n  holter info app.holter --json"
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
    }
    Ok(())
}
