//! A hostile file's unwind tables must not hang the agent. framehop
//! evaluates DWARF expressions in CFA and register rules with gimli, without
//! an iteration limit: a `DW_OP_skip` or `DW_OP_bra` jumping backwards loops
//! for ever. Such a table is dropped when the file is read (its module then
//! unwinds by frame pointers); compilers do not emit branches in CFI.

use gimli::{
    BaseAddresses, CallFrameInstruction, CieOrFde, DebugFrame, EhFrame, Encoding, EndianSlice,
    Format, LittleEndian, Operation, UnwindSection,
};

use super::sections::Sections;

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Entries (CIEs and FDEs) looked at per section before giving up on it.
const MAX_ENTRIES: usize = 4 << 20;

/// Drops the unwind sections that hold a DWARF expression with a branch.
pub fn drop_unsafe_expressions(s: &mut Sections) {
    if let Some(eh) = &s.eh_frame {
        let mut bases = BaseAddresses::default().set_eh_frame(eh.svma.start);
        if let Some(t) = &s.text {
            bases = bases.set_text(t.start);
        }
        if let Some(g) = &s.got {
            bases = bases.set_got(g.start);
        }
        let mut section = EhFrame::new(&eh.data, LittleEndian);
        section.set_address_size(8);
        if !is_safe(&section, &bases) {
            s.eh_frame = None;
            s.eh_frame_hdr = None;
        }
    }
    if let Some(df) = &s.debug_frame {
        let mut section = DebugFrame::new(df, LittleEndian);
        section.set_address_size(8);
        if !is_safe(&section, &BaseAddresses::default()) {
            s.debug_frame = None;
        }
    }
}

/// Whether no CFI instruction of the section holds a branching expression.
/// Entries that do not parse are skipped (framehop fails on them per
/// address, then falls back to frame pointers).
pub fn is_safe<'a, S: UnwindSection<R<'a>>>(section: &S, bases: &BaseAddresses) -> bool {
    let mut entries = section.entries(bases);
    for _ in 0..MAX_ENTRIES {
        let ok = match entries.next() {
            Ok(None) | Err(_) => return true,
            Ok(Some(CieOrFde::Cie(cie))) => {
                instructions_safe(section, cie.instructions(section, bases))
            }
            Ok(Some(CieOrFde::Fde(partial))) => {
                match partial.parse(|s, b, o| s.cie_from_offset(b, o)) {
                    Ok(fde) => instructions_safe(section, fde.instructions(section, bases)),
                    Err(_) => true,
                }
            }
        };
        if !ok {
            return false;
        }
    }
    false
}

fn instructions_safe<'a, S: UnwindSection<R<'a>>>(
    section: &S,
    mut it: gimli::CallFrameInstructionIter<'_, R<'a>>,
) -> bool {
    loop {
        let expr = match it.next() {
            Ok(None) | Err(_) => return true,
            Ok(Some(CallFrameInstruction::DefCfaExpression { expression }))
            | Ok(Some(CallFrameInstruction::Expression { expression, .. }))
            | Ok(Some(CallFrameInstruction::ValExpression { expression, .. })) => expression,
            Ok(Some(_)) => continue,
        };
        let Ok(expr) = expr.get(section) else {
            return false;
        };
        if !expression_safe(expr) {
            return false;
        }
    }
}

/// An expression without branches (it runs each operation at most once).
pub fn expression_safe(expr: gimli::Expression<R<'_>>) -> bool {
    let encoding = Encoding {
        format: Format::Dwarf32,
        version: 4,
        address_size: 8,
    };
    let mut ops = expr.operations(encoding);
    loop {
        match ops.next() {
            Ok(None) => return true,
            Ok(Some(Operation::Skip { .. }))
            | Ok(Some(Operation::Bra { .. }))
            | Ok(Some(Operation::Call { .. })) => return false,
            Ok(Some(_)) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_are_refused() {
        // DW_OP_breg7 8 (rsp + 8): fine.
        let plain = [0x77, 0x08];
        assert!(expression_safe(gimli::Expression(EndianSlice::new(
            &plain,
            LittleEndian
        ))));
        // DW_OP_lit0; DW_OP_skip -3: loops back on itself for ever.
        let looping = [0x30, 0x2f, 0xfd, 0xff];
        assert!(!expression_safe(gimli::Expression(EndianSlice::new(
            &looping,
            LittleEndian
        ))));
        // DW_OP_lit1; DW_OP_bra -3.
        let bra = [0x31, 0x28, 0xfd, 0xff];
        assert!(!expression_safe(gimli::Expression(EndianSlice::new(
            &bra,
            LittleEndian
        ))));
    }

    #[test]
    fn this_binarys_tables_are_safe() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let s = super::super::sections::read(&exe).unwrap();
        assert!(s.eh_frame.is_some(), "kept after the check");
    }
}
