//! CPU sampling with `perf_event_open`: per-CPU ring buffers drained on
//! watermark wakeups, records turned into interned stacks, mappings and the
//! symbols of what the samples hit.

pub mod attr;
pub mod batch;
pub mod cpus;
pub mod open;
pub mod parse;
pub mod ring;
pub mod space;
pub mod stacks;
pub mod state;
pub mod symbolize;
pub mod sys;
pub mod tasks;

use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use holter_format::{Counters, Record};

use crate::clock::monotonic_ns;
use crate::collect::{Collector, Context, Ready};
use crate::so_far::{CountersSoFar, LostSoFar};
use attr::{Event, Start};
use open::Armed;
use state::State;

/// Longest wait between two drains when no watermark wakes the reader.
const POLL: Duration = Duration::from_millis(100);
/// How often a cgroup v1 target's task list is read for newcomers.
const RESCAN: Duration = Duration::from_millis(250);
const JIT_REFRESH: Duration = Duration::from_secs(1);

/// The sampled event of this host, probed once: `cycles` or `cpu-clock`.
pub fn sample_event() -> Event {
    static EVENT: OnceLock<Event> = OnceLock::new();
    *EVENT.get_or_init(open::probe_event)
}

pub struct Sampler;

/// How the target's tasks are followed.
enum Follow {
    /// Named tasks with inherited events (pid, command).
    Tasks,
    /// A cgroup v2 directory filtered by perf.
    CgroupV2,
    /// A cgroup v1 directory: its tasks, re-read for newcomers.
    CgroupV1(std::path::PathBuf),
}

impl Collector for Sampler {
    fn name(&self) -> &'static str {
        "sampler"
    }

    fn run(self: Box<Self>, ctx: Context, ready: &mut Ready) -> anyhow::Result<()> {
        let target = ctx.target.clone();
        let launched = target.kind == "command";
        let start = if launched {
            Start::OnExec
        } else {
            Start::Disabled
        };
        let mode = ctx.settings.unwind;
        let stack_bytes = (mode == crate::unwind::Mode::Dwarf).then_some(ctx.settings.stack_bytes);
        let mut armed = Armed::new(
            sample_event(),
            ctx.settings.frequency_hz,
            start,
            stack_bytes,
        );
        let mut state = State::new(ctx.settings.redact, mode);
        state.symbols.preload_kallsyms();
        let now = monotonic_ns();
        // Before any event is opened: each sampling event gets its switch-out event.
        let off_cpu_layout = if ctx.settings.off_cpu {
            let layout = crate::offcpu::layout()?;
            armed.with_off_cpu(layout.clone());
            Some(layout)
        } else {
            None
        };
        let follow = match &target.cgroup_dir {
            Some(dir) if open::is_cgroup2(dir) => {
                armed.add_cgroup_v2(dir)?;
                Follow::CgroupV2
            }
            Some(dir) => Follow::CgroupV1(dir.clone()),
            None => Follow::Tasks,
        };
        let mut drain = Drain::default();
        if let Some(layout) = off_cpu_layout {
            let events = crate::offcpu::InEvents::open(&layout, &armed.cpus)?;
            drain.off_cpu = Some((crate::offcpu::Recorder::new(layout), events));
        }
        if !matches!(follow, Follow::CgroupV2) {
            // Task events start as they are opened, so that the FORK records of
            // threads born meanwhile tell which ones inherited events already.
            armed.enable();
            let mut any = false;
            for pid in target.current_pids() {
                any |= armed.add_process(pid, &mut |armed| drain.run(armed, &mut state))?;
            }
            if !any && matches!(follow, Follow::Tasks) {
                anyhow::bail!("the target exited before sampling could start");
            }
        }
        if !launched {
            for pid in target.current_pids() {
                state.scan_process(pid, now);
            }
        }
        armed.enable();
        if let Some((_, events)) = &drain.off_cpu {
            for fd in events.fds() {
                sys::enable(fd)?;
            }
        }
        send(&ctx, &mut state);
        ready.ok();

        let mut last_rescan = Instant::now();
        let mut last_jit = Instant::now();
        let mut quiet = Vec::new();
        let mut so_far = CountersSoFar::new(monotonic_ns());
        let mut off_cpu_lost = LostSoFar::new("off-cpu");
        loop {
            let stopping = ctx.stopping();
            quiet.resize(armed.rings.rings.len(), false);
            if stopping {
                armed.disable();
                drain.disable_off_cpu();
            } else {
                wait(&armed, &mut quiet, &drain.off_cpu_fds(&armed));
            }
            drain.run(&mut armed, &mut state);
            if let Follow::CgroupV1(dir) = &follow {
                if !stopping && last_rescan.elapsed() >= RESCAN {
                    last_rescan = Instant::now();
                    rescan_v1(dir, &mut armed, &mut state)?;
                }
            }
            if last_jit.elapsed() >= JIT_REFRESH {
                last_jit = Instant::now();
                state.refresh_jit();
            }
            let now = monotonic_ns();
            if !stopping && so_far.due(now) {
                // The counters and the off-CPU losses so far (README "Durability").
                let mut values = armed.counts();
                if let Some((rec, _)) = &drain.off_cpu {
                    values.extend(rec.counters());
                    state
                        .out
                        .extend(off_cpu_lost.delta(rec.lost, now).map(Record::from));
                }
                if let Some(u) = &state.unwind {
                    values.extend(u.stats.counters());
                }
                state
                    .out
                    .extend(so_far.changed(now, values).map(Record::CountersSoFar));
            }
            send(&ctx, &mut state);
            if stopping {
                break;
            }
        }
        let mut values = armed.counts();
        if let Some((rec, _)) = &mut drain.off_cpu {
            rec.finish(monotonic_ns(), &mut state.out);
            values.extend(rec.counters());
            state.out.extend(
                off_cpu_lost
                    .delta(rec.lost, monotonic_ns())
                    .map(Record::from),
            );
            if rec.lost > 0 {
                state.out.push(Record::Warning(holter_format::Warning {
                    time_ns: monotonic_ns(),
                    message: format!(
                        "off-cpu: the kernel dropped {} sched_switch/sched_wakeup records (rings full): intervals around them are missing or paired late",
                        rec.lost
                    ),
                }));
            }
        }
        state.finish();
        if let Some(u) = &state.unwind {
            values.extend(u.stats.counters());
        }
        state.out.push(Record::Counters(Counters {
            time_ns: monotonic_ns(),
            values,
        }));
        send(&ctx, &mut state);
        Ok(())
    }
}

