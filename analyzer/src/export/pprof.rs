//! pprof's `profile.proto` (github.com/google/pprof/proto/profile.proto),
//! gzipped: sample types `samples/count` and `cpu/nanoseconds`, one
//! location per frame address (inlined calls as its lines, innermost
//! first), functions, and one mapping per mapped file with its build-id.
//! Samples of one thread and stack are one sample (values summed), labelled
//! `pid`, `tid` and `thread`. The encoder is the few protobuf wire rules the
//! message needs.

use std::io::Write;

use flate2::write::GzEncoder;
use rustc_hash::FxHashMap as HashMap;

use super::{ExportError, Place, Profile, KERNEL_MODULE};

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }
    /// An integer field (int64/uint64/bool), left out when zero as proto3 does.
    fn int(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn msg(&mut self, field: u32, m: &Msg) {
        self.bytes(field, &m.0);
    }
    fn packed(&mut self, field: u32, values: impl IntoIterator<Item = u64>) {
        let mut p = Msg::default();
        for v in values {
            p.varint(v);
        }
        if !p.0.is_empty() {
            self.bytes(field, &p.0);
        }
    }
}

/// The string table: index 0 is "".
struct Strings {
    ids: HashMap<String, u64>,
    list: Vec<String>,
}

impl Strings {
    fn new() -> Self {
        Strings {
            ids: HashMap::from_iter([(String::new(), 0)]),
            list: vec![String::new()],
        }
    }
    fn id(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.list.len() as u64;
        self.ids.insert(s.to_string(), i);
        self.list.push(s.to_string());
        i
    }
}

fn value_type(strings: &mut Strings, kind: &str, unit: &str) -> Msg {
    let mut m = Msg::default();
    m.int(1, strings.id(kind));
    m.int(2, strings.id(unit));
    m
}

/// Encodes `profile` as an uncompressed `Profile` message.
pub fn encode(profile: &Profile, budget: u64, path: &str) -> Result<Vec<u8>, ExportError> {
    let mut strings = Strings::new();
    let mut p = Msg::default();
    // sample_type = 1
    p.msg(1, &value_type(&mut strings, "samples", "count"));
    p.msg(1, &value_type(&mut strings, "cpu", "nanoseconds"));

    // sample = 2: one per (thread, stack), in first-seen order.
    let (pid_key, tid_key, thread_key) =
        (strings.id("pid"), strings.id("tid"), strings.id("thread"));
    // Per sample message, reused buffers; the labels are a thread's, the
    // same for each of its samples, encoded once.
    let mut m = Msg::default();
    let mut locs = Msg::default();
    for t in &profile.threads {
        let mut sums: HashMap<u32, (u64, u64)> = HashMap::default();
        let mut order = Vec::new();
        for s in &t.samples {
            let e = sums.entry(s.stack).or_insert_with(|| {
                order.push(s.stack);
                (0, 0)
            });
            e.0 += 1;
            e.1 = e.1.saturating_add(s.weight_ns);
        }
        let thread_name = strings.id(&t.title());
        let mut labels = Msg::default();
        for (key, num, text) in [
            (pid_key, u64::from(t.pid), 0),
            (tid_key, u64::from(t.tid), 0),
            (thread_key, 0, thread_name),
        ] {
            let mut l = Msg::default();
            l.int(1, key);
            l.int(2, text);
            l.int(3, num);
            labels.msg(3, &l);
        }
        for stack in order {
            let (count, ns) = sums[&stack];
            m.0.clear();
            locs.0.clear();
            for l in profile.stacks[stack as usize].iter().rev() {
                locs.varint(u64::from(*l) + 1);
            }
            if !locs.0.is_empty() {
                m.msg(1, &locs);
            }
            locs.0.clear();
            locs.varint(count);
            locs.varint(ns);
            m.msg(2, &locs);
            m.0.extend_from_slice(&labels.0);
            p.msg(2, &m);
            if p.0.len() as u64 > budget {
                return Err(ExportError::OverBudget {
                    path: path.into(),
                    what: "pprof samples",
                    need: p.0.len() as u64,
                    budget,
                });
            }
        }
    }

    let kernel_mapping = profile.mappings.len() as u64 + 1;
    let has_kernel = profile.locations.iter().any(|l| l.place == Place::Kernel);
    for (i, m) in profile.mappings.iter().enumerate() {
        let mut mm = Msg::default();
        mm.int(1, i as u64 + 1);
        mm.int(2, m.start);
        mm.int(3, m.end);
        mm.int(4, m.pgoff);
        mm.int(5, strings.id(&m.path));
        mm.int(6, strings.id(&m.build_id));
        mm.int(7, 1); // has_functions: every location is named here
        p.msg(3, &mm);
    }
    if has_kernel {
        let mut mm = Msg::default();
        mm.int(1, kernel_mapping);
        mm.int(2, 0xffff_8000_0000_0000);
        mm.int(3, u64::MAX);
        mm.int(5, strings.id(KERNEL_MODULE));
        mm.int(7, 1);
        p.msg(3, &mm);
    }

    // location = 4
    for (i, l) in profile.locations.iter().enumerate() {
        let mut lm = Msg::default();
        lm.int(1, i as u64 + 1);
        lm.int(
            2,
            match l.place {
                Place::Mapped(m) => u64::from(m) + 1,
                Place::Kernel => kernel_mapping,
                Place::Unmapped => 0,
            },
        );
        lm.int(3, l.address);
        // Innermost first: the last line is the caller the others were inlined into.
        for f in l.functions.iter().rev() {
            let mut line = Msg::default();
            line.int(1, u64::from(*f) + 1);
            lm.msg(4, &line);
        }
        p.msg(4, &lm);
    }

    // function = 5
    for (i, f) in profile.functions.iter().enumerate() {
        let mut fm = Msg::default();
        fm.int(1, i as u64 + 1);
        let name = strings.id(&f.name);
        fm.int(2, name);
        fm.int(3, name);
        p.msg(5, &fm);
    }

    // time_nanos = 9, duration_nanos = 10, period_type = 11, period = 12
    let (time, duration, period) = (
        profile.start_wall_ns,
        profile.end_ns.saturating_sub(profile.start_ns),
        profile.interval_ns,
    );
    let period_type = value_type(&mut strings, "cpu", "nanoseconds");
    let comment = strings.id(&format!("holter export of {}", profile.name));
    // string_table = 6
    for s in &strings.list {
        p.bytes(6, s.as_bytes());
    }
    if p.0.len() as u64 > budget {
        return Err(ExportError::OverBudget {
            path: path.into(),
            what: "pprof profile",
            need: p.0.len() as u64,
            budget,
        });
    }
    p.int(9, time);
    p.int(10, duration);
    p.msg(11, &period_type);
    p.int(12, period);
    p.packed(13, [comment]);
    // default_sample_type = 14: cpu
    p.int(14, strings.id("cpu"));
    Ok(p.0)
}

/// Writes `profile` as a gzipped `profile.proto`.
pub fn write(
    profile: &Profile,
    budget: u64,
    path: &str,
    out: impl Write,
) -> Result<(), ExportError> {
    let bytes = encode(profile, budget, path)?;
    // The fastest level: deflate took 40% of a 1M-sample export at the
    // default level, for a file 15% smaller.
    let mut gz = GzEncoder::new(out, flate2::Compression::fast());
    gz.write_all(&bytes)?;
    gz.finish()?.flush()?;
    Ok(())
}
