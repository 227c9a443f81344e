//! ELF files to build-id, loadable segments and sorted function symbols.

use holter_format::{Segment, Symbol};
use object::{Object, ObjectSection};

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
    let segments = holter_format::elf::segments(&file);
    let symbols = holter_format::elf::function_symbols(&file);
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
    holter_format::elf::build_id(&object::File::parse(bytes).ok()?)
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
