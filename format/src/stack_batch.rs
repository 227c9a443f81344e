//! Stacks in bulk (format 1.13): the [`Stack`] records of a capture written
//! together, each one as the frames it shares with an earlier stack of the
//! batch plus the frames it adds.
//!
//! A program's stacks share their outer frames (`main`, the loop, the
//! caller) and differ near the leaf, and the leaf of one is a few bytes
//! from the leaf of another in the same function. Written one record each,
//! a stack costs its whole list of 8-byte addresses, which zstd only partly
//! finds again (about 9 bytes a stack after compression on python3 and xz).
//! Here a stack names a **base** (an earlier stack of the batch), how many
//! of the base's outermost frames it **keeps**, and the frames it **adds**
//! on the leaf side, each as its difference from a prediction: the base's
//! frame at the same depth where the base is that deep, else the frame just
//! outside it (its caller), else 0.
//!
//! ```text
//! record     = kind:u16le(STACKS_KIND) len:u32le postcard(StackBatch)
//! stack j    = id:    previous id + 1 + ids[j]    (the first: ids[0])
//!              R (its frames, root first) = base's R[..keep[j]] ++ added[j] new frames
//!              base = stack j - base[j] of this batch (base[j] = 0: none, keep[j] = 0)
//!              new frame at depth d = prediction(d) + frames[next] (wrapping)
//!              kernel frames = the innermost kernel[j] of R; root = root[j]
//! ```
//! A batch is self-contained (bases are within it), so [`crate::Reader`]
//! expands it in place into the [`Stack`] records it holds, in order. A
//! reader older than 1.13 skips it as a record kind it does not know (and
//! says that records of a newer kind were skipped): its samples then have
//! no stacks, never wrong ones. A batch whose columns disagree (lengths, a
//! base or keep out of range, too few frames, a stack over [`MAX_FRAMES`])
//! is refused whole, with a warning. The agent writes batches when it
//! repacks a capture at close ([`crate::repack`]); frames written while
//! recording hold plain `Stack` records.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::Stack;

/// The record kind of stack batches: out of the range of record kinds (as
/// [`crate::packed::PACKED_KIND`]), so that it never collides with one.
pub const STACKS_KIND: u16 = 257;

/// Most frames (kernel and user) of one stack in a batch.
pub const MAX_FRAMES: u32 = 4096;

/// The body of a stack batch record: one element per stack in each column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StackBatch {
    /// Each stack's id minus the previous one's plus one (the first: its id).
    pub ids: Vec<i64>,
    /// How many stacks back its base is (0: no base).
    pub base: Vec<u32>,
    /// The base's outermost frames it keeps.
    pub keep: Vec<u32>,
    /// The frames it adds on the leaf side.
    pub added: Vec<u32>,
    /// Its kernel frames (the innermost of its frames).
    pub kernel: Vec<u32>,
    /// [`Stack::root`].
    pub root: Vec<bool>,
    /// The added frames of every stack, in order, each stack's root side
    /// first, as differences from their predictions.
    pub frames: Vec<i64>,
}

pub use crate::error::Refused;

/// A stack's frames, root first.
fn root_first(s: &Stack) -> Vec<u64> {
    s.user
        .iter()
        .rev()
        .chain(s.kernel.iter().rev())
        .copied()
        .collect()
}

/// What the frame at depth `d` of a stack is predicted to be.
fn predict(base: &[u64], own: &[u64], d: usize) -> u64 {
    match base.get(d) {
        Some(&a) => a,
        None => own.get(d.wrapping_sub(1)).copied().unwrap_or(0),
    }
}

