//! `holter export`: a capture's samples for other profilers' viewers.
//!
//! [`Profile::build`] selects samples with the flame graph's [`Filter`] and
//! names their frames with the same [`Symbolizer`]; each format module
//! writes that model: [`speedscope`] (JSON, one sampled profile per
//! thread), [`pprof`] (gzipped `profile.proto`) and [`firefox`] (the
//! Firefox Profiler's processed format, with markers).
//!
//! Every name comes from the capture, untrusted: control characters are made
//! visible ([`crate::escape::line`]), each name is cut at [`MAX_NAME`] bytes,
//! and an output that would outgrow the capture's budget is refused.

pub mod firefox;
pub mod pprof;
pub mod speedscope;

use holter_format::Sample;
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

use crate::filter::{Filter, Matcher, Names};
use crate::flamegraph::{stack_locs, user_addrs};
use crate::load::Capture;
use crate::symbolize::{epoch_in, module_name, Loc, Symbolizer};

/// The longest frame, process or thread name an export holds (bytes).
pub const MAX_NAME: usize = 4096;

/// The module name of kernel frames.
pub const KERNEL_MODULE: &str = "[kernel.kallsyms]";

/// A function: its name and the file (module) holding it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Function {
    pub name: String,
    /// `libc.so.6`, `[kernel.kallsyms]`, or empty where unknown.
    pub module: String,
}

/// Where a location's address lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In mapping `n` of [`Profile::mappings`].
    Mapped(u32),
    Kernel,
    /// Outside every recorded mapping (JIT code, or a frame that names no
    /// address, such as a missing stack).
    Unmapped,
}

/// One frame address, named by one or more functions (inlined calls).
#[derive(Debug, Clone)]
pub struct Location {
    /// Function ids, outermost first.
    pub functions: Vec<u32>,
    pub place: Place,
    /// The runtime address (of the call for return addresses).
    pub address: u64,
}

/// A mapped file some location lies in.
#[derive(Debug, Clone)]
pub struct MappingInfo {
    pub pid: u32,
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub path: String,
    /// Lower-case hex, empty without one.
    pub build_id: String,
}

/// A sample as exports keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRow {
    pub time_ns: u64,
    /// Index in [`Profile::stacks`].
    pub stack: u32,
    /// CPU time it stands for (its period), nanoseconds.
    pub weight_ns: u64,
}

/// A time a thread spent off the CPU (format 1.11, `record --off-cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffCpuRow {
    /// When it left the CPU.
    pub time_ns: u64,
    /// The stack it left from, index in [`Profile::stacks`].
    pub stack: u32,
    pub off_ns: u64,
    /// Of `off_ns`, the time it was runnable, waiting for a CPU.
    pub runq_ns: u64,
    /// `S`, `D`, `R`... as `ps` shows it.
    pub state: u8,
}

/// One thread's samples and off-CPU times, each by time.
#[derive(Debug, Clone)]
pub struct ThreadProfile {
    pub pid: u32,
    pub tid: u32,
    pub process_name: String,
    pub thread_name: String,
    pub samples: Vec<SampleRow>,
    pub off_cpu: Vec<OffCpuRow>,
}

impl ThreadProfile {
    /// `nginx (pid 12, tid 13 worker)`.
    pub fn title(&self) -> String {
        let process = if self.process_name.is_empty() {
            "[unknown]"
        } else {
            &self.process_name
        };
        if self.thread_name.is_empty() || self.thread_name == self.process_name {
            format!("{process} (pid {}, tid {})", self.pid, self.tid)
        } else {
            format!(
                "{process} (pid {}, tid {} {})",
                self.pid, self.tid, self.thread_name
            )
        }
    }
}

