//! The streaming writer: records are batched into zstd frames with a CRC.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::{Error, Footer, Header, Record, MAGIC, MAX_RECORD, VERSION_MAJOR, VERSION_MINOR};

#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// A frame is written once the batch reaches this many bytes.
    pub flush_bytes: usize,
    /// [`Writer::flush_if_due`] writes a frame once this much time has passed.
    pub flush_interval: Duration,
    /// zstd level.
    pub level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            flush_bytes: 1 << 20,
            flush_interval: Duration::from_secs(1),
            level: 3,
        }
    }
}

pub struct Writer<W: Write> {
    out: W,
    opts: WriterOptions,
    batch: Vec<u8>,
    last_flush: Instant,
    counts: BTreeMap<u16, u64>,
    bytes_written: u64,
    /// Uncompressed bytes of the frames written so far, for [`Writer::estimated_len`].
    raw_flushed: u64,
    frames: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the preamble and the header, in a frame of its own, flushed at once.
    pub fn new(mut out: W, header: Header, opts: WriterOptions) -> Result<Self, Error> {
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION_MAJOR.to_le_bytes())?;
        out.write_all(&VERSION_MINOR.to_le_bytes())?;
        let mut w = Writer {
            out,
            opts,
            batch: Vec::with_capacity(64 << 10),
            last_flush: Instant::now(),
            counts: BTreeMap::new(),
            bytes_written: crate::PREAMBLE_LEN as u64,
            raw_flushed: 0,
            frames: 0,
        };
        w.write(&Record::Header(Box::new(header)))?;
        w.flush()?;
        Ok(w)
    }

    /// Adds a record to the current batch; writes a frame when the batch is full.
    pub fn write(&mut self, record: &Record) -> Result<(), Error> {
        let kind = record.kind();
        let start = self.batch.len();
        self.batch.extend_from_slice(&kind.to_le_bytes());
        self.batch.extend_from_slice(&[0; 4]);
        let batch = std::mem::take(&mut self.batch);
        self.batch = record.encode(batch).map_err(|source| Error::Encode {
            kind: Record::kind_name(kind).unwrap_or("?"),
            source,
        })?;
        let len = self.batch.len() - start - 6;
        if len > MAX_RECORD {
            self.batch.truncate(start);
            return Err(Error::RecordTooLarge {
                kind: Record::kind_name(kind).unwrap_or("?"),
                len,
                max: MAX_RECORD,
            });
        }
        self.batch[start + 2..start + 6].copy_from_slice(&(len as u32).to_le_bytes());
        *self.counts.entry(kind).or_default() += 1;
        if self.batch.len() >= self.opts.flush_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes a frame if records wait and the flush interval has passed.
    pub fn flush_if_due(&mut self) -> Result<bool, Error> {
        if !self.batch.is_empty() && self.last_flush.elapsed() >= self.opts.flush_interval {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the pending records as one frame and flushes the output.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.last_flush = Instant::now();
        if self.batch.is_empty() {
            return Ok(());
        }
        let payload = zstd::bulk::compress(&self.batch, self.opts.level)?;
        let crc = crc32c::crc32c(&payload);
        self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&payload)?;
        self.out.flush()?;
        self.bytes_written += 8 + payload.len() as u64;
        self.raw_flushed += self.batch.len() as u64;
        self.frames += 1;
        self.batch.clear();
        Ok(())
    }

    /// Bytes written to the output so far (pending records not included).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Bytes of records waiting for the next frame, before compression.
    pub fn pending_bytes(&self) -> usize {
        self.batch.len()
    }

    /// The file's length if the pending records were written now: they are
    /// counted at the compression ratio of the frames written so far.
    pub fn estimated_len(&self) -> u64 {
        let pending = self.batch.len() as u64;
        let compressed = match self.raw_flushed {
            0 => pending,
            raw => pending * self.bytes_written / raw,
        };
        self.bytes_written + compressed
    }

    /// Records written so far, by kind number.
    pub fn counts(&self) -> &BTreeMap<u16, u64> {
        &self.counts
    }

    /// Writes the footer (with the record counts filled in) and flushes.
    pub fn finish(mut self, mut footer: Footer) -> Result<W, Error> {
        footer.counts = self.counts.iter().map(|(&k, &n)| (k, n)).collect();
        self.write(&Record::Footer(footer))?;
        self.flush()?;
        Ok(self.out)
    }
}
