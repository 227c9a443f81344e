//! Sample batches with their times Rice-coded (format 1.13).
//!
//! A [`SampleBatch`] written with `time_less_period_ns` holds, per sample,
//! its time since the previous one less its period: the jitter of the timer
//! and the time the thread did not run. On a busy machine at 99 Hz that is
//! milliseconds in nanoseconds, about 23 bits of noise a sample, which
//! postcard writes as 4 varint bytes whose mixed byte values zstd cannot
//! code much below 3.7 bytes. Here that column is a Rice code: each value
//! (zigzag) as its quotient by 2^k in unary and its k low bits, k chosen per
//! batch to make the column smallest, 3.2 bytes a sample on the same
//! captures; the other columns stay as postcard writes them (zstd takes
//! their runs). Where the Rice code is not the smaller (a batch of small or
//! repeating times, as at 999 Hz on a quiet machine), the times stay a
//! varint column.
//!
//! ```text
//! record  = kind:u16le(SAMPLES_KIND) len:u32le postcard(SampleColumns)
//! times   = rice_k = NONE: time_less_period_ns
//!           else   : bits, LSB first, per sample z = zigzag(time less period):
//!                    q = z >> k; q < ESCAPE: q one-bits, a zero bit, k low bits of z
//!                                else: ESCAPE one-bits, then 64 bits of z
//! ```
//! [`crate::Reader`] expands it in place into the `SampleBatchLessPeriod`
//! record it stands for; a reader older than 1.13 skips it as a kind it does
//! not know (its samples are missing, never wrong). One whose columns
//! disagree or whose bits run out is refused whole, with a warning.

use serde::{Deserialize, Serialize};

use crate::SampleBatch;

/// The record kind: out of the range of record kinds (as
/// [`crate::packed::PACKED_KIND`]).
pub const SAMPLES_KIND: u16 = 258;

/// `rice_k` when the times are a varint column.
pub const NONE: u8 = u8::MAX;

/// A quotient this large or larger is written as 64 bits instead.
const ESCAPE: u64 = 24;

/// The body of a samples record: the columns of a [`SampleBatch`] written
/// with times less their period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SampleColumns {
    /// The Rice parameter of `time_bits`, or [`NONE`].
    pub rice_k: u8,
    /// The times less their period, Rice-coded ([`NONE`]: empty).
    pub time_bits: Vec<u8>,
    /// The times less their period ([`NONE`] only).
    pub time_less_period_ns: Vec<i64>,
    pub pid: Vec<u32>,
    pub tid: Vec<u32>,
    pub cpu: Vec<u32>,
    pub stack_id: Vec<u32>,
    pub period: Vec<u64>,
}

pub use crate::error::Refused;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Bits of `values` Rice-coded with `k`.
fn rice_len(values: &[u64], k: u32) -> u64 {
    values
        .iter()
        .map(|&z| match z >> k {
            q if q < ESCAPE => q + 1 + u64::from(k),
            _ => ESCAPE + 64,
        })
        .sum()
}

struct BitWriter {
    out: Vec<u8>,
    acc: u128,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, v: u64, bits: u32) {
        let v = if bits == 64 {
            v
        } else {
            v & ((1u64 << bits) - 1)
        };
        self.acc |= u128::from(v) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    at: u64,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let b = *self.bytes.get((self.at / 8) as usize)?;
        let v = (b >> (self.at % 8)) & 1 == 1;
        self.at += 1;
        Some(v)
    }

    fn get(&mut self, bits: u32) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..bits {
            if self.bit()? {
                v |= 1 << i;
            }
        }
        Some(v)
    }
}

/// The times less their period, Rice-coded with `k`.
fn rice(values: &[u64], k: u32) -> Vec<u8> {
    let mut w = BitWriter {
        out: Vec::with_capacity(rice_len(values, k).div_ceil(8) as usize),
        acc: 0,
        n: 0,
    };
    for &z in values {
        let q = z >> k;
        if q < ESCAPE {
            w.put((1u64 << q) - 1, q as u32 + 1);
            w.put(z, k);
        } else {
            w.put((1u64 << ESCAPE) - 1, ESCAPE as u32);
            w.put(z, 64);
        }
    }
    w.finish()
}

