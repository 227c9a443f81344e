//! The syscall tracer: ptrace on a thread of its own.
//!
//! Every thread of every target process is seized (`PTRACE_SEIZE`, never
//! `EXITKILL`), interrupted once, then stepped from syscall stop to syscall
//! stop. Each completed call becomes a [`holter_format::Syscall`] record (if
//! `--syscalls-filter` lets it through) and is counted in any case; the counts
//! are written as one [`holter_format::SyscallTotal`] per syscall and ABI at
//! the end (32-bit `int 0x80` calls of x86_64 processes under `i386`, in the
//! i386 numbering, as strace's separate table). As with `strace -c`, a call is
//! counted when it returns: `exit_group` and a call cut by the end of the
//! capture are not.

mod counts;
mod follow;
pub(crate) mod kernel;
mod pair;
mod ptrace;
mod summary;
pub(crate) mod tracefs;
mod tracer;

pub use kernel::KernelCollector;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use holter_format::syscall_names::{parse_filter, Arch};
use holter_format::Lost;

use crate::clock::monotonic_ns;
use crate::collect::{Collector, Context, Ready};
use follow::Follower;
use summary::{Table, MAX_NR};
use tracer::Tracer;

/// How often a cgroup target is rescanned for processes that joined it.
const RESCAN: Duration = Duration::from_millis(250);
/// How often the tracer is woken out of `waitpid` to look at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// Most stops taken from the kernel before handling them.
const MAX_BATCH: usize = 4096;
/// How long detaching may take before the rest is left to the kernel.
const DETACH_PATIENCE: Duration = Duration::from_secs(3);

pub struct SyscallCollector;

impl Collector for SyscallCollector {
    fn name(&self) -> &'static str {
        "syscalls"
    }

    fn run(self: Box<Self>, ctx: Context, ready: &mut Ready) -> anyhow::Result<()> {
        let arch = Arch::from_uname(std::env::consts::ARCH);
        let recorded = recorded_numbers(arch, ctx.settings.syscalls_filter.as_deref())?;
        ptrace::install_wake_handler().context("cannot install the tracer's wake-up handler")?;
        // Declared before the tracer, so dropped after it: the tracer's Drop
        // (on an error) still gets woken while it waits to detach.
        let ticker = Ticker::start(ptrace::gettid())?;
        let follow = std::env::var_os("HOLTER_SYSCALLS_NO_FOLLOW").is_none();
        let mut tracer = Tracer::new(
            ctx.clone(),
            Table::new(arch),
            recorded,
            Follower::new(follow),
        );

        for pid in ctx.target.current_pids() {
            tracer.attach_process(pid)?;
            if ctx.target.kind == "command" {
                tracer.ignore_until_exec(pid);
            }
        }
        if tracer.traced_threads() == 0 && ctx.target.cgroup_dir.is_none() {
            bail!("no thread of the target could be traced (it exited before the tracer started)");
        }
        ready.ok();

        let result = trace(&ctx, &mut tracer);
        tracer.detach_all(DETACH_PATIENCE);
        drop(ticker);

        for total in tracer.totals() {
            ctx.emit(total);
        }
        if tracer.lost() > 0 {
            ctx.emit(Lost {
                time_ns: monotonic_ns(),
                kind: "syscalls".into(),
                count: tracer.lost(),
            });
        }
        result
    }
}

/// Wakes the tracer thread out of `waitpid` every [`TICK`], so that it sees
/// the stop flag and deadlines; stops when dropped.
struct Ticker {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(tracer_tid: u32) -> anyhow::Result<Ticker> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::Builder::new()
            .name("holter-ptrace-tick".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ptrace::wake(tracer_tid);
                }
            })
            .context("cannot start the tracer's ticker")?;
        Ok(Ticker {
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The loop: handle every stop until the capture ends.
fn trace(ctx: &Context, tracer: &mut Tracer) -> anyhow::Result<()> {
    let mut last_scan = Instant::now();
    let rescan = ctx.target.cgroup_dir.is_some();
    let mut batch: Vec<(u32, i32)> = Vec::with_capacity(MAX_BATCH);
    while !ctx.stopping() {
        match ptrace::wait_any() {
            Ok(Some(first)) => {
                // waitpid reports tracees in list order: serving every thread
                // stopped now before waiting again keeps the first ones from
                // starving the others.
                batch.clear();
                batch.push(first);
                if tracer.traced_threads() > 1 {
                    while batch.len() < MAX_BATCH {
                        match ptrace::wait_nohang() {
                            Some(next) => batch.push(next),
                            None => break,
                        }
                    }
                }
                for &(tid, status) in &batch {
                    tracer.handle(tid, status);
                }
                tracer.flush_due(monotonic_ns());
            }
            Ok(None) => {
                // The ticker: at most TICK late.
                tracer.flush();
                tracer.totals_due(monotonic_ns());
            }
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                tracer.flush();
                tracer.totals_due(monotonic_ns());
                // Nothing traced (the target exited): wait for newcomers or the end.
                std::thread::sleep(TICK);
            }
            Err(e) => return Err(e).context("waitpid"),
        }
        if rescan && last_scan.elapsed() >= RESCAN {
            last_scan = Instant::now();
            for pid in ctx.target.current_pids() {
                if !tracer.knows_process(pid) {
                    if let Err(e) = tracer.attach_process(pid) {
                        ctx.warn(format!("syscalls: {e:#}"));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Which syscall numbers get a record: all, or those `--syscalls-filter` names.
fn recorded_numbers(arch: Option<Arch>, filter: Option<&str>) -> anyhow::Result<Vec<bool>> {
    let Some(list) = filter else {
        return Ok(vec![true; MAX_NR]);
    };
    let Some(arch) = arch else {
        bail!(
            "--syscalls-filter: syscall names of {} are not known; record without a filter",
            std::env::consts::ARCH
        );
    };
    let numbers = parse_filter(arch, list).map_err(anyhow::Error::msg)?;
    let mut recorded = vec![false; MAX_NR];
    for nr in numbers {
        if let Some(slot) = recorded.get_mut(nr as usize) {
            *slot = true;
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_selects_numbers() {
        let all = recorded_numbers(Some(Arch::X86_64), None).unwrap();
        assert!(all.iter().all(|&r| r));
        let some = recorded_numbers(Some(Arch::X86_64), Some("getpid,openat")).unwrap();
        assert_eq!(some.iter().filter(|&&r| r).count(), 2);
        assert!(some[39] && some[257]);
        let err = recorded_numbers(Some(Arch::X86_64), Some("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"));
        assert!(recorded_numbers(None, Some("getpid")).is_err());
    }
}
