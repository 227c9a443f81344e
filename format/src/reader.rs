//! The streaming reader. It trusts no length: every size is bounded before
//! allocation, a frame with a bad checksum is skipped with a warning (and the
//! reader finds the next good frame), and a cut stream ends cleanly with
//! [`Reader::is_complete`] false.
//!
//! A [`Budget`] bounds what a small file can make the reader produce: the
//! bytes it decompresses and the memory its records take once decoded (an
//! estimate that counts every string and vector element). Past the budget the
//! reader stops and [`Reader::over_budget`] says so; the caller decides
//! whether that is an error.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};

use crate::{Error, Record, MAGIC, MAX_FRAME, MAX_PAYLOAD, PREAMBLE_LEN, VERSION_MAJOR};

/// The first bytes of a zstd frame, used to find the next frame after damage.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const FRAME_HEADER: usize = 8;
const CHUNK: usize = 64 << 10;
/// The writer's frames are about 1 MiB; 8 MiB windows are plenty.
const MAX_WINDOW_LOG: u32 = 23;

/// Most bytes of memory one encoded byte of a record of `kind` decodes to:
/// an element of its vectors takes at least one byte encoded (an empty
/// `String` in a `Vec<String>`: 1 byte encoded, 24 decoded; a `u64` frame:
/// 1 and 8; a sample: 6 and 32 across the columns). Kinds without vectors
/// decode to their fixed size and their strings' bytes.
fn max_expansion(kind: u16) -> u64 {
    match kind {
        // Header, Process, CgroupSnapshot, CgroupDelta, CgroupNumDelta:
        // vectors of strings (and of edits, 16 bytes from 2).
        1 | 2 | 9 | 21 | 22 => 24,
        // Counters: (String, u64); the symbol kinds: Symbol (40 bytes, 3 encoded).
        17 => 16,
        12..=14 => 14,
        // Stack and Footer: vectors of integers; SampleBatch: its columns.
        // SyscallTotal: (u32, u64) errno counts, 2 bytes encoded at least.
        // NetDelta: edits, 16 bytes from 2.
        6 | 18 | 20 | 23 => 8,
        19 => 6,
        _ => 1,
    }
}

/// Fixed size of a decoded record, at most.
const RECORD_SIZE: u64 = 256;

/// How much a capture may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Largest total of decompressed bytes, and separately of the estimated
    /// memory of the decoded records.
    pub bytes: u64,
}

impl Budget {
    /// Bytes of budget per byte of file.
    pub const PER_FILE_BYTE: u64 = 32;
    /// Budget every file gets, however small.
    pub const FLOOR: u64 = 32 << 20;

    /// The default budget of a file of `len` bytes:
    /// [`Budget::PER_FILE_BYTE`] × `len` + [`Budget::FLOOR`].
    pub fn for_file_len(len: u64) -> Budget {
        Budget {
            bytes: len
                .saturating_mul(Self::PER_FILE_BYTE)
                .saturating_add(Self::FLOOR),
        }
    }

    pub fn unlimited() -> Budget {
        Budget { bytes: u64::MAX }
    }
}

/// Unlimited: the caller of [`Reader::new`] sets a budget on purpose.
impl Default for Budget {
    fn default() -> Self {
        Budget::unlimited()
    }
}

/// What the reader had produced when it stopped at its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub budget: Budget,
    /// `decompressed bytes` or `decoded records`.
    pub what: &'static str,
    /// File offset of the frame being read.
    pub offset: u64,
}

pub struct Reader<R: Read> {
    src: R,
    /// Bytes read but not consumed are `buf[pos..]`; `base` is the file offset of `buf[0]`.
    buf: Vec<u8>,
    pos: usize,
    base: u64,
    eof: bool,
    version: (u16, u16),
    records: VecDeque<Record>,
    ended: bool,
    complete: bool,
    /// After damage, a bad frame means "search on" rather than "skip it".
    resyncing: bool,
    warnings: Vec<String>,
    unknown: u64,
    budget: Budget,
    decompressed: u64,
    /// Estimated memory of the records returned or queued so far.
    weight: u64,
    over: Option<OverBudget>,
}