impl SampleColumns {
    /// The columns of `b` (written with times less their period; a batch
    /// of plain time differences is kept as such: `None`).
    pub fn new(b: &SampleBatch) -> Option<SampleColumns> {
        if !b.time_deltas_ns.is_empty() {
            return None;
        }
        let values: Vec<u64> = b.time_less_period_ns.iter().map(|&v| zigzag(v)).collect();
        let (bits, k) = (0..64u32)
            .map(|k| (rice_len(&values, k), k))
            .min()
            .unwrap_or((0, 0));
        let mut c = SampleColumns {
            rice_k: NONE,
            time_bits: Vec::new(),
            time_less_period_ns: Vec::new(),
            pid: b.pid.clone(),
            tid: b.tid.clone(),
            cpu: b.cpu.clone(),
            stack_id: b.stack_id.clone(),
            period: b.period.clone(),
        };
        // The varint column, as zstd would leave it: the smaller one stays.
        let varint = postcard::to_allocvec(&b.time_less_period_ns).ok()?;
        let compressed = zstd::bulk::compress(&varint, 3).map_or(varint.len(), |z| z.len());
        if bits.div_ceil(8) < compressed as u64 {
            c.rice_k = k as u8;
            c.time_bits = rice(&values, k);
        } else {
            c.time_less_period_ns = b.time_less_period_ns.clone();
        }
        Some(c)
    }

    /// How many samples it holds; refused when its columns disagree.
    pub fn len(&self) -> Result<usize, Refused> {
        let n = self.pid.len();
        if [
            self.tid.len(),
            self.cpu.len(),
            self.stack_id.len(),
            self.period.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err(Refused("columns of different lengths"));
        }
        match self.rice_k {
            NONE if self.time_less_period_ns.len() != n => {
                Err(Refused("columns of different lengths"))
            }
            NONE => Ok(n),
            k if k >= 64 => Err(Refused("a Rice parameter over 63")),
            // Every time takes a bit at least.
            _ if (n as u64).div_ceil(8) > self.time_bits.len() as u64 => {
                Err(Refused("fewer time bits than samples"))
            }
            _ => Ok(n),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pid.is_empty()
    }

    /// The batch it stands for (times less their period).
    pub fn batch(self) -> Result<SampleBatch, Refused> {
        let n = self.len()?;
        let times = if self.rice_k == NONE {
            self.time_less_period_ns
        } else {
            let k = u32::from(self.rice_k);
            let mut r = BitReader {
                bytes: &self.time_bits,
                at: 0,
            };
            let mut out = Vec::with_capacity(n);
            let end = Refused("the time bits end early");
            for _ in 0..n {
                let mut q = 0u64;
                while q < ESCAPE && r.bit().ok_or(end)? {
                    q += 1;
                }
                let z = if q < ESCAPE {
                    (q << k) | r.get(k).ok_or(end)?
                } else {
                    r.get(64).ok_or(end)?
                };
                out.push(unzigzag(z));
            }
            out
        };
        Ok(SampleBatch {
            time_deltas_ns: Vec::new(),
            pid: self.pid,
            tid: self.tid,
            cpu: self.cpu,
            stack_id: self.stack_id,
            period: self.period,
            time_less_period_ns: times,
        })
    }
}

/// The samples record (kind, length and body) of `b`; `None` when it
/// cannot be one (plain time differences, or encoding failed).
pub fn record(b: &SampleBatch) -> Option<Vec<u8>> {
    let c = SampleColumns::new(b)?;
    let mut out = SAMPLES_KIND.to_le_bytes().to_vec();
    out.extend_from_slice(&[0; 4]);
    let mut out = postcard::to_extend(&c, out).ok()?;
    let len = u32::try_from(out.len() - 6).ok()?;
    out[2..6].copy_from_slice(&len.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;

    fn batch(times: &[u64]) -> SampleBatch {
        let samples: Vec<Sample> = times
            .iter()
            .enumerate()
            .map(|(i, &t)| Sample {
                time_ns: t,
                pid: 7,
                tid: 7 + (i % 2) as u32,
                cpu: (i % 3) as u32,
                stack_id: i as u32 % 5,
                period: 10_101_010,
            })
            .collect();
        SampleBatch::from_samples_less_period(&samples)
    }

    fn round(b: &SampleBatch) -> SampleColumns {
        let c = SampleColumns::new(b).unwrap();
        let bytes = postcard::to_allocvec(&c).unwrap();
        let again: SampleColumns = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(again.clone().batch().unwrap(), *b);
        again
    }

    #[test]
    fn noisy_times_are_rice_coded_and_read_back() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut t = 1_000_000_000u64;
        let times: Vec<u64> = (0..400)
            .map(|i| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                t += 10_101_010 + rng % 12_000_000;
                // Outliers: a long sleep, a time going back.
                match i {
                    100 => t += 40_000_000_000,
                    200 => t -= 30_000_000,
                    _ => {}
                }
                t
            })
            .collect();
        let b = batch(&times);
        let c = round(&b);
        assert!(c.rice_k != NONE && c.rice_k > 15, "{}", c.rice_k);
        let varint = postcard::to_allocvec(&b.time_less_period_ns).unwrap();
        let z = zstd::bulk::compress(&varint, 19).unwrap().len();
        assert!(
            c.time_bits.len() * 100 < z * 92,
            "{} vs {z}",
            c.time_bits.len()
        );
    }

