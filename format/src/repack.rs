//! Rewriting a finished capture into fewer, larger frames.
//!
//! The agent flushes a frame every second, so that a capture cut by
//! `kill -9` keeps all but its last second. Each frame is compressed on its
//! own, so the small ones compress poorly: what repeats from one second to
//! the next (stacks, snapshot file names, sample columns) is paid again in
//! every frame. Once the capture is closed, [`repack`] rewrites it with the
//! same records in the same order, in frames of up to `flush_bytes`: the
//! same file for every reader (the framing is unchanged), smaller.
//!
//! The first frame (the header) is copied as it is. Any damage (a cut frame,
//! a bad checksum, a frame that does not decompress) is an error: the caller
//! keeps the capture as written.

use std::io::{Read, Write};

use crate::{MAGIC, MAX_FRAME, MAX_PAYLOAD, PREAMBLE_LEN};

/// The first minor version with packed records and stack batches: what a
/// packed capture says it is at least.
const PACKED_SINCE: u16 = 13;

/// Most stack frames held before the stacks are written as a batch.
const STACKS_MAX_FRAMES: usize = 1 << 20;

/// What [`repack`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repacked {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RepackError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a capture this version can repack (bad magic or version)")]
    NotACapture,
    /// Packing a capture whose records are already packed would put packed
    /// records inside packed records, which readers refuse.
    #[error("frame {index} at offset {offset}: already packed; not repacked")]
    AlreadyPacked { index: u64, offset: u64 },
    #[error("frame {index} at offset {offset}: {what}; not repacked")]
    Damaged {
        index: u64,
        offset: u64,
        what: &'static str,
    },
}

/// Most samples in one merged batch (2 MiB of samples held while repacking).
pub const MERGE_MAX: usize = 1 << 16;

/// Merges the samples of consecutive `SampleBatchLessPeriod` records, and
/// the `Stack` records into stack batches.
#[derive(Default)]
struct Merger {
    samples: Vec<crate::Sample>,
    /// Stacks held (written before any record that may name them), and their frames.
    stacks: Vec<crate::Stack>,
    frames: usize,
    /// Batch records read, and written.
    read: u64,
    written: u64,
}

impl Merger {
    /// A frame's payload with its batches merged; `None` when a record is cut.
    fn payload(&mut self, mut p: &[u8]) -> Option<Vec<u8>> {
        const BATCH: u16 = 24;
        const FOOTER: u16 = 18;
        const STACK: u16 = 6;
        const SAMPLE: u16 = 7;
        const SAMPLE_BATCH: u16 = 19;
        const OFF_CPU: u16 = 25;
        let mut out = Vec::with_capacity(p.len());
        while !p.is_empty() {
            if p.len() < 6 {
                return None;
            }
            let kind = u16::from_le_bytes([p[0], p[1]]);
            let len = u32::from_le_bytes([p[2], p[3], p[4], p[5]]) as usize;
            if len > p.len() - 6 {
                return None;
            }
            let (record, rest) = p.split_at(6 + len);
            p = rest;
            match kind {
                STACK => {
                    if let Ok(st) = crate::compat::decode::<crate::Stack>(&record[6..]) {
                        self.frames += st.kernel.len() + st.user.len();
                        self.stacks.push(st);
                        if self.frames >= STACKS_MAX_FRAMES && !self.emit_stacks(&mut out) {
                            return None;
                        }
                        continue;
                    }
                }
                // Records that name stacks: after every stack they may name.
                SAMPLE | SAMPLE_BATCH | OFF_CPU if !self.emit_stacks(&mut out) => return None,
                BATCH => {
                    if let Ok(b) = crate::compat::decode::<crate::SampleBatch>(&record[6..]) {
                        if b.time_deltas_ns.is_empty() {
                            self.read += 1;
                            self.samples.extend(b.samples());
                            if self.samples.len() >= MERGE_MAX && !self.emit(&mut out) {
                                return None;
                            }
                            continue;
                        }
                    }
                }
                FOOTER => {
                    if !self.emit(&mut out) {
                        return None;
                    }
                    if let Ok(mut f) = crate::compat::decode::<crate::Footer>(&record[6..]) {
                        for (k, n) in f.counts.iter_mut() {
                            if *k == BATCH {
                                *n = n.saturating_sub(self.read).saturating_add(self.written);
                            }
                        }
                        if push(&mut out, &crate::Record::Footer(f)) {
                            continue;
                        }
                    }
                }
                _ => {}
            }
            out.extend_from_slice(record);
        }
        Some(out)
    }

