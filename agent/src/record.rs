//! The record loop: resolve the target, arm the collectors, write what they
//! send until the capture ends, then stop them and write the footer.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use holter_format::{Footer, Header, Options, Record, Warning, Writer, WriterOptions};

use crate::cadence::Cadence;
use crate::cli::RecordArgs;
use crate::clock::monotonic_ns;
use crate::collect::{Collector, Context, Ready, Settings};
use crate::status::Status;
use crate::target;
use crate::{host, procfs};

/// Records in flight between the collectors and the writer.
const CHANNEL_RECORDS: usize = 64 * 1024;
/// How often the loop looks at the stop conditions when no record arrives.
const TICK: Duration = Duration::from_millis(50);
/// How long the collectors may take to get ready.
const READY_WAIT: Duration = Duration::from_secs(30);
/// How long the collectors may take to stop once asked.
const STOP_WAIT: Duration = Duration::from_millis(1500);

/// What `record` did, for the final summary line.
pub struct Summary {
    pub reason: String,
    /// The file's size once closed (after repacking, if it was).
    pub bytes: u64,
    /// Its size as written while recording, before repacking: what
    /// `--max-size` measured.
    pub written: u64,
    pub records: u64,
    pub counts: crate::status::Counts,
    pub elapsed: Duration,
}

/// The collectors a capture runs, by its settings.
fn collectors(settings: &Settings) -> Vec<Box<dyn Collector>> {
    let mut list: Vec<Box<dyn Collector>> = Vec::new();
    if settings.samples {
        list.push(Box::new(crate::sample::Sampler));
    }
    // Cgroup and namespace snapshots run whatever else is on: every target
    // has processes or a cgroup, and each collector warns when it finds neither.
    list.push(Box::new(crate::snapshot::CgroupCollector));
    list.push(Box::new(crate::snapshot::NetCollector));
    if settings.syscalls {
        if settings.syscall_mode == "kernel" {
            list.push(Box::new(crate::syscalls::KernelCollector));
        } else {
            list.push(Box::new(crate::syscalls::SyscallCollector));
        }
    }
    list
}

