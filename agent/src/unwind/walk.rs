//! Unwinding one sample: the user registers and the copy of the top of the
//! user stack the kernel took, walked with framehop through the modules of
//! the process (DWARF CFI where a module has it, frame pointers per frame
//! where it has none or for code outside any module: JIT, Go).

use std::sync::Arc;

use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};

use super::sections::Sections;

type Data = Arc<[u8]>;
pub type NativeUnwinder = framehop::UnwinderNative<Data, framehop::MayAllocateDuringUnwind>;
pub type NativeCache = framehop::CacheNative<framehop::MayAllocateDuringUnwind>;

/// Most frames of one stack.
pub const MAX_FRAMES: usize = 256;

/// An executable mapping of the process, with its file's unwind sections.
#[derive(Debug, Clone)]
pub struct ModuleMap<'a> {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub name: &'a str,
    pub sections: &'a Sections,
}

/// A process's unwinder: its modules, each with its unwind sections.
pub fn unwinder<'a>(modules: impl IntoIterator<Item = ModuleMap<'a>>) -> NativeUnwinder {
    let mut u = NativeUnwinder::new();
    for m in modules {
        let s = m.sections;
        if !s.has_unwind_info() || m.end <= m.start {
            continue; // frame pointers: framehop's rule outside known modules
        }
        let info = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: s.text.clone(),
            got_svma: s.got.clone(),
            eh_frame_svma: s.eh_frame.as_ref().map(|e| e.svma.clone()),
            eh_frame: s.eh_frame.as_ref().map(|e| e.data.clone()),
            eh_frame_hdr_svma: s.eh_frame_hdr.as_ref().map(|e| e.svma.clone()),
            eh_frame_hdr: s.eh_frame_hdr.as_ref().map(|e| e.data.clone()),
            debug_frame: s.debug_frame.clone(),
            ..ExplicitModuleSectionInfo::default()
        };
        u.add_module(Module::new(
            m.name.to_string(),
            m.start..m.end,
            s.base_avma(m.start, m.pgoff),
            info,
        ));
    }
    u
}

/// The user registers unwinding starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Regs {
    pub ip: u64,
    pub sp: u64,
    /// Frame pointer: rbp on x86_64, x29 on aarch64.
    pub fp: u64,
    /// Link register (aarch64 only).
    pub lr: u64,
}

/// How an unwind ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The unwind information says this is the outermost frame (`_start`,
    /// `clone`...) or the frame pointer chain ended with 0.
    Root,
    /// The next frame lies beyond the stack copy (or the copy is short).
    StackCopy,
    /// A rule could not be followed (corrupt or missing information).
    Failed,
    /// The stack pointer did not move towards the stack's base: a loop.
    Loop,
    /// [`MAX_FRAMES`] reached.
    TooDeep,
}

