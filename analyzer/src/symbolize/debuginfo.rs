//! `--debuginfo DIR`: debug files found by build-id, read with `addr2line`.
//!
//! A debug file for build-id `abcdef…` is, in this order:
//! `DIR/.build-id/ab/cdef….debug`, `DIR/abcdef….debug`, or any ELF file under
//! `DIR` whose build-id note matches (the directory is scanned once, on the
//! first miss).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use addr2line::Loader;
use holter_format::Segment;
use object::{Object as _, ObjectSection as _, ObjectSegment as _};

use super::SymbolizeError;

/// Hex spelling of a build-id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct DebugDir {
    root: PathBuf,
    scanned: OnceLock<HashMap<Vec<u8>, PathBuf>>,
}

impl DebugDir {
    pub fn new(root: &Path) -> Result<DebugDir, SymbolizeError> {
        if !root.is_dir() {
            return Err(SymbolizeError::DebugDir {
                path: root.to_path_buf(),
            });
        }
        Ok(DebugDir {
            root: root.to_path_buf(),
            scanned: OnceLock::new(),
        })
    }

    /// The debug file for a build-id, if the directory has one.
    pub fn find(&self, build_id: &[u8]) -> Option<PathBuf> {
        if build_id.is_empty() {
            return None;
        }
        let h = hex(build_id);
        let candidates = [
            self.root
                .join(".build-id")
                .join(&h[..2.min(h.len())])
                .join(format!("{}.debug", &h[2.min(h.len())..])),
            self.root.join(format!("{h}.debug")),
        ];
        for c in candidates {
            if c.is_file() && elf_build_id(&c).as_deref() == Some(build_id) {
                return Some(c);
            }
        }
        self.scanned
            .get_or_init(|| scan(&self.root))
            .get(build_id)
            .cloned()
    }
}

/// Build-ids of every ELF file under `root` (symlinks not followed); where
/// several files share a build-id, one with DWARF is preferred.
fn scan(root: &Path) -> HashMap<Vec<u8>, PathBuf> {
    let mut found: HashMap<Vec<u8>, (bool, PathBuf)> = HashMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                dirs.push(path);
            } else if ft.is_file() {
                let Some((id, dwarf)) = elf_identity(&path) else {
                    continue;
                };
                match found.get(&id) {
                    Some((true, _)) => {}
                    Some((false, _)) if !dwarf => {}
                    _ => {
                        found.insert(id, (dwarf, path));
                    }
                }
            }
        }
    }
    found.into_iter().map(|(id, (_, p))| (id, p)).collect()
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The build-id note of an ELF file.
pub fn elf_build_id(path: &Path) -> Option<Vec<u8>> {
    elf_identity(path).map(|(id, _)| id)
}

/// The build-id of an ELF file and whether it holds DWARF.
fn elf_identity(path: &Path) -> Option<(Vec<u8>, bool)> {
    if !is_elf(path) {
        return None;
    }
    let data = std::fs::read(path).ok()?;
    let obj = object::File::parse(&*data).ok()?;
    let id = obj.build_id().ok().flatten()?.to_vec();
    let dwarf = obj
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0 && s.file_range().is_some());
    Some((id, dwarf))
}

/// PT_LOAD segments of an ELF file, for debug files of binaries whose
/// segments the capture does not hold. A file made with `objcopy
/// --only-keep-debug` keeps no file contents, so it has none; an unstripped
/// binary does.
pub fn elf_segments(path: &Path) -> Option<Vec<Segment>> {
    let data = std::fs::read(path).ok()?;
    let obj = object::File::parse(&*data).ok()?;
    let segs: Vec<Segment> = obj
        .segments()
        .filter(|s| s.file_range().1 > 0)
        .map(|s| {
            let (file_offset, filesz) = s.file_range();
            Segment {
                file_offset,
                vaddr: s.address(),
                filesz,
            }
        })
        .collect();
    (!segs.is_empty()).then_some(segs)
}

/// One source-level frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame {
    /// Raw (possibly mangled) function name.
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// An opened debug file.
pub struct DebugFile {
    loader: Loader,
}

impl DebugFile {
    pub fn open(path: &Path) -> Result<DebugFile, SymbolizeError> {
        let loader = Loader::new(path).map_err(|e| SymbolizeError::DebugFile {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        Ok(DebugFile { loader })
    }

    /// Frames at an ELF virtual address, outermost first (the function that
    /// holds the address, then the ones inlined into it). Where the file has
    /// no DWARF for the address, its symbol table gives one frame.
    pub fn frames(&self, svma: u64) -> Vec<SourceFrame> {
        let mut out = Vec::new();
        if let Ok(mut iter) = self.loader.find_frames(svma) {
            while let Ok(Some(f)) = iter.next() {
                let function = f
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok())
                    .map(|n| n.into_owned());
                let (file, line) = match &f.location {
                    Some(l) => (l.file.map(str::to_owned), l.line),
                    None => (None, None),
                };
                out.push(SourceFrame {
                    function,
                    file,
                    line,
                });
            }
        }
        if out.is_empty() {
            if let Some(name) = self.loader.find_symbol(svma) {
                out.push(SourceFrame {
                    function: Some(name.to_owned()),
                    file: None,
                    line: None,
                });
            }
        }
        out.reverse();
        out
    }
}