impl<R: Read> Reader<R> {
    /// Checks the magic and the version. A file that stops inside them but
    /// agrees with them so far is an empty, incomplete capture.
    pub fn new(src: R) -> Result<Self, Error> {
        let mut r = Reader {
            src,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            eof: false,
            version: (VERSION_MAJOR, 0),
            records: VecDeque::new(),
            ended: false,
            complete: false,
            resyncing: false,
            warnings: Vec::new(),
            unknown: 0,
            budget: Budget::unlimited(),
            decompressed: 0,
            weight: 0,
            over: None,
        };
        r.fill(PREAMBLE_LEN)?;
        let head = &r.buf[..r.buf.len().min(PREAMBLE_LEN)];
        if head.is_empty() {
            return Err(Error::Empty);
        }
        let magic_len = head.len().min(MAGIC.len());
        if head[..magic_len] != MAGIC[..magic_len] {
            return Err(Error::NotACapture {
                found: head[..magic_len].to_vec(),
            });
        }
        if head.len() < PREAMBLE_LEN {
            r.warn(format!(
                "capture cut after {} bytes, inside its preamble",
                head.len()
            ));
            r.ended = true;
            return Ok(r);
        }
        let major = u16::from_le_bytes([head[8], head[9]]);
        let minor = u16::from_le_bytes([head[10], head[11]]);
        if major != VERSION_MAJOR {
            return Err(Error::UnsupportedVersion {
                major,
                minor,
                supported: VERSION_MAJOR,
                supported_minor: crate::VERSION_MINOR,
            });
        }
        r.version = (major, minor);
        r.pos = PREAMBLE_LEN;
        Ok(r)
    }

    /// Bounds what the rest of the file may expand to (see [`Budget`]).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Where the reader stopped because the file exceeded its budget.
    pub fn over_budget(&self) -> Option<OverBudget> {
        self.over
    }

    /// The budget this reader was given.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Decompressed bytes and estimated memory of the records read so far.
    pub fn usage(&self) -> (u64, u64) {
        (self.decompressed, self.weight)
    }

    fn stop_over_budget(&mut self, what: &'static str, offset: u64) {
        self.over = Some(OverBudget {
            budget: self.budget,
            what,
            offset,
        });
        self.warn(format!(
            "capture exceeds its budget of {} bytes of {what} at offset {offset}; read up to there",
            self.budget.bytes
        ));
        self.ended = true;
    }

    /// (major, minor) of the file.
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    /// True once the footer has been read.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// What the reader skipped or found damaged, so far.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Records of kinds this version does not know, skipped so far.
    pub fn unknown_records(&self) -> u64 {
        self.unknown
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes at least `n` unconsumed bytes available, or as many as remain.
    /// Returns whether `n` are available. The buffer grows only with bytes read.
    fn fill(&mut self, n: usize) -> std::io::Result<bool> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        // Read by chunks: a length claimed by the file never sizes an allocation.
        while self.buf.len() - self.pos < n && !self.eof {
            let old = self.buf.len();
            self.buf.resize(old + CHUNK, 0);
            match self.src.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    self.eof = true;
                }
                Ok(k) => self.buf.truncate(old + k),
                Err(e) if e.kind() == ErrorKind::Interrupted => self.buf.truncate(old),
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
        Ok(self.buf.len() - self.pos >= n)
    }

    /// Reads frames until one yields records or the stream ends.
    fn next_frame(&mut self) {
        while self.records.is_empty() && !self.ended {
            if let Err(e) = self.read_frame() {
                let at = self.offset();
                self.warn(format!(
                    "read error at offset {at}: {e}; capture read up to there"
                ));
                self.ended = true;
            }
        }
    }

