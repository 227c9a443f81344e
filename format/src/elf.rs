//! How the addresses of a capture map to a binary's own addresses: the
//! contract between the agent, which records a file's loadable segments and
//! the starts of its functions in ELF virtual addresses, and the analyzer,
//! which turns a sampled file offset into one of those addresses. Both sides
//! call these functions, so they cannot disagree (overflow included: a
//! capture is untrusted input, and a nonsense segment only fails to map).

use crate::Segment;

/// The ELF virtual address of a file offset, through the loadable segment
/// whose file bytes hold it; `None` outside every segment, or where the
/// address would overflow.
pub fn file_offset_to_vaddr(segments: &[Segment], file_offset: u64) -> Option<u64> {
    segments.iter().find_map(|s| {
        let into = file_offset.checked_sub(s.file_offset)?;
        (into < s.filesz).then(|| s.vaddr.checked_add(into))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_addresses() {
        let segs = [
            Segment {
                file_offset: 0,
                vaddr: 0,
                filesz: 0x1000,
            },
            Segment {
                file_offset: 0x1000,
                vaddr: 0x401000,
                filesz: 0x2000,
            },
        ];
        assert_eq!(file_offset_to_vaddr(&segs, 0x1234), Some(0x401234));
        assert_eq!(file_offset_to_vaddr(&segs, 0x10), Some(0x10));
        assert_eq!(file_offset_to_vaddr(&segs, 0x2fff), Some(0x402fff));
        assert_eq!(file_offset_to_vaddr(&segs, 0x3000), None);
        assert_eq!(file_offset_to_vaddr(&[], 0), None);
    }

    /// Hostile segments never overflow: the agent's former
    /// `file_offset + filesz` wrapped (a huge segment matched any offset),
    /// the analyzer's `vaddr + into` wrapped to a small address.
    #[test]
    fn hostile_segments_do_not_overflow() {
        let huge = [Segment {
            file_offset: u64::MAX - 1,
            vaddr: 0,
            filesz: u64::MAX,
        }];
        assert_eq!(file_offset_to_vaddr(&huge, 5), None);
        assert_eq!(file_offset_to_vaddr(&huge, u64::MAX), Some(1));
        let high = [Segment {
            file_offset: 0,
            vaddr: u64::MAX - 0x10,
            filesz: 0x100,
        }];
        assert_eq!(file_offset_to_vaddr(&high, 0x10), Some(u64::MAX));
        assert_eq!(file_offset_to_vaddr(&high, 0x11), None);
    }
}
