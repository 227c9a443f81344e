//! `holter flamegraph`: folded stacks and SVG flame graphs.
//!
//! A folded line is `comm;user frames root→leaf;kernel frames root→leaf_[k] COUNT`,
//! COUNT being a number of samples. Lines are sorted.

use std::collections::BTreeMap;

use rayon::prelude::*;
use std::collections::HashMap;
use std::io::{self, Write};

use crate::filter::{Filter, Matcher, Names};
use crate::load::Capture;
use crate::symbolize::{epoch_in, Loc, Resolved, Symbolizer};
use holter_format::Stack;

/// Return addresses above this are perf context markers, not frames.
pub(crate) const CONTEXT_MARKER: u64 = 0xffff_ffff_ffff_f000;

/// The folded stacks of a capture and how good they are.
#[derive(Debug, Default)]
pub struct Folded {
    /// Folded stack → sample count (off-CPU: nanoseconds), sorted.
    pub stacks: BTreeMap<String, u64>,
    pub quality: Quality,
    /// What a count is: empty for samples, `ns` for off-CPU time.
    pub count_name: &'static str,
}

#[cfg(test)]
impl Folded {
    /// Folded stacks from (stack, count) lines, their counts as samples.
    pub(crate) fn from_lines(lines: &[(&str, u64)]) -> Folded {
        let mut f = Folded::default();
        for (s, c) in lines {
            f.stacks.insert(s.to_string(), *c);
            f.quality.samples += c;
        }
        f
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    /// Samples in the folded stacks.
    pub samples: u64,
    /// Samples the agent could not record (whole capture).
    pub lost_samples: u64,
    /// Frames of all samples (a frame counts once per sample it is in).
    pub frames: u64,
    pub symbolized_frames: u64,
    /// Samples with user frames, and those whose outermost user frame is a
    /// thread's or program's root function (see [`is_root`]).
    pub user_stacks: u64,
    pub rooted_stacks: u64,
    /// How the agent took user stacks: `dwarf` or `fp`.
    pub unwind: &'static str,
}

/// Functions a whole user stack starts from: the program's entry, a
/// thread's start, or `main` where the frames above it have no frame pointer.
pub fn is_root(name: &str) -> bool {
    const ROOTS: &[&str] = &[
        "_start",
        "__libc_start_main",
        "__libc_start_call_main",
        "start_thread",
        "clone",
        "clone3",
        "__clone",
        "__clone3",
        "thread_start",
        "main",
        "runtime.goexit",
        "runtime.rt0_go",
        "runtime.mstart",
        "_dl_start_user",
    ];
    ROOTS.contains(&name) || name.starts_with("__GI___clone") || name.starts_with("runtime.goexit")
}

impl Quality {
    pub fn symbolized_percent(&self) -> f64 {
        if self.frames == 0 {
            100.0
        } else {
            self.symbolized_frames as f64 * 100.0 / self.frames as f64
        }
    }

    /// Share of the samples with user frames whose stack reached a root.
    pub fn rooted_percent(&self) -> f64 {
        if self.user_stacks == 0 {
            0.0
        } else {
            self.rooted_stacks as f64 * 100.0 / self.user_stacks as f64
        }
    }

    /// `1000 samples, 3 lost samples, 98.5% of frames symbolized, unwind
    /// dwarf: 99.0% of stacks reached a root`.
    pub fn line(&self) -> String {
        format!(
            "{} samples, {} lost samples, {:.1}% of frames symbolized, unwind {}: {:.1}% of stacks reached a root",
            self.samples,
            self.lost_samples,
            self.symbolized_percent(),
            self.unwind,
            self.rooted_percent()
        )
    }
}

/// Samples that share a process name, stack and mapping epoch share every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Group {
    comm: u32,
    pid: u32,
    stack_id: u32,
    epoch: u32,
}

