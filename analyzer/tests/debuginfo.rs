//! `--debuginfo DIR` on a small ELF compiled from C (fixtures/elf/):
//! file:line and inlined frames, debug files found three ways.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use holter::filter::Filter;
use holter::flamegraph::{fold, Folded};
use holter::load::Capture;
use holter::symbolize::{hex, Symbolizer};
use holter_format::{BinarySymbols, Record, Segment};
use object::{Object, ObjectSegment, ObjectSymbol, SegmentFlags};

const BASE: u64 = 0x5600_0000_0000;

fn elf_dir() -> PathBuf {
    fixtures().join("elf")
}

/// The line of `inline.c` that holds a marker comment.
fn line_of(marker: &str) -> u32 {
    let src = std::fs::read_to_string(elf_dir().join("inline.c")).unwrap();
    let needle = format!("/* {marker} */");
    1 + src
        .lines()
        .position(|l| l.contains(&needle))
        .expect("marker") as u32
}

/// What an agent would record about the fixture binary, mapped at BASE.
struct Fixture {
    build_id: Vec<u8>,
    segments: Vec<Segment>,
    symbols: Vec<holter_format::Symbol>,
    /// (start, end, pgoff) of the executable mapping.
    exec_map: (u64, u64, u64),
    compute: (u64, u64),
    /// Return address in `main` after its call to `compute` (svma).
    main_return: u64,
}

fn fixture() -> Fixture {
    let data = std::fs::read(elf_dir().join("inline")).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    let build_id = obj.build_id().unwrap().unwrap().to_vec();
    let segments: Vec<Segment> = obj
        .segments()
        .map(|s| Segment {
            file_offset: s.file_range().0,
            vaddr: s.address(),
            filesz: s.file_range().1,
        })
        .collect();
    let exec = obj
        .segments()
        .find(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags, .. } if p_flags.0 & 1 != 0))
        .unwrap();
    let page = |a: u64| a & !0xfff;
    let exec_map = (
        BASE + page(exec.address()),
        BASE + exec.address() + exec.size(),
        page(exec.file_range().0),
    );
    let mut symbols: Vec<holter_format::Symbol> = obj
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
        .map(|s| sym(s.address(), s.size(), s.name().unwrap()))
        .collect();
    symbols.sort_by_key(|s| s.start);
    let find = |n: &str| {
        symbols
            .iter()
            .find(|s| s.name == n)
            .map(|s| (s.start, s.start + s.size))
            .unwrap()
    };
    let compute = find("compute");
    let main = find("main");
    // Scan main for `call rel32` (e8) whose target is compute.
    let text = obj.section_by_name(".text").unwrap();
    let bytes = object::ObjectSection::data(&text).unwrap();
    let text_addr = object::ObjectSection::address(&text);
    let main_return = (main.0..main.1 - 4)
        .find(|&a| {
            let o = (a - text_addr) as usize;
            let rel = i32::from_le_bytes(bytes[o + 1..o + 5].try_into().unwrap());
            bytes[o] == 0xe8 && (a + 5).wrapping_add(rel as i64 as u64) == compute.0
        })
        .map(|a| a + 5)
        .expect("main calls compute");
    Fixture {
        build_id,
        segments,
        symbols,
        exec_map,
        compute,
        main_return,
    }
}

/// A capture with one sample at every instruction byte of `compute`, each
/// called from `main`.
fn capture_records(f: &Fixture, with_symbols: bool) -> Vec<Record> {
    let (start, end, pgoff) = f.exec_map;
    let mut r = vec![
        process(500, "inline"),
        mapping(
            0,
            500,
            start,
            end,
            pgoff,
            "/usr/local/bin/inline",
            &f.build_id,
        ),
    ];
    if with_symbols {
        r.push(Record::BinarySymbols(BinarySymbols {
            build_id: f.build_id.clone(),
            path: "/usr/local/bin/inline".into(),
            segments: f.segments.clone(),
            symbols: f.symbols.clone(),
            unnamed: vec![],
        }));
    }
    for (i, a) in (f.compute.0..f.compute.1).enumerate() {
        r.push(stack(i as u32, &[BASE + a, BASE + f.main_return], &[]));
        r.push(sample(1.0, 500, 500, i as u32));
    }
    r
}

