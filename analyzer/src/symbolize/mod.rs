//! Turning captured addresses into frame names.
//!
//! Order of sources: the capture's own tables (`BinarySymbols` through the
//! process's mappings), then JIT symbols of the process, then, for kernel
//! addresses, `KernelSymbols`. Debug files found by build-id
//! ([`DebugOptions`]: `--debuginfo DIR`, `/usr/lib/debug`, `~/.debug`,
//! debuginfod) name the function holding an address and the functions
//! inlined into it, one frame each (and file:line with `--lines`). Code no
//! symbol names is shown as `module!fn@0xSTART` where the capture knows its
//! function's start, else as `module+0xFILE_OFFSET` (or `[unknown]` outside
//! any mapping).
//!
//! Each table is built once per build-id (or path, for files without one),
//! and distinct addresses are resolved in parallel.

mod debuginfo;
pub mod debuginfod;
mod demangle;
mod maps;
mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use holter_format::{Mapping, Segment};
use rayon::prelude::*;
use thiserror::Error;

use crate::load::Capture;
pub use debuginfo::{
    elf_build_id, hex, DebugDir, DebugFile, DebugOptions, DebugSources, SourceFrame,
};
pub use demangle::demangle;
pub use maps::{epoch_in, MapIndex};
pub use table::{file_offset_to_vaddr, SymbolTable};

#[derive(Debug, Error)]
pub enum SymbolizeError {
    #[error("--debuginfo {path}: not a directory (give the directory that holds the debug files)")]
    DebugDir { path: PathBuf },
    #[error("{path}: cannot read debug information: {error}")]
    DebugFile { path: PathBuf, error: String },
}

/// A frame to name: the unit of symbolization, shared by all samples that hit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loc {
    /// A user address inside mapping `map` (index in `Capture::mappings`).
    Mapped {
        map: u32,
        addr: u64,
    },
    /// A user address outside every recorded mapping of `pid`.
    Unmapped {
        pid: u32,
        addr: u64,
    },
    Kernel {
        addr: u64,
    },
}

/// The names of one location: outermost first (more than one where
/// debug information shows inlined calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub frames: Vec<String>,
    pub symbolized: bool,
}

/// One mapped file, identified by build-id, else by path.
#[derive(Debug)]
struct Binary {
    build_id: Vec<u8>,
    /// The path of its first record or mapping (for by-path debug files).
    path: String,
    segments: Vec<Segment>,
    table: SymbolTable,
    /// Functions no symbol names (from the file's FDEs), named `fn@0xSTART`.
    unnamed: SymbolTable,
}

pub struct Symbolizer<'c> {
    capture: &'c Capture,
    maps: MapIndex,
    binaries: Vec<Binary>,
    /// For each mapping of the capture, its binary.
    map_binary: Vec<Option<u32>>,
    kernel: SymbolTable,
    jit: HashMap<u32, SymbolTable>,
    debug: Option<DebugSources>,
    lines: bool,
}

impl<'c> Symbolizer<'c> {
    /// Names from the capture, and from the debug files of `debuginfo`
    /// (that directory only) with file:line.
    pub fn new(capture: &'c Capture, debuginfo: Option<&Path>) -> Result<Self, SymbolizeError> {
        Symbolizer::with_options(capture, &DebugOptions::only(debuginfo))
    }