pub fn run(args: &RecordArgs) -> anyhow::Result<Summary> {
    let settings = Settings {
        frequency_hz: args.frequency,
        unwind: if args.unwind == "fp" {
            crate::unwind::Mode::Fp
        } else {
            crate::unwind::Mode::Dwarf
        },
        stack_bytes: args.stack_size & !7,
        samples: !args.no_samples,
        off_cpu: args.off_cpu && !args.no_samples,
        syscalls: args.syscalls.is_some(),
        syscall_mode: match args.syscalls.as_deref() {
            Some("kernel") => "kernel",
            _ => "ptrace",
        },
        syscalls_filter: args.syscalls_filter.clone(),
        redact: args.redact,
        interval: args.interval,
    };
    let (target, mut launched) = target::resolve(args)?;
    let (file, output) = crate::output::create(&args.output, args.force)?;
    // After the launched command was forked: it keeps the caller's niceness.
    raise_priority(args.nice);
    let target = Arc::new(target);

    let redact = crate::redact::Redact::new(settings.redact);
    let mut node = host::describe();
    node.hostname = redact.path(&node.hostname);
    let spec = match target.kind {
        "command" => redact.command(&args.command),
        // A cgroup path, a container id or prefix, a pod's namespace/name.
        "cgroup" | "container" | "pod" => redact.cgroup_path(&target.spec),
        _ => target.spec.clone(),
    };
    let header = Header {
        host: node,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        target: holter_format::Target {
            kind: target.kind.to_string(),
            spec,
            pids: target.pids.clone(),
            cgroups: target
                .cgroup_dir
                .iter()
                .map(|p| redact.cgroup_path(&p.display().to_string()))
                .collect(),
            // The same token as the id's component in the cgroup paths.
            container_id: target
                .container_id
                .as_deref()
                .map(|id| redact.cgroup_path(id)),
        },
        options: Options {
            samples: settings.samples,
            sample_event: if settings.samples {
                crate::sample::sample_event().name().to_string()
            } else {
                String::new()
            },
            frequency_hz: settings.frequency_hz,
            syscalls: settings.syscalls,
            cgroup_interval_ns: settings.interval.as_nanos() as u64,
            duration_ns: args.duration.map(|d| d.as_nanos() as u64),
            redact: settings.redact,
            max_size: args.max_size,
            syscalls_filter: settings.syscalls_filter.clone(),
        },
        clock: host::clock_pair(),
        unwind: if settings.samples {
            settings.unwind.name().to_string()
        } else {
            String::new()
        },
        stack_bytes: match settings.unwind {
            crate::unwind::Mode::Dwarf if settings.samples => settings.stack_bytes,
            _ => 0,
        },
        runtime: target.runtime.clone().unwrap_or_default(),
        // A name is as telling as the id: the same token as a spec naming it.
        container_name: target
            .container_name
            .as_deref()
            .map(|n| redact.cgroup_path(n))
            .unwrap_or_default(),
        syscall_mode: if settings.syscalls {
            settings.syscall_mode.to_string()
        } else {
            String::new()
        },
        off_cpu: settings.off_cpu,
    };
    // A second descriptor of the capture, synced beside the writer.
    let sync_file = file
        .try_clone()
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let mut writer = Writer::new(BufWriter::new(file), header, WriterOptions::default())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let syncer =
        crate::sync::Syncer::start(sync_file, dir).context("cannot start the sync thread")?;

    // A launched command is held before exec: /proc shows a copy of the agent
    // (its comm, argv and exe), not the command. The collector that sees its
    // exec describes it then (the sampler's COMM, the tracer's exec stop, the
    // syscall events' first sight); with none of them on, the loop below does.
    let now = monotonic_ns();
    if launched.is_none() {
        for pid in target.current_pids() {
            write_process(&mut writer, pid, now, settings.redact)?;
        }
    }
    let mut describe_launched = launched
        .as_ref()
        .filter(|_| !settings.samples && !settings.syscalls)
        .map(|l| l.pid);

    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, interrupted.clone())
            .context("cannot install signal handlers")?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel::<Record>(CHANNEL_RECORDS);
    let (ready_tx, ready_rx) = mpsc::channel();
    let settings = Arc::new(settings);
    let mut running: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)> = Vec::new();
    for collector in collectors(&settings) {
        let name = collector.name();
        let ctx = Context::new(target.clone(), settings.clone(), tx.clone(), stop.clone());
        let mut ready = Ready::new(ready_tx.clone());
        let handle = std::thread::Builder::new()
            .name(format!("holter-{name}"))
            .spawn(move || {
                let result = collector.run(ctx, &mut ready);
                if let Err(e) = &result {
                    ready.fail(format!("{e:#}"));
                }
                ready.ok();
                result
            })
            .context("cannot start a collector thread")?;
        running.push((name, handle));
    }
    drop(tx);
    drop(ready_tx);

    // Every collector armed, or the capture is abandoned (the file still gets its footer).
    // A signal is honoured while waiting; a collector that never gets ready
    // (blocked on something the target controls) abandons the capture too.
    let mut failure = None;
    let mut armed = 0;
    let ready_by = Instant::now() + READY_WAIT;
    while armed < running.len() {
        match ready_rx.recv_timeout(TICK) {
            Ok(Ok(())) => armed += 1,
            Ok(Err(why)) => {
                failure = Some(why);
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if interrupted.load(Ordering::Relaxed) {
                    failure = Some("interrupted before recording started".to_string());
                    break;
                }
                if Instant::now() > ready_by {
                    failure = Some(format!(
                        "a collector was not ready within {} s",
                        READY_WAIT.as_secs()
                    ));
                    break;
                }
            }
        }
    }
    if failure.is_none() {
        if let Some(l) = launched.as_mut() {
            l.release();
        }
        signal_ready();
    }

    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut status = Status::new(args.duration);
    let mut next_check = started;
    let mut cadence = Cadence::new(TICK.as_nanos() as u64);
    let reason = if let Some(why) = &failure {
        format!("error: {why}")
    } else {
        loop {
            match rx.recv_timeout(TICK) {
                Ok(record) => {
                    // Drain what waits with one look at the clock.
                    let now = monotonic_ns();
                    for record in std::iter::once(record).chain(rx.try_iter().take(4096)) {
                        status.note(&record);
                        let before = writer.bytes_written();
                        writer.write(&record)?;
                        if writer.bytes_written() != before {
                            // A full frame was written, with this record.
                            cadence.written();
                        } else {
                            cadence.note(&record, now);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Every collector has returned; the stop conditions still decide.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            }
            // The stop conditions read /proc and the clock: once a tick, not per receive.
            let now = Instant::now();
            if now < next_check {
                continue;
            }
            next_check = now + TICK;
            // A frame once the oldest data waiting is due (not a second after
            // the last frame: the sampler held its batches already).
            if cadence.due(monotonic_ns()) {
                writer.flush()?;
                cadence.written();
            }
            // On disk so far (the pending frame is not compressed yet).
            status.tick(writer.bytes_written());
            if let Some(s) = &syncer {
                s.written(writer.bytes_written());
            }
            if interrupted.load(Ordering::Relaxed) {
                break "signal".to_string();
            }
            if deadline.is_some_and(|d| now >= d) {
                break "duration".to_string();
            }
            if let Some(max) = args.max_size {
                // The estimate may be rough (no frame written yet): measure before stopping.
                if writer.estimated_len() >= max {
                    writer.flush()?;
                    cadence.written();
                }
                if writer.bytes_written() >= max {
                    break "max size".to_string();
                }
            }
            if let Some(pid) = describe_launched {
                if target::ran_program(pid) {
                    write_process(&mut writer, pid, monotonic_ns(), settings.redact)?;
                    describe_launched = None;
                }
            }
            if let Some(l) = &launched {
                l.reap();
            }
            if !target.alive() {
                break "target exited".to_string();
            }
        }
    };

    // Stop the collectors, keep writing what they still send, then join them.
    // A collector that does not stop within STOP_WAIT (blocked in a read)
    // is left behind with a warning: the capture still ends, with its footer.
    stop.store(true, Ordering::Relaxed);
    status.clear();
    let stop_by = Instant::now() + STOP_WAIT;
    loop {
        let left = stop_by.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(record) => {
                status.note(&record);
                writer.write(&record)?;
            }
            Err(_) => break,
        }
    }
    for (name, handle) in running {
        // A collector that has sent its last record is returning: a moment more.
        let grace = stop_by.max(Instant::now()) + Duration::from_millis(200);
        while !handle.is_finished() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !handle.is_finished() {
            writer.write(&Record::Warning(Warning {
                time_ns: monotonic_ns(),
                message: format!(
                    "{name}: did not stop within {} ms (blocked); what it had not sent is lost",
                    STOP_WAIT.as_millis()
                ),
            }))?;
            continue;
        }
        let message = match handle.join() {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("{name}: {e:#}"),
            Err(_) => format!("{name}: collector panicked"),
        };
        writer.write(&Record::Warning(Warning {
            time_ns: monotonic_ns(),
            message,
        }))?;
    }
    if let Some(l) = &launched {
        l.reap();
    }
    if let Some(s) = &syncer {
        write_sync_stats(&mut writer, &s.stats())?;
    }
    let records = writer.counts().values().sum::<u64>() + 1;
    // The footer's frame included.
    let frames = writer.frames_written() + 1;
    let out = writer.finish(Footer {
        end_ns: monotonic_ns(),
        end_wall_ns: crate::clock::wall_ns(),
        reason: reason.clone(),
        counts: Vec::new(),
    })?;
    let mut file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
    // The footer on disk too, before the capture is repacked (a new file, synced itself).
    if let Some(s) = syncer {
        s.finish(written);
    }
    let bytes = match repack(&output, &mut file, frames) {
        Ok(Some(n)) => n,
        Ok(None) => written,
        Err(e) => {
            eprintln!(
                "holter-agent: warning: {}: not repacked into larger frames ({e}); kept as written",
                args.output.display()
            );
            written
        }
    };
    drop(file);
    output.commit()?;
    if let Some(why) = failure {
        bail!(
            "{why}\n(the capture {} was closed with what it had)",
            args.output.display()
        );
    }
    Ok(Summary {
        reason,
        bytes,
        written,
        records,
        counts: status.counts,
        elapsed: status.elapsed(),
    })
}

/// Captures up to this size are repacked when closed (repacking needs a
/// second copy on disk)...
const REPACK_MAX: u64 = 64 << 20;
/// ... when their frames are this small on average: larger ones gain little
/// (a capture of syscalls flushes frames of 100 KiB and more each second).
const REPACK_FRAME_MAX: u64 = 32 << 10;
/// Captures up to this size are repacked at zstd's strongest usual level
/// (19: a fraction of a second for them); larger ones at the writer's.
const REPACK_STRONG_MAX: u64 = 256 << 10;

/// Rewrites the closed capture in frames of up to 1 MiB instead of one a
/// second (`holter_format::repack`: the same records, read the same by every
/// reader of format 1.12 or newer, smaller: each small frame was compressed
/// without the others' context, and now with the built-in dictionary of
/// snapshot text, `holter_format::packed`). Returns its new size; `None` when it was left as it was
/// (`frames`: how many the writer wrote).
fn repack(
    output: &crate::output::Output,
    file: &mut File,
    frames: u64,
) -> std::io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    if len > REPACK_MAX || frames < 3 || len / frames > REPACK_FRAME_MAX {
        return Ok(None);
    }
    let opts = WriterOptions::default();
    let level = if len <= REPACK_STRONG_MAX {
        19
    } else {
        opts.level
    };
    let done = output.rewrite(file, |src, dst| {
        holter_format::repack(
            std::io::BufReader::new(src),
            BufWriter::new(dst),
            opts.flush_bytes,
            level,
            true,
        )
        .map_err(std::io::Error::other)
    })?;
    Ok(Some(done.bytes_out))
}

