//! ELF files to build-id, loadable segments and sorted function symbols.

use holter_format::{Segment, Symbol};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use super::{starts, SymbolError};

/// What the capture needs from one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// Empty when the file has no build-id note.
    pub build_id: Vec<u8>,
    pub segments: Vec<Segment>,
    /// Function symbols sorted by start, one per start address.
    pub symbols: Vec<Symbol>,
    /// Functions no symbol covers, (start, size), from `.eh_frame` FDEs.
    pub unnamed: Vec<(u64, u64)>,
}

/// Reads an ELF file image: `.symtab` functions, else `.dynsym` functions,
/// and the functions that neither names (from `.eh_frame`).
pub fn read(bytes: &[u8]) -> Result<ElfInfo, SymbolError> {
    let file = object::File::parse(bytes).map_err(|e| SymbolError::Elf(e.to_string()))?;
    let build_id = file
        .build_id()
        .map_err(|e| SymbolError::Elf(e.to_string()))?
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let segments = file
        .segments()
        .map(|s| {
            let (file_offset, filesz) = s.file_range();
            Segment {
                file_offset,
                vaddr: s.address(),
                filesz,
            }
        })
        .collect();
    let mut symbols = functions(file.symbols());
    if symbols.is_empty() {
        symbols = functions(file.dynamic_symbols());
    }
    let unnamed = starts::not_covered(fde_functions(&file), &symbols);
    Ok(ElfInfo {
        build_id,
        segments,
        symbols,
        unnamed,
    })
}

/// The FDEs of the file's `.eh_frame` (none when it has none it can read).
fn fde_functions(file: &object::File) -> Vec<(u64, u64)> {
    let Some(eh) = file.section_by_name(".eh_frame") else {
        return Vec::new();
    };
    let Ok(data) = eh.data() else {
        return Vec::new();
    };
    let at = starts::EhFrameAt {
        svma: eh.address(),
        text: file.section_by_name(".text").map(|s| s.address()),
        got: file.section_by_name(".got").map(|s| s.address()),
        little_endian: file.is_little_endian(),
    };
    starts::from_eh_frame(data, at)
}

/// Only the build-id note, for checking that a file is the one mapped.
pub fn build_id(bytes: &[u8]) -> Option<Vec<u8>> {
    let file = object::File::parse(bytes).ok()?;
    file.build_id().ok()?.map(<[u8]>::to_vec)
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
    // One name per address: the sized one, then the global-looking (no dot) one.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary itself is an ELF file with a build-id and a symbol table.
    #[test]
    fn reads_this_test_binary() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let info = read(&exe).unwrap();
        assert!(!info.segments.is_empty());
        assert!(info.symbols.windows(2).all(|w| w[0].start < w[1].start));
        let me = info
            .symbols
            .iter()
            .find(|s| s.name.contains("reads_this_test_binary"))
            .expect("own test function in .symtab");
        assert!(me.size > 0);
        assert_eq!(build_id(&exe).unwrap_or_default(), info.build_id);
    }

    #[test]
    fn rejects_non_elf() {
        assert!(matches!(
            read(b"#!/bin/sh\necho hi\n"),
            Err(SymbolError::Elf(_))
        ));
        assert_eq!(build_id(b"junk"), None);
    }
}
