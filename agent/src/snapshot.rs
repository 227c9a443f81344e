//! The snapshot collectors: the target's cgroup control files and the view
//! from inside its namespaces, every `--interval`.

use std::time::{Duration, Instant};

use holter_format::{CgroupNumDelta, CgroupSnapshot, ContainerView, NetDelta, NetSnapshot, Record};

use crate::cgroup::{self, Snapshotter};
use crate::clock::monotonic_ns;
use crate::collect::{Collector, Context, Ready};
use crate::host::proc::Proc;
use crate::ns::{self, Helper};

/// A cgroup directory's (or the network view's) snapshot is written whole
/// once in this many; the others as differences from the previous one
/// (unchanged files left out, changed counters as numeric differences), so
/// that a frame lost to damage costs at most this many snapshots.
const FULL_EVERY: u32 = 20;

/// Said when the first snapshot finds the target frozen.
pub const FROZEN_AT_START: &str = "the target is frozen (paused: `docker pause`, `podman pause` or the cgroup freezer): nothing of it runs, so no samples or syscalls are recorded while it stays frozen; unpause it to record it";

/// Longest sleep between two looks at `ctx.stopping()`.
const NAP: Duration = Duration::from_millis(50);

/// Calls `tick` every `interval` (on a fixed grid, skipping missed ticks)
/// until the capture stops, then once more so the last interval is closed.
fn every(ctx: &Context, mut tick: impl FnMut() -> bool) {
    let interval = ctx.settings.interval;
    let mut last = Instant::now();
    let mut next = last + interval;
    while !ctx.stopping() {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(NAP));
            continue;
        }
        last = now;
        if !tick() {
            return;
        }
        next += interval;
        if next < Instant::now() {
            let behind = Instant::now() - next;
            let skipped = behind.as_nanos() / interval.as_nanos() + 1;
            next += interval * skipped as u32;
        }
    }
    // A last interval shorter than half the others is noise (rates over a few ms).
    if last.elapsed() >= interval / 2 {
        tick();
    }
}

/// Snapshots of the target's cgroup directories.
pub struct CgroupCollector;

impl Collector for CgroupCollector {
    fn name(&self) -> &'static str {
        "cgroups"
    }

    fn run(self: Box<Self>, ctx: Context, ready: &mut Ready) -> anyhow::Result<()> {
        let proc = Proc::node();
        let hierarchies = proc.self_mountinfo();
        let memberships: Vec<Vec<cgroup::Membership>> = ctx
            .target
            .current_pids()
            .iter()
            .take(16)
            .filter_map(|&pid| proc.cgroup(pid).ok())
            .collect();
        // Canonical, so `/sys/fs/cgroup/cpu/x` finds a `cpu,cpuacct` mount behind a symlink.
        let named = ctx
            .target
            .cgroup_dir
            .as_deref()
            .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()));
        let dirs = match cgroup::find_dirs(named.as_deref(), &hierarchies, &memberships) {
            Ok(dirs) => dirs,
            Err(e) => {
                ctx.warn(format!("no cgroup snapshots: {e}"));
                ready.ok();
                return Ok(());
            }
        };
        if dirs.is_empty() {
            ctx.warn(
                "no cgroup of the target to snapshot (its processes are in root cgroups only)",
            );
            ready.ok();
            return Ok(());
        }
        let mut snapshotters: Vec<Snapshotter> = dirs.into_iter().map(Snapshotter::new).collect();
        let redact = crate::redact::Redact::new(ctx.settings.redact);
        let mut previous: Vec<Option<CgroupSnapshot>> = vec![None; snapshotters.len()];
        let mut ticks = 0u32;
        let started = monotonic_ns();
        // Since when the target is frozen, as the last snapshot said.
        let mut frozen_since: Option<u64> = None;
        let mut tick = || {
            let now = monotonic_ns();
            let full = ticks.is_multiple_of(FULL_EVERY);
            let first = ticks == 0;
            ticks = ticks.wrapping_add(1);
            let mut frozen = false;
            let sent = snapshotters
                .iter_mut()
                .zip(previous.iter_mut())
                .all(|(s, previous)| {
                    let mut snap = s.snapshot(now);
                    frozen |= crate::freezer::frozen_in(&snap.files).unwrap_or(false);
                    snap.path = redact.cgroup_path(&snap.path);
                    let record = match previous.as_ref() {
                        Some(base) if !full => Record::from(CgroupNumDelta::between(base, &snap)),
                        _ => Record::from(snap.clone()),
                    };
                    *previous = Some(snap);
                    ctx.emit(record)
                });
            let at = |t: u64| t.saturating_sub(started) as f64 / 1e9;
            match (frozen, frozen_since) {
                (true, None) if first => {
                    frozen_since = Some(now);
                    ctx.warn(FROZEN_AT_START);
                }
                (true, None) => {
                    frozen_since = Some(now);
                    ctx.warn(format!(
                        "the target was frozen at +{:.1} s (paused: `docker pause`, `podman pause` or the cgroup freezer): nothing of it runs, so nothing is sampled or traced while it stays frozen",
                        at(now)
                    ));
                }
                (false, Some(since)) => {
                    frozen_since = None;
                    ctx.warn(format!(
                        "the target was thawed at +{:.1} s, after {:.1} s frozen",
                        at(now),
                        (now - since) as f64 / 1e9
                    ));
                }
                _ => {}
            }
            sent
        };
        // The first snapshot before a launched command runs: the baseline.
        tick();
        ready.ok();
        every(&ctx, tick);
        Ok(())
    }
}

