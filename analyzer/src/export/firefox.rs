//! The Firefox Profiler's processed format, built with
//! `fxprof-processed-profile` (samply's crate; processed-profile version 55):
//! one process per pid, one thread per tid, samples with their stacks (user
//! frames in the `User` category, kernel frames in `Kernel`), and markers on
//! the same clock: each recorded syscall on its thread (name, duration,
//! result, arguments), each off-CPU time on its thread (state, run-queue
//! delay, the stack it left from), and on a `cgroup` track the intervals the cgroup was
//! throttled and those in which the kernel OOM-killed a task of it.
//! Times count from the capture's start; the profile's reference time is the
//! start's wall-clock time.

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use std::io::Write;

use fxprof_processed_profile::{
    CategoryColor, CategoryHandle, CpuDelta, Frame, FrameFlags, FrameHandle, FrameInfo,
    MarkerFieldFlags, MarkerFieldFormat, MarkerTiming, ProcessHandle, Profile as Fx,
    ReferenceTimestamp, SamplingInterval, StackHandle, StaticSchemaMarker, StaticSchemaMarkerField,
    StringHandle, ThreadHandle, Timestamp,
};
use holter_format::syscall_names::{syscall_display, Arch};
use holter_format::Sample;

use super::{clean, ExportError, Profile, KERNEL_MODULE};
use crate::filter::{Filter, Matcher, Names};
use crate::load::Capture;

/// The processed-profile format version the crate writes.
pub const PROCESSED_PROFILE_VERSION: u64 = 55;

/// Bytes a sample or a marker takes in the file, at most (its columns).
const ROW_BYTES: u64 = 64;

/// The longest syscall summary a marker keeps.
const MAX_SUMMARY: usize = 256;

/// The markers holter writes: each a name, one text field and one number
/// field; what differs between kinds is their schema ([`Kind`]).
#[derive(Debug, Clone)]
struct Marker<K> {
    name: StringHandle,
    text: StringHandle,
    number: f64,
    category: CategoryHandle,
    kind: std::marker::PhantomData<K>,
}

impl<K> Marker<K> {
    fn new(name: StringHandle, text: StringHandle, number: f64, category: CategoryHandle) -> Self {
        Marker {
            name,
            text,
            number,
            category,
            kind: std::marker::PhantomData,
        }
    }
}

/// A marker kind's schema: its text field first, its number field second.
trait Kind {
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    const CHART_LABEL: &'static str;
    const TOOLTIP_LABEL: &'static str;
    const TABLE_LABEL: &'static str;
    const FIELDS: &'static [StaticSchemaMarkerField];
}

const fn field(
    key: &'static str,
    label: &'static str,
    format: MarkerFieldFormat,
    searchable: bool,
) -> StaticSchemaMarkerField {
    StaticSchemaMarkerField {
        key,
        label,
        format,
        flags: if searchable {
            MarkerFieldFlags::SEARCHABLE
        } else {
            MarkerFieldFlags::empty()
        },
    }
}

impl<K: Kind + std::fmt::Debug + Clone> StaticSchemaMarker for Marker<K> {
    const UNIQUE_MARKER_TYPE_NAME: &'static str = K::NAME;
    const DESCRIPTION: Option<&'static str> = Some(K::DESCRIPTION);
    const CHART_LABEL: Option<&'static str> = Some(K::CHART_LABEL);
    const TOOLTIP_LABEL: Option<&'static str> = Some(K::TOOLTIP_LABEL);
    const TABLE_LABEL: Option<&'static str> = Some(K::TABLE_LABEL);
    const FIELDS: &'static [StaticSchemaMarkerField] = K::FIELDS;
    fn name(&self, _: &mut Fx) -> StringHandle {
        self.name
    }
    fn category(&self, _: &mut Fx) -> CategoryHandle {
        self.category
    }
    fn string_field_value(&self, _: u32) -> StringHandle {
        self.text
    }
    fn number_field_value(&self, _: u32) -> f64 {
        self.number
    }
}

