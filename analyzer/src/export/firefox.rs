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

struct Builder<'a> {
    fx: Fx,
    start_ns: u64,
    processes: HashMap<u32, ProcessHandle>,
    threads: HashMap<(u32, u32), ThreadHandle>,
    names: &'a Names,
    budget: u64,
    need: u64,
    path: &'a str,
}

impl Builder<'_> {
    fn at(&self, time_ns: u64) -> Timestamp {
        Timestamp::from_nanos_since_reference(time_ns.saturating_sub(self.start_ns))
    }

    fn count(&mut self, what: &'static str, bytes: u64) -> Result<(), ExportError> {
        self.need = self.need.saturating_add(bytes);
        if self.need > self.budget {
            return Err(ExportError::OverBudget {
                path: self.path.into(),
                what,
                need: self.need,
                budget: self.budget,
            });
        }
        Ok(())
    }

    fn process(&mut self, pid: u32, name: &str) -> ProcessHandle {
        if let Some(p) = self.processes.get(&pid) {
            return *p;
        }
        let start = self.at(self.start_ns);
        let p = self.fx.add_process(name, pid, start);
        self.processes.insert(pid, p);
        p
    }

    fn thread(&mut self, pid: u32, tid: u32, time_ns: u64) -> ThreadHandle {
        if let Some(t) = self.threads.get(&(pid, tid)) {
            return *t;
        }
        let process_name = clean(self.names.process(pid, time_ns));
        let thread_name = clean(self.names.thread(tid, time_ns));
        let p = self.process(pid, &process_name);
        let start = self.at(self.start_ns);
        let t = self.fx.add_thread(p, tid, start, tid == pid);
        let name = if thread_name.is_empty() {
            format!("{process_name} {tid}")
        } else {
            thread_name
        };
        self.fx.set_thread_name(t, &name);
        self.threads.insert((pid, tid), t);
        t
    }
}

