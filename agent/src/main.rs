#[cfg(target_os = "linux")]
fn main() {
    use clap::Parser;
    use holter_agent::cli::{Cli, Command};

    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => holter_agent::record::run(&args).map(|s| {
            eprintln!(
                "{}",
                holter_agent::status::summary(
                    &args.output.display().to_string(),
                    s.bytes,
                    s.elapsed,
                    &s.counts,
                    &s.reason
                )
            );
        }),
    };
    if let Err(e) = result {
        eprintln!("holter-agent: error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("holter-agent runs on Linux only; analyze captures with `holter`");
    std::process::exit(2)
}