/// Reads every ring and turns what it holds into records, on one timeline.
#[derive(Default)]
struct Drain {
    scratch: Vec<u8>,
    events: Vec<parse::Event>,
    /// `--off-cpu`: the intervals' recorder and the switch-in events.
    off_cpu: Option<(crate::offcpu::Recorder, crate::offcpu::InEvents)>,
    /// Set once the events are disabled: the next run reads everything.
    last: bool,
}

impl Drain {
    fn off_cpu_fds(&self, armed: &Armed) -> Vec<std::os::fd::RawFd> {
        let outs = armed.off_cpu.iter().flat_map(|s| s.rings.rings.iter());
        let ins = self.off_cpu.iter().flat_map(|(_, e)| e.rings.rings.iter());
        outs.chain(ins).map(|r| r.fd.as_raw_fd()).collect()
    }

    fn disable_off_cpu(&mut self) {
        if let Some((_, events)) = &self.off_cpu {
            for fd in events.fds() {
                let _ = sys::disable(fd);
            }
        }
        self.last = true;
    }

    fn run(&mut self, armed: &mut Armed, state: &mut State) {
        let started = monotonic_ns();
        let (scratch, events) = (&mut self.scratch, &mut self.events);
        let sample_type = armed.sample_type();
        for ring in armed.rings.rings.iter_mut() {
            ring.consume(|a, b| {
                ring::for_each_record(a, b, scratch, |h, bytes| {
                    if let Some(e) = parse::parse(h, bytes, sample_type) {
                        events.push(e);
                    }
                })
            });
        }
        // One timeline across the CPUs' rings.
        events.sort_by_key(event_time);
        for e in events.drain(..) {
            state.handle(e);
        }
        if let (Some((rec, ins)), Some(outs)) = (&mut self.off_cpu, &mut armed.off_cpu) {
            let horizon = (!self.last).then(|| started.saturating_sub(crate::offcpu::SETTLE_NS));
            let out_type = crate::offcpu::switch_out_type(sample_type);
            rec.drain(
                &mut outs.rings.rings,
                out_type,
                &mut ins.rings.rings,
                state,
                horizon,
            );
            rec.end_round(Some(monotonic_ns()), &mut state.out);
        }
        state.end_round(monotonic_ns());
        // Tasks forked during the capture inherited their parent's events.
        armed.covered.extend(state.tasks.forked.drain(..));
    }
}