    fn read_frame(&mut self) -> std::io::Result<()> {
        let at = self.offset();
        if !self.fill(FRAME_HEADER)? {
            let left = self.buf.len() - self.pos;
            if left > 0 {
                self.warn(format!("capture cut at offset {at}, inside a frame header"));
            } else if !self.complete {
                self.warn(format!("capture ends at offset {at} without a footer (cut short: the agent was killed or the file truncated)"));
            }
            self.ended = true;
            return Ok(());
        }
        let h = &self.buf[self.pos..self.pos + FRAME_HEADER];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len == 0 || len > MAX_FRAME {
            if !self.resyncing {
                self.warn(format!(
                    "bad frame length {len} at offset {at}; searching for the next frame"
                ));
            }
            return self.resync();
        }
        let total = FRAME_HEADER + len as usize;
        if !self.fill(total)? {
            if self.resyncing {
                return self.resync();
            }
            let have = self.buf.len() - self.pos - FRAME_HEADER;
            self.warn(format!(
                "capture cut at offset {at}, inside a frame ({have} of {len} bytes); the frame is lost"
            ));
            self.ended = true;
            return Ok(());
        }
        let payload = &self.buf[self.pos + FRAME_HEADER..self.pos + total];
        if crc32c::crc32c(payload) != crc {
            if self.resyncing {
                return self.resync();
            }
            self.warn(format!(
                "frame at offset {at} ({len} bytes) failed its checksum and was skipped"
            ));
            self.pos += total;
            self.resyncing = true;
            return Ok(());
        }
        let left = self.budget.bytes.saturating_sub(self.decompressed);
        let decoded = decompress(payload, left);
        self.pos += total;
        self.resyncing = false;
        match decoded {
            Ok(None) => self.stop_over_budget("decompressed bytes", at),
            Ok(Some(bytes)) => {
                self.decompressed += bytes.len() as u64;
                self.parse_payload(&bytes, at, false)
            }
            Err(e) => self.warn(format!(
                "frame at offset {at} could not be decompressed ({e}); skipped"
            )),
        }
        Ok(())
    }

    /// Moves to the next place that looks like a frame (a zstd magic 8 bytes
    /// in), past the current position, or ends the stream.
    fn resync(&mut self) -> std::io::Result<()> {
        self.resyncing = true;
        // Offsets are kept relative to `pos`: `fill` may move the buffer.
        let mut from = FRAME_HEADER + 1;
        loop {
            let hay = self.buf.get(self.pos + from..).unwrap_or(&[]);
            if let Some(i) = hay.windows(4).position(|w| w == ZSTD_MAGIC) {
                self.pos += from + i - FRAME_HEADER;
                return Ok(());
            }
            if self.eof {
                self.warn("no further intact frame found; capture read up to the damage".into());
                self.ended = true;
                return Ok(());
            }
            // A magic may straddle what has been read: search its last 3 bytes again.
            from = (self.buf.len() - self.pos).saturating_sub(3).max(from);
            let want = self.buf.len() - self.pos + CHUNK;
            self.fill(want)?;
        }
    }

