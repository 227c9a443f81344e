//! Only the functions the samples hit: a capture carries those, sized, rather
//! than whole symbol tables (a few hundred bytes instead of tens of KiB per
//! library), which keeps it small while it still symbolizes every frame.

use std::collections::BTreeSet;

use holter_format::{BinarySymbols, Symbol};

/// The ELF virtual address of a file offset, through the loadable segments
/// (the mapping the analyzer applies too: [`holter_format::elf`]).
pub fn vaddr(b: &BinarySymbols, file_offset: u64) -> Option<u64> {
    holter_format::elf::file_offset_to_vaddr(&b.segments, file_offset)
}

/// The symbols of `b` that contain the hit file offsets. A symbol without a
/// size gets the distance to the next one, so it means the same on its own.
/// A hit no symbol contains keeps the unnamed function (FDE) containing it.
pub fn trim(b: &BinarySymbols, file_offsets: &BTreeSet<u64>) -> BinarySymbols {
    let mut keep = BTreeSet::new();
    let mut keep_unnamed = BTreeSet::new();
    for &off in file_offsets {
        let Some(v) = vaddr(b, off) else { continue };
        let i = b.symbols.partition_point(|s| s.start <= v).checked_sub(1);
        if let Some(i) = i {
            let s = &b.symbols[i];
            if s.size == 0 || v < s.start.saturating_add(s.size) {
                keep.insert(i);
                continue;
            }
        }
        let Some(j) = b.unnamed.partition_point(|f| f.0 <= v).checked_sub(1) else {
            continue;
        };
        let (start, size) = b.unnamed[j];
        if v < start.saturating_add(size) {
            keep_unnamed.insert(j);
        }
    }
    let symbols: Vec<Symbol> = keep
        .into_iter()
        .map(|i| {
            let s = &b.symbols[i];
            let size = match (s.size, b.symbols.get(i + 1)) {
                (0, Some(next)) => next.start - s.start,
                (size, _) => size,
            };
            Symbol {
                start: s.start,
                size,
                name: s.name.clone(),
            }
        })
        .collect();
    BinarySymbols {
        build_id: b.build_id.clone(),
        path: b.path.clone(),
        segments: b.segments.clone(),
        symbols,
        unnamed: keep_unnamed.into_iter().map(|j| b.unnamed[j]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holter_format::Segment;

    fn sym(start: u64, size: u64, name: &str) -> Symbol {
        Symbol {
            start,
            size,
            name: name.into(),
        }
    }

    #[test]
    fn keeps_only_what_was_hit() {
        let b = BinarySymbols {
            build_id: vec![1, 2],
            path: "/usr/bin/app".into(),
            // Text at file offset 0x1000 is loaded at vaddr 0x401000.
            segments: vec![Segment {
                file_offset: 0x1000,
                vaddr: 0x401000,
                filesz: 0x1000,
            }],
            symbols: vec![
                sym(0x401000, 0x10, "a"),
                sym(0x401100, 0, "unsized"),
                sym(0x401200, 0x20, "b"),
                sym(0x401300, 0x10, "c"),
            ],
            // Functions no symbol covers (a gap after b, and one after c).
            unnamed: vec![(0x401240, 0x20), (0x401400, 0x80), (0x401500, 0x10)],
        };
        let hits: BTreeSet<u64> = [
            0x1005, 0x1180, 0x1305, 0x1250, 0x9000, 0x1410, 0x1470, 0x1600,
        ]
        .into_iter()
        .collect();
        let t = trim(&b, &hits);
        let names: Vec<_> = t
            .symbols
            .iter()
            .map(|s| (s.name.as_str(), s.size))
            .collect();
        // 0x1250 falls past b's end (a gap), 0x9000 in no segment.
        assert_eq!(names, [("a", 0x10), ("unsized", 0x100), ("c", 0x10)]);
        // The gap and the function after c were hit (twice: kept once);
        // 0x1600 is in no function.
        assert_eq!(t.unnamed, [(0x401240, 0x20), (0x401400, 0x80)]);
        assert_eq!(t.build_id, b.build_id);
        assert_eq!(t.segments, b.segments);
        assert_eq!(vaddr(&b, 0x1005), Some(0x401005));
        assert_eq!(vaddr(&b, 0x10), None);
    }
}
