//! Which samples a report covers: `--pid`, `--tid`, `--comm`, `--from`, `--to`.

use std::collections::HashMap;

use holter_format::Sample;

use crate::load::Capture;

/// Empty lists match everything; times are seconds since the capture start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub pids: Vec<u32>,
    pub tids: Vec<u32>,
    /// Matches the process name or the thread name.
    pub comms: Vec<String>,
    pub from_secs: Option<f64>,
    pub to_secs: Option<f64>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// A short description for messages, e.g. `--pid 12 --from 1.5`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.extend(self.pids.iter().map(|p| format!("--pid {p}")));
        parts.extend(self.tids.iter().map(|t| format!("--tid {t}")));
        parts.extend(self.comms.iter().map(|c| format!("--comm {c}")));
        parts.extend(self.from_secs.map(|s| format!("--from {s}")));
        parts.extend(self.to_secs.map(|s| format!("--to {s}")));
        parts.join(" ")
    }
}

/// Process and thread names over time, as the capture recorded them.
#[derive(Debug, Default)]
pub struct Names {
    /// pid → (time, name) sorted by time.
    process: HashMap<u32, Vec<(u64, String)>>,
    /// tid → (time, name) sorted by time.
    thread: HashMap<u32, Vec<(u64, String)>>,
}

impl Names {
    pub fn new(c: &Capture) -> Names {
        let mut n = Names::default();
        for p in &c.processes {
            n.process
                .entry(p.pid)
                .or_default()
                .push((p.time_ns, p.comm.clone()));
        }
        for t in &c.threads {
            n.thread
                .entry(t.tid)
                .or_default()
                .push((t.time_ns, t.comm.clone()));
        }
        for v in n.process.values_mut().chain(n.thread.values_mut()) {
            v.sort_by_key(|e| e.0);
        }
        n
    }

    /// The name of a process at a time: its process record, else its main
    /// thread's, else empty.
    pub fn process(&self, pid: u32, time_ns: u64) -> &str {
        at(self.process.get(&pid), time_ns)
            .or_else(|| at(self.thread.get(&pid), time_ns))
            .unwrap_or("")
    }

    /// Every name a process had, oldest first: its process records, else
    /// its main thread's.
    pub fn process_history(&self, pid: u32) -> &[(u64, String)] {
        self.process
            .get(&pid)
            .or_else(|| self.thread.get(&pid))
            .map_or(&[], Vec::as_slice)
    }

    pub fn thread(&self, tid: u32, time_ns: u64) -> &str {
        at(self.thread.get(&tid), time_ns).unwrap_or("")
    }
}

/// The latest name given at or before `time_ns`, else the first one.
fn at(names: Option<&Vec<(u64, String)>>, time_ns: u64) -> Option<&str> {
    let v = names?;
    let i = v.partition_point(|e| e.0 <= time_ns).saturating_sub(1);
    v.get(i).map(|e| e.1.as_str())
}

/// Decides sample by sample.
pub struct Matcher<'a> {
    filter: &'a Filter,
    names: &'a Names,
    from_ns: u64,
    to_ns: u64,
}

impl<'a> Matcher<'a> {
    pub fn new(filter: &'a Filter, names: &'a Names, capture: &Capture) -> Matcher<'a> {
        let at = |secs: f64| {
            capture
                .start_ns()
                .saturating_add((secs.max(0.0) * 1e9) as u64)
        };
        Matcher {
            filter,
            names,
            from_ns: filter.from_secs.map_or(0, at),
            to_ns: filter.to_secs.map_or(u64::MAX, at),
        }
    }

    pub fn matches(&self, s: &Sample) -> bool {
        let f = self.filter;
        s.time_ns >= self.from_ns
            && s.time_ns <= self.to_ns
            && (f.pids.is_empty() || f.pids.contains(&s.pid))
            && (f.tids.is_empty() || f.tids.contains(&s.tid))
            && (f.comms.is_empty() || {
                let p = self.names.process(s.pid, s.time_ns);
                let t = self.names.thread(s.tid, s.time_ns);
                f.comms.iter().any(|c| c == p || c == t)
            })
    }
}