fn fold_with(records: &[Record], debuginfo: Option<&Path>) -> Folded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inline.holter");
    write_capture(&path, records);
    let capture = Capture::load(&path).unwrap();
    let sym = Symbolizer::new(&capture, debuginfo).unwrap();
    fold(&capture, &Filter::default(), &sym).unwrap()
}

fn check_debug_lines(folded: &Folded) {
    let main = format!("inline;main (inline.c:{})", line_of("CALL_COMPUTE"));
    let inlined = format!(
        "{main};compute (inline.c:{});mix (inline.c:{})",
        line_of("CALL_MIX"),
        line_of("MIX")
    );
    let lines: Vec<&String> = folded.stacks.keys().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("{main};compute (inline.c:"))),
        "{lines:#?}"
    );
    assert!(
        folded.stacks.contains_key(&inlined),
        "no {inlined} in {lines:#?}"
    );
    assert_eq!(folded.quality.symbolized_percent(), 100.0);
}

#[test]
fn without_debuginfo_the_embedded_table_names_functions() {
    let f = fixture();
    let folded = fold_with(&capture_records(&f, true), None);
    let n = f.compute.1 - f.compute.0;
    assert_eq!(folded.stacks.len(), 1, "{:#?}", folded.stacks);
    assert_eq!(folded.stacks.get("inline;main;compute"), Some(&n));
}

#[test]
fn build_id_directory_layout() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let h = hex(&f.build_id);
    let sub = dir.path().join(".build-id").join(&h[..2]);
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(
        elf_dir().join("inline.debug"),
        sub.join(format!("{}.debug", &h[2..])),
    )
    .unwrap();
    check_debug_lines(&fold_with(&capture_records(&f, true), Some(dir.path())));
}

#[test]
fn hex_named_debug_file() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        elf_dir().join("inline.debug"),
        dir.path().join(format!("{}.debug", hex(&f.build_id))),
    )
    .unwrap();
    check_debug_lines(&fold_with(&capture_records(&f, true), Some(dir.path())));
}

#[test]
fn any_elf_with_the_build_id_and_no_symbols_in_the_capture() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("some/where");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.path().join("not-elf.txt"), "hello").unwrap();
    // The debug file under an arbitrary name, found by its build-id note.
    std::fs::copy(elf_dir().join("inline.debug"), nested.join("whatever.dbg")).unwrap();
    check_debug_lines(&fold_with(&capture_records(&f, true), Some(dir.path())));
    // Without BinarySymbols, the debug file has no segments: frames stay
    // unsymbolized, named by module and file offset.
    let folded = fold_with(&capture_records(&f, false), Some(dir.path()));
    let off = f.compute.0
        - f.segments
            .iter()
            .find(|s| s.vaddr <= f.compute.0 && f.compute.0 < s.vaddr + s.filesz)
            .map(|s| s.vaddr - s.file_offset)
            .unwrap();
    assert!(
        folded.stacks.contains_key(&format!(
            "inline;inline+{:#x};inline+{off:#x}",
            f.main_return - 1
        )),
        "{:#?}",
        folded.stacks.keys()
    );
}

#[test]
fn debug_file_of_another_build_is_not_used() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // The same debug file with its build-id note changed, under the name the
    // capture's build-id would have.
    let mut data = std::fs::read(elf_dir().join("inline.debug")).unwrap();
    let at = data
        .windows(f.build_id.len())
        .position(|w| w == f.build_id.as_slice())
        .unwrap();
    data[at] ^= 0xff;
    std::fs::write(dir.path().join(format!("{}.debug", hex(&f.build_id))), data).unwrap();
    let folded = fold_with(&capture_records(&f, true), Some(dir.path()));
    assert_eq!(
        folded.stacks.keys().collect::<Vec<_>>(),
        ["inline;main;compute"]
    );
}