    /// The records of a frame's payload (`packed`: of a packed record's).
    fn parse_payload(&mut self, mut bytes: &[u8], frame_at: u64, packed: bool) {
        while !bytes.is_empty() {
            if bytes.len() < 6 {
                self.warn(format!(
                    "frame at offset {frame_at}: {} stray bytes at its end",
                    bytes.len()
                ));
                return;
            }
            let kind = u16::from_le_bytes([bytes[0], bytes[1]]);
            let len = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize;
            if len > bytes.len() - 6 {
                self.warn(format!(
                    "frame at offset {frame_at}: record of kind {kind} claims {len} bytes, only {} remain",
                    bytes.len() - 6
                ));
                return;
            }
            let body = &bytes[6..6 + len];
            bytes = &bytes[6 + len..];
            if kind == crate::packed::PACKED_KIND {
                if packed {
                    self.warn(format!(
                        "frame at offset {frame_at}: a packed record inside a packed record; skipped"
                    ));
                } else if !self.unpack(body, frame_at) {
                    return;
                }
                continue;
            }
            if kind == crate::sample_columns::SAMPLES_KIND {
                if !self.unsample(body, frame_at) {
                    return;
                }
                continue;
            }
            if kind == crate::stack_batch::STACKS_KIND {
                if !self.unstack(body, frame_at) {
                    return;
                }
                continue;
            }
            // Decoding allocates before the record can be weighed: a record
            // that could overrun the budget is not decoded.
            let worst = (len as u64)
                .saturating_mul(max_expansion(kind))
                .saturating_add(RECORD_SIZE);
            if self.weight.saturating_add(worst) > self.budget.bytes {
                self.stop_over_budget("decoded records", frame_at);
                return;
            }
            match Record::decode(kind, body) {
                Ok(Some(record)) => {
                    if !self.accept(record, frame_at) {
                        return;
                    }
                }
                Ok(None) => self.unknown += 1,
                Err(e) => self.warn(format!(
                    "frame at offset {frame_at}: {} record could not be decoded ({e}); skipped",
                    Record::kind_name(kind).unwrap_or("?")
                )),
            }
        }
    }
}

impl<R: Read> Reader<R> {
    /// Queues a decoded record; `false` when it overruns the budget (the
    /// reader stops).
    fn accept(&mut self, record: Record, frame_at: u64) -> bool {
        self.weight = self.weight.saturating_add(weight(&record));
        if self.weight > self.budget.bytes {
            self.stop_over_budget("decoded records", frame_at);
            return false;
        }
        if matches!(record, Record::Footer(_)) {
            self.complete = true;
        }
        self.records.push_back(record);
        true
    }

    /// Expands a stack batch in place into its `Stack` records; `false`
    /// when the reader stops (budget).
    fn unstack(&mut self, body: &[u8], frame_at: u64) -> bool {
        use crate::stack_batch::StackBatch;
        // Its columns decode to at most 8 bytes per byte (a frame: 1 and 8).
        let worst = (body.len() as u64)
            .saturating_mul(8)
            .saturating_add(RECORD_SIZE);
        if self.weight.saturating_add(worst) > self.budget.bytes {
            self.stop_over_budget("decoded records", frame_at);
            return false;
        }
        let refused = |r: &mut Self, why: String| {
            r.warn(format!(
                "frame at offset {frame_at}: stack batch could not be read ({why}); its stacks are missing"
            ))
        };
        let batch: StackBatch = match crate::compat::decode(body) {
            Ok(b) => b,
            Err(e) => {
                refused(self, e.to_string());
                return true;
            }
        };
        // The stacks it expands to (and their root-first copies while
        // expanding) are weighed before any is built.
        let (n, frames) = match batch.size() {
            Ok(s) => s,
            Err(e) => {
                refused(self, e.to_string());
                return true;
            }
        };
        let expanded = (n as u64)
            .saturating_mul(std::mem::size_of::<crate::Stack>() as u64 + 16)
            .saturating_add(frames.saturating_mul(32 + 8));
        if self.weight.saturating_add(expanded) > self.budget.bytes {
            self.stop_over_budget("decoded records", frame_at);
            return false;
        }
        match batch.stacks() {
            Ok(stacks) => stacks
                .into_iter()
                .all(|s| self.accept(Record::Stack(s), frame_at)),
            Err(e) => {
                refused(self, e.to_string());
                true
            }
        }
    }