/// A recorded syscall: its call as text, its result.
#[derive(Debug, Clone)]
struct Syscall;

impl Kind for Syscall {
    const NAME: &'static str = "HolterSyscall";
    const DESCRIPTION: &'static str = "A syscall traced by holter-agent";
    const CHART_LABEL: &'static str = "{marker.name}";
    const TOOLTIP_LABEL: &'static str = "{marker.name} = {marker.data.ret}";
    const TABLE_LABEL: &'static str = "{marker.data.args} = {marker.data.ret}";
    const FIELDS: &'static [StaticSchemaMarkerField] = &[
        field("args", "Call", MarkerFieldFormat::String, true),
        field("ret", "Result", MarkerFieldFormat::Integer, false),
    ];
}

/// The target's cgroup: its path, throttled ms or OOM kills.
#[derive(Debug, Clone)]
struct Cgroup;

impl Kind for Cgroup {
    const NAME: &'static str = "HolterCgroup";
    const DESCRIPTION: &'static str =
        "The target's cgroup: throttled (ms in the interval) or OOM kills (count)";
    const CHART_LABEL: &'static str = "{marker.name} {marker.data.value}";
    const TOOLTIP_LABEL: &'static str = "{marker.name} {marker.data.value}";
    const TABLE_LABEL: &'static str = "{marker.name} {marker.data.value} ({marker.data.cgroup})";
    const FIELDS: &'static [StaticSchemaMarkerField] = &[
        field("cgroup", "Cgroup", MarkerFieldFormat::String, true),
        field("value", "Value", MarkerFieldFormat::Decimal, false),
    ];
}

/// A thread off the CPU: its state, its run-queue delay in ms.
#[derive(Debug, Clone)]
struct OffCpu;

impl Kind for OffCpu {
    const NAME: &'static str = "HolterOffCpu";
    const DESCRIPTION: &'static str =
        "The thread off the CPU: blocked (S, D) or preempted (R), from the stack it left from";
    const CHART_LABEL: &'static str = "{marker.data.state}";
    const TOOLTIP_LABEL: &'static str =
        "Off-CPU ({marker.data.state}), run-queue {marker.data.runq}";
    const TABLE_LABEL: &'static str = "Off-CPU ({marker.data.state}), run-queue {marker.data.runq}";
    const FIELDS: &'static [StaticSchemaMarkerField] = &[
        field("state", "State", MarkerFieldFormat::String, true),
        field(
            "runq",
            "Waiting for a CPU",
            MarkerFieldFormat::Milliseconds,
            false,
        ),
    ];
}

/// What the markers say, counted for the command's summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Markers {
    pub syscalls: u64,
    pub off_cpu: u64,
    pub throttled: u64,
    pub oom_kills: u64,
}

/// A thread of the profile: the rows it takes and the names the crate sorts
/// it by. Every thread (those with samples or off-CPU times, and those with
/// only syscalls) is known before any is built, so that the profile can be
/// built in parts that join into the same file.
struct Track {
    pid: u32,
    tid: u32,
    /// The thread's name in the profile (the process's and the tid when the
    /// thread has none).
    name: String,
    /// Its samples and off-CPU times, if any (`profile.threads`).
    rows: Option<usize>,
    /// Its syscall markers, indexes in `capture.syscalls`.
    syscalls: Vec<u32>,
}

impl Track {
    fn weight(&self, profile: &Profile) -> u64 {
        let rows = self.rows.map_or(0, |t| {
            let t = &profile.threads[t];
            t.samples.len() + t.off_cpu.len()
        });
        (rows + self.syscalls.len()) as u64
    }
}

/// The threads to build, in the order the crate writes them (processes by
/// pid, then each process's main thread first, then by name and tid: all
/// start at the capture's start), and each process's name.
struct Plan {
    tracks: Vec<Track>,
    process_names: HashMap<u32, String>,
}

