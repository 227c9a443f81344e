//! The unwind sections of an ELF file (`.eh_frame`, `.eh_frame_hdr`,
//! `.debug_frame`) and the addresses framehop needs with them: a pure
//! function of the file's bytes, read once per file.

use std::ops::Range;
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSegment};

/// The largest unwind section kept (a hostile file cannot make the agent
/// hold more than this per section).
const MAX_SECTION: u64 = 64 << 20;

/// One section: its address range as the file states it, and its bytes.
#[derive(Debug, Clone)]
pub struct Section {
    pub svma: Range<u64>,
    pub data: Arc<[u8]>,
}

/// What unwinding through one file needs.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    pub eh_frame: Option<Section>,
    pub eh_frame_hdr: Option<Section>,
    pub debug_frame: Option<Arc<[u8]>>,
    pub text: Option<Range<u64>>,
    pub got: Option<Range<u64>>,
    /// Loadable segments: (file offset, address, size in the file).
    pub loads: Vec<(u64, u64, u64)>,
}

impl Sections {
    /// Whether the file has any unwind information (else frame pointers are used).
    pub fn has_unwind_info(&self) -> bool {
        self.eh_frame.is_some() || self.debug_frame.is_some()
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.eh_frame.as_ref().map_or(0, |s| s.data.len())
            + self.eh_frame_hdr.as_ref().map_or(0, |s| s.data.len())
            + self.debug_frame.as_ref().map_or(0, |d| d.len())
    }

    /// The address in the process of the file's address 0, for a mapping of
    /// the file at `start` from file offset `pgoff`.
    pub fn base_avma(&self, start: u64, pgoff: u64) -> u64 {
        // The segment whose pages hold `pgoff`: segments need not start on a
        // page boundary (lld puts them right after each other in the file).
        const PAGE: u64 = 4096;
        let seg = self
            .loads
            .iter()
            .filter(|(off, _, size)| off & !(PAGE - 1) <= pgoff && pgoff < off + size.max(&1))
            .max_by_key(|(off, _, _)| *off)
            .or_else(|| {
                self.loads
                    .iter()
                    .filter(|(off, _, _)| *off <= pgoff)
                    .max_by_key(|(off, _, _)| *off)
            });
        match seg {
            Some(&(off, vaddr, _)) => start
                .wrapping_sub(pgoff)
                .wrapping_add(off)
                .wrapping_sub(vaddr),
            None => start.wrapping_sub(pgoff),
        }
    }
}

/// Reads the unwind sections of an ELF image. A file without them gives
/// empty [`Sections`]; a file that is not ELF, an error.
pub fn read(bytes: &[u8]) -> Result<Sections, String> {
    let file = object::File::parse(bytes).map_err(|e| e.to_string())?;
    let section = |name: &str| -> Option<Section> {
        let s = file.section_by_name(name)?;
        if s.size() == 0 || s.size() > MAX_SECTION {
            return None;
        }
        // Compressed sections (`.debug_frame` with SHF_COMPRESSED) are not used.
        if s.compressed_file_range()
            .ok()
            .is_none_or(|r| r.format != object::CompressionFormat::None)
        {
            return None;
        }
        let data = s.data().ok()?;
        if data.is_empty() {
            return None; // SHT_NOBITS, as in separate debug files
        }
        Some(Section {
            svma: s.address()..s.address() + s.size(),
            data: Arc::from(data),
        })
    };
    let range = |name: &str| {
        file.section_by_name(name)
            .map(|s| s.address()..s.address() + s.size())
    };
    let loads = file
        .segments()
        .map(|s| {
            let (off, size) = s.file_range();
            (off, s.address(), size)
        })
        .collect();
    let mut out = Sections {
        eh_frame: section(".eh_frame"),
        eh_frame_hdr: section(".eh_frame_hdr"),
        debug_frame: section(".debug_frame").map(|s| s.data),
        text: range(".text"),
        got: range(".got"),
        loads,
    };
    if out.eh_frame.is_none() {
        out.eh_frame_hdr = None;
    }
    super::check::drop_unsafe_expressions(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_test_binary() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let s = read(&exe).unwrap();
        assert!(s.has_unwind_info());
        let eh = s.eh_frame.as_ref().unwrap();
        assert!(eh.data.len() > 1000);
        assert!(s.eh_frame_hdr.is_some());
        assert!(s.text.is_some());
        assert!(!s.loads.is_empty());
        assert!(read(b"not an ELF file").is_err());
    }

    #[test]
    fn base_address_of_a_mapping() {
        let s = Sections {
            // A PIE: text segment at file offset 0x1000, address 0x1000.
            loads: vec![(0, 0, 0x800), (0x1000, 0x1000, 0x5000)],
            ..Sections::default()
        };
        assert_eq!(s.base_avma(0x5555_0000_1000, 0x1000), 0x5555_0000_0000);
        // A segment whose address differs from its offset (prelinked or non-PIE).
        let n = Sections {
            loads: vec![(0, 0x400000, 0x800), (0x1000, 0x401000, 0x5000)],
            ..Sections::default()
        };
        assert_eq!(n.base_avma(0x401000, 0x1000), 0);
        assert_eq!(Sections::default().base_avma(0x7000, 0x1000), 0x6000);
        // lld: the executable segment starts mid-page, right after the read-only one.
        let l = Sections {
            loads: vec![(0, 0, 0x18678), (0x18680, 0x19680, 0x41de0)],
            ..Sections::default()
        };
        assert_eq!(l.base_avma(0x5555_0001_9000, 0x18000), 0x5555_0000_0000);
    }
}
