//! Batching: stacks interned and written once, samples gathered into
//! [`SampleBatch`] records written after the stacks they use.

use holter_format::{Record, Sample, SampleBatch, Stack};

use super::stacks::{self, Interner};

/// Distinct stacks kept in the intern table before it starts over.
const MAX_STACKS: usize = 1 << 20;
/// Most samples in one [`SampleBatch`] record.
const MAX_BATCH: usize = 4096;
/// Longest time a sample waits for its batch to be sent to the writer,
/// from when it was taken, as any data a collector holds
/// ([`crate::cadence::HOLD_NS`]): it is in the file within the second.
pub const BATCH_NS: u64 = crate::cadence::HOLD_NS;

/// A sample's call chain once interned.
pub struct Interned {
    pub id: u32,
    /// Whether this stack was seen for the first time.
    pub new: bool,
    pub kernel: Vec<u64>,
    pub user: Vec<u64>,
}

pub struct Batcher {
    interner: Interner,
    /// Samples of the current round, written as one [`SampleBatch`] after its stacks.
    pending: Vec<Sample>,
    pub samples: u64,
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher {
            interner: Interner::new(MAX_STACKS),
            pending: Vec::new(),
            samples: 0,
        }
    }
}

impl Batcher {
    /// Interns a call chain; a stack seen for the first time is written.
    pub fn stack(&mut self, chain: &[u64], out: &mut Vec<Record>) -> Interned {
        let (kernel, user) = stacks::split(chain);
        self.stack_parts(kernel, &user, false, out)
    }

    /// Interns a stack given as kernel frames and (unwound) user frames;
    /// `root`: the unwinder reached the outermost frame.
    pub fn stack_parts(
        &mut self,
        kernel: Vec<u64>,
        user: &[u64],
        root: bool,
        out: &mut Vec<Record>,
    ) -> Interned {
        let user = user.to_vec();
        let (id, new) = self.interner.intern(&kernel, &user);
        if new {
            out.push(Record::Stack(Stack {
                id,
                kernel: kernel.clone(),
                user: user.clone(),
                root,
            }));
        }
        Interned {
            id,
            new,
            kernel,
            user,
        }
    }

    /// Adds a sample to the pending batch, written when full.
    pub fn push(&mut self, sample: Sample, out: &mut Vec<Record>) {
        self.samples += 1;
        self.pending.push(sample);
        if self.pending.len() >= MAX_BATCH {
            self.flush(out);
        }
    }

    /// Writes the pending samples, after the stacks they use.
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        if !self.pending.is_empty() {
            out.push(Record::SampleBatchLessPeriod(
                SampleBatch::from_samples_less_period(&self.pending),
            ));
            self.pending.clear();
        }
    }

    /// Larger batches compress better; a batch waits at most [`BATCH_NS`].
    pub fn end_round(&mut self, now: u64, out: &mut Vec<Record>) {
        if self.due(now) {
            self.flush(out);
        }
    }

    /// Whether [`Batcher::end_round`] at `now` writes the pending samples.
    pub fn due(&self, now: u64) -> bool {
        crate::cadence::must_send(self.pending.first().map(|s| s.time_ns), now)
    }
}