impl Plan {
    fn new(profile: &Profile, capture: &Capture, names: &Names, matcher: &Matcher) -> Self {
        let mut tracks: Vec<Track> = Vec::new();
        let mut index: HashMap<(u32, u32), usize> = HashMap::default();
        let mut process_names: HashMap<u32, String> = HashMap::default();
        let mut add = |pid: u32, tid: u32, time_ns: u64, tracks: &mut Vec<Track>| -> usize {
            *index.entry((pid, tid)).or_insert_with(|| {
                let process_name = process_names
                    .entry(pid)
                    .or_insert_with(|| clean(names.process(pid, time_ns)));
                let thread_name = clean(names.thread(tid, time_ns));
                let name = if thread_name.is_empty() {
                    format!("{process_name} {tid}")
                } else {
                    thread_name
                };
                tracks.push(Track {
                    pid,
                    tid,
                    name,
                    rows: None,
                    syscalls: Vec::new(),
                });
                tracks.len() - 1
            })
        };
        for (i, t) in profile.threads.iter().enumerate() {
            let first = t.samples.first().map_or(0, |s| s.time_ns);
            let k = add(t.pid, t.tid, first, &mut tracks);
            tracks[k].rows = Some(i);
        }
        for (i, s) in capture.syscalls.iter().enumerate() {
            let as_sample = Sample {
                time_ns: s.time_ns,
                pid: s.pid,
                tid: s.tid,
                ..Sample::default()
            };
            if matcher.matches(&as_sample) {
                let k = add(s.pid, s.tid, s.time_ns, &mut tracks);
                tracks[k].syscalls.push(i as u32);
            }
        }
        tracks.sort_by(|a, b| {
            (a.pid, a.tid != a.pid, &a.name, a.tid).cmp(&(b.pid, b.tid != b.pid, &b.name, b.tid))
        });
        Plan {
            tracks,
            process_names,
        }
    }

    /// The tracks cut into at most `parts` runs of about equal weight, in
    /// order; one run when a thread of pid 0 would sort with the cgroup
    /// track (which the first run holds).
    fn split(&self, profile: &Profile, parts: usize) -> Vec<std::ops::Range<usize>> {
        let weights: Vec<u64> = self.tracks.iter().map(|t| t.weight(profile)).collect();
        let total: u64 = weights.iter().sum();
        let n = self.tracks.len();
        if parts <= 1 || n < 2 || self.tracks.iter().any(|t| t.pid == 0) {
            return std::iter::once(0..n).collect();
        }
        let mut runs = Vec::new();
        let (mut start, mut sum) = (0, 0u64);
        for (i, w) in weights.iter().enumerate() {
            sum += w;
            let cut = total * (runs.len() as u64 + 1) / parts as u64;
            if sum >= cut && runs.len() + 1 < parts && i + 1 < n {
                runs.push(start..i + 1);
                start = i + 1;
            }
        }
        runs.push(start..n);
        runs
    }
}

/// Below this many rows (samples, off-CPU times and syscalls) a profile is
/// built in one part.
const PARALLEL_ROWS: u64 = 100_000;

/// What every part of a build shares: the profile, the capture, and the
/// bytes all parts have counted against the budget.
struct Shared<'a> {
    profile: &'a Profile,
    capture: &'a Capture,
    filter: &'a Filter,
    plan: &'a Plan,
    /// Each stack's function ids, one run per stack (`ends` bounds them).
    flat: Vec<u32>,
    ends: Vec<usize>,
    /// Whether each function is the kernel's.
    kernel: Vec<bool>,
    budget: u64,
    need: std::sync::atomic::AtomicU64,
    path: &'a str,
}

impl Shared<'_> {
    fn count(&self, what: &'static str, bytes: u64) -> Result<(), ExportError> {
        use std::sync::atomic::Ordering::Relaxed;
        let need = self.need.fetch_add(bytes, Relaxed).saturating_add(bytes);
        if need > self.budget {
            return Err(ExportError::OverBudget {
                path: self.path.into(),
                what,
                need,
                budget: self.budget,
            });
        }
        Ok(())
    }
}