/// One line of a fold: the group standing for it, its location ids, where
/// its kernel frames start, its samples and its stack.
type Line<'c> = (Group, Vec<u32>, usize, u64, Option<&'c Stack>);

/// What step 1 of [`fold`] keeps per process.
struct PidInfo<'a> {
    /// (since, process name id), by time.
    names_at: Vec<(u64, u32)>,
    map_times: &'a [u64],
}

/// A capture whose flame graph would outgrow the capture's budget.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: the flame graph would take {} ({what}), past the capture's budget of {}: \
     a capture this dense is unusual and may be crafted. If you trust it, raise the budget with \
     --budget SIZE or HOLTER_BUDGET=SIZE (e.g. --budget 8G)",
    crate::load::human_size(*need),
    crate::load::human_size(*budget)
)]
pub struct FoldError {
    pub path: String,
    pub what: &'static str,
    pub need: u64,
    pub budget: u64,
}

/// Folds the samples that `filter` selects. The frames located and the
/// folded text stay within the capture's budget, else an error says so.
pub fn fold(capture: &Capture, filter: &Filter, sym: &Symbolizer) -> Result<Folded, FoldError> {
    fold_items(capture, filter, sym, &capture.samples, false)
}

/// Folds the off-CPU intervals that `filter` selects (by their start),
/// each weighing its time off the CPU in nanoseconds: the stacks threads
/// left the CPU from (`holter flamegraph --off-cpu`). `quality.samples`
/// counts nanoseconds.
pub fn fold_off_cpu(
    capture: &Capture,
    filter: &Filter,
    sym: &Symbolizer,
) -> Result<Folded, FoldError> {
    let items: Vec<holter_format::Sample> = capture
        .off_cpu
        .iter()
        .map(|o| holter_format::Sample {
            time_ns: o.time_ns,
            pid: o.pid,
            tid: o.tid,
            cpu: o.cpu,
            stack_id: o.stack_id,
            period: o.off_ns,
        })
        .collect();
    let mut f = fold_items(capture, filter, sym, &items, true)?;
    f.count_name = "ns";
    Ok(f)
}