impl StackBatch {
    /// The batch of `stacks`, in order. A stack over [`MAX_FRAMES`] frames
    /// cannot be said in a batch: `None` (the caller writes plain records).
    pub fn new(stacks: &[Stack]) -> Option<StackBatch> {
        let mut b = StackBatch::default();
        // A trie of the stacks' root-first frames: (node, frame) -> child;
        // each node remembers the last stack that went through it.
        let mut child: HashMap<(u32, u64), u32> = HashMap::new();
        let mut last: Vec<usize> = vec![0];
        let mut seqs: Vec<Vec<u64>> = Vec::with_capacity(stacks.len());
        let mut prev_id: u32 = u32::MAX;
        for (j, s) in stacks.iter().enumerate() {
            let r = root_first(s);
            if r.len() > MAX_FRAMES as usize {
                return None;
            }
            let mut node = 0u32;
            let mut keep = 0usize;
            while keep < r.len() {
                match child.get(&(node, r[keep])) {
                    Some(&n) => {
                        node = n;
                        keep += 1;
                    }
                    None => break,
                }
            }
            let base = if keep > 0 {
                Some(last[node as usize])
            } else {
                None
            };
            let base_seq: &[u64] = base.map_or(&[], |i| &seqs[i]);
            for d in keep..r.len() {
                let p = predict(base_seq, &r, d);
                b.frames.push(r[d].wrapping_sub(p) as i64);
            }
            b.ids
                .push(i64::from(s.id.wrapping_sub(prev_id.wrapping_add(1)) as i32));
            prev_id = s.id;
            b.base.push(base.map_or(0, |i| (j - i) as u32));
            b.keep.push(keep as u32);
            b.added.push((r.len() - keep) as u32);
            b.kernel.push(s.kernel.len() as u32);
            b.root.push(s.root);
            // Walk again, adding nodes and marking this stack as the last through each.
            let mut node = 0u32;
            last[0] = j;
            for &f in &r {
                let next = last.len() as u32;
                node = *child.entry((node, f)).or_insert(next);
                if node == next {
                    last.push(j);
                }
                last[node as usize] = j;
            }
            seqs.push(r);
        }
        Some(b)
    }

    /// How many stacks the batch holds, and their frames in all; refused when
    /// its columns disagree (checked without building a stack).
    pub fn size(&self) -> Result<(usize, u64), Refused> {
        let n = self.ids.len();
        if [
            self.base.len(),
            self.keep.len(),
            self.added.len(),
            self.kernel.len(),
            self.root.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err(Refused("columns of different lengths"));
        }
        let mut lens: Vec<u32> = Vec::with_capacity(n);
        let mut added = 0u64;
        for j in 0..n {
            let base = self.base[j] as usize;
            let keep = self.keep[j];
            let base_len = match base {
                0 => 0,
                b if b <= j => lens[j - b],
                _ => return Err(Refused("a base before the batch")),
            };
            if keep > base_len || (base == 0) != (keep == 0) {
                return Err(Refused("a stack keeps frames its base does not have"));
            }
            let len = keep
                .checked_add(self.added[j])
                .filter(|&l| l <= MAX_FRAMES)
                .ok_or(Refused("a stack of too many frames"))?;
            if self.kernel[j] > len {
                return Err(Refused("more kernel frames than frames"));
            }
            added += u64::from(self.added[j]);
            lens.push(len);
        }
        if added > self.frames.len() as u64 {
            return Err(Refused("fewer frames than its stacks add"));
        }
        Ok((n, lens.iter().map(|&l| u64::from(l)).sum()))
    }

    /// The stacks, in order; refused as [`StackBatch::size`] says.
    pub fn stacks(&self) -> Result<Vec<Stack>, Refused> {
        self.size()?;
        let n = self.ids.len();
        let mut seqs: Vec<Vec<u64>> = Vec::with_capacity(n);
        let mut out = Vec::with_capacity(n);
        let mut frames = self.frames.iter();
        let mut prev_id: u32 = u32::MAX;
        for j in 0..n {
            let keep = self.keep[j] as usize;
            let base: &[u64] = match self.base[j] as usize {
                0 => &[],
                b => &seqs[j - b],
            };
            let mut r: Vec<u64> = Vec::with_capacity(keep + self.added[j] as usize);
            r.extend_from_slice(&base[..keep]);
            for d in keep..keep + self.added[j] as usize {
                let diff = *frames
                    .next()
                    .ok_or(Refused("fewer frames than its stacks add"))?;
                let p = predict(base, &r, d);
                r.push(p.wrapping_add(diff as u64));
            }
            let id = prev_id.wrapping_add(1).wrapping_add(self.ids[j] as u32);
            prev_id = id;
            let k = self.kernel[j] as usize;
            let user_len = r.len() - k;
            out.push(Stack {
                id,
                kernel: r[user_len..].iter().rev().copied().collect(),
                user: r[..user_len].iter().rev().copied().collect(),
                root: self.root[j],
            });
            seqs.push(r);
        }
        Ok(out)
    }
}