/// The categories and marker schemas of a profile, made in the same order
/// in every part.
struct Style {
    user: CategoryHandle,
    kernel: CategoryHandle,
    syscall: CategoryHandle,
    cgroup: CategoryHandle,
    off_cpu: CategoryHandle,
}

fn new_profile(profile: &Profile) -> (Fx, Style) {
    let reference =
        ReferenceTimestamp::from_millis_since_unix_epoch(profile.start_wall_ns as f64 / 1e6);
    let mut fx = Fx::new(
        &profile.name,
        reference,
        SamplingInterval::from_nanos(profile.interval_ns.max(1)),
    );
    fx.set_symbolicated(true);
    fx.set_os_name("Linux");
    let style = Style {
        user: fx.add_category("User", CategoryColor::Yellow),
        kernel: fx.add_category("Kernel", CategoryColor::Orange),
        syscall: fx.add_category("Syscall", CategoryColor::Blue),
        cgroup: fx.add_category("Cgroup", CategoryColor::Red),
        off_cpu: fx.add_category("Off-CPU", CategoryColor::LightBlue),
    };
    fx.static_schema_marker_type::<Marker<Syscall>>();
    fx.static_schema_marker_type::<Marker<Cgroup>>();
    fx.static_schema_marker_type::<Marker<OffCpu>>();
    (fx, style)
}