/// Folds `items` (samples, or off-CPU intervals as samples whose `period`
/// is their weight when `weighted`).
fn fold_items(
    capture: &Capture,
    filter: &Filter,
    sym: &Symbolizer,
    items: &[holter_format::Sample],
    weighted: bool,
) -> Result<Folded, FoldError> {
    let over = |what: &'static str, need: u64| FoldError {
        path: capture.path.display().to_string(),
        what,
        need,
        budget: capture.budget.bytes,
    };
    let names = Names::new(capture);
    let matcher = Matcher::new(filter, &names, capture);

    // 1. Group samples: by context (process name, pid, epoch), then stack.
    let mut comms: Vec<String> = Vec::new();
    let mut comm_ids: HashMap<&str, u32> = HashMap::default();
    let mut contexts: Vec<Group> = Vec::new();
    let mut pids: HashMap<u32, PidInfo> = HashMap::default();
    let mut context_ids: HashMap<(u32, u32, u32), u32> = HashMap::default();
    let mut counts: HashMap<u64, u64> = HashMap::default();
    for s in items.iter().filter(|s| matcher.matches(s)) {
        let info = pids.entry(s.pid).or_insert_with(|| {
            let mut ids: Vec<(u64, u32)> = names
                .process_history(s.pid)
                .iter()
                .map(|(t, name)| {
                    let id = *comm_ids.entry(name).or_insert_with(|| {
                        comms.push(name.clone());
                        comms.len() as u32 - 1
                    });
                    (*t, id)
                })
                .collect();
            if ids.is_empty() {
                comms.push(format!("[pid {}]", s.pid));
                ids.push((0, comms.len() as u32 - 1));
            }
            PidInfo {
                names_at: ids,
                map_times: sym.maps().times(s.pid),
            }
        });
        let i = info.names_at.partition_point(|e| e.0 <= s.time_ns);
        let comm = info.names_at[i.saturating_sub(1)].1;
        let epoch = epoch_in(info.map_times, s.time_ns);
        let ctx = *context_ids.entry((s.pid, comm, epoch)).or_insert_with(|| {
            contexts.push(Group {
                comm,
                pid: s.pid,
                stack_id: 0,
                epoch,
            });
            contexts.len() as u32 - 1
        });
        let w = if weighted { s.period } else { 1 };
        let c = counts
            .entry(u64::from(ctx) << 32 | u64::from(s.stack_id))
            .or_default();
        *c = c.saturating_add(w);
    }
    // Each group with its stack, looked up once.
    let groups: Vec<(Group, u64, Option<&Stack>)> = counts
        .into_iter()
        .map(|(key, n)| {
            let g = Group {
                stack_id: key as u32,
                ..contexts[(key >> 32) as usize]
            };
            (g, n, capture.stacks.get(&g.stack_id))
        })
        .collect();

    drop(context_ids);

    // Every group locates each frame of its stack: bound their number.
    let frames: u64 = groups
        .iter()
        .filter_map(|(_, _, st)| *st)
        .map(|st| (st.user.len() + st.kernel.len()) as u64)
        .sum();
    let need = frames.saturating_mul(LOCATED_FRAME_BYTES);
    if need > capture.budget.bytes {
        return Err(over("frames to locate", need));
    }

    // 2. The locations of every group's frames, root first, interned to
    // dense ids. User frames are found in their process's mappings all at
    // once (see `MapIndex::find_many`). (Every table here hashes with std's
    // keyed hasher: pids, stack ids and addresses come from the capture, and
    // an unkeyed hash would let a crafted one make every key collide.)
    let mut queries: Vec<(u32, u32, u64)> = groups
        .par_iter()
        .flat_map_iter(|(g, _, st)| {
            let user = st.map_or(&[][..], |st| &st.user);
            user_addrs(user).map(move |a| (g.pid, g.epoch, a))
        })
        .collect();
    queries.par_sort_unstable();
    queries.dedup();
    let found = sym.maps().find_many(&queries);
    let user_loc = |pid: u32, epoch: u32, addr: u64| {
        let map = queries
            .binary_search(&(pid, epoch, addr))
            .ok()
            .and_then(|i| found[i])
            .map(|m| m as usize);
        sym.loc_in(pid, addr, map)
    };
    // Groups of one process name and stack whose frames land on the same
    // locations (samples of many epochs that the mapping changes did not
    // touch) make one line. Sorted by (name, stack), such groups are
    // neighbours: they merge here, a chunk of groups at a time, so that
    // neither their locations nor their lines are held once per group, and
    // only a run of equal (name, stack) needs a table of its location lists.
    let mut groups = groups;
    groups.par_sort_unstable_by_key(|(g, _, _)| (g.comm, g.stack_id, g.pid, g.epoch));
    let mut ids: std::collections::HashMap<Loc, u32> = std::collections::HashMap::new();
    let mut distinct: Vec<Loc> = Vec::new();
    let mut lines_of: Vec<Line> = Vec::new();
    // The current run of equal (name, stack): its location lists -> line.
    let mut run: HashMap<Vec<u32>, u32> = HashMap::default();
    const CHUNK: usize = 1 << 16;
    for (c, chunk) in groups.chunks(CHUNK).enumerate() {
        let located: Vec<(Vec<Loc>, usize)> = chunk
            .par_iter()
            .map(|(g, _, st)| match st {
                Some(st) => stack_locs(&user_loc, g.pid, g.epoch, &st.user, &st.kernel),
                None => (Vec::new(), 0),
            })
            .collect();
        for (k, ((g, count, st), (locs, kernel_from))) in chunk.iter().zip(located).enumerate() {
            let locs: Vec<u32> = locs
                .into_iter()
                .map(|l| {
                    *ids.entry(l).or_insert_with(|| {
                        distinct.push(l);
                        distinct.len() as u32 - 1
                    })
                })
                .collect();
            let at = c * CHUNK + k;
            let same_run = |i: usize| {
                groups
                    .get(i)
                    .is_some_and(|(o, _, _)| (o.comm, o.stack_id) == (g.comm, g.stack_id))
            };
            if at == 0 || !same_run(at - 1) {
                run.clear();
            }
            if !same_run(at + 1) && run.is_empty() {
                // Alone with its name and stack: nothing to merge with.
                lines_of.push((*g, locs, kernel_from, *count, *st));
                continue;
            }
            match run.get(&locs) {
                Some(&i) => lines_of[i as usize].3 += count,
                None => {
                    run.insert(locs.clone(), lines_of.len() as u32);
                    lines_of.push((*g, locs, kernel_from, *count, *st));
                }
            }
        }
    }
    drop(run);
    drop(found);
    drop(queries);
    drop(groups);

    // 3. Name each distinct location once.
    let resolved: Vec<Resolved> = sym.resolve(&distinct);

    // 4. Build the lines, once their size is known to fit.
    let need: u64 = lines_of
        .par_iter()
        .map(|(g, locs, _, _, _)| {
            let names: u64 = locs
                .iter()
                .flat_map(|l| &resolved[*l as usize].frames)
                .map(|f| f.len() as u64 + 5)
                .sum();
            comms[g.comm as usize].len() as u64 + 20 + names
        })
        .sum();
    if need > capture.budget.bytes {
        return Err(over("folded stacks", need));
    }
    let lines: Vec<(String, u64, u64, Option<bool>)> = lines_of
        .par_iter()
        .map(|(g, locs, kernel_from, _, st)| {
            let mut line = String::new();
            push_frame(&mut line, &comms[g.comm as usize], "");
            if st.is_none() {
                line.push_str(";[missing stack]");
            }
            let mut symbolized = 0;
            // The outermost user frame (root first), its outermost function.
            let rooted = (*kernel_from > 0).then(|| {
                st.is_some_and(|s| s.root)
                    || resolved[locs[0] as usize]
                        .frames
                        .first()
                        .is_some_and(|f| is_root(f))
            });
            for (i, loc) in locs.iter().enumerate() {
                let r = &resolved[*loc as usize];
                let suffix = if i >= *kernel_from { "_[k]" } else { "" };
                for f in &r.frames {
                    line.push(';');
                    push_frame(&mut line, f, suffix);
                }
                symbolized += u64::from(r.symbolized);
            }
            (line, locs.len() as u64, symbolized, rooted)
        })
        .collect();
    let mut folded = Folded {
        quality: Quality {
            lost_samples: capture.lost("samples"),
            unwind: unwind_mode(capture),
            ..Quality::default()
        },
        ..Folded::default()
    };
    let mut counted: Vec<(String, u64)> = Vec::with_capacity(lines.len());
    for ((_, _, _, count, _), (line, frames, symbolized, rooted)) in lines_of.iter().zip(lines) {
        let q = &mut folded.quality;
        if let Some(r) = rooted {
            q.user_stacks += count;
            q.rooted_stacks += count * u64::from(r);
        }
        q.samples += count;
        q.frames += frames * count;
        q.symbolized_frames += symbolized * count;
        counted.push((line, *count));
    }
    drop(lines_of);
    // Sorted in parallel, equal lines merged in place, then built in bulk:
    // inserting a million lines one by one costs twenty string comparisons each.
    counted.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    counted.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
    folded.stacks = counted.into_iter().collect();
    Ok(folded)
}

