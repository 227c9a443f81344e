//! The live status line while recording on a terminal, and the summary at the end.
//!
//! The record loop calls [`Status::note`] for every record (a match and an
//! add) and [`Status::tick`] once per batch; the line is drawn at most every
//! [`REFRESH`], on stderr, and only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use holter_format::Record;

/// How often the line is redrawn.
pub const REFRESH: Duration = Duration::from_millis(250);

/// What the capture holds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub samples: u64,
    pub syscalls: u64,
    /// Cgroup snapshots: times the target's cgroup directories were read (as
    /// `holter info` counts them: one per time, whatever the directories).
    pub snapshots: u64,
    /// Network snapshots.
    pub net: u64,
    /// Time of the last cgroup record counted.
    last_cgroup_ns: Option<u64>,
    /// Events the collectors could not record (from their `Lost` records).
    pub lost: u64,
}

impl Counts {
    pub fn note(&mut self, record: &Record) {
        match record {
            Record::Sample(_) => self.samples += 1,
            Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => {
                self.samples += b.len() as u64
            }
            Record::Syscall(_) => self.syscalls += 1,
            // One collector writes every directory of a snapshot in a row, all at one time.
            Record::CgroupSnapshot(holter_format::CgroupSnapshot { time_ns, .. })
            | Record::CgroupDelta(holter_format::CgroupDelta { time_ns, .. })
            | Record::CgroupNumDelta(holter_format::CgroupNumDelta { time_ns, .. })
                if self.last_cgroup_ns != Some(*time_ns) =>
            {
                self.last_cgroup_ns = Some(*time_ns);
                self.snapshots += 1;
            }
            Record::NetSnapshot(_) | Record::NetDelta(_) => self.net += 1,
            Record::Lost(l) => self.lost += l.count,
            _ => {}
        }
    }
}

pub struct Status {
    enabled: bool,
    started: Instant,
    next: Instant,
    duration: Option<Duration>,
    drawn: bool,
    pub counts: Counts,
}

impl Status {
    /// A status line on stderr if it is a terminal; silent otherwise.
    pub fn new(duration: Option<Duration>) -> Status {
        Status::with(std::io::stderr().is_terminal(), duration)
    }

    pub fn with(enabled: bool, duration: Option<Duration>) -> Status {
        let now = Instant::now();
        Status {
            enabled,
            started: now,
            next: now,
            duration,
            drawn: false,
            counts: Counts::default(),
        }
    }

    #[inline]
    pub fn note(&mut self, record: &Record) {
        self.counts.note(record);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Redraws the line if it is due; `bytes` is the capture's size so far.
    pub fn tick(&mut self, bytes: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + REFRESH;
        let text = line(now - self.started, self.duration, &self.counts, bytes);
        let mut err = std::io::stderr().lock();
        // Carriage return, the line, then clear what a longer line left.
        let _ = write!(err, "\r{text}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Removes the line, so the summary starts on a clean line.
    pub fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

/// `1.5 KiB`, `12.0 MiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// `recording 0:12/0:30  samples 1188  syscalls 25431  snapshots 48  lost 0  1.2 MiB  (Ctrl-C stops)`.
pub fn line(elapsed: Duration, duration: Option<Duration>, c: &Counts, bytes: u64) -> String {
    let time = match duration {
        Some(d) => format!("{}/{}", clock(elapsed), clock(d)),
        None => clock(elapsed),
    };
    format!(
        "recording {time}  samples {}  syscalls {}  cgroup snapshots {}  lost {}  {}  (Ctrl-C stops)",
        c.samples,
        c.syscalls,
        c.snapshots,
        c.lost,
        human_bytes(bytes)
    )
}

/// The last line: where the capture is and what it holds.
/// The final line of `record`. `bytes` is the file's size once closed,
/// `written` its size as recorded (they differ when it was repacked; the
/// exact count is what `--max-size` measured).
pub fn summary(
    path: &str,
    (bytes, written): (u64, u64),
    elapsed: Duration,
    c: &Counts,
    reason: &str,
) -> String {
    let size = if bytes == written {
        human_bytes(bytes)
    } else {
        format!("{}, repacked from {written} bytes", human_bytes(bytes))
    };
    format!(
        "holter-agent: wrote {path} ({size}, {} samples, {} syscalls, {} cgroup snapshots, {} network snapshots, {} lost; {:.1} s, ended by {reason})",
        c.samples,
        c.syscalls,
        c.snapshots,
        c.net,
        c.lost,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use holter_format::{Lost, Sample, SampleBatch};

    #[test]
    fn counts_and_lines() {
        let mut c = Counts::default();
        c.note(&Record::Sample(Sample::default()));
        c.note(&Record::SampleBatch(SampleBatch::from_samples(&[
            Sample::default(),
        ])));
        c.note(&Record::Lost(Lost {
            time_ns: 0,
            kind: "samples".into(),
            count: 7,
        }));
        assert_eq!(
            c,
            Counts {
                samples: 2,
                lost: 7,
                ..Counts::default()
            }
        );
        assert_eq!(
            line(Duration::from_millis(72_400), Some(Duration::from_secs(90)), &c, 1536),
            "recording 1:12/1:30  samples 2  syscalls 0  cgroup snapshots 0  lost 7  1.5 KiB  (Ctrl-C stops)"
        );
        assert_eq!(
            summary("a.holter", (3 << 20, 3 << 20), Duration::from_millis(2500), &c, "duration"),
            "holter-agent: wrote a.holter (3.0 MiB, 2 samples, 0 syscalls, 0 cgroup snapshots, 0 network snapshots, 7 lost; 2.5 s, ended by duration)"
        );
        assert_eq!(
            summary("a.holter", (1536, 262_500), Duration::from_millis(2500), &c, "max size"),
            "holter-agent: wrote a.holter (1.5 KiB, repacked from 262500 bytes, 2 samples, 0 syscalls, 0 cgroup snapshots, 0 network snapshots, 7 lost; 2.5 s, ended by max size)"
        );
        assert_eq!(human_bytes(1000), "1000 B");
        // A cgroup snapshot of three directories (a full one and two deltas) counts once.
        let mut c = Counts::default();
        for t in [5, 5, 5, 9, 9, 9] {
            c.note(&Record::CgroupSnapshot(holter_format::CgroupSnapshot {
                time_ns: t,
                ..Default::default()
            }));
        }
        c.note(&Record::CgroupDelta(holter_format::CgroupDelta {
            time_ns: 12,
            ..Default::default()
        }));
        c.note(&Record::NetSnapshot(Default::default()));
        assert_eq!((c.snapshots, c.net), (3, 1));
    }

    #[test]
    fn silent_when_not_a_terminal() {
        let mut s = Status::with(false, None);
        s.tick(10);
        assert!(!s.drawn);
        s.clear();
    }
}