pub(crate) fn event_time(e: &parse::Event) -> u64 {
    use parse::Event::*;
    match e {
        Sample { time, .. }
        | Mmap2 { time, .. }
        | Comm { time, .. }
        | Fork { time, .. }
        | Exit { time, .. } => *time,
        Lost { .. } | Other(_) => 0,
    }
}

fn send(ctx: &Context, state: &mut State) {
    for r in state.out.drain(..) {
        if !ctx.emit(r) {
            break;
        }
    }
}

/// Sleeps until a ring passes its watermark or [`POLL`] passes. A ring
/// whose events have all gone (POLLHUP) is drained but no longer waited on.
fn wait(armed: &Armed, quiet: &mut [bool], off_cpu: &[std::os::fd::RawFd]) {
    let mut fds: Vec<libc::pollfd> = armed
        .rings
        .rings
        .iter()
        .zip(quiet.iter())
        .filter(|(_, q)| !**q)
        .map(|(r, _)| libc::pollfd {
            fd: r.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ours = fds.len();
    fds.extend(off_cpu.iter().map(|&fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }));
    if fds.is_empty() {
        std::thread::sleep(POLL);
        return;
    }
    // SAFETY: `fds` is a valid array of pollfd for its length.
    let n = unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            POLL.as_millis() as i32,
        )
    };
    if n > 0 {
        let mut it = fds[..ours].iter();
        for q in quiet.iter_mut().filter(|q| !**q) {
            if it.next().is_some_and(|p| p.revents & libc::POLLHUP != 0) {
                *q = true;
            }
        }
    }
}

/// Opens events on the tasks that joined a cgroup v1 directory. Processes
/// forked by followed tasks (and threads of followed processes) already have
/// inherited events: opening more would count them twice.
fn rescan_v1(dir: &std::path::Path, armed: &mut Armed, state: &mut State) -> anyhow::Result<()> {
    let Ok(pids) = crate::target::cgroup_procs(dir) else {
        return Ok(());
    };
    let now = monotonic_ns();
    for pid in pids {
        if armed.covered.contains(&pid) {
            continue;
        }
        if has_followed_ancestor(pid, &armed.covered) {
            armed.covered.insert(pid);
            continue;
        }
        if armed.add_process(pid, &mut |_| {})? {
            // Described like every other process (argv left out under --redact).
            let p = state.tasks.describe(pid, 0, "", now);
            state.out.push(Record::Process(p));
            state.scan_process(pid, now);
        }
    }
    Ok(())
}

/// Whether a process descends from one whose events its fork inherited.
pub(crate) fn has_followed_ancestor(pid: u32, covered: &std::collections::HashSet<u32>) -> bool {
    let mut p = pid;
    for _ in 0..64 {
        match crate::procfs::read_stat(p) {
            Ok(stat) if stat.ppid > 1 => {
                if covered.contains(&stat.ppid) {
                    return true;
                }
                p = stat.ppid;
            }
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_through_proc() {
        let me = std::process::id();
        let parent = crate::procfs::read_stat(me).unwrap().ppid;
        let mut covered = std::collections::HashSet::new();
        assert!(!has_followed_ancestor(me, &covered));
        covered.insert(parent);
        assert!(has_followed_ancestor(me, &covered));
        assert!(
            !has_followed_ancestor(4_000_000, &covered),
            "a gone pid has no ancestry"
        );
    }
}