    /// Expands a samples record in place into the sample batch it stands
    /// for; `false` when the reader stops (budget).
    fn unsample(&mut self, body: &[u8], frame_at: u64) -> bool {
        use crate::sample_columns::SampleColumns;
        // Its columns decode to at most 8 bytes per byte, its samples to a
        // `Sample` each, and each sample takes a byte of its `pid` column.
        let worst = (body.len() as u64)
            .saturating_mul(8 + std::mem::size_of::<crate::Sample>() as u64)
            .saturating_add(RECORD_SIZE);
        if self.weight.saturating_add(worst) > self.budget.bytes {
            self.stop_over_budget("decoded records", frame_at);
            return false;
        }
        let batch = crate::compat::decode::<SampleColumns>(body)
            .map_err(|e| e.to_string())
            .and_then(|c| c.batch().map_err(|e| e.to_string()));
        match batch {
            Ok(b) => self.accept(Record::SampleBatchLessPeriod(b), frame_at),
            Err(e) => {
                self.warn(format!(
                    "frame at offset {frame_at}: samples record could not be read ({e}); its samples are missing"
                ));
                true
            }
        }
    }

    /// Expands a packed record in place; `false` when the reader stops (budget).
    fn unpack(&mut self, body: &[u8], frame_at: u64) -> bool {
        let packed: crate::packed::Packed = match postcard::from_bytes(body) {
            Ok(p) => p,
            Err(e) => {
                self.warn(format!(
                    "frame at offset {frame_at}: packed record could not be decoded ({e}); skipped"
                ));
                return true;
            }
        };
        let Some(dict) = crate::packed::dictionary(packed.dictionary) else {
            let (major, minor) = self.version;
            self.warn(format!(
                "frame at offset {frame_at}: records packed with dictionary {}, which this reader \
                 (format {VERSION_MAJOR}.{}) does not know (the file is format {major}.{minor}); skipped",
                packed.dictionary,
                crate::VERSION_MINOR
            ));
            return true;
        };
        let left = self.budget.bytes.saturating_sub(self.decompressed);
        match decompress_with(&packed.zstd, left, dict) {
            Ok(None) => {
                self.stop_over_budget("decompressed bytes", frame_at);
                false
            }
            Ok(Some(inner)) => {
                self.decompressed += inner.len() as u64;
                self.parse_payload(&inner, frame_at, true);
                !self.ended
            }
            Err(e) => {
                self.warn(format!(
                    "frame at offset {frame_at}: packed records could not be decompressed ({e}); skipped"
                ));
                true
            }
        }
    }
}

/// The payload of a frame; `None` when it holds more than `budget` bytes.
fn decompress(payload: &[u8], budget: u64) -> std::io::Result<Option<Vec<u8>>> {
    decompress_with(payload, budget, &[])
}

/// [`decompress`] with a dictionary (none when empty).
fn decompress_with(payload: &[u8], budget: u64, dict: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut decoder = zstd::stream::read::Decoder::with_dictionary(payload, dict)?;
    // A hostile frame header must not make the decoder allocate a huge window.
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    let limit = budget.min(MAX_PAYLOAD as u64);
    decoder.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        if limit < MAX_PAYLOAD as u64 {
            return Ok(None);
        }
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            format!("payload over {MAX_PAYLOAD} bytes"),
        ));
    }
    Ok(Some(out))
}