/// Unwinds from `regs` over `stack` (the bytes at `regs.sp` and above):
/// the instruction pointer then return addresses, into `out`.
pub fn unwind(
    unwinder: &NativeUnwinder,
    cache: &mut NativeCache,
    regs: Regs,
    stack: &[u8],
    out: &mut Vec<u64>,
) -> End {
    out.clear();
    if regs.ip == 0 {
        return End::Failed;
    }
    let base = regs.sp;
    let mut read = |addr: u64| -> Result<u64, ()> {
        let off = addr.checked_sub(base).ok_or(())? as usize;
        let bytes = stack.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| ())?))
    };
    let mut r = native_regs(regs);
    let mut address = FrameAddress::from_instruction_pointer(regs.ip);
    out.push(regs.ip);
    let mut sp = regs.sp;
    loop {
        if out.len() >= MAX_FRAMES {
            return End::TooDeep;
        }
        let first = !address.is_return_address();
        match unwinder.unwind_frame(address, &mut r, cache, &mut read) {
            Ok(None) => return End::Root,
            Ok(Some(ra)) => {
                let new_sp = r.sp();
                // Each frame's stack lies above the one it called; only an
                // aarch64 leaf (return address in lr) keeps its sp.
                if new_sp < sp || (new_sp == sp && !(first && cfg!(target_arch = "aarch64"))) {
                    return End::Loop;
                }
                sp = new_sp;
                let Some(next) = FrameAddress::from_return_address(ra) else {
                    return End::Root;
                };
                out.push(ra);
                address = next;
            }
            Err(framehop::Error::CouldNotReadStack(_)) => return End::StackCopy,
            Err(_) => return End::Failed,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn native_regs(r: Regs) -> framehop::UnwindRegsNative {
    framehop::x86_64::UnwindRegsX86_64::new(r.ip, r.sp, r.fp)
}

#[cfg(target_arch = "aarch64")]
fn native_regs(r: Regs) -> framehop::UnwindRegsNative {
    framehop::aarch64::UnwindRegsAarch64::new(r.lr, r.sp, r.fp)
}

/// Where the kernel's frame-pointer callchain (`kernel_fp`, leaf first)
/// goes on beyond an unwind cut by the end of the stack copy: the frames
/// after the last unwound return address, if the callchain has it. Deep
/// stacks of frame-pointer code (Go) keep their outer frames this way.
pub fn continuation<'c>(unwound: &[u64], kernel_fp: &'c [u64]) -> &'c [u64] {
    let Some(&last) = unwound.last().filter(|_| unwound.len() > 1) else {
        return &[];
    };
    match kernel_fp.iter().position(|&a| a == last) {
        Some(i) if i > 0 => &kernel_fp[i + 1..],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_after_the_last_common_frame() {
        assert_eq!(continuation(&[1, 2, 3], &[1, 9, 3, 4, 5]), &[4, 5]);
        assert!(continuation(&[1, 2, 3], &[1, 9, 8]).is_empty());
        assert!(continuation(&[1], &[1, 2]).is_empty());
        assert!(continuation(&[], &[1, 2]).is_empty());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn frame_pointer_walk_without_modules() {
        // No module is known: framehop's frame-pointer rule, per frame.
        let u = unwinder([]);
        let mut cache = NativeCache::new();
        let sp = 0x7fff_0000_0000u64;
        // Frame 0 (leaf) has rbp -> 0x10 into the copy: [caller rbp][return address].
        let mut stack = vec![0u8; 0x40];
        let put =
            |s: &mut Vec<u8>, off: usize, v: u64| s[off..off + 8].copy_from_slice(&v.to_le_bytes());
        put(&mut stack, 0x10, sp + 0x20); // saved rbp of the caller
        put(&mut stack, 0x18, 0x40_1234); // return address into the caller
        put(&mut stack, 0x20, 0); // the caller's caller: rbp 0 ends the chain
        put(&mut stack, 0x28, 0x40_5678);
        let regs = Regs {
            ip: 0x40_1000,
            sp,
            fp: sp + 0x10,
            lr: 0,
        };
        let mut out = Vec::new();
        let end = unwind(&u, &mut cache, regs, &stack, &mut out);
        assert_eq!(out[..2], [0x40_1000, 0x40_1234]);
        assert!(matches!(end, End::Root | End::Failed), "{end:?} {out:x?}");
        // A short copy: the chain points past it.
        let end = unwind(&u, &mut cache, regs, &stack[..0x10], &mut out);
        assert_eq!((end, out.as_slice()), (End::StackCopy, &[0x40_1000][..]));
        // A frame pointer pointing back down: a loop, stopped.
        let mut looping = stack.clone();
        put(&mut looping, 0x10, sp);
        put(&mut looping, 0x00, sp + 0x10);
        put(&mut looping, 0x08, 0x40_2222);
        let end = unwind(&u, &mut cache, regs, &looping, &mut out);
        assert!(matches!(end, End::Loop | End::Failed), "{end:?} {out:x?}");
        assert!(out.len() <= 3);
    }
}