/// Builds the tracks `range` of the plan into a profile of their own; the
/// first part also takes the cgroup's track.
fn build_part(
    sh: &Shared,
    range: std::ops::Range<usize>,
    cgroup_track: bool,
) -> Result<(Fx, Markers), ExportError> {
    let profile = sh.profile;
    let (mut fx, style) = new_profile(profile);
    let start_ns = profile.start_ns;
    let at = |time_ns: u64| Timestamp::from_nanos_since_reference(time_ns.saturating_sub(start_ns));
    let mut markers = Markers::default();
    let mut processes: HashMap<u32, ProcessHandle> = HashMap::default();
    // Function names, interned in this part's string table at first use.
    let mut strings: Vec<Option<StringHandle>> = vec![None; profile.functions.len()];
    // A thread's interned stacks and frames, by stack and function id (the
    // entries set for one thread are cleared before the next).
    let mut stacks: Vec<Option<Option<StackHandle>>> = vec![None; profile.stacks.len()];
    let mut frames: Vec<Option<FrameHandle>> = vec![None; profile.functions.len()];
    let mut used_stacks: Vec<u32> = Vec::new();
    let mut used_frames: Vec<u32> = Vec::new();
    let native = sh.capture.header.host.arch.clone();

    for track in &sh.plan.tracks[range] {
        let process = *processes.entry(track.pid).or_insert_with(|| {
            let name = sh.plan.process_names.get(&track.pid).map_or("", |n| n);
            fx.add_process(name, track.pid, at(start_ns))
        });
        let th = fx.add_thread(process, track.tid, at(start_ns), track.tid == track.pid);
        fx.set_thread_name(th, &track.name);
        for s in used_stacks.drain(..) {
            stacks[s as usize] = None;
        }
        for f in used_frames.drain(..) {
            frames[f as usize] = None;
        }
        // Each function's frame in this thread is interned once: the same
        // frames and stacks, in the same order, as `intern_stack_frames`
        // gives, without hashing each frame of each stack again.
        let mut stack_of = |fx: &mut Fx, stack: u32| -> Result<_, ExportError> {
            if let Some(h) = stacks[stack as usize] {
                return Ok(h);
            }
            let mut h = None;
            let run = &sh.flat[sh.ends[stack as usize]..sh.ends[stack as usize + 1]];
            for &f in run {
                let frame = *frames[f as usize].get_or_insert_with(|| {
                    used_frames.push(f);
                    let name = *strings[f as usize].get_or_insert_with(|| {
                        fx.intern_string(&profile.functions[f as usize].name)
                    });
                    let category = if sh.kernel[f as usize] {
                        style.kernel
                    } else {
                        style.user
                    };
                    let info = FrameInfo {
                        frame: Frame::Label(name),
                        category_pair: category.into(),
                        flags: FrameFlags::empty(),
                    };
                    fx.intern_frame(th, info)
                });
                h = Some(fx.intern_stack(th, h, frame));
            }
            sh.count("stacks", run.len() as u64 * ROW_BYTES)?;
            stacks[stack as usize] = Some(h);
            used_stacks.push(stack);
            Ok(h)
        };
        if let Some(t) = track.rows.map(|t| &profile.threads[t]) {
            sh.count("samples", t.samples.len() as u64 * ROW_BYTES)?;
            for s in &t.samples {
                let stack = stack_of(&mut fx, s.stack)?;
                fx.add_sample(
                    th,
                    at(s.time_ns),
                    stack,
                    CpuDelta::from_nanos(s.weight_ns),
                    1,
                );
            }
            // Off-CPU times (`record --off-cpu`): interval markers with the
            // stack the thread left from.
            sh.count("off-CPU markers", t.off_cpu.len() as u64 * ROW_BYTES)?;
            for o in &t.off_cpu {
                let stack = stack_of(&mut fx, o.stack)?;
                let state = match o.state {
                    b'R' => "R preempted".to_string(),
                    b'S' => "S sleeping".to_string(),
                    b'D' => "D uninterruptible".to_string(),
                    c => clean(&char::from(c).to_string()),
                };
                let m = Marker::<OffCpu>::new(
                    fx.intern_string("Off-CPU"),
                    fx.intern_string(&state),
                    o.runq_ns as f64 / 1e6,
                    style.off_cpu,
                );
                let timing =
                    MarkerTiming::Interval(at(o.time_ns), at(o.time_ns.saturating_add(o.off_ns)));
                let handle = fx.add_marker(th, timing, m);
                fx.set_marker_stack(th, handle, stack);
                markers.off_cpu += 1;
            }
        }
        // Syscalls, on their thread, selected as the samples are.
        for &i in &track.syscalls {
            let s = &sh.capture.syscalls[i as usize];
            sh.count(
                "syscall markers",
                ROW_BYTES + s.summary.len().min(MAX_SUMMARY) as u64,
            )?;
            let abi = if s.abi.is_empty() { &native } else { &s.abi };
            let name = syscall_display(Arch::from_uname(abi), s.nr);
            let summary = clean(&s.summary);
            let summary = match summary.char_indices().nth(MAX_SUMMARY) {
                Some((i, _)) => format!("{}…", &summary[..i]),
                None => summary,
            };
            let m = Marker::<Syscall>::new(
                fx.intern_string(&clean(&name)),
                fx.intern_string(&summary),
                s.ret as f64,
                style.syscall,
            );
            let timing =
                MarkerTiming::Interval(at(s.time_ns), at(s.time_ns.saturating_add(s.duration_ns)));
            fx.add_marker(th, timing, m);
            markers.syscalls += 1;
        }
    }
    if cgroup_track {
        cgroup_markers(sh, &mut fx, &style, &mut markers)?;
    }
    Ok((fx, markers))
}