/// How the capture was synced while recording ([`crate::sync`]): a
/// counter of syncs and the longest, and a warning if one failed.
fn write_sync_stats(
    writer: &mut Writer<BufWriter<File>>,
    stats: &crate::sync::Stats,
) -> anyhow::Result<()> {
    let time_ns = monotonic_ns();
    writer.write(&Record::Counters(holter_format::Counters {
        time_ns,
        values: vec![
            ("sync:fdatasync".into(), stats.syncs),
            ("sync:longest-us".into(), stats.longest_us),
        ],
    }))?;
    if let Some(e) = &stats.error {
        writer.write(&Record::Warning(Warning {
            time_ns,
            message: format!(
                "the capture could not be synced to disk ({e}): a node crash may lose more than its last seconds"
            ),
        }))?;
    }
    Ok(())
}

fn write_process(
    writer: &mut Writer<BufWriter<File>>,
    pid: u32,
    now: u64,
    redact: bool,
) -> anyhow::Result<()> {
    let Ok(process) = procfs::describe_process(pid, now, redact) else {
        return Ok(()); // exited meanwhile
    };
    writer.write(&Record::Process(process))?;
    for tid in procfs::threads(pid).unwrap_or_default() {
        if let Ok(thread) = procfs::describe_thread(pid, tid, now) {
            writer.write(&Record::Thread(thread))?;
        }
    }
    Ok(())
}

/// Says the capture is recording (signal handlers installed, every collector
/// armed, a launched command released) by creating the file named by
/// `HOLTER_READY_FILE`, for whoever started the agent (the e2e tests) to wait
/// on instead of sleeping. Unset: nothing. A failure is a warning only.
fn signal_ready() {
    let Some(path) = std::env::var_os("HOLTER_READY_FILE").filter(|p| !p.is_empty()) else {
        return;
    };
    if let Err(e) = std::fs::write(&path, b"ready\n") {
        eprintln!(
            "holter-agent: warning: cannot write the ready file {}: {e}",
            Path::new(&path).display()
        );
    }
}

/// Gives the agent's threads (this one, and every thread it starts from now
/// on) the niceness `nice`, so that on CPUs the target saturates the rings are
/// still read in time. Failure (no CAP_SYS_NICE) leaves the caller's niceness.
fn raise_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: setpriority on the calling thread (Linux: PRIO_PROCESS 0 is the
    // calling thread, which later threads inherit from).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, nice);
    }
}
