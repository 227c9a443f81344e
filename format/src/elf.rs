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

#[cfg(feature = "elf")]
pub use read::{build_id, function_symbols, segments, symtab_functions};

/// Reading what a capture needs from an ELF file (feature `elf`): the agent
/// records it, the analyzer reads its debug files with the same functions.
#[cfg(feature = "elf")]
mod read {
    use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

    use crate::{Segment, Symbol};

    /// The loadable segments that hold bytes of the file (a segment of
    /// zero-initialised memory alone maps no file offset).
    pub fn segments(file: &object::File) -> Vec<Segment> {
        file.segments()
            .filter_map(|s| {
                let (file_offset, filesz) = s.file_range();
                (filesz > 0).then_some(Segment {
                    file_offset,
                    vaddr: s.address(),
                    filesz,
                })
            })
            .collect()
    }

    /// Function symbols of `.symtab`, else of `.dynsym` (a stripped file),
    /// sorted by start, one per start.
    pub fn function_symbols(file: &object::File) -> Vec<Symbol> {
        let symbols = symtab_functions(file);
        if symbols.is_empty() {
            functions(file.dynamic_symbols())
        } else {
            symbols
        }
    }

    /// Function symbols of `.symtab` only (a debug file's own table, with the
    /// local functions a stripped binary lacks), sorted, one per start.
    pub fn symtab_functions(file: &object::File) -> Vec<Symbol> {
        functions(file.symbols())
    }

    /// The build-id note, if the file has one.
    pub fn build_id(file: &object::File) -> Option<Vec<u8>> {
        file.build_id().ok().flatten().map(<[u8]>::to_vec)
    }

    fn functions<'d, S: ObjectSymbol<'d>>(syms: impl Iterator<Item = S>) -> Vec<Symbol> {
        let mut out: Vec<Symbol> = syms
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                (!name.is_empty()).then(|| Symbol {
                    start: s.address(),
                    size: s.size(),
                    name: name.to_string(),
                })
            })
            .collect();
        // One name per address: the sized one, then the global-looking (no
        // dot) one.
        out.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.size.cmp(&a.size))
                .then(a.name.contains('.').cmp(&b.name.contains('.')))
                .then(a.name.cmp(&b.name))
        });
        out.dedup_by_key(|s| s.start);
        out
    }
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

    /// The shared reader on a real file (`fixtures/elf/inline`, a PIE with
    /// `.symtab`; `inline.debug`, its `--only-keep-debug` file, keeps no code
    /// bytes in its segments, and the same functions).
    #[cfg(feature = "elf")]
    #[test]
    fn reads_segments_functions_and_build_id_of_a_real_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/elf");
        let bin = std::fs::read(dir.join("inline")).unwrap();
        let file = object::File::parse(&*bin).unwrap();
        let segs = segments(&file);
        assert!(!segs.is_empty() && segs.iter().all(|s| s.filesz > 0));
        let syms = function_symbols(&file);
        assert!(syms.windows(2).all(|w| w[0].start < w[1].start));
        let main = syms.iter().find(|s| s.name == "main").expect("main");
        assert!(
            segs.iter()
                .any(|s| (s.vaddr..s.vaddr + s.filesz).contains(&main.start)),
            "main lies in a segment with file bytes"
        );
        assert_eq!(syms, symtab_functions(&file), "an unstripped file: .symtab");
        let id = build_id(&file).expect("a build-id note");

        let dbg = std::fs::read(dir.join("inline.debug")).unwrap();
        let dfile = object::File::parse(&*dbg).unwrap();
        assert!(
            !segments(&dfile)
                .iter()
                .any(|s| (s.vaddr..s.vaddr + s.filesz).contains(&main.start)),
            "a debug file keeps no code bytes"
        );
        assert_eq!(build_id(&dfile), Some(id));
        assert!(symtab_functions(&dfile).iter().any(|s| s.name == "main"));
    }
}