/// Builds the Firefox Profiler profile of `profile`, with the markers of
/// `capture` that `filter` selects.
pub fn build(
    profile: &Profile,
    capture: &Capture,
    filter: &Filter,
    budget: u64,
    path: &str,
) -> Result<(Fx, Markers), ExportError> {
    let reference =
        ReferenceTimestamp::from_millis_since_unix_epoch(profile.start_wall_ns as f64 / 1e6);
    let mut fx = Fx::new(
        &profile.name,
        reference,
        SamplingInterval::from_nanos(profile.interval_ns.max(1)),
    );
    fx.set_symbolicated(true);
    fx.set_os_name("Linux");
    let user = fx.add_category("User", CategoryColor::Yellow);
    let kernel = fx.add_category("Kernel", CategoryColor::Orange);
    let syscall_cat = fx.add_category("Syscall", CategoryColor::Blue);
    let cgroup_cat = fx.add_category("Cgroup", CategoryColor::Red);
    let off_cat = fx.add_category("Off-CPU", CategoryColor::LightBlue);
    let names = Names::new(capture);
    let mut b = Builder {
        fx,
        start_ns: profile.start_ns,
        processes: HashMap::default(),
        threads: HashMap::default(),
        names: &names,
        budget,
        need: 0,
        path,
    };

    // Samples, thread by thread; a stack is interned once per thread.
    let strings: Vec<StringHandle> = profile
        .functions
        .iter()
        .map(|f| b.fx.intern_string(&f.name))
        .collect();
    let mut off_cpu = 0;
    // A thread's interned stacks and frames, by stack and function id (the
    // entries set for one thread are cleared before the next).
    let mut stacks: Vec<Option<Option<StackHandle>>> = vec![None; profile.stacks.len()];
    let mut frames: Vec<Option<FrameHandle>> = vec![None; profile.functions.len()];
    let mut used_stacks: Vec<u32> = Vec::new();
    let mut used_frames: Vec<u32> = Vec::new();
    // Each stack's function ids in one array, walked in order for each
    // thread that samples the stack (rather than chasing each location).
    let mut flat: Vec<u32> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(profile.stacks.len() + 1);
    ends.push(0);
    for s in 0..profile.stacks.len() as u32 {
        flat.extend(profile.stack_functions(s));
        ends.push(flat.len());
    }
    for t in &profile.threads {
        let th = b.thread(t.pid, t.tid, t.samples.first().map_or(0, |s| s.time_ns));
        b.count("samples", t.samples.len() as u64 * ROW_BYTES)?;
        for s in used_stacks.drain(..) {
            stacks[s as usize] = None;
        }
        for f in used_frames.drain(..) {
            frames[f as usize] = None;
        }
        // Each function's frame in this thread is interned once: the same
        // frames and stacks, in the same order, as `intern_stack_frames`
        // gives, without hashing each frame of each stack again.
        let mut stack_of = |b: &mut Builder, stack: u32| -> Result<_, ExportError> {
            if let Some(h) = stacks[stack as usize] {
                return Ok(h);
            }
            let mut h = None;
            let mut n = 0u64;
            for &f in &flat[ends[stack as usize]..ends[stack as usize + 1]] {
                let frame = *frames[f as usize].get_or_insert_with(|| {
                    used_frames.push(f);
                    let category = if profile.functions[f as usize].module == KERNEL_MODULE {
                        kernel
                    } else {
                        user
                    };
                    let info = FrameInfo {
                        frame: Frame::Label(strings[f as usize]),
                        category_pair: category.into(),
                        flags: FrameFlags::empty(),
                    };
                    b.fx.intern_frame(th, info)
                });
                h = Some(b.fx.intern_stack(th, h, frame));
                n += 1;
            }
            b.count("stacks", n * ROW_BYTES)?;
            stacks[stack as usize] = Some(h);
            used_stacks.push(stack);
            Ok(h)
        };
        for s in &t.samples {
            let stack = stack_of(&mut b, s.stack)?;
            let at = b.at(s.time_ns);
            b.fx.add_sample(th, at, stack, CpuDelta::from_nanos(s.weight_ns), 1);
        }
        // Off-CPU times (`record --off-cpu`): interval markers with the
        // stack the thread left from.
        b.count("off-CPU markers", t.off_cpu.len() as u64 * ROW_BYTES)?;
        for o in &t.off_cpu {
            let stack = stack_of(&mut b, o.stack)?;
            let state = match o.state {
                b'R' => "R preempted".to_string(),
                b'S' => "S sleeping".to_string(),
                b'D' => "D uninterruptible".to_string(),
                c => clean(&char::from(c).to_string()),
            };
            let m = Marker::<OffCpu>::new(
                b.fx.intern_string("Off-CPU"),
                b.fx.intern_string(&state),
                o.runq_ns as f64 / 1e6,
                off_cat,
            );
            let timing =
                MarkerTiming::Interval(b.at(o.time_ns), b.at(o.time_ns.saturating_add(o.off_ns)));
            let handle = b.fx.add_marker(th, timing, m);
            b.fx.set_marker_stack(th, handle, stack);
            off_cpu += 1;
        }
    }

    let mut markers = Markers {
        off_cpu,
        ..Markers::default()
    };
    // Syscalls, on their thread, selected as the samples are.
    let matcher = Matcher::new(filter, &names, capture);
    let native = capture.header.host.arch.clone();
    for s in &capture.syscalls {
        let as_sample = Sample {
            time_ns: s.time_ns,
            pid: s.pid,
            tid: s.tid,
            ..Sample::default()
        };
        if !matcher.matches(&as_sample) {
            continue;
        }
        b.count(
            "syscall markers",
            ROW_BYTES + s.summary.len().min(MAX_SUMMARY) as u64,
        )?;
        let abi = if s.abi.is_empty() { &native } else { &s.abi };
        let name = syscall_display(Arch::from_uname(abi), s.nr);
        let th = b.thread(s.pid, s.tid, s.time_ns);
        let summary = clean(&s.summary);
        let summary = match summary.char_indices().nth(MAX_SUMMARY) {
            Some((i, _)) => format!("{}…", &summary[..i]),
            None => summary,
        };
        let m = Marker::<Syscall>::new(
            b.fx.intern_string(&clean(&name)),
            b.fx.intern_string(&summary),
            s.ret as f64,
            syscall_cat,
        );
        let timing = MarkerTiming::Interval(
            b.at(s.time_ns),
            b.at(s.time_ns.saturating_add(s.duration_ns)),
        );
        b.fx.add_marker(th, timing, m);
        markers.syscalls += 1;
    }

    // The cgroup's throttled intervals and OOM kills, on a track of their own.
    let (from_ns, to_ns) = window(capture, filter);
    let in_window = |a: u64, z: u64| z >= from_ns && a <= to_ns;
    let mut cgroup_track = None;
    let mut track = |b: &mut Builder| -> ThreadHandle {
        *cgroup_track.get_or_insert_with(|| {
            let p = b.fx.add_process("cgroup", 0, b.at(b.start_ns));
            let t = b.fx.add_thread(p, 0, b.at(b.start_ns), true);
            b.fx.set_thread_name(t, "cgroup");
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
            b.count("cgroup markers", ROW_BYTES + cgroup.len() as u64)?;
            let t = track(&mut b);
            let m = Marker::<Cgroup>::new(
                b.fx.intern_string("Throttled"),
                b.fx.intern_string(&cgroup),
                throttled as f64 / 1e6,
                cgroup_cat,
            );
            let timing = MarkerTiming::Interval(b.at(i.start_ns), b.at(i.end_ns));
            b.fx.add_marker(t, timing, m);
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
            b.count("cgroup markers", ROW_BYTES + cgroup.len() as u64)?;
            let t = track(&mut b);
            let m = Marker::<Cgroup>::new(
                b.fx.intern_string("OOM kill"),
                b.fx.intern_string(&cgroup),
                kills as f64,
                cgroup_cat,
            );
            let timing = MarkerTiming::Interval(b.at(a.time_ns), b.at(z.time_ns));
            b.fx.add_marker(t, timing, m);
            markers.oom_kills += kills;
        }
    }
    Ok((b.fx, markers))
}

/// The monotonic times `--from`/`--to` select.
fn window(c: &Capture, f: &Filter) -> (u64, u64) {
    let at = |secs: f64| c.start_ns().saturating_add((secs.max(0.0) * 1e9) as u64);
    (f.from_secs.map_or(0, at), f.to_secs.map_or(u64::MAX, at))
}

/// Writes the profile as the Firefox Profiler's JSON.
pub fn write(
    profile: &Profile,
    capture: &Capture,
    filter: &Filter,
    budget: u64,
    path: &str,
    out: impl Write,
) -> Result<Markers, ExportError> {
    let (fx, markers) = build(profile, capture, filter, budget, path)?;
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer(&mut out, &fx)?;
    out.flush()?;
    Ok(markers)
}