    /// Names from the capture, and from debug files as `opts` says.
    pub fn with_options(capture: &'c Capture, opts: &DebugOptions) -> Result<Self, SymbolizeError> {
        let debug = (!opts.is_empty())
            .then(|| DebugSources::new(opts))
            .transpose()?;
        let mut binaries: Vec<Binary> = Vec::new();
        let mut by_id: HashMap<&[u8], u32> = HashMap::new();
        let mut by_path: HashMap<&str, u32> = HashMap::new();
        // The agent writes a file's symbols over several records (the
        // functions hit since the previous one): merge them per file.
        let mut symbols: Vec<Vec<holter_format::Symbol>> = Vec::new();
        let mut unnamed: Vec<Vec<(u64, u64)>> = Vec::new();
        for b in &capture.binary_symbols {
            let seen = if b.build_id.is_empty() {
                by_path.get(b.path.as_str())
            } else {
                by_id.get(b.build_id.as_slice())
            };
            if let Some(&ix) = seen {
                symbols[ix as usize].extend(b.symbols.iter().cloned());
                unnamed[ix as usize].extend_from_slice(&b.unnamed);
                continue;
            }
            let ix = binaries.len() as u32;
            if b.build_id.is_empty() {
                by_path.insert(&b.path, ix);
            } else {
                by_id.insert(&b.build_id, ix);
                by_path.entry(&b.path).or_insert(ix);
            }
            binaries.push(Binary {
                build_id: b.build_id.clone(),
                path: b.path.clone(),
                segments: b.segments.clone(),
                table: SymbolTable::default(),
                unnamed: SymbolTable::default(),
            });
            symbols.push(b.symbols.clone());
            unnamed.push(b.unnamed.clone());
        }
        for ((binary, symbols), unnamed) in binaries.iter_mut().zip(&symbols).zip(&unnamed) {
            binary.table = SymbolTable::new(symbols);
            binary.unnamed = SymbolTable::function_starts(unnamed);
        }
        let map_binary = capture
            .mappings
            .iter()
            .map(|m| binary_of(m, &mut binaries, &mut by_id, &by_path))
            .collect();
        let jit = capture
            .jit_symbols
            .iter()
            .fold(HashMap::<u32, Vec<_>>::new(), |mut acc, j| {
                acc.entry(j.pid)
                    .or_default()
                    .extend(j.symbols.iter().cloned());
                acc
            })
            .into_iter()
            .map(|(pid, syms)| (pid, SymbolTable::new(&syms)))
            .collect();
        Ok(Symbolizer {
            capture,
            maps: MapIndex::new(&capture.mappings),
            binaries,
            map_binary,
            kernel: SymbolTable::new(&capture.kernel_symbols),
            jit,
            debug,
            lines: opts.lines,
        })
    }

    /// What went wrong while fetching debug files (debuginfod), to show as warnings.
    pub fn debug_errors(&self) -> Vec<String> {
        self.debug
            .as_ref()
            .map(DebugSources::errors)
            .unwrap_or_default()
    }

    pub fn maps(&self) -> &MapIndex {
        &self.maps
    }

    /// The location of a user frame of `pid` given the mapping found for it
    /// (see [`MapIndex::find_many`]).
    pub fn loc_in(&self, pid: u32, addr: u64, map: Option<usize>) -> Loc {
        match map {
            Some(map) => Loc::Mapped {
                map: map as u32,
                addr,
            },
            None => Loc::Unmapped { pid, addr },
        }
    }

    /// Names every location, in parallel; the result is in `locs` order.
    pub fn resolve(&self, locs: &[Loc]) -> Vec<Resolved> {
        let mut out: Vec<Resolved> = locs.par_iter().map(|l| self.resolve_one(*l)).collect();
        if let Some(debug) = &self.debug {
            self.add_debuginfo(debug, locs, &mut out);
        }
        out
    }

    fn mapping(&self, map: u32) -> &Mapping {
        &self.capture.mappings[map as usize]
    }

    fn resolve_one(&self, loc: Loc) -> Resolved {
        match loc {
            Loc::Kernel { addr } => match self.kernel.lookup(addr) {
                Some(name) => named(name),
                None => unnamed("[unknown]".into()),
            },
            Loc::Unmapped { pid, addr } => match self.jit_lookup(pid, addr) {
                Some(name) => named(name),
                None => unnamed("[unknown]".into()),
            },
            Loc::Mapped { map, addr } => {
                let m = self.mapping(map);
                let file_off = file_offset(m, addr);
                let binary = self.map_binary[map as usize].and_then(|b| {
                    let b = &self.binaries[b as usize];
                    Some((b, file_offset_to_vaddr(&b.segments, file_off)?))
                });
                let table_hit = binary.and_then(|(b, svma)| b.table.lookup(svma));
                if let Some(name) = table_hit.or_else(|| self.jit_lookup(m.pid, addr)) {
                    return named(name);
                }
                // A function without a name: one box per function, by its start.
                match binary.and_then(|(b, svma)| b.unnamed.lookup(svma)) {
                    Some(start) => unnamed(format!("{}!{start}", module_name(&m.path))),
                    None => unnamed(format!("{}+{:#x}", module_name(&m.path), file_off)),
                }
            }
        }
    }

    fn jit_lookup(&self, pid: u32, addr: u64) -> Option<&str> {
        self.jit.get(&pid)?.lookup(addr)
    }

