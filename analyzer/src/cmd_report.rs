//! `holter report`: the command around `holter::report`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use holter::load::Capture;
use holter::output::{write_file, Existing};
use holter::report::{self, Options};

use crate::{ReportArgs, ReportFormat};

pub(crate) fn run(args: ReportArgs, budget: Option<u64>) -> anyhow::Result<()> {
    let capture = Capture::load_with_budget(&args.file, budget)?;
    let debug = args.debug.options();
    let opts = Options {
        debug: Some(&debug),
        svg: args.format == ReportFormat::Html,
        ..Options::default()
    };
    let r = report::build(&capture, &opts)?;
    let text = match args.format {
        ReportFormat::Html => report::to_html(&r),
        ReportFormat::Markdown => report::to_markdown(&r),
    };
    let existing = match args.output {
        Some(_) => Existing::UserChoice,
        None => Existing::Refuse,
    };
    let path = args
        .output
        .unwrap_or_else(|| default_output(&args.file, args.format));
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("writing stdout")?;
        return Ok(());
    }
    write_file(&path, existing, |w| w.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write the report to {}", path.display()))?;
    println!("{}", holter::escape::terminal(&path.display().to_string()));
    Ok(())
}

/// `dir/app.holter` → `dir/app.html` (or `.md`).
fn default_output(capture: &Path, format: ReportFormat) -> PathBuf {
    capture.with_extension(match format {
        ReportFormat::Html => "html",
        ReportFormat::Markdown => "md",
    })
}
