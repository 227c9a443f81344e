//! Function starts of files without a symbol table, from the `.eh_frame`
//! FDEs: a stripped binary keeps them (the unwinder needs them), and each
//! covers one function (or one cold part of it), from its first instruction.

use gimli::{BaseAddresses, CieOrFde, EhFrame, EndianSlice, RunTimeEndian, UnwindSection};
use holter_format::Symbol;

/// Entries (CIEs and FDEs) read before giving up: a hostile section cannot
/// make the agent loop or hold more than this many functions.
const MAX_ENTRIES: usize = 1 << 20;

/// Where the `.eh_frame` section and the bases of its pointer encodings lie.
#[derive(Debug, Clone, Copy, Default)]
pub struct EhFrameAt {
    pub svma: u64,
    pub text: Option<u64>,
    pub got: Option<u64>,
    pub little_endian: bool,
}

/// The (start, size) of every FDE of an `.eh_frame` section, sorted by
/// start, one per start (the larger), empty ones and those at 0 left out.
/// Entries that do not parse are skipped; reading stops at the first
/// malformed length (what comes after cannot be found).
pub fn from_eh_frame(data: &[u8], at: EhFrameAt) -> Vec<(u64, u64)> {
    let endian = if at.little_endian {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let mut section = EhFrame::new(data, endian);
    section.set_address_size(8);
    let mut bases = BaseAddresses::default().set_eh_frame(at.svma);
    if let Some(t) = at.text {
        bases = bases.set_text(t);
    }
    if let Some(g) = at.got {
        bases = bases.set_got(g);
    }
    let mut out = Vec::new();
    let mut entries = section.entries(&bases);
    for _ in 0..MAX_ENTRIES {
        match entries.next() {
            Ok(Some(CieOrFde::Fde(partial))) => {
                let parsed = partial.parse(|s: &EhFrame<EndianSlice<'_, RunTimeEndian>>, b, o| {
                    s.cie_from_offset(b, o)
                });
                if let Ok(fde) = parsed {
                    let (start, len) = (fde.initial_address(), fde.len());
                    if start != 0 && len != 0 && start.checked_add(len).is_some() {
                        out.push((start, len));
                    }
                }
            }
            Ok(Some(CieOrFde::Cie(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    out.dedup_by_key(|f| f.0);
    out
}

/// The functions no symbol covers: a function whose start lies inside a
/// symbol (sized, or unsized up to the next symbol) is named by that symbol.
/// `symbols` sorted by start.
pub fn not_covered(functions: Vec<(u64, u64)>, symbols: &[Symbol]) -> Vec<(u64, u64)> {
    functions
        .into_iter()
        .filter(|&(start, _)| {
            let i = symbols.partition_point(|s| s.start <= start);
            let Some(k) = i.checked_sub(1) else {
                return true;
            };
            // The symbol just below, or an earlier larger one it is nested in.
            !(k.saturating_sub(4)..=k).rev().any(|j| {
                let s = &symbols[j];
                let end = match (s.size, symbols.get(j + 1)) {
                    (0, Some(next)) => next.start,
                    (0, None) => u64::MAX,
                    (size, _) => s.start.saturating_add(size),
                };
                start < end
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(start: u64, size: u64) -> Symbol {
        Symbol {
            start,
            size,
            name: format!("f{start:x}"),
        }
    }

    #[test]
    fn functions_no_symbol_covers() {
        let fns = vec![
            (0x100, 0x10),
            (0x110, 0x30),
            (0x200, 0x20),
            (0x300, 0x10),
            (0x400, 0x10),
        ];
        // 0x100 named, 0x110 past its end, 0x200 inside an unsized symbol
        // (up to 0x280), 0x300 past it, 0x400 inside the last unsized one.
        let syms = [
            sym(0x100, 0x10),
            sym(0x1f0, 0),
            sym(0x280, 0x10),
            sym(0x3f0, 0),
        ];
        assert_eq!(
            not_covered(fns.clone(), &syms),
            [(0x110, 0x30), (0x300, 0x10)]
        );
        assert_eq!(not_covered(fns.clone(), &[]), fns);
    }

    /// The FDEs of this test binary start where its symbols do.
    #[test]
    fn fdes_of_this_test_binary_start_at_functions() {
        use object::{Object, ObjectSection};
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let file = object::File::parse(&*exe).unwrap();
        let eh = file.section_by_name(".eh_frame").unwrap();
        let at = EhFrameAt {
            svma: eh.address(),
            text: file.section_by_name(".text").map(|s| s.address()),
            got: file.section_by_name(".got").map(|s| s.address()),
            little_endian: file.is_little_endian(),
        };
        let fns = from_eh_frame(eh.data().unwrap(), at);
        assert!(fns.len() > 1000, "{} FDEs", fns.len());
        assert!(fns.windows(2).all(|w| w[0].0 < w[1].0));
        let info = super::super::elf::read(&exe).unwrap();
        let starts: std::collections::HashSet<u64> = info.symbols.iter().map(|s| s.start).collect();
        let at_symbol = fns.iter().filter(|f| starts.contains(&f.0)).count();
        assert!(
            at_symbol * 10 >= fns.len() * 9,
            "{at_symbol} of {} FDEs start at a symbol",
            fns.len()
        );
        // Garbage never panics and gives nothing.
        assert!(from_eh_frame(&[0xff; 64], at).is_empty());
        assert!(from_eh_frame(&[], at).is_empty());
    }
}
