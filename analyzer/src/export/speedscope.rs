//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>):
//! one `sampled` profile per thread, frames shared, weights in nanoseconds
//! of CPU time, and, for captures with off-CPU records, one more per thread
//! (`... off-CPU`) weighted by the nanoseconds each stack waited off the CPU.
//! Consecutive samples of one thread with the same stack are one sample of
//! their summed weight (speedscope draws them so anyway).

use std::io::Write;

use serde::Serialize;
use serde_json::value::RawValue;

use super::{ExportError, Profile};

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: Vec<Sampled<'a>>,
    name: &'a str,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<Frame<'a>>,
}

#[derive(Serialize)]
struct Frame<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    file: &'a str,
}

#[derive(Serialize)]
struct Sampled<'p> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: u64,
    #[serde(rename = "endValue")]
    end_value: u64,
    /// Each a distinct stack's JSON array, written once.
    samples: Vec<&'p RawValue>,
    weights: Vec<u64>,
}

/// Bytes one frame of a sample takes in the file, at most (a number and a comma).
const FRAME_BYTES: u64 = 11;

/// Writes `profile` as a speedscope file.
pub fn write(
    profile: &Profile,
    budget: u64,
    path: &str,
    out: impl Write,
) -> Result<(), ExportError> {
    // Each stack's functions, root first, listed once.
    // Each stack's frame list, and its JSON written once: a sample is then a
    // copy of those bytes rather than the formatting of each frame id.
    let stacks: Vec<Vec<u32>> = (0..profile.stacks.len() as u32)
        .map(|s| profile.stack_functions(s).collect())
        .collect();
    let json: Vec<String> = stacks
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    let raw: Vec<&RawValue> = json
        .iter()
        .map(|j| serde_json::from_str(j))
        .collect::<Result<_, _>>()?;
    let stacks: Vec<(usize, &RawValue)> = stacks.iter().map(|s| s.len()).zip(raw).collect();
    let mut profiles = Vec::with_capacity(profile.threads.len());
    let mut need: u64 = profile
        .functions
        .iter()
        .map(|f| (f.name.len() + f.module.len()) as u64 * 2 + 32)
        .sum();
    // Threads with CPU samples (one only off the CPU has no CPU profile).
    for t in profile.threads.iter().filter(|t| !t.samples.is_empty()) {
        let rows = t.samples.iter().map(|s| (s.stack, s.weight_ns));
        profiles.push(sampled(&stacks, t.title(), rows, &mut need, budget, path)?);
    }
    // Off-CPU time (captures recorded with `--off-cpu`): one more profile
    // per thread that has any, weighted by the nanoseconds each stack waited.
    for t in profile.threads.iter().filter(|t| !t.off_cpu.is_empty()) {
        let rows = t.off_cpu.iter().map(|o| (o.stack, o.off_ns));
        let name = format!("{} off-CPU", t.title());
        profiles.push(sampled(&stacks, name, rows, &mut need, budget, path)?);
    }
    // The thread with the most CPU samples opens first.
    let active_profile_index = profile
        .threads
        .iter()
        .filter(|t| !t.samples.is_empty())
        .enumerate()
        .max_by_key(|(i, t)| (t.samples.len(), std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let file = File {
        schema: SCHEMA,
        shared: Shared {
            frames: profile
                .functions
                .iter()
                .map(|f| Frame {
                    name: &f.name,
                    file: &f.module,
                })
                .collect(),
        },
        profiles,
        name: &profile.name,
        active_profile_index,
        exporter: format!("holter {}", env!("CARGO_PKG_VERSION")),
    };
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer(&mut out, &file)?;
    out.flush()?;
    Ok(())
}

/// One sampled profile: consecutive rows of one stack merged, weights summed.
fn sampled<'p>(
    stacks: &[(usize, &'p RawValue)],
    name: String,
    rows: impl Iterator<Item = (u32, u64)>,
    need: &mut u64,
    budget: u64,
    path: &str,
) -> Result<Sampled<'p>, ExportError> {
    let mut samples: Vec<&RawValue> = Vec::new();
    let mut weights: Vec<u64> = Vec::new();
    let mut last = None;
    for (stack, weight) in rows {
        if last == Some(stack) {
            if let Some(w) = weights.last_mut() {
                *w = w.saturating_add(weight);
            }
            continue;
        }
        last = Some(stack);
        let (frames, json) = stacks[stack as usize];
        *need = need.saturating_add((frames as u64 + 2) * FRAME_BYTES + 24);
        if *need > budget {
            return Err(ExportError::OverBudget {
                path: path.into(),
                what: "speedscope samples",
                need: *need,
                budget,
            });
        }
        samples.push(json);
        weights.push(weight);
    }
    let total = weights.iter().fold(0u64, |a, w| a.saturating_add(*w));
    Ok(Sampled {
        kind: "sampled",
        name,
        unit: "nanoseconds",
        start_value: 0,
        end_value: total,
        samples,
        weights,
    })
}