/// Memory taken by one located frame during [`fold`] (a `Loc`, its id, and
/// its share of the lookup tables).
const LOCATED_FRAME_BYTES: u64 = 48;

/// Leaf first in the record; every frame but the leaf is a return address.
fn adjust(i: usize, a: u64) -> u64 {
    if i == 0 {
        a
    } else {
        a.saturating_sub(1)
    }
}

/// The user addresses of a stack to look up, leaf first.
pub(crate) fn user_addrs(user: &[u64]) -> impl Iterator<Item = u64> + '_ {
    user.iter()
        .filter(|&&a| a < CONTEXT_MARKER)
        .enumerate()
        .map(|(i, &a)| adjust(i, a))
}

/// The capture's unwind mode; captures before format 1.2 took frame pointers.
pub fn unwind_mode(capture: &Capture) -> &'static str {
    match capture.header.unwind.as_str() {
        "dwarf" => "dwarf",
        _ => "fp",
    }
}

/// Locations root first: user frames, then kernel frames from the returned
/// index. `user_loc(pid, epoch, addr)` locates a user frame.
pub(crate) fn stack_locs(
    user_loc: &(impl Fn(u32, u32, u64) -> Loc + Sync),
    pid: u32,
    epoch: u32,
    user: &[u64],
    kernel: &[u64],
) -> (Vec<Loc>, usize) {
    let kernel: Vec<Loc> = kernel
        .iter()
        .filter(|&&a| a < CONTEXT_MARKER)
        .enumerate()
        .map(|(i, &a)| Loc::Kernel { addr: adjust(i, a) })
        .collect();
    let mut locs: Vec<Loc> = user_addrs(user).map(|a| user_loc(pid, epoch, a)).collect();
    locs.reverse();
    let kernel_from = locs.len();
    locs.extend(kernel.into_iter().rev());
    (locs, kernel_from)
}