    /// Replaces the names of mapped locations whose binary has a debug file.
    fn add_debuginfo(&self, debug: &DebugSources, locs: &[Loc], out: &mut [Resolved]) {
        let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, l) in locs.iter().enumerate() {
            if let Loc::Mapped { map, .. } = l {
                if let Some(b) = self.map_binary[*map as usize] {
                    groups.entry(b).or_default().push(i);
                }
            }
        }
        let jobs: Vec<(PathBuf, u32, Vec<usize>)> = groups
            .into_iter()
            .filter_map(|(b, idx)| {
                let bin = &self.binaries[b as usize];
                Some((debug.find(&bin.build_id, &bin.path)?, b, idx))
            })
            .collect();
        let results: Vec<(usize, Resolved)> = jobs
            .into_par_iter()
            .flat_map_iter(|(path, b, idx)| self.resolve_with_debug_file(&path, b, idx, locs))
            .collect();
        for (i, r) in results {
            out[i] = r;
        }
    }

    fn resolve_with_debug_file(
        &self,
        path: &Path,
        binary: u32,
        idx: Vec<usize>,
        locs: &[Loc],
    ) -> Vec<(usize, Resolved)> {
        let Ok(file) = DebugFile::open(path) else {
            return Vec::new();
        };
        let b = &self.binaries[binary as usize];
        let file_segments;
        let segments = if b.segments.is_empty() {
            file_segments = debuginfo::elf_segments(path).unwrap_or_default();
            &file_segments
        } else {
            &b.segments
        };
        idx.into_iter()
            .filter_map(|i| {
                let Loc::Mapped { map, addr } = locs[i] else {
                    return None;
                };
                let m = self.mapping(map);
                let svma = file_offset_to_vaddr(segments, file_offset(m, addr))?;
                // The debug file's own symbols (local functions included)
                // name a frame DWARF leaves unnamed, else the capture's.
                let own = file.symbol(svma);
                let fallback = own.or_else(|| b.table.lookup(svma));
                let mut frames: Vec<String> = file
                    .frames(svma)
                    .iter()
                    .filter_map(|f| source_frame_name(f, fallback, self.lines))
                    .collect();
                if frames.is_empty() {
                    frames.extend(own.map(|n| demangle(n).into_owned()));
                }
                (!frames.is_empty()).then_some((
                    i,
                    Resolved {
                        frames,
                        symbolized: true,
                    },
                ))
            })
            .collect()
    }
}

/// The function demangled; with `lines`, `function (file.c:12)`, the file
/// by its name only.
fn source_frame_name(f: &SourceFrame, fallback: Option<&str>, lines: bool) -> Option<String> {
    let name = demangle(f.function.as_deref().or(fallback)?).into_owned();
    if !lines {
        return Some(name);
    }
    Some(match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{name} ({}:{line})", module_name(file)),
        (Some(file), None) => format!("{name} ({})", module_name(file)),
        _ => name,
    })
}

fn named(raw: &str) -> Resolved {
    Resolved {
        frames: vec![demangle(raw).into_owned()],
        symbolized: true,
    }
}

fn unnamed(name: String) -> Resolved {
    Resolved {
        frames: vec![name],
        symbolized: false,
    }
}

/// The file name of a path (`/usr/lib/libc.so.6` → `libc.so.6`).
pub fn module_name(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.is_empty() {
        "[unknown]"
    } else {
        name
    }
}

/// The binary a mapping belongs to: by build-id, else by path. A mapping
/// with a build-id that no `BinarySymbols` holds gets an empty binary of its
/// own, so a debug file can still name its addresses.
fn binary_of<'m>(
    m: &'m Mapping,
    binaries: &mut Vec<Binary>,
    by_id: &mut HashMap<&'m [u8], u32>,
    by_path: &HashMap<&str, u32>,
) -> Option<u32> {
    match m.build_id.as_deref() {
        Some(id) if !id.is_empty() => Some(*by_id.entry(id).or_insert_with(|| {
            binaries.push(Binary {
                build_id: id.to_vec(),
                path: m.path.clone(),
                segments: Vec::new(),
                table: SymbolTable::default(),
                unnamed: SymbolTable::default(),
            });
            binaries.len() as u32 - 1
        })),
        _ => by_path.get(m.path.as_str()).copied(),
    }
}

/// File offset of a runtime address inside mapping `m` (wrapping: a capture
/// is untrusted input, and a nonsense offset only fails to name a frame).
fn file_offset(m: &Mapping, addr: u64) -> u64 {
    addr.wrapping_sub(m.start).wrapping_add(m.pgoff)
}