/// The cgroup's throttled intervals and OOM kills, on a track of their own.
fn cgroup_markers(
    sh: &Shared,
    fx: &mut Fx,
    style: &Style,
    markers: &mut Markers,
) -> Result<(), ExportError> {
    let capture = sh.capture;
    let start = Timestamp::from_nanos_since_reference(0);
    let at = |time_ns: u64| {
        Timestamp::from_nanos_since_reference(time_ns.saturating_sub(sh.profile.start_ns))
    };
    let (from_ns, to_ns) = window(capture, sh.filter);
    let in_window = |a: u64, z: u64| z >= from_ns && a <= to_ns;
    let mut track = None;
    let mut track = |fx: &mut Fx| -> ThreadHandle {
        *track.get_or_insert_with(|| {
            let p = fx.add_process("cgroup", 0, start);
            let t = fx.add_thread(p, 0, start, true);
            fx.set_thread_name(t, "cgroup");
            t
        })
    };
    if let Ok(th) = crate::cgroups::throttling::report(capture) {
        let cgroup = clean(&th.cgroup);
        for i in &th.intervals {
            let throttled = i.throttled_ns.unwrap_or(0);
            if throttled == 0 || !in_window(i.start_ns, i.end_ns) {
                continue;
            }
            sh.count("cgroup markers", ROW_BYTES + cgroup.len() as u64)?;
            let t = track(fx);
            let m = Marker::<Cgroup>::new(
                fx.intern_string("Throttled"),
                fx.intern_string(&cgroup),
                throttled as f64 / 1e6,
                style.cgroup,
            );
            fx.add_marker(t, MarkerTiming::Interval(at(i.start_ns), at(i.end_ns)), m);
            markers.throttled += 1;
        }
    }
    if let Ok(series) = crate::cgroups::Series::from_capture(capture) {
        let cgroup = clean(&series.path_of(&["memory.events", "memory.oom_control"]));
        for (a, z) in series.pairs() {
            let kills = crate::cgroups::delta(
                crate::cgroups::memory::oom_kills(a, series.version),
                crate::cgroups::memory::oom_kills(z, series.version),
            )
            .unwrap_or(0);
            if kills == 0 || !in_window(a.time_ns, z.time_ns) {
                continue;
            }
            sh.count("cgroup markers", ROW_BYTES + cgroup.len() as u64)?;
            let t = track(fx);
            let m = Marker::<Cgroup>::new(
                fx.intern_string("OOM kill"),
                fx.intern_string(&cgroup),
                kills as f64,
                style.cgroup,
            );
            fx.add_marker(t, MarkerTiming::Interval(at(a.time_ns), at(z.time_ns)), m);
            markers.oom_kills += kills;
        }
    }
    Ok(())
}

/// What every part needs, made once: the plan and each stack's functions.
fn prepare<'a>(
    profile: &'a Profile,
    capture: &'a Capture,
    filter: &'a Filter,
    plan: &'a Plan,
    budget: u64,
    path: &'a str,
) -> Shared<'a> {
    let mut flat: Vec<u32> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(profile.stacks.len() + 1);
    ends.push(0);
    for s in 0..profile.stacks.len() as u32 {
        flat.extend(profile.stack_functions(s));
        ends.push(flat.len());
    }
    Shared {
        profile,
        capture,
        filter,
        plan,
        flat,
        ends,
        kernel: profile
            .functions
            .iter()
            .map(|f| f.module == KERNEL_MODULE)
            .collect(),
        budget,
        need: 0.into(),
        path,
    }
}

/// The monotonic times `--from`/`--to` select.
fn window(c: &Capture, f: &Filter) -> (u64, u64) {
    let at = |secs: f64| c.start_ns().saturating_add((secs.max(0.0) * 1e9) as u64);
    (f.from_secs.map_or(0, at), f.to_secs.map_or(u64::MAX, at))
}

/// Writes the profile as the Firefox Profiler's JSON; a large one is built
/// in parts on rayon's threads (two parts a thread, so that the first
/// parts are written while the last are built).
pub fn write(
    profile: &Profile,
    capture: &Capture,
    filter: &Filter,
    budget: u64,
    path: &str,
    out: impl Write,
) -> Result<Markers, ExportError> {
    let rows = profile.sample_count() + profile.off_cpu_count() + capture.syscalls.len() as u64;
    let threads = rayon::current_num_threads();
    let parts = if rows < PARALLEL_ROWS || threads < 2 {
        1
    } else {
        2 * threads
    };
    write_in_parts(profile, capture, filter, budget, path, parts, out).map(|(m, _)| m)
}