/// Appends a frame name with `;` and line breaks made harmless, and control
/// and format characters as visible escapes (`\x1b`): folded lines go to
/// terminals, and the SVG must hold no character XML forbids.
fn push_frame(line: &mut String, name: &str, suffix: &str) {
    let name: String = name
        .chars()
        .map(|c| match c {
            ';' => ':',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    line.push_str(&crate::escape::line(&name));
    line.push_str(suffix);
}

/// A frame's name as it appears in a folded line (`suffix`: `_[k]` for kernel frames).
pub(crate) fn frame_text(name: &str, suffix: &str) -> String {
    let mut s = String::new();
    push_frame(&mut s, name, suffix);
    s
}

/// Writes `frame;frame COUNT` lines.
pub fn write_folded<W: Write>(folded: &Folded, mut out: W) -> io::Result<()> {
    for (stack, count) in &folded.stacks {
        writeln!(out, "{stack} {count}")?;
    }
    out.flush()
}

#[derive(Debug, Clone)]
pub struct SvgOptions {
    pub title: String,
    pub subtitle: String,
    /// For golden files: no JavaScript (no search or zoom), one XML element a line.
    pub diffable: bool,
}

/// Renders an SVG with inferno. Colors depend only on frame names.
pub fn write_svg<W: Write>(folded: &Folded, opts: &SvgOptions, out: W) -> io::Result<()> {
    let mut o = inferno::flamegraph::Options::default();
    o.title = crate::escape::line(&opts.title).into_owned();
    o.subtitle = Some(crate::escape::line(&opts.subtitle).into_owned());
    o.count_name = if folded.count_name.is_empty() {
        "samples".into()
    } else {
        folded.count_name.into()
    };
    // Kernel frames (`_[k]`) orange, C++ and Rust paths (`::`) yellow, others red.
    o.colors =
        inferno::flamegraph::color::Palette::Multi(inferno::flamegraph::color::MultiPalette::Perl);
    o.hash = true;
    o.deterministic = true;
    o.no_javascript = opts.diffable;
    o.pretty_xml = opts.diffable;
    // Our lines are already sorted.
    o.no_sort = true;
    // One buffer, not a string per line: a million stacks cost no more
    // than their text.
    let mut text = String::new();
    for (s, c) in &folded.stacks {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{s} {c}");
    }
    inferno::flamegraph::from_lines(&mut o, text.lines(), out)
}
