//! What every collector (sampler, syscall tracer, cgroup snapshotter, ...) is given.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;

use holter_format::Record;

use crate::target::Target;

/// Options of a capture that collectors read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub frequency_hz: u32,
    pub unwind: crate::unwind::Mode,
    /// Bytes of user stack copied per sample (DWARF mode), a multiple of 8.
    pub stack_bytes: u32,
    pub samples: bool,
    /// `--off-cpu`: off-CPU intervals, recorded by the sampler.
    pub off_cpu: bool,
    pub syscalls: bool,
    /// With `syscalls`: `ptrace` or `kernel`.
    pub syscall_mode: &'static str,
    pub syscalls_filter: Option<String>,
    pub redact: bool,
    pub interval: std::time::Duration,
}

/// A collector's view of the capture. Records sent to `sink` are written in
/// order; the channel is bounded, so a collector that outruns the writer waits.
#[derive(Clone)]
pub struct Context {
    pub target: Arc<Target>,
    pub settings: Arc<Settings>,
    pub sink: SyncSender<Record>,
    stop: Arc<AtomicBool>,
}

impl Context {
    pub fn new(
        target: Arc<Target>,
        settings: Arc<Settings>,
        sink: SyncSender<Record>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Context {
            target,
            settings,
            sink,
            stop,
        }
    }

    /// Sends a record; false once the writer has gone away.
    pub fn emit(&self, record: impl Into<Record>) -> bool {
        self.sink.send(record.into()).is_ok()
    }

    /// True once the capture is ending: a collector finishes its work and returns.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.emit(holter_format::Warning {
            time_ns: crate::clock::monotonic_ns(),
            message: message.into(),
        });
    }
}

/// Tells the record loop that a collector is armed (or could not be).
/// A launched command is released only when every collector is ready.
pub struct Ready(Option<Sender<Result<(), String>>>);

impl Ready {
    pub fn new(tx: Sender<Result<(), String>>) -> Self {
        Ready(Some(tx))
    }

    pub fn ok(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Ok(()));
        }
    }

    pub fn fail(&mut self, why: String) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(why));
        }
    }
}

/// A source of records that runs on a thread of its own until [`Context::stopping`].
pub trait Collector: Send + 'static {
    fn name(&self) -> &'static str;
    /// Arms the collector, calls `ready.ok()`, then records until stopped.
    /// An error before `ready.ok()` aborts the capture; after it, it becomes a warning.
    fn run(self: Box<Self>, ctx: Context, ready: &mut Ready) -> anyhow::Result<()>;
}
