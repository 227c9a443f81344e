//! `holter compare`: the command around `holter::compare`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use holter::compare::{self, LABELS};
use holter::escape::terminal;
use holter::load::Capture;
use holter::output::{write_file, Existing};

#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// The captures; the first is the base the others are compared with.
    #[arg(required = true, num_args = 2.., value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Text (a terminal), Markdown (a ticket) or HTML (one self-contained page).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write there instead of stdout.
    #[arg(long, short = 'o', value_name = "OUT")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Markdown,
    Html,
}

pub(crate) fn run(args: CompareArgs, budget: Option<u64>) -> anyhow::Result<()> {
    if args.files.len() > LABELS.len() {
        bail!(
            "{} captures: compare at most {} at once",
            args.files.len(),
            LABELS.len()
        );
    }
    let mut all = Vec::new();
    for (file, label) in args.files.iter().zip(LABELS) {
        let capture = Capture::load_with_budget(file, budget)?;
        all.push(
            compare::analyze(&capture, label)
                .with_context(|| format!("analyzing {}", file.display()))?,
        );
    }
    let c = compare::compare(all);
    let text = if args.json {
        holter::doc::json::render(&c).context("JSON")?
    } else {
        let d = compare::doc(&c);
        match args.format {
            Format::Text => terminal(&holter::doc::text::render(&d)).into_owned(),
            Format::Markdown => format!(
                "## {}\n\n{}",
                holter::doc::markdown::text(&compare::title(&c)),
                holter::doc::markdown::render(&d)
            ),
            Format::Html => holter::doc::html::page(
                &holter::doc::html::Page {
                    title: &compare::title(&c),
                    subtitle: &format!("holter {}", env!("CARGO_PKG_VERSION")),
                    nav: &[],
                },
                &d,
            ),
        }
    };
    match &args.output {
        Some(path) => {
            write_file(path, Existing::UserChoice, |w| w.write_all(text.as_bytes()))
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}", terminal(&path.display().to_string()));
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing stdout")?;
        }
    }
    Ok(())
}