/// The most the container view (hostname, resolv.conf, mountinfo) is
/// waited for: read in a few milliseconds, unless a file of the container
/// never answers.
const VIEW_WAIT: Duration = Duration::from_secs(1);

/// Network counters and the container view from inside the target's namespaces.
pub struct NetCollector;

impl Collector for NetCollector {
    fn name(&self) -> &'static str {
        "netns"
    }

    fn run(self: Box<Self>, ctx: Context, ready: &mut Ready) -> anyhow::Result<()> {
        let pid = inside_pid(&ctx.target.current_pids()).or(ctx.target.pids.first().copied());
        let Some(pid) = pid else {
            ctx.warn("no process in the target: no network view");
            ready.ok();
            return Ok(());
        };
        let mut helper = match Helper::spawn(pid) {
            Ok(h) => h,
            Err(e) => {
                ctx.warn(format!("no network view: {e}"));
                ready.ok();
                return Ok(());
            }
        };
        match helper.view_within(VIEW_WAIT) {
            Ok(view) => {
                let redact = crate::redact::Redact::new(ctx.settings.redact);
                ctx.emit(ContainerView {
                    time_ns: monotonic_ns(),
                    hostname: redact.path(&view.hostname),
                    resolv_conf: redact.resolv_conf(&view.resolv_conf),
                    root_mount: redact.mount_line(&ns::root_mount(&view.mountinfo)),
                });
            }
            Err(e) => {
                // Held by a file of the container (its resolv.conf on a file
                // system that does not answer): left behind, not waited for;
                // another helper reads the network counters.
                ctx.warn(format!(
                    "no container view (hostname, resolv.conf, root mount) of pid {pid}: \
                     not answered within {} s, a file of the container that does not answer? ({e})",
                    VIEW_WAIT.as_secs_f64()
                ));
                helper = match Helper::spawn(pid) {
                    Ok(h) => h,
                    Err(e) => {
                        ctx.warn(format!("no network view: {e}"));
                        ready.ok();
                        return Ok(());
                    }
                };
            }
        }
        let mut failed = None;
        let mut previous: Option<NetSnapshot> = None;
        let mut ticks = 0u32;
        let mut tick = || {
            let time_ns = monotonic_ns();
            let full = ticks.is_multiple_of(FULL_EVERY);
            ticks = ticks.wrapping_add(1);
            match helper.net() {
                Ok(net) => {
                    let snap = NetSnapshot {
                        time_ns,
                        dev: net.dev,
                        snmp: net.snmp,
                    };
                    let record = match previous.as_ref() {
                        Some(base) if !full => Record::from(NetDelta::between(base, &snap)),
                        _ => Record::from(snap.clone()),
                    };
                    previous = Some(snap);
                    ctx.emit(record)
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        };
        tick();
        ready.ok();
        every(&ctx, &mut tick);
        if let Some(e) = failed {
            ctx.warn(format!("network view stopped: {e}"));
        }
        Ok(())
    }
}

/// The process to enter: the first one whose network namespace is not the
/// agent's (a cgroup may also hold a host-side shim), else the first one.
fn inside_pid(pids: &[u32]) -> Option<u32> {
    let proc = Proc::node();
    let ours = proc.ns(std::process::id(), "net").ok();
    // A live task: a main thread gone by pthread_exit has no namespaces left.
    let live: Vec<u32> = pids.iter().filter_map(|&p| proc.live_task(p)).collect();
    live.iter()
        .copied()
        .find(|&p| {
            let theirs = proc.ns(p, "net").ok();
            theirs.is_some() && theirs != ours
        })
        .or(live.first().copied())
        .or(pids.first().copied())
}
