//! `/proc/kallsyms` to the kernel functions containing the addresses hit.

use std::collections::BTreeSet;

use holter_format::Symbol;

/// One line of `/proc/kallsyms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSymbol {
    pub addr: u64,
    pub kind: char,
    pub name: String,
}

/// Parses `/proc/kallsyms`, sorted by address. Lines with address 0 (hidden
/// by `kptr_restrict`) are dropped.
pub fn parse(text: &str) -> Vec<KernelSymbol> {
    let mut out: Vec<KernelSymbol> = text
        .lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let addr = u64::from_str_radix(it.next()?, 16).ok()?;
            let kind = it.next()?.chars().next()?;
            let name = it.next()?;
            let module = it.next();
            (addr != 0).then(|| KernelSymbol {
                addr,
                kind,
                name: match module {
                    Some(m) => format!("{name} {m}"),
                    None => name.to_string(),
                },
            })
        })
        .collect();
    out.sort_by_key(|s| s.addr);
    out
}

/// The text symbols containing `addrs`, each once, sized to the next symbol.
pub fn containing(all: &[KernelSymbol], addrs: &BTreeSet<u64>) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = Vec::new();
    for &addr in addrs {
        let idx = all.partition_point(|s| s.addr <= addr);
        // The last text symbol at or below addr (skip data symbols in between).
        let Some(i) = (0..idx)
            .rev()
            .find(|&i| matches!(all[i].kind, 't' | 'T' | 'w' | 'W'))
        else {
            continue;
        };
        let sym = &all[i];
        if out.last().is_some_and(|s| s.start == sym.addr) {
            continue;
        }
        let next = all[i + 1..]
            .iter()
            .find(|s| s.addr > sym.addr)
            .map(|s| s.addr);
        out.push(Symbol {
            start: sym.addr,
            size: next.map_or(0, |n| n - sym.addr),
            name: sym.name.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = "\
ffffffff81000000 T _stext
ffffffff81000100 t do_one
ffffffff81000180 d some_data
ffffffff81000200 T schedule
ffffffff81000300 T vfs_read
ffffffffc0000000 t nf_hook [nf_tables]
0000000000000000 T hidden
";

    #[test]
    fn functions_hit() {
        let all = parse(FIXTURE);
        assert_eq!(all.len(), 6);
        let hits: BTreeSet<u64> = [
            0xffffffff81000110,
            0xffffffff81000190,
            0xffffffff81000250,
            0xffffffffc0000004,
        ]
        .into_iter()
        .collect();
        let got = containing(&all, &hits);
        let names: Vec<_> = got.iter().map(|s| s.name.as_str()).collect();
        // 0x...190 lies after a data symbol: it belongs to do_one.
        assert_eq!(names, ["do_one", "schedule", "nf_hook [nf_tables]"]);
        assert_eq!(got[0].size, 0x80);
        assert_eq!(got[1].size, 0x100);
        assert_eq!(got[2].size, 0);
        assert!(containing(&all, &[0x10].into_iter().collect()).is_empty());
    }
}