#[test]
fn cli_debuginfo() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inline.holter");
    write_capture(&path, &capture_records(&f, true));
    let empty = tempfile::tempdir().unwrap();
    // Repeatable: a directory without the file, then one with it. By
    // default, one box per function, the inlined `mix` a frame of its own.
    let fold = |extra: &[&str]| {
        let mut args = vec!["flamegraph", path.to_str().unwrap(), "--folded"];
        args.extend_from_slice(extra);
        let o = holter(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("100.0% of frames symbolized"),
            "{}",
            stderr(&o)
        );
        stdout(&o)
    };
    let elf = elf_dir();
    let dirs = [
        "--debuginfo",
        empty.path().to_str().unwrap(),
        "--debuginfo",
        elf.to_str().unwrap(),
    ];
    let by_function = fold(&dirs);
    let n = f.compute.1 - f.compute.0;
    let mut lines: Vec<(&str, u64)> = by_function
        .lines()
        .map(|l| {
            let (s, c) = l.rsplit_once(' ').unwrap();
            (s, c.parse().unwrap())
        })
        .collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{by_function}");
    assert_eq!(lines[0].0, "inline;main;compute");
    assert_eq!(lines[1].0, "inline;main;compute;mix");
    assert_eq!(lines[0].1 + lines[1].1, n);
    // --lines: file:line on every frame, one box per line.
    let with_lines = fold(&[&dirs[..], &["--lines"]].concat());
    let want = format!(
        "inline;main (inline.c:{});compute (inline.c:{});mix (inline.c:{}) ",
        line_of("CALL_COMPUTE"),
        line_of("CALL_MIX"),
        line_of("MIX")
    );
    assert!(
        with_lines.lines().any(|l| l.starts_with(&want)),
        "{with_lines}"
    );
    assert!(with_lines.lines().count() > 2, "{with_lines}");
    let o = holter(&[
        "flamegraph",
        path.to_str().unwrap(),
        "--debuginfo",
        "/nonexistent/dbg",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--debuginfo /nonexistent/dbg: not a directory"),
        "{}",
        stderr(&o)
    );
}

/// perf's build-id cache (`~/.debug/.build-id/ab/cdef…/debug`) and the
/// by-path layout of `/usr/lib/debug` (`DIR/usr/local/bin/inline.debug`),
/// without scanning: the directories holter looks in by default.
#[test]
fn system_layouts_by_build_id_and_by_path() {
    use holter::symbolize::DebugDir;
    let f = fixture();
    let h = hex(&f.build_id);
    let cache = tempfile::tempdir().unwrap();
    let sub = cache.path().join(".build-id").join(&h[..2]).join(&h[2..]);
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(elf_dir().join("inline.debug"), sub.join("debug")).unwrap();
    let d = DebugDir::system(cache.path()).unwrap();
    assert_eq!(d.find(&f.build_id, "/x"), Some(sub.join("debug")));
    let by_path = tempfile::tempdir().unwrap();
    let at = by_path.path().join("usr/local/bin");
    std::fs::create_dir_all(&at).unwrap();
    std::fs::copy(elf_dir().join("inline.debug"), at.join("inline.debug")).unwrap();
    let d = DebugDir::system(by_path.path()).unwrap();
    assert_eq!(
        d.find(&f.build_id, "/usr/local/bin/inline"),
        Some(at.join("inline.debug"))
    );
    // Not elsewhere, and never through `..` (a capture's path is untrusted).
    assert_eq!(d.find(&f.build_id, "/usr/local/bin/other"), None);
    assert_eq!(d.find(&f.build_id, "/usr/../usr/local/bin/inline"), None);
    assert_eq!(
        d.find(&[1, 2, 3], "/usr/local/bin/inline"),
        None,
        "another build-id"
    );
    assert!(DebugDir::system(&cache.path().join("missing")).is_none());
}