    /// Writes the samples held as one batch record; `false` if it could not
    /// be encoded (the repack then fails and the capture stays as written).
    fn emit(&mut self, out: &mut Vec<u8>) -> bool {
        if !self.emit_stacks(out) {
            return false;
        }
        if self.samples.is_empty() {
            return true;
        }
        let batch = crate::SampleBatch::from_samples_less_period(&self.samples);
        match crate::sample_columns::record(&batch) {
            Some(r) => out.extend_from_slice(&r),
            None if push(out, &crate::Record::SampleBatchLessPeriod(batch)) => {}
            None => return false,
        }
        self.written += 1;
        self.samples.clear();
        true
    }
}

impl Merger {
    /// Writes the stacks held as one stack batch (format 1.13), or as the
    /// `Stack` records they were when a batch cannot hold them.
    fn emit_stacks(&mut self, out: &mut Vec<u8>) -> bool {
        if self.stacks.is_empty() {
            return true;
        }
        match crate::stack_batch::record(&self.stacks) {
            Some(r) => out.extend_from_slice(&r),
            None => {
                for st in std::mem::take(&mut self.stacks) {
                    if !push(out, &crate::Record::Stack(st)) {
                        return false;
                    }
                }
            }
        }
        self.stacks.clear();
        self.frames = 0;
        true
    }
}

/// Whether a frame's payload holds a packed record.
fn holds_packed(mut p: &[u8]) -> bool {
    while p.len() >= 6 {
        let kind = u16::from_le_bytes([p[0], p[1]]);
        if kind == crate::packed::PACKED_KIND {
            return true;
        }
        let len = u32::from_le_bytes([p[2], p[3], p[4], p[5]]) as usize;
        p = p.get(6 + len.min(p.len())..).unwrap_or(&[]);
    }
    false
}