/// The selected samples of a capture, symbolized, for the exports.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Monotonic times of the capture's start and end.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Wall-clock time of `start_ns` (Unix epoch, nanoseconds).
    pub start_wall_ns: u64,
    /// The sampling interval asked for (nanoseconds).
    pub interval_ns: u64,
    pub functions: Vec<Function>,
    pub locations: Vec<Location>,
    pub mappings: Vec<MappingInfo>,
    /// Location ids, root first.
    pub stacks: Vec<Vec<u32>>,
    /// Threads with at least one sample or off-CPU time, by (pid, tid).
    pub threads: Vec<ThreadProfile>,
    /// Capture file name and target, for titles.
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{path}: the export would take {} ({what}), past the capture's budget of {}: \
         a capture this dense is unusual and may be crafted. If you trust it, raise the budget with \
         --budget SIZE or HOLTER_BUDGET=SIZE (e.g. --budget 8G)",
        crate::load::human_size(*need),
        crate::load::human_size(*budget)
    )]
    OverBudget {
        path: String,
        what: &'static str,
        need: u64,
        budget: u64,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The parts of a Firefox profile, built on several threads, have
    /// different text around their threads: a bug, never the capture's doing.
    #[error(
        "the Firefox profile's parts, built on several threads, did not join (a bug in holter): \
         run with RAYON_NUM_THREADS=1 to build it in one part"
    )]
    PartsDiffer,
}

/// Memory taken by one located frame while building (as the flame graph's).
const LOCATED_FRAME_BYTES: u64 = 48;