/// [`write`] in at most `parts` parts: the file is the same whatever their
/// number. Each part is a profile of some of the threads (in the order the
/// whole profile writes them), built and made JSON on rayon's threads; this
/// thread writes each part's threads in turn between the first part's
/// text before and after its own. Gives the markers and the parts built.
pub fn write_in_parts(
    profile: &Profile,
    capture: &Capture,
    filter: &Filter,
    budget: u64,
    path: &str,
    parts: usize,
    out: impl Write,
) -> Result<(Markers, usize), ExportError> {
    let names = Names::new(capture);
    let matcher = Matcher::new(filter, &names, capture);
    let plan = Plan::new(profile, capture, &names, &matcher);
    let shared = prepare(profile, capture, filter, &plan, budget, path);
    let runs = plan.split(profile, parts);
    let mut out = std::io::BufWriter::new(out);
    if let [run] = &runs[..] {
        let (fx, markers) = build_part(&shared, run.clone(), true)?;
        serde_json::to_writer(&mut out, &fx)?;
        out.flush()?;
        return Ok((markers, 1));
    }
    let n = runs.len();
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = &shared;
    let markers = std::thread::scope(|scope| -> Result<Markers, ExportError> {
        scope.spawn(move || {
            runs.into_par_iter()
                .enumerate()
                .for_each_with(tx, |tx, (k, run)| {
                    let part = build_part(shared, run, k == 0)
                        .and_then(|(fx, m)| Ok((serde_json::to_vec(&fx)?, m)));
                    // The receiver is gone only when an earlier part failed.
                    let _ = tx.send((k, part));
                });
        });
        let mut ready: Vec<Option<Result<Part, ExportError>>> = (0..n).map(|_| None).collect();
        let mut outside: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut markers = Markers::default();
        let mut next = 0;
        for (k, part) in rx {
            ready[k] = Some(part);
            while let Some(part) = ready.get_mut(next).and_then(Option::take) {
                let (json, m) = part?;
                let (open, close) = threads_span(&json).ok_or(ExportError::PartsDiffer)?;
                match &outside {
                    None => {
                        out.write_all(&json[..close])?;
                        outside = Some((json[..open].to_vec(), json[close..].to_vec()));
                    }
                    Some((head, tail)) => {
                        if json[..open] != head[..] || json[close..] != tail[..] {
                            return Err(ExportError::PartsDiffer);
                        }
                        out.write_all(b",")?;
                        out.write_all(&json[open..close])?;
                    }
                }
                markers.syscalls += m.syscalls;
                markers.off_cpu += m.off_cpu;
                markers.throttled += m.throttled;
                markers.oom_kills += m.oom_kills;
                next += 1;
            }
        }
        match &outside {
            Some((_, tail)) if next == n => out.write_all(tail)?,
            _ => return Err(ExportError::PartsDiffer),
        }
        Ok(markers)
    })?;
    out.flush()?;
    Ok((markers, n))
}

/// A part's JSON and the markers it holds.
type Part = (Vec<u8>, Markers);

/// Where a profile's threads are in its JSON: after `"threads":[` and
/// before `],"pages":`. Every `"` inside a JSON string is escaped, so
/// neither can start inside a name; "threads" is the first key (after
/// "meta" and "libs") that can hold either, "pages" the one after it.
fn threads_span(json: &[u8]) -> Option<(usize, usize)> {
    const OPEN: &[u8] = b"\"threads\":[";
    const CLOSE: &[u8] = b"],\"pages\":";
    let open = json.windows(OPEN.len()).position(|w| w == OPEN)? + OPEN.len();
    let close = json.windows(CLOSE.len()).rposition(|w| w == CLOSE)?;
    // Every part has at least one thread.
    (open < close).then_some((open, close))
}