/// Appends a record (kind, length, body); `false` if it could not be encoded.
fn push(out: &mut Vec<u8>, record: &crate::Record) -> bool {
    let Ok(body) = record.encode(Vec::new()) else {
        return false;
    };
    out.extend_from_slice(&record.kind().to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    true
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of input
/// (nothing read), an error when the input ends inside.
fn read_exact_or_end(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Copies the capture `src` to `dst` with its frames after the first merged
/// into frames of up to `flush_bytes` of records (a frame that is larger on
/// its own stays whole), compressed at zstd `level`. With `pack`, each new
/// frame holds one [`crate::packed`] record instead (format 1.12: the records
/// compressed with the built-in dictionary; a reader older than 1.12 skips
/// them), and the file says it is 1.13 or newer; merged sample batches are
/// written as [`crate::sample_columns`] records (1.13: times Rice-coded
/// where that is smaller), read back as the `SampleBatchLessPeriod` records
/// they stand for; the `Stack` records are
/// held and written as [`crate::stack_batch`] records (format 1.13) just
/// before the first record after them that may name a stack (a sample, a
/// batch, off-CPU intervals, or the footer); and the samples of the
/// `SampleBatchLessPeriod` records (one a second while recording) are merged
/// into batches of up to [`MERGE_MAX`] samples, each written where the batch
/// that filled it stood (so after every stack its samples use) and the
/// rest before the footer, whose counts then say how many batch records the
/// file holds: the same samples in the same order, without a batch's
/// lengths and absolute first time every second.
pub fn repack(
    mut src: impl Read,
    mut dst: impl Write,
    flush_bytes: usize,
    level: i32,
    pack: bool,
) -> Result<Repacked, RepackError> {
    let mut pre = [0u8; PREAMBLE_LEN];
    if !read_exact_or_end(&mut src, &mut pre)? || pre[..MAGIC.len()] != MAGIC {
        return Err(RepackError::NotACapture);
    }
    let major = u16::from_le_bytes([pre[8], pre[9]]);
    if major != crate::VERSION_MAJOR {
        return Err(RepackError::NotACapture);
    }
    let minor = u16::from_le_bytes([pre[10], pre[11]]);
    if pack && minor < PACKED_SINCE {
        pre[10..12].copy_from_slice(&PACKED_SINCE.to_le_bytes());
    }
    dst.write_all(&pre)?;
    let mut stats = Repacked {
        bytes_in: PREAMBLE_LEN as u64,
        bytes_out: PREAMBLE_LEN as u64,
        ..Repacked::default()
    };
    let mut batch: Vec<u8> = Vec::new();
    let mut frame = Vec::new();
    let mut merger = Merger::default();
    let write_frame =
        |dst: &mut dyn Write, payload: &[u8], stats: &mut Repacked| -> std::io::Result<()> {
            let z = if pack {
                // Already compressed: the frame's own zstd only wraps it.
                zstd::bulk::compress(&crate::packed::pack(payload, level)?, 1)?
            } else {
                zstd::bulk::compress(payload, level)?
            };
            dst.write_all(&(z.len() as u32).to_le_bytes())?;
            dst.write_all(&crc32c::crc32c(&z).to_le_bytes())?;
            dst.write_all(&z)?;
            stats.frames_out += 1;
            stats.bytes_out += 8 + z.len() as u64;
            Ok(())
        };
    loop {
        let offset = stats.bytes_in;
        let index = stats.frames_in;
        let damaged = |what| RepackError::Damaged {
            index,
            offset,
            what,
        };
        let mut head = [0u8; 8];
        match read_exact_or_end(&mut src, &mut head) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => return Err(damaged("cut inside its header")),
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len > MAX_FRAME {
            return Err(damaged("bad length"));
        }
        frame.resize(len as usize, 0);
        if !matches!(read_exact_or_end(&mut src, &mut frame), Ok(true)) {
            return Err(damaged("cut"));
        }
        if crc32c::crc32c(&frame) != crc {
            return Err(damaged("bad checksum"));
        }
        stats.frames_in += 1;
        stats.bytes_in += 8 + len as u64;
        if index == 0 {
            // The header's frame, as it was.
            dst.write_all(&head)?;
            dst.write_all(&frame)?;
            stats.frames_out += 1;
            stats.bytes_out += 8 + len as u64;
            continue;
        }
        let mut payload = zstd::bulk::decompress(&frame, MAX_PAYLOAD)
            .map_err(|_| damaged("does not decompress"))?;
        if pack && holds_packed(&payload) {
            return Err(RepackError::AlreadyPacked { index, offset });
        }
        if pack {
            payload = merger
                .payload(&payload)
                .ok_or_else(|| damaged("holds a cut record or samples that could not be merged"))?;
        }
        if !batch.is_empty() && batch.len() + payload.len() > flush_bytes {
            write_frame(&mut dst, &batch, &mut stats)?;
            batch.clear();
        }
        batch.extend_from_slice(&payload);
    }
    if !merger.emit(&mut batch) {
        return Err(RepackError::Damaged {
            index: stats.frames_in,
            offset: stats.bytes_in,
            what: "samples that could not be merged",
        });
    }
    if !batch.is_empty() {
        write_frame(&mut dst, &batch, &mut stats)?;
    }
    dst.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Footer, Header, Reader, Record, Sample, Warning, Writer, WriterOptions};

    fn capture(frames: usize) -> (Vec<u8>, Vec<Record>) {
        let mut w = Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
        for i in 0..frames {
            for j in 0..50u64 {
                w.write(&Record::Sample(Sample {
                    time_ns: i as u64 * 1000 + j,
                    pid: 7,
                    tid: 7,
                    cpu: 1,
                    stack_id: (j % 5) as u32,
                    period: 10_101_010,
                }))
                .unwrap();
            }
            w.write(&Record::Warning(Warning {
                time_ns: i as u64,
                message: format!("second {i}"),
            }))
            .unwrap();
            w.flush().unwrap();
        }
        let bytes = w.finish(Footer::default()).unwrap();
        let records = Reader::new(&bytes[..]).unwrap().collect();
        (bytes, records)
    }

    /// The same records in the same order, in fewer frames and fewer bytes.
    #[test]
    fn repacked_captures_read_the_same_and_are_smaller() {
        let (bytes, records) = capture(30);
        let mut out = Vec::new();
        let st = repack(&bytes[..], &mut out, 1 << 20, 3, false).unwrap();
        assert_eq!(st.frames_in, 32, "header, 30 seconds, footer");
        assert_eq!(st.frames_out, 2, "header, then everything else");
        assert_eq!(st.bytes_in, bytes.len() as u64);
        assert_eq!(st.bytes_out, out.len() as u64);
        assert!(
            out.len() * 3 < bytes.len() * 2,
            "{} vs {}",
            out.len(),
            bytes.len()
        );
        let mut r = Reader::new(&out[..]).unwrap();
        let again: Vec<Record> = r.by_ref().collect();
        assert_eq!(again, records);
        assert!(r.is_complete() && r.warnings().is_empty());
        // Frames are bounded by flush_bytes.
        let mut small = Vec::new();
        let st = repack(&bytes[..], &mut small, 2000, 3, false).unwrap();
        assert!(st.frames_out > 2 && st.frames_out < 32, "{st:?}");
        assert_eq!(
            Reader::new(&small[..]).unwrap().collect::<Vec<_>>(),
            records
        );
    }

    /// A damaged or cut capture is refused, never half-repacked silently.
    #[test]
    fn damage_is_an_error() {
        let (bytes, _) = capture(3);
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 3);
        assert!(matches!(
            repack(&cut[..], Vec::new(), 1 << 20, 3, false),
            Err(RepackError::Damaged { what: "cut", .. })
        ));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            repack(&bad[..], Vec::new(), 1 << 20, 3, false),
            Err(RepackError::Damaged {
                what: "bad checksum",
                ..
            })
        ));
        assert!(matches!(
            repack(&b"not a capture"[..], Vec::new(), 1 << 20, 3, false),
            Err(RepackError::NotACapture)
        ));
    }

    /// What a short capture repeats once: a cgroup v2 directory's first
    /// snapshot (the files of `fixtures/cgroup-v2/box` with the values of a
    /// running container), and `/proc/net/dev` and `/proc/net/snmp` as a
    /// container sees them (Linux 6.18; the numbers are a busy host's).
    fn first_snapshots() -> Vec<Record> {
        let box_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/cgroup-v2/box");
        let mut files: Vec<(String, String)> = std::fs::read_dir(box_dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let text = std::fs::read_to_string(e.path()).unwrap();
                // The fixture's zeros made values of a running container.
                let text = text.replace(" 0\n", " 48213\n").replace("=0.00", "=1.37");
                (e.file_name().into_string().unwrap(), text)
            })
            .collect();
        files.sort();
        let dev = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:   86124     812    0    0    0     0          0         0    86124     812    0    0    0     0       0          0\n  \
             eth0: 91834712   64120    0    0    0     0          0         0  3201877   30114    0    0    0     0       0          0\n";
        let snmp = include_str!("../tests/data/snmp-6.18.txt");
        vec![
            Record::CgroupSnapshot(crate::CgroupSnapshot {
                time_ns: 1_000_000_000,
                path: "/kubepods/burstable/pod5f1c/0a1b2c3d4e5f".into(),
                version: 2,
                controller: String::new(),
                files,
            }),
            Record::NetSnapshot(crate::NetSnapshot {
                time_ns: 1_000_000_001,
                dev: dev.into(),
                snmp: snmp.into(),
            }),
        ]
    }

    /// Packed (format 1.12): the same records, read the same, the file says
    /// 1.12; and the first snapshots, the text every capture repeats once,
    /// cost at most 60% of what they cost repacked without the dictionary at
    /// the same level (measured: 42%). Fails if the dictionary stops
    /// matching what the agent records, or packing stops being used.
    #[test]
    fn packed_captures_read_the_same_and_first_snapshots_cost_less() {
        let mut w = Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
        let header_only = {
            let mut w =
                Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
            w.flush().unwrap();
            w.finish(Footer::default()).unwrap()
        };
        for r in first_snapshots() {
            w.write(&r).unwrap();
            w.flush().unwrap();
        }
        let bytes = w.finish(Footer::default()).unwrap();
        let records: Vec<Record> = Reader::new(&bytes[..]).unwrap().collect();
        let size = |src: &[u8], pack: bool| {
            let mut out = Vec::new();
            repack(src, &mut out, 1 << 20, 19, pack).unwrap();
            out
        };
        let packed = size(&bytes, true);
        // Packing it again is refused (packed records in packed records are
        // unreadable); repacking without packing copies them.
        assert!(matches!(
            repack(&packed[..], Vec::new(), 1 << 20, 19, true),
            Err(RepackError::AlreadyPacked { index: 1, .. })
        ));
        let mut again = Vec::new();
        repack(&packed[..], &mut again, 1 << 20, 19, false).unwrap();
        assert_eq!(
            Reader::new(&again[..]).unwrap().collect::<Vec<_>>(),
            records
        );
        let mut r = Reader::new(&packed[..]).unwrap();
        assert_eq!(
            r.version(),
            (crate::VERSION_MAJOR, crate::VERSION_MINOR.max(PACKED_SINCE))
        );
        let again: Vec<Record> = r.by_ref().collect();
        assert_eq!(again, records);
        assert!(
            r.is_complete() && r.warnings().is_empty(),
            "{:?}",
            r.warnings()
        );

        let base = size(&header_only, true)
            .len()
            .min(size(&header_only, false).len());
        let with = packed.len() - base;
        let without = size(&bytes, false).len() - base;
        assert!(
            with * 10 <= without * 6,
            "first snapshots: {with} B packed, {without} B without the dictionary"
        );
    }

    /// What a 99 Hz capture of one busy thread costs per sample as the agent
    /// leaves it (the first snapshots of [`first_snapshots`], a numeric
    /// difference of each a second, 800 samples over 16 stacks, times
    /// `period` apart but for a few µs of jitter and, one sample in ten, a
    /// few ms off the CPU). Measured: 4.10 bytes per sample, the whole file,
    /// with times less their period, the dictionary and the batches merged;
    /// with times as plain differences (`SampleBatch`, never merged): 5.09;
    /// without packing (no dictionary, no merging): 5.29. Fails if any of
    /// these regresses.
    #[test]
    fn a_99_hz_capture_costs_few_bytes_per_sample() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let period = 10_101_010u64;
        let mut t = 5_000_000_000u64;
        let samples: Vec<Sample> = (0..800)
            .map(|_| {
                let r = next();
                t += period + r % 8_000 - 4_000 + if r % 10 == 0 { r % 5_000_000 } else { 0 };
                Sample {
                    time_ns: t,
                    pid: 4242,
                    tid: 4242,
                    cpu: (r >> 40) as u32 % 2,
                    // A few hot stacks, a tail of rare ones.
                    stack_id: ((r >> 20) % 16).min((r >> 30) % 16) as u32,
                    period,
                }
            })
            .collect();
        let mut capture = |less_period: bool| {
            let mut w =
                Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
            let first = first_snapshots();
            let (Record::CgroupSnapshot(cg), Record::NetSnapshot(net)) = (&first[0], &first[1])
            else {
                unreachable!()
            };
            w.write(&first[0]).unwrap();
            w.write(&first[1]).unwrap();
            let (mut cg, mut net) = (cg.clone(), net.clone());
            for chunk in samples.chunks(100) {
                let b = if less_period {
                    Record::SampleBatchLessPeriod(crate::SampleBatch::from_samples_less_period(
                        chunk,
                    ))
                } else {
                    Record::SampleBatch(crate::SampleBatch::from_samples(chunk))
                };
                w.write(&b).unwrap();
                let mut cg2 = cg.clone();
                cg2.time_ns = chunk[99].time_ns;
                cg2.files[2].1 = cg2.files[2]
                    .1
                    .replace(" 48213\n", &format!(" {}\n", next() % 90_000));
                let mut net2 = net.clone();
                net2.time_ns = chunk[99].time_ns + 1;
                net2.snmp = net2.snmp.replacen(" 0 ", &format!(" {} ", next() % 100), 3);
                w.write(&Record::CgroupNumDelta(crate::CgroupNumDelta::between(
                    &cg, &cg2,
                )))
                .unwrap();
                w.write(&Record::NetDelta(crate::NetDelta::between(&net, &net2)))
                    .unwrap();
                (cg, net) = (cg2, net2);
                w.flush().unwrap();
            }
            w.finish(Footer::default()).unwrap()
        };
        let per_sample = |file: &[u8], pack: bool| {
            let mut out = Vec::new();
            repack(file, &mut out, 1 << 20, 19, pack).unwrap();
            let n: usize = Reader::new(&out[..])
                .unwrap()
                .map(|r| match r {
                    Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => b.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(n, 800);
            out.len() as f64 / n as f64
        };
        let agent = per_sample(&capture(true), true);
        let plain_times = per_sample(&capture(false), true);
        let no_dictionary = per_sample(&capture(true), false);
        assert!(
            agent <= 4.25 && plain_times > 4.8 && no_dictionary > 4.8,
            "bytes per sample: {agent:.2}; plain times {plain_times:.2}; no dictionary {no_dictionary:.2}"
        );
    }

    /// Packing merges the batches a capture wrote each second: the same
    /// samples in the same order, in one record placed where the last batch
    /// stood (after every stack they use), the stacks held until a record
    /// that may name them (then read as `Stack` records from one stack
    /// batch), other records in their order, a
    /// plain-difference `SampleBatch` left as it is, and the footer counting
    /// the batch records the file holds.
    #[test]
    fn packing_merges_sample_batches() {
        let sample = |t: u64, stack_id: u32| Sample {
            time_ns: t,
            pid: 7,
            tid: 7,
            cpu: 0,
            stack_id,
            period: 1000,
        };
        let stack = |id: u32| {
            Record::Stack(crate::Stack {
                id,
                kernel: vec![],
                user: vec![0x1000 + id as u64],
                root: true,
            })
        };
        let batch = |s: &[Sample]| {
            Record::SampleBatchLessPeriod(crate::SampleBatch::from_samples_less_period(s))
        };
        let a = [sample(5_000, 0), sample(6_010, 0)];
        let b = [sample(7_000, 1), sample(u64::MAX - 3, 1)];
        let c = [sample(9, 0)];
        let mut w = Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
        for r in [
            stack(0),
            batch(&a),
            Record::Warning(Warning {
                time_ns: 6_500,
                message: "between".into(),
            }),
            stack(1),
            batch(&b),
            Record::SampleBatch(crate::SampleBatch::from_samples(&c)),
            batch(&c),
        ] {
            w.write(&r).unwrap();
            w.flush().unwrap();
        }
        let bytes = w.finish(Footer::default()).unwrap();
        let mut out = Vec::new();
        repack(&bytes[..], &mut out, 1 << 20, 19, true).unwrap();
        let mut r = Reader::new(&out[..]).unwrap();
        let records: Vec<Record> = r.by_ref().collect();
        assert!(
            r.is_complete() && r.warnings().is_empty(),
            "{:?}",
            r.warnings()
        );
        let kinds: Vec<&str> = records
            .iter()
            .map(|r| Record::kind_name(r.kind()).unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "Header",
                "Warning",
                "Stack",
                "Stack",
                "SampleBatch",
                "SampleBatchLessPeriod",
                "Footer"
            ]
        );
        let Record::SampleBatchLessPeriod(merged) = &records[5] else {
            unreachable!()
        };
        let all: Vec<Sample> = a.iter().chain(&b).chain(&c).cloned().collect();
        assert_eq!(merged.samples().collect::<Vec<_>>(), all);
        let Record::Footer(f) = &records[6] else {
            unreachable!()
        };
        assert!(
            f.counts.contains(&(24, 1)) && f.counts.contains(&(19, 1)),
            "{f:?}"
        );
        // Without packing, nothing merges.
        let mut plain = Vec::new();
        repack(&bytes[..], &mut plain, 1 << 20, 19, false).unwrap();
        let n = Reader::new(&plain[..])
            .unwrap()
            .filter(|r| matches!(r, Record::SampleBatchLessPeriod(_)))
            .count();
        assert_eq!(n, 3);
    }
}
