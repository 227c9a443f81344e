//! `holter flamegraph`: the command around `holter::flamegraph`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use holter::filter::Filter;
use holter::flamegraph::{fold, write_folded, write_svg, SvgOptions};
use holter::load::{Capture, Keep};
use holter::output::{write_file, Existing};
use holter::symbolize::Symbolizer;

use crate::FlamegraphArgs;

pub(crate) fn run(args: FlamegraphArgs, budget: Option<u64>) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from > to {
            bail!("--from {from} is after --to {to}: give --from before --to");
        }
    }
    let capture = Capture::load_keeping(&args.file, budget, Keep::PROFILE)?;
    if capture.samples.is_empty() {
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
    let folded = fold(&capture, &filter, &symbolizer)?;
    for e in symbolizer.debug_errors() {
        eprintln!("holter: warning: {}", holter::escape::terminal(&e));
    }
    if folded.quality.samples == 0 {
        bail!(
            "{}: no sample matches {} (the capture has {} samples over {:.3} s; see `holter info`)",
            args.file.display(),
            filter.describe(),
            capture.samples.len(),
            capture.duration_ns() as f64 / 1e9
        );
    }
    let quality = folded.quality.line();
    eprintln!("holter: {quality}");
    if !capture.complete {
        eprintln!(
            "holter: warning: {} is incomplete (no footer: the agent was killed or the file was cut); \
             the graph shows what it holds",
            holter::escape::terminal(&args.file.display().to_string())
        );
    }

    if args.folded {
        match &args.output {
            Some(path) => {
                write_file(path, Existing::UserChoice, |w| write_folded(&folded, w))?;
                println!("{}", holter::escape::terminal(&path.display().to_string()));
            }
            None => write_folded(&folded, std::io::stdout().lock()).context("writing stdout")?,
        }
        return Ok(());
    }
    let existing = match args.output {
        Some(_) => Existing::UserChoice,
        None => Existing::Refuse,
    };
    let path = args.output.unwrap_or_else(|| default_output(&args.file));
    let title =
        holter::escape::line(&args.title.unwrap_or_else(|| default_title(&capture))).into_owned();
    let opts = SvgOptions {
        title,
        subtitle: quality,
        diffable: false,
    };
    write_file(&path, existing, |w| write_svg(&folded, &opts, w))?;
    println!("{}", holter::escape::terminal(&path.display().to_string()));
    Ok(())
}

/// `dir/app.holter` → `dir/app.svg` (`dir/app.svg` → `dir/app.svg.svg`: never the capture).
fn default_output(capture: &Path) -> PathBuf {
    let out = capture.with_extension("svg");
    if out == capture {
        let mut name = capture.as_os_str().to_owned();
        name.push(".svg");
        return PathBuf::from(name);
    }
    out
}

fn default_title(c: &Capture) -> String {
    let name = c
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let t = &c.header.target;
    if t.kind.is_empty() {
        format!("holter: {name}")
    } else {
        format!("holter: {name} ({} {})", t.kind, t.spec)
    }
}