/// The stack batch record (kind, length and body) of `stacks`; `None` when
/// they cannot be said as one (a stack too deep, or encoding failed).
pub fn record(stacks: &[Stack]) -> Option<Vec<u8>> {
    let batch = StackBatch::new(stacks)?;
    let mut out = STACKS_KIND.to_le_bytes().to_vec();
    out.extend_from_slice(&[0; 4]);
    let mut out = postcard::to_extend(&batch, out).ok()?;
    let len = u32::try_from(out.len() - 6).ok()?;
    out[2..6].copy_from_slice(&len.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(id: u32, kernel: &[u64], user: &[u64], root: bool) -> Stack {
        Stack {
            id,
            kernel: kernel.to_vec(),
            user: user.to_vec(),
            root,
        }
    }

    fn round(stacks: &[Stack]) -> StackBatch {
        let b = StackBatch::new(stacks).unwrap();
        assert_eq!(b.stacks().unwrap(), stacks);
        let bytes = postcard::to_allocvec(&b).unwrap();
        let again: StackBatch = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(again.stacks().unwrap(), stacks);
        b
    }

    const K: u64 = 0xffff_ffff_8100_0000;
    const U: u64 = 0x5555_5555_4000;

    #[test]
    fn stacks_share_their_outer_frames() {
        let main = [U + 0x10, U + 0x200, 0x7f00_0000_1234];
        let a = stack(
            0,
            &[],
            &[U + 0x901, U + 0x455, main[0], main[1], main[2]],
            true,
        );
        let b = stack(
            1,
            &[],
            &[U + 0x907, U + 0x455, main[0], main[1], main[2]],
            true,
        );
        let c = stack(
            2,
            &[K + 5, K + 0x80],
            &[U + 0x907, U + 0x455, main[0], main[1], main[2]],
            true,
        );
        let d = stack(3, &[], &[U + 0x3000, main[2]], false);
        let e = stack(9, &[], &[], false);
        let f = stack(4, &[K + 7], &[], true);
        let b_ = round(&[a, b, c, d, e, f]);
        // b keeps a's four outer frames and adds its leaf, 6 bytes from a's.
        assert_eq!((b_.base[1], b_.keep[1], b_.added[1]), (1, 4, 1));
        assert_eq!(b_.frames[5], 6);
        // c keeps all of b and adds its kernel frames.
        assert_eq!(
            (b_.base[2], b_.keep[2], b_.added[2], b_.kernel[2]),
            (1, 5, 2, 2)
        );
        // d keeps the outermost frame, shared by all.
        assert_eq!((b_.base[3], b_.keep[3]), (1, 1));
        // Ids: consecutive ones cost nothing, a jump its size, back too.
        assert_eq!(b_.ids, [0, 0, 0, 0, 5, -6]);
        assert_eq!(b_.base[4..], [0, 0]);
    }

    #[test]
    fn ids_and_addresses_wrap() {
        round(&[
            stack(u32::MAX, &[u64::MAX], &[0, u64::MAX, 1], true),
            stack(0, &[u64::MAX - 1], &[0, u64::MAX, 1], false),
            stack(7, &[], &[u64::MAX, u64::MAX, 1], false),
        ]);
        round(&[]);
    }

    #[test]
    fn batches_that_disagree_are_refused() {
        let ok = StackBatch::new(&[
            stack(0, &[], &[1, 2, 3], true),
            stack(1, &[], &[4, 2, 3], true),
        ])
        .unwrap();
        assert_eq!(ok.size(), Ok((2, 6)));
        let bad = |f: &dyn Fn(&mut StackBatch)| {
            let mut b = ok.clone();
            f(&mut b);
            b.stacks().unwrap_err()
        };
        bad(&|b| {
            b.root.pop();
        });
        bad(&|b| b.base[1] = 2);
        bad(&|b| b.keep[1] = 4);
        bad(&|b| b.keep[1] = 0);
        bad(&|b| b.kernel[0] = 4);
        bad(&|b| b.added[0] = MAX_FRAMES);
        bad(&|b| {
            b.frames.pop();
        });
        assert!(
            StackBatch::new(&[stack(0, &[], &vec![1; MAX_FRAMES as usize + 1], true)]).is_none()
        );
    }
}