/// An estimate of the memory a decoded record takes once a reader holds it:
/// the size of its type, plus every string's and vector's contents, plus a
/// vector header for each string or vector in a vector. Samples count as the
/// [`crate::Sample`]s a batch expands to; stack frames count four words each,
/// for what a flame graph builds from every frame.
pub fn weight(r: &Record) -> u64 {
    use std::mem::size_of;
    const VEC: u64 = size_of::<Vec<u8>>() as u64;
    /// Allocation and table overhead per record.
    const EACH: u64 = 16;
    fn size<T>(_: &T) -> u64 {
        size_of::<T>() as u64
    }
    let s = |s: &String| s.len() as u64;
    let strings = |v: &[String]| v.iter().map(|x| VEC + s(x)).sum::<u64>();
    let symbols = |v: &[crate::Symbol]| {
        v.iter()
            .map(|x| size_of::<crate::Symbol>() as u64 + s(&x.name))
            .sum::<u64>()
    };
    EACH + match r {
        Record::Header(h) => {
            size(&**h)
                + s(&h.host.hostname)
                + s(&h.host.kernel_release)
                + s(&h.host.arch)
                + s(&h.host.boot_id)
                + s(&h.agent_version)
                + s(&h.unwind)
                + s(&h.target.kind)
                + s(&h.target.spec)
                + 4 * h.target.pids.len() as u64
                + strings(&h.target.cgroups)
                + h.target.container_id.as_ref().map_or(0, s)
                + s(&h.options.sample_event)
                + h.options.syscalls_filter.as_ref().map_or(0, s)
        }
        Record::Process(p) => {
            size(p) + s(&p.comm) + strings(&p.argv) + s(&p.exe) + strings(&p.cgroups)
        }
        Record::Thread(t) => size(t) + s(&t.comm),
        Record::Exit(e) => size(e),
        Record::Lost(l) => size(l) + s(&l.kind),
        Record::Footer(f) => size(f) + s(&f.reason) + 16 * f.counts.len() as u64,
        Record::Mapping(m) => {
            size(m) + s(&m.path) + m.build_id.as_ref().map_or(0, |b| b.len() as u64)
        }
        Record::Stack(st) => size(st) + 32 * (st.kernel.len() + st.user.len()) as u64,
        Record::Sample(x) => size(x),
        // The columns are dropped once expanded.
        Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => {
            b.len() as u64 * size_of::<crate::Sample>() as u64
        }
        Record::OffCpuBatch(b) => b.len() as u64 * size_of::<crate::OffCpu>() as u64,
        Record::Syscall(c) => size(c) + s(&c.summary) + s(&c.abi),
        Record::SyscallTotal(t) | Record::SyscallTotalSoFar(t) => {
            size(t) + s(&t.abi) + s(&t.name) + 16 * t.errnos.len() as u64
        }
        Record::CgroupSnapshot(c) => {
            size(c)
                + s(&c.path)
                + s(&c.controller)
                + c.files
                    .iter()
                    .map(|(a, b)| VEC * 2 + s(a) + s(b))
                    .sum::<u64>()
        }
        Record::CgroupDelta(d) => {
            size(d)
                + s(&d.path)
                + s(&d.controller)
                + d.changed
                    .iter()
                    .map(|(a, b)| VEC * 2 + s(a) + s(b))
                    .sum::<u64>()
                + strings(&d.removed)
        }
        Record::CgroupNumDelta(d) => {
            size(d)
                + s(&d.path)
                + s(&d.controller)
                + d.numbers
                    .iter()
                    .map(|(_, e)| VEC + 16 * e.len() as u64)
                    .sum::<u64>()
                + d.changed
                    .iter()
                    .map(|(a, b)| VEC * 2 + s(a) + s(b))
                    .sum::<u64>()
                + strings(&d.removed)
        }
        Record::NetSnapshot(n) => size(n) + s(&n.dev) + s(&n.snmp),
        Record::NetDelta(n) => {
            size(n)
                + 16 * (n.dev_numbers.len() + n.snmp_numbers.len()) as u64
                + n.dev.as_ref().map_or(0, s)
                + n.snmp.as_ref().map_or(0, s)
        }
        Record::ContainerView(v) => size(v) + s(&v.hostname) + s(&v.resolv_conf) + s(&v.root_mount),
        Record::BinarySymbols(b) => {
            size(b)
                + b.build_id.len() as u64
                + s(&b.path)
                + (b.segments.len() * size_of::<crate::Segment>()) as u64
                + symbols(&b.symbols)
                + (b.unnamed.len() * size_of::<(u64, u64)>()) as u64
        }
        Record::KernelSymbols(k) => symbols(&k.symbols),
        Record::JitSymbols(j) => size(j) + symbols(&j.symbols),
        Record::Warning(w) => size(w) + s(&w.message),
        Record::Counters(c) | Record::CountersSoFar(c) => {
            size(c) + c.values.iter().map(|(k, _)| VEC + 8 + s(k)).sum::<u64>()
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.records.is_empty() {
            self.next_frame();
        }
        self.records.pop_front()
    }
}