/// A name from the capture made safe and bounded.
pub(crate) fn clean(name: &str) -> String {
    let s = crate::escape::line(name);
    if s.len() <= MAX_NAME {
        return s.into_owned();
    }
    let mut end = MAX_NAME;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Profile {
    /// Samples per thread, kept if `filter` selects them, their frames
    /// named by `sym`.
    pub fn build(
        capture: &Capture,
        filter: &Filter,
        sym: &Symbolizer,
    ) -> Result<Self, ExportError> {
        let over = |what: &'static str, need: u64| ExportError::OverBudget {
            path: capture.path.display().to_string(),
            what,
            need,
            budget: capture.budget.bytes,
        };
        let names = Names::new(capture);
        let matcher = Matcher::new(filter, &names, capture);
        let interval_ns = match capture.header.options.frequency_hz {
            0 => 10_000_000,
            hz => 1_000_000_000 / u64::from(hz),
        };

        // 1. Samples and off-CPU times by thread; their stacks by (pid,
        // mapping epoch, stack id).
        // Keyed by FxHash, and the last thread remembered: these lookups are
        // made once per sample.
        let mut group_ids: HashMap<(u32, u32, u32), u32> = HashMap::default();
        let mut groups: Vec<(u32, u32, u32)> = Vec::new();
        let mut thread_ids: HashMap<(u32, u32), usize> = HashMap::default();
        let mut threads: Vec<ThreadProfile> = Vec::new();
        let mut map_times: HashMap<u32, &[u64]> = HashMap::default();
        let mut last: Option<((u32, u32), usize, &[u64])> = None;
        let off_cpu = capture.off_cpu.iter().map(|o| {
            let s = Sample {
                time_ns: o.time_ns,
                pid: o.pid,
                tid: o.tid,
                cpu: o.cpu,
                stack_id: o.stack_id,
                period: 0,
            };
            (s, Some(o))
        });
        let events = capture
            .samples
            .iter()
            .map(|s| (s.clone(), None))
            .chain(off_cpu);
        for (s, off) in events.filter(|(s, _)| matcher.matches(s)) {
            let (t, times) = match last {
                Some((key, t, times)) if key == (s.pid, s.tid) => (t, times),
                _ => {
                    let times = *map_times
                        .entry(s.pid)
                        .or_insert_with(|| sym.maps().times(s.pid));
                    let t = *thread_ids.entry((s.pid, s.tid)).or_insert_with(|| {
                        threads.push(ThreadProfile {
                            pid: s.pid,
                            tid: s.tid,
                            process_name: clean(names.process(s.pid, s.time_ns)),
                            thread_name: clean(names.thread(s.tid, s.time_ns)),
                            samples: Vec::new(),
                            off_cpu: Vec::new(),
                        });
                        threads.len() - 1
                    });
                    last = Some(((s.pid, s.tid), t, times));
                    (t, times)
                }
            };
            let key = (s.pid, epoch_in(times, s.time_ns), s.stack_id);
            let group = *group_ids.entry(key).or_insert_with(|| {
                groups.push(key);
                groups.len() as u32 - 1
            });
            match off {
                None => threads[t].samples.push(SampleRow {
                    time_ns: s.time_ns,
                    stack: group,
                    weight_ns: if s.period > 0 { s.period } else { interval_ns },
                }),
                Some(o) => threads[t].off_cpu.push(OffCpuRow {
                    time_ns: o.time_ns,
                    stack: group,
                    off_ns: o.off_ns,
                    runq_ns: o.runq_ns,
                    state: o.state,
                }),
            }
        }
        drop(group_ids);

        let frames: u64 = groups
            .iter()
            .filter_map(|g| capture.stacks.get(&g.2))
            .map(|st| (st.user.len() + st.kernel.len()) as u64)
            .sum();
        let need = frames.saturating_mul(LOCATED_FRAME_BYTES);
        if need > capture.budget.bytes {
            return Err(over("frames to locate", need));
        }

        // 2. Each group's locations, as the flame graph finds them.
        let mut queries: Vec<(u32, u32, u64)> = groups
            .par_iter()
            .flat_map_iter(|&(pid, epoch, id)| {
                let user = capture.stacks.get(&id).map_or(&[][..], |st| &st.user);
                user_addrs(user).map(move |a| (pid, epoch, a))
            })
            .collect();
        queries.par_sort_unstable();
        queries.dedup();
        let found = sym.maps().find_many(&queries);
        // Each address's location, by a keyed hash: a binary search of the
        // sorted queries misses the cache at each of its last steps, and
        // took most of the export of a capture of many distinct addresses.
        let loc_of: HashMap<(u32, u32, u64), Loc> = queries
            .iter()
            .zip(&found)
            .map(|(&(pid, epoch, addr), m)| {
                let loc = sym.loc_in(pid, addr, m.map(|m| m as usize));
                ((pid, epoch, addr), loc)
            })
            .collect();
        let user_loc = |pid: u32, epoch: u32, addr: u64| {
            loc_of
                .get(&(pid, epoch, addr))
                .copied()
                .unwrap_or(Loc::Unmapped { pid, addr })
        };
        // Located in the order of their stack ids, as the flame graph does:
        // neighbours look up the same addresses (warm caches).
        let mut order: Vec<u32> = (0..groups.len() as u32).collect();
        order.par_sort_unstable_by_key(|&g| {
            let (pid, epoch, id) = groups[g as usize];
            (id, pid, epoch)
        });
        let located: Vec<Option<Vec<Loc>>> = order
            .par_iter()
            .map(|&g| {
                let (pid, epoch, id) = groups[g as usize];
                let st = capture.stacks.get(&id)?;
                Some(stack_locs(&user_loc, pid, epoch, &st.user, &st.kernel).0)
            })
            .collect();
        drop(found);
        drop(queries);

        // 3. Distinct locations, named once; identical stacks merged.
        let mut loc_ids: HashMap<Loc, u32> = HashMap::default();
        let mut distinct: Vec<Loc> = Vec::new();
        let mut stack_ids: HashMap<Vec<u32>, u32> = HashMap::default();
        let mut stacks: Vec<Vec<u32>> = Vec::new();
        let mut missing: Option<u32> = None;
        let mut group_stack: Vec<u32> = vec![0; groups.len()];
        for (&g, locs) in order.iter().zip(located) {
            let ids: Vec<u32> = match locs {
                Some(locs) => locs
                    .into_iter()
                    .map(|l| {
                        *loc_ids.entry(l).or_insert_with(|| {
                            distinct.push(l);
                            distinct.len() as u32 - 1
                        })
                    })
                    .collect(),
                // A sample whose stack record is missing: one frame saying so
                // (a location past the located ones, added below).
                None => vec![*missing.get_or_insert(u32::MAX)],
            };
            let id = *stack_ids.entry(ids).or_insert_with_key(|ids| {
                stacks.push(ids.clone());
                stacks.len() as u32 - 1
            });
            group_stack[g as usize] = id;
        }
        drop(stack_ids);
        drop(loc_ids);
        let resolved = sym.resolve(&distinct);

        let mut profile = Profile {
            start_ns: capture.start_ns(),
            end_ns: capture.end_ns(),
            start_wall_ns: capture.header.clock.wall_ns,
            interval_ns,
            name: clean(&title(capture)),
            ..Profile::default()
        };
        let mut function_ids: HashMap<Function, u32> = HashMap::default();
        let mut mapping_ids: HashMap<u32, u32> = HashMap::default();
        let mut intern = |p: &mut Profile, f: Function| {
            *function_ids.entry(f).or_insert_with_key(|f| {
                p.functions.push(f.clone());
                p.functions.len() as u32 - 1
            })
        };
        // Modules by id (0: none, 1: the kernel), each mapping's found once;
        // and each (module, name as resolved) pair's function, so that a
        // name shared by many locations is cleaned and interned once.
        let mut modules: Vec<String> = vec![String::new(), KERNEL_MODULE.to_string()];
        let mut module_ids: HashMap<String, u32> = HashMap::default();
        let mut module_of_map: HashMap<u32, u32> = HashMap::default();
        let mut named: HashMap<(u32, &str), u32> = HashMap::default();
        for (loc, r) in distinct.iter().zip(&resolved) {
            let (place, address, module) = match *loc {
                Loc::Kernel { addr } => (Place::Kernel, addr, 1),
                Loc::Unmapped { addr, .. } => (Place::Unmapped, addr, 0),
                Loc::Mapped { map, addr } => {
                    let m = &capture.mappings[map as usize];
                    let id = *mapping_ids.entry(map).or_insert_with(|| {
                        profile.mappings.push(MappingInfo {
                            pid: m.pid,
                            start: m.start,
                            end: m.end,
                            pgoff: m.pgoff,
                            path: clean(&m.path),
                            build_id: m
                                .build_id
                                .as_deref()
                                .map(crate::symbolize::hex)
                                .unwrap_or_default(),
                        });
                        profile.mappings.len() as u32 - 1
                    });
                    let module = *module_of_map.entry(map).or_insert_with(|| {
                        let name = clean(module_name(&m.path));
                        match name.as_str() {
                            "" => 0,
                            KERNEL_MODULE => 1,
                            _ => *module_ids.entry(name).or_insert_with_key(|name| {
                                modules.push(name.clone());
                                modules.len() as u32 - 1
                            }),
                        }
                    });
                    (Place::Mapped(id), addr, module)
                }
            };
            let functions = r
                .frames
                .iter()
                .map(|name| {
                    *named.entry((module, name.as_str())).or_insert_with(|| {
                        let f = Function {
                            name: clean(name),
                            module: modules[module as usize].clone(),
                        };
                        intern(&mut profile, f)
                    })
                })
                .collect();
            profile.locations.push(Location {
                functions,
                place,
                address,
            });
        }
        drop(named);
        if missing.is_some() {
            let f = intern(
                &mut profile,
                Function {
                    name: "[missing stack]".into(),
                    module: String::new(),
                },
            );
            let id = profile.locations.len() as u32;
            profile.locations.push(Location {
                functions: vec![f],
                place: Place::Unmapped,
                address: 0,
            });
            for s in &mut stacks {
                for l in s.iter_mut().filter(|l| **l == u32::MAX) {
                    *l = id;
                }
            }
        }
        profile.stacks = stacks;
        for t in &mut threads {
            for s in &mut t.samples {
                s.stack = group_stack[s.stack as usize];
            }
            t.samples.sort_by_key(|s| s.time_ns);
            for o in &mut t.off_cpu {
                o.stack = group_stack[o.stack as usize];
            }
            t.off_cpu.sort_by_key(|o| o.time_ns);
        }
        threads.sort_by_key(|t| (t.pid, t.tid));
        profile.threads = threads;
        Ok(profile)
    }

    pub fn sample_count(&self) -> u64 {
        self.threads.iter().map(|t| t.samples.len() as u64).sum()
    }

    /// Off-CPU intervals kept.
    pub fn off_cpu_count(&self) -> u64 {
        self.threads.iter().map(|t| t.off_cpu.len() as u64).sum()
    }

    /// The function ids of a stack, root first (inlined calls expanded).
    pub fn stack_functions(&self, stack: u32) -> impl Iterator<Item = u32> + '_ {
        self.stacks[stack as usize]
            .iter()
            .flat_map(|l| self.locations[*l as usize].functions.iter().copied())
    }
}

/// `app.holter (container web-1)`.
fn title(c: &Capture) -> String {
    let name = c
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let t = &c.header.target;
    if t.kind.is_empty() {
        name
    } else {
        format!("{name} ({} {})", t.kind, t.spec)
    }
}
