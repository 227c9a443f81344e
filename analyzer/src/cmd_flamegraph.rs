//! `holter flamegraph`: the command around `holter::flamegraph`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use holter::diff;
use holter::filter::Filter;
use holter::flamegraph::{
    fold, fold_off_cpu, write_folded, write_svg, Folded, Quality, SvgOptions,
};
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
    let filter = Filter {
        pids: args.pid.clone(),
        tids: args.tid.clone(),
        comms: args.comm.clone(),
        from_secs: args.from,
        to_secs: args.to,
    };
    if let Some(files) = &args.diff {
        return run_diff(&args, &files[0], &files[1], &filter, budget);
    }
    let Some(file) = &args.file else {
        bail!("give a capture file (or --diff BASE NEW)");
    };
    let (capture, folded) = load_and_fold(file, &filter, &args, budget)?;
    let quality = if args.off_cpu {
        off_cpu_line(&folded.quality, &capture)
    } else {
        folded.quality.line()
    };
    eprintln!("holter: {quality}");

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
    let path = args.output.unwrap_or_else(|| default_output(file));
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

/// Loads a capture and folds the samples `filter` selects; warnings on stderr.
fn load_and_fold(
    file: &Path,
    filter: &Filter,
    args: &FlamegraphArgs,
    budget: Option<u64>,
) -> anyhow::Result<(Capture, Folded)> {
    let capture = Capture::load_keeping(file, budget, Keep::PROFILE)?;
    if args.off_cpu && capture.off_cpu.is_empty() {
        if capture.header.off_cpu {
            bail!(
                "{}: the capture holds no off-CPU interval (no thread of the target left a CPU while it was recorded)",
                file.display()
            );
        }
        bail!(
            "{}: the capture holds no off-CPU intervals: record with `holter-agent record --off-cpu ...`",
            file.display()
        );
    }
    if !args.off_cpu && capture.samples.is_empty() {
        bail!(
            "{}: the capture holds no samples (was it recorded with --no-samples, or did the target never run?)",
            file.display()
        );
    }
    let symbolizer = Symbolizer::with_options(&capture, &args.debug.options())?;
    let folded = if args.off_cpu {
        fold_off_cpu(&capture, filter, &symbolizer)?
    } else {
        fold(&capture, filter, &symbolizer)?
    };
    for e in symbolizer.debug_errors() {
        eprintln!("holter: warning: {}", holter::escape::terminal(&e));
    }
    if folded.quality.samples == 0 && args.off_cpu {
        bail!(
            "{}: no off-CPU interval matches {} (the capture has {} intervals; see `holter sched`)",
            file.display(),
            filter.describe(),
            capture.off_cpu.len()
        );
    }
    if folded.quality.samples == 0 {
        bail!(
            "{}: no sample matches {} (the capture has {} samples over {:.3} s; see `holter info`)",
            file.display(),
            filter.describe(),
            capture.samples.len(),
            capture.duration_ns() as f64 / 1e9
        );
    }
    if !capture.complete {
        eprintln!(
            "holter: warning: {} is incomplete (no footer: the agent was killed or the file was cut); \
             the graph shows what it holds",
            holter::escape::terminal(&file.display().to_string())
        );
    }
    Ok((capture, folded))
}

/// `holter flamegraph --diff BASE NEW`.
fn run_diff(
    args: &FlamegraphArgs,
    base_file: &Path,
    new_file: &Path,
    filter: &Filter,
    budget: Option<u64>,
) -> anyhow::Result<()> {
    let (_, base) = load_and_fold(base_file, filter, args, budget)?;
    let (new_capture, new) = load_and_fold(new_file, filter, args, budget)?;
    let d = diff::diff(&base, &new);
    let subtitle = format!(
        "base {} samples scaled to new {} samples; red grew, blue shrank",
        d.base_samples, d.new_samples
    );
    eprintln!("holter: {subtitle}");
    let changes = diff::top_changes(&base, &new, 5);
    if !changes.is_empty() {
        let list: Vec<String> = changes.iter().map(diff::change_line).collect();
        eprintln!(
            "holter: largest changes (share of samples): {}",
            holter::escape::terminal(&list.join(", "))
        );
    }
    if args.folded {
        match &args.output {
            Some(path) => {
                write_file(path, Existing::UserChoice, |w| diff::write_folded(&d, w))?;
                println!("{}", holter::escape::terminal(&path.display().to_string()));
            }
            None => diff::write_folded(&d, std::io::stdout().lock()).context("writing stdout")?,
        }
        return Ok(());
    }
    let existing = match args.output {
        Some(_) => Existing::UserChoice,
        None => Existing::Refuse,
    };
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_diff_output(new_file));
    let title = args.title.clone().unwrap_or_else(|| {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        format!(
            "holter diff: {} → {}{}",
            name(base_file),
            name(new_file),
            match new_capture.header.target.kind.as_str() {
                "" => String::new(),
                k => format!(" ({k} {})", new_capture.header.target.spec),
            }
        )
    });
    let opts = SvgOptions {
        title: holter::escape::line(&title).into_owned(),
        subtitle,
        diffable: false,
    };
    write_file(&path, existing, |w| diff::write_svg(&d, &opts, w))?;
    println!("{}", holter::escape::terminal(&path.display().to_string()));
    Ok(())
}

/// `dir/new.holter` → `dir/new.diff.svg`.
fn default_diff_output(new: &Path) -> PathBuf {
    let mut name = new.with_extension("").into_os_string();
    name.push(".diff.svg");
    PathBuf::from(name)
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

/// `1.234 s off the CPU (weights in ns), 0 lost off-cpu records, 98.5% of frames symbolized, ...`.
fn off_cpu_line(q: &Quality, c: &Capture) -> String {
    format!(
        "{:.3} s off the CPU (weights in ns), {} lost off-cpu records, {:.1}% of frames symbolized, unwind {}: {:.1}% of stacks reached a root",
        q.samples as f64 / 1e9,
        c.lost("off-cpu"),
        q.symbolized_percent(),
        q.unwind,
        q.rooted_percent()
    )
}
