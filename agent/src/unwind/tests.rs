//! The unwinding glue on bytes, in the style of framehop's own tests: the
//! registers and stack copy saved by fixtures/elf/unwind.c (built with and
//! without frame pointers, see fixtures/elf/build.sh), unwound through the
//! sections of the fixture binary, each frame named from its symbol table.

use std::path::PathBuf;

use super::sections::{self, Sections};
use super::walk::{self, End, ModuleMap, NativeCache, Regs};
use crate::symbols::elf;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/elf")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Snapshot {
    regs: Regs,
    base: u64,
    stack: Vec<u8>,
}

fn snapshot(name: &str) -> Snapshot {
    let b = fixture(name);
    let u = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    let len = u(4) as usize;
    Snapshot {
        regs: Regs {
            ip: u(0),
            sp: u(1),
            fp: u(2),
            lr: 0,
        },
        base: u(3),
        stack: b[40..40 + len].to_vec(),
    }
}

/// Unwinds a fixture's snapshot with `sections`; returns the function names
/// of the frames inside the binary, leaf first, and how the walk ended.
fn walk_names(binary: &str, sections: &Sections, snap: &Snapshot) -> (Vec<String>, End) {
    let bytes = fixture(binary);
    let info = elf::read(&bytes).unwrap();
    let u = walk::unwinder([ModuleMap {
        start: snap.base,
        end: snap.base + bytes.len() as u64,
        pgoff: 0,
        name: binary,
        sections,
    }]);
    let mut cache = NativeCache::new();
    let mut out = Vec::new();
    let end = walk::unwind(&u, &mut cache, snap.regs, &snap.stack, &mut out);
    let names = out
        .iter()
        .enumerate()
        .filter_map(|(i, &a)| {
            // A return address is looked up one byte back (inside its call).
            let rel = a.checked_sub(snap.base)? - u64::from(i > 0);
            let s = info
                .symbols
                .iter()
                .rev()
                .find(|s| s.start <= rel && rel < s.start + s.size.max(1))?;
            Some(s.name.clone())
        })
        .collect();
    (names, end)
}

const TREE: [&str; 5] = ["snapshot", "leaf", "middle", "outer", "main"];

#[test]
fn eh_frame_unwinds_code_without_frame_pointers() {
    let s = sections::read(&fixture("unwind.omitfp")).unwrap();
    assert!(s.eh_frame.is_some() && s.eh_frame_hdr.is_some());
    let snap = snapshot("unwind.omitfp.stack");
    let (names, end) = walk_names("unwind.omitfp", &s, &snap);
    assert_eq!(names[..5], TREE, "{names:?} ({end:?})");
    // Beyond main: libc (not a module here), walked by frame pointers, ends somehow.
    assert_ne!(end, End::TooDeep);
}

#[test]
fn without_unwind_tables_frame_pointers_are_followed() {
    // The frame-pointer build unwound as if it had no .eh_frame (a Go-like module).
    let snap = snapshot("unwind.fp.stack");
    let (names, _) = walk_names("unwind.fp", &Sections::default(), &snap);
    // snapshot() is a leaf frame with rbp set up: its caller chain follows.
    assert_eq!(names[..5], TREE, "{names:?}");
    // And with its tables, the same stack.
    let s = sections::read(&fixture("unwind.fp")).unwrap();
    let (with, _) = walk_names("unwind.fp", &s, &snap);
    assert_eq!(with[..5], TREE);
}

#[test]
fn omitted_frame_pointers_without_tables_lose_the_callers() {
    // What `--unwind fp` sees of such code: not the call tree.
    let snap = snapshot("unwind.omitfp.stack");
    let (names, _) = walk_names("unwind.omitfp", &Sections::default(), &snap);
    assert_ne!(
        names.get(..5),
        Some(&TREE.map(String::from)[..]),
        "{names:?}"
    );
}

#[test]
fn a_short_stack_copy_gives_a_shorter_stack() {
    let s = sections::read(&fixture("unwind.omitfp")).unwrap();
    let mut snap = snapshot("unwind.omitfp.stack");
    snap.stack.truncate(40);
    let (names, end) = walk_names("unwind.omitfp", &s, &snap);
    assert!(names.len() < 5 && !names.is_empty(), "{names:?}");
    assert_eq!(end, End::StackCopy);
    snap.stack.clear();
    let (names, end) = walk_names("unwind.omitfp", &s, &snap);
    assert_eq!((names.len(), end), (1, End::StackCopy));
}

#[test]
fn corrupt_tables_end_the_stack_not_the_agent() {
    let bytes = fixture("unwind.omitfp");
    let snap = snapshot("unwind.omitfp.stack");
    let good = sections::read(&bytes).unwrap();
    let eh = good.eh_frame.clone().unwrap();
    // Every byte of .eh_frame replaced in turn by patterns: garbage
    // lengths, huge CFA offsets, self-referencing entries.
    for pattern in [0x00u8, 0xff, 0x7f, 0x0c, 0x10] {
        for step in [1usize, 3, 7] {
            let mut data = eh.data.to_vec();
            for i in (0..data.len()).step_by(step) {
                data[i] = pattern;
            }
            let mut s = good.clone();
            s.eh_frame = Some(sections::Section {
                svma: eh.svma.clone(),
                data: data.into(),
            });
            super::check::drop_unsafe_expressions(&mut s);
            let (names, end) = walk_names("unwind.omitfp", &s, &snap);
            assert!(!names.is_empty(), "the sampled function is always there");
            assert_ne!(end, End::TooDeep, "{pattern:#x}/{step}: {names:?}");
        }
    }
    // A stack of pointers to itself: every rule reads the same words.
    let mut s = snapshot("unwind.omitfp.stack");
    let sp = s.regs.sp;
    for w in s.stack.chunks_exact_mut(8) {
        w.copy_from_slice(&sp.to_le_bytes());
    }
    let (names, end) = walk_names("unwind.omitfp", &good, &s);
    assert!(names.len() < walk::MAX_FRAMES, "{end:?}");
}
