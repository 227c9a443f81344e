//! Address → symbol lookup in one sorted table.
//!
//! Tables come from the capture (`BinarySymbols`, `KernelSymbols`,
//! `JitSymbols`) or from a debug file. A symbol of size 0 extends up to the
//! next symbol's start.

use holter_format::Symbol;

/// Symbols sorted by start, each with a resolved end.
#[derive(Debug, Default)]
pub struct SymbolTable {
    starts: Vec<u64>,
    ends: Vec<u64>,
    names: Vec<String>,
}

impl SymbolTable {
    /// Builds a table from symbols in any order. Where two symbols start at the
    /// same address the first one with a size wins.
    pub fn new(symbols: &[Symbol]) -> SymbolTable {
        let mut sorted: Vec<&Symbol> = symbols.iter().collect();
        sorted.sort_by(|a, b| a.start.cmp(&b.start).then(b.size.cmp(&a.size)));
        sorted.dedup_by_key(|s| s.start);
        let mut t = SymbolTable::default();
        for (i, s) in sorted.iter().enumerate() {
            let next = sorted.get(i + 1).map_or(u64::MAX, |n| n.start);
            let end = if s.size == 0 {
                next
            } else {
                s.start.saturating_add(s.size)
            };
            t.starts.push(s.start);
            t.ends.push(end);
            t.names.push(s.name.clone());
        }
        t
    }

    /// A table of functions known only by (start, size), each named
    /// `fn@0xSTART` (ELF virtual address). Zero-sized ones are left out (a
    /// function without a name has no next symbol to end at).
    pub fn function_starts(functions: &[(u64, u64)]) -> SymbolTable {
        let symbols: Vec<Symbol> = functions
            .iter()
            .filter(|f| f.1 != 0)
            .map(|&(start, size)| Symbol {
                start,
                size,
                name: format!("fn@{start:#x}"),
            })
            .collect();
        SymbolTable::new(&symbols)
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The raw name of the symbol containing `addr`.
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self.starts.partition_point(|&s| s <= addr).checked_sub(1)?;
        // A sized symbol may be followed by a gap, or nested in an earlier,
        // larger one (aliases): look back a little for one that contains addr.
        for j in (i.saturating_sub(4)..=i).rev() {
            if addr < self.ends[j] {
                return Some(&self.names[j]);
            }
        }
        None
    }
}

/// ELF virtual address of a file offset, through the PT_LOAD segments: the
/// agent's mapping too ([`holter_format::elf`]).
pub use holter_format::elf::file_offset_to_vaddr;

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(start: u64, size: u64, name: &str) -> Symbol {
        Symbol {
            start,
            size,
            name: name.into(),
        }
    }

    #[test]
    fn sized_symbols_leave_gaps() {
        let t = SymbolTable::new(&[sym(0x100, 0x10, "a"), sym(0x200, 0x10, "b")]);
        assert_eq!(t.lookup(0xff), None);
        assert_eq!(t.lookup(0x100), Some("a"));
        assert_eq!(t.lookup(0x10f), Some("a"));
        assert_eq!(t.lookup(0x110), None);
        assert_eq!(t.lookup(0x205), Some("b"));
        assert_eq!(t.lookup(0x210), None);
    }

    #[test]
    fn size_zero_extends_to_next_symbol() {
        let t = SymbolTable::new(&[sym(0x300, 0, "c"), sym(0x100, 0, "a"), sym(0x200, 0, "b")]);
        assert_eq!(t.lookup(0x1ff), Some("a"));
        assert_eq!(t.lookup(0x200), Some("b"));
        assert_eq!(t.lookup(0x12345), Some("c"));
    }

    #[test]
    fn alias_nested_in_larger_symbol() {
        let t = SymbolTable::new(&[sym(0x100, 0x100, "big"), sym(0x120, 0x8, "small")]);
        assert_eq!(t.lookup(0x124), Some("small"));
        assert_eq!(t.lookup(0x150), Some("big"));
    }

    #[test]
    fn unnamed_functions_by_start() {
        let t = SymbolTable::function_starts(&[(0x2000, 0x40), (0x1000, 0x10), (0x3000, 0)]);
        assert_eq!(t.lookup(0x1000), Some("fn@0x1000"));
        assert_eq!(t.lookup(0x100f), Some("fn@0x1000"));
        assert_eq!(t.lookup(0x1010), None);
        assert_eq!(t.lookup(0x203f), Some("fn@0x2000"));
        assert_eq!(t.lookup(0x3000), None, "no size: nothing to name");
        // Hostile sizes saturate instead of wrapping.
        let h = SymbolTable::function_starts(&[(u64::MAX, u64::MAX), (0, 0)]);
        assert_eq!(h.lookup(u64::MAX), None);
    }
}
