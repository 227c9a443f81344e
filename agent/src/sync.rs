//! The capture on stable storage while it is recorded: a thread of its own
//! calls `fdatasync` on the capture at most once every [`EVERY`], when frames
//! were written since its last call, so that a node crash (power loss, kernel
//! panic, reboot) loses at most about two seconds: the writer's second
//! ([`crate::cadence::LATENCY_NS`]) and this one. The sampler and the writer
//! never wait for it: they write to the page cache as before, and the sync
//! runs beside them on a second descriptor of the same file. The capture's
//! directory is synced once, at the first pass, so that its name survives
//! too. `HOLTER_NO_SYNC=1` turns it off (bench/fsync.sh compares).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most often the capture is synced.
pub const EVERY: Duration = Duration::from_secs(1);

/// What the sync thread did, for the capture's counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub syncs: u64,
    /// The longest `fdatasync`, in microseconds.
    pub longest_us: u64,
    /// The first failure, if any (the capture goes on: it is only less durable).
    pub error: Option<String>,
}

/// Whether to sync at `now`: bytes were written past what was synced, and
/// the last sync (`None`: none yet) was [`EVERY`] ago or more.
pub fn due(written: u64, synced: u64, last: Option<Instant>, now: Instant) -> bool {
    written > synced && last.is_none_or(|l| now.saturating_duration_since(l) >= EVERY)
}

/// The sync thread; stopped (with a last sync) by [`Syncer::finish`].
pub struct Syncer {
    written: Arc<AtomicU64>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    stats: Arc<Mutex<Stats>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts syncing `file` (a descriptor of the capture of its own), in
    /// directory `dir`. `None` when `HOLTER_NO_SYNC` is set.
    pub fn start(file: File, dir: &Path) -> std::io::Result<Option<Syncer>> {
        if std::env::var_os("HOLTER_NO_SYNC").is_some_and(|v| v == "1") {
            return Ok(None);
        }
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stats = Arc::new(Mutex::new(Stats::default()));
        let (w, s, st, dir) = (
            written.clone(),
            stop.clone(),
            stats.clone(),
            dir.to_path_buf(),
        );
        let thread = std::thread::Builder::new()
            .name("holter-sync".into())
            .spawn(move || run(&file, &dir, &w, &s, &st))?;
        Ok(Some(Syncer {
            written,
            stop,
            stats,
            thread: Some(thread),
        }))
    }

    /// The capture is written (to the kernel) up to `bytes`.
    pub fn written(&self, bytes: u64) {
        self.written.fetch_max(bytes, Ordering::Relaxed);
    }

    /// What the thread did so far.
    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Syncs what was written up to `bytes` a last time and stops.
    pub fn finish(mut self, bytes: u64) -> Stats {
        self.written(bytes);
        self.stop_thread();
        self.stats()
    }

    fn stop_thread(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_thread();
        }
    }
}

fn run(
    file: &File,
    dir: &Path,
    written: &AtomicU64,
    stop: &(Mutex<bool>, Condvar),
    shared: &Mutex<Stats>,
) {
    let mut stats = Stats::default();
    let (mut synced, mut last) = (0u64, None);
    let mut dir_synced = false;
    let (lock, cv) = stop;
    loop {
        let stopping = *lock.lock().unwrap_or_else(|e| e.into_inner());
        let upto = written.load(Ordering::Relaxed);
        let now = Instant::now();
        if stopping || due(upto, synced, last, now) {
            if upto > synced {
                match fdatasync(file) {
                    Ok(()) => synced = upto,
                    Err(e) => {
                        stats.error.get_or_insert_with(|| e.to_string());
                    }
                }
                stats.syncs += 1;
                stats.longest_us = stats.longest_us.max(now.elapsed().as_micros() as u64);
            }
            last = Some(now);
            if !dir_synced {
                dir_synced = true;
                if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
                    stats
                        .error
                        .get_or_insert_with(|| format!("{}: {e}", dir.display()));
                }
            }
            *shared.lock().unwrap_or_else(|e| e.into_inner()) = stats.clone();
        }
        if stopping {
            return;
        }
        // Woken at once to stop; otherwise a look every tenth of EVERY.
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !*guard {
            let _ = cv.wait_timeout(guard, EVERY / 10);
        }
    }
}

fn fdatasync(file: &File) -> std::io::Result<()> {
    // SAFETY: fdatasync on a descriptor owned by `file`.
    if unsafe { libc::fdatasync(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_once_a_second_and_only_for_new_bytes() {
        let t = Instant::now();
        assert!(due(10, 0, None, t), "the first bytes at once");
        assert!(!due(10, 10, None, t), "nothing new");
        assert!(!due(20, 10, Some(t), t + EVERY - Duration::from_millis(1)));
        assert!(due(20, 10, Some(t), t + EVERY));
        assert!(!due(10, 10, Some(t), t + 10 * EVERY), "nothing new");
    }

    /// The thread syncs what it is told was written, and a last time when
    /// finished, without the caller waiting for it meanwhile.
    #[test]
    fn the_thread_syncs_and_finishes_at_once() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.holter");
        let mut f = File::create(&path).unwrap();
        let s = Syncer::start(f.try_clone().unwrap(), dir.path())
            .unwrap()
            .expect("HOLTER_NO_SYNC is not set in tests");
        f.write_all(b"frame").unwrap();
        s.written(5);
        f.write_all(b"frame").unwrap();
        let started = Instant::now();
        let stats = s.finish(10);
        assert!(started.elapsed() < EVERY, "finish does not wait for a tick");
        assert!((1..=2).contains(&stats.syncs), "{stats:?}");
        assert_eq!(stats.error, None);
    }
}