    #[test]
    fn small_regular_times_stay_a_column() {
        let times: Vec<u64> = (0..1000).map(|i| i * 10_101_010 + i % 2).collect();
        let c = round(&batch(&times));
        assert_eq!(c.rice_k, NONE);
        round(&batch(&[]));
        round(&batch(&[u64::MAX, 0, u64::MAX / 2]));
        assert!(SampleColumns::new(&SampleBatch::from_samples(&[Sample::default()])).is_none());
    }

    #[test]
    fn extreme_values_round_trip() {
        let b = SampleBatch {
            time_deltas_ns: vec![],
            time_less_period_ns: vec![i64::MIN, i64::MAX, 0, -1, 1, 5_000_000, -5_000_000],
            pid: vec![1; 7],
            tid: vec![2; 7],
            cpu: vec![3; 7],
            stack_id: vec![4; 7],
            period: vec![u64::MAX; 7],
        };
        let mut c = SampleColumns::new(&b).unwrap();
        assert_eq!(c.clone().batch().unwrap(), b);
        for k in 0..64 {
            let values: Vec<u64> = b.time_less_period_ns.iter().map(|&v| zigzag(v)).collect();
            c.rice_k = k as u8;
            c.time_bits = rice(&values, k);
            c.time_less_period_ns.clear();
            assert_eq!(c.clone().batch().unwrap(), b, "k {k}");
        }
    }

    #[test]
    fn records_that_disagree_are_refused() {
        let b = batch(&[5, 10_000_000, 30_000_000, 31_000_000]);
        let mut c = SampleColumns::new(&b).unwrap();
        let values: Vec<u64> = b.time_less_period_ns.iter().map(|&v| zigzag(v)).collect();
        c.rice_k = 20;
        c.time_bits = rice(&values, 20);
        c.time_less_period_ns.clear();
        assert_eq!(c.clone().batch().unwrap(), b);
        let bad = |f: &dyn Fn(&mut SampleColumns)| {
            let mut x = c.clone();
            f(&mut x);
            x.batch().unwrap_err()
        };
        bad(&|x| {
            x.pid.pop();
        });
        bad(&|x| x.rice_k = 64);
        bad(&|x| x.time_bits.truncate(1));
        bad(&|x| x.time_bits.clear());
        bad(&|x| {
            x.rice_k = NONE;
        });
    }
}
