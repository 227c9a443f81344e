//! Debug files found by build-id, read with `addr2line`.
//!
//! Looked for, in this order: in each `--debuginfo DIR`, then in
//! `/usr/lib/debug` and `~/.debug` (as perf does), then from the debuginfod
//! servers of `DEBUGINFOD_URLS` ([`super::debuginfod`]). In a directory, the
//! debug file for build-id `abcdef…` of a binary at `/usr/lib/x.so` is
//! `DIR/.build-id/ab/cdef….debug`, `DIR/.build-id/ab/cdef…/debug` or
//! `…/elf` (perf's build-id cache), `DIR/abcdef….debug`, `DIR/usr/lib/x.so.debug`
//! or `DIR/usr/lib/x.so` (by path); for a `--debuginfo DIR`, also any ELF file
//! under it whose build-id note matches (the directory is scanned once, on the
//! first miss). Whatever the way, only a file whose build-id is the binary's is used.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use addr2line::Loader;
use holter_format::Segment;
use object::{Object as _, ObjectSection as _};

use super::debuginfod::Debuginfod;
use super::{SymbolTable, SymbolizeError};

/// Hex spelling of a build-id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where debug files are looked for, and how frames are named from them.
#[derive(Debug, Clone, Default)]
pub struct DebugOptions {
    /// `--debuginfo DIR`, in order (each scanned for build-ids on a miss).
    pub dirs: Vec<PathBuf>,
    /// Also `/usr/lib/debug` and `~/.debug`.
    pub system: bool,
    /// Debuginfod servers (`DEBUGINFOD_URLS`, space-separated).
    pub debuginfod_urls: Vec<String>,
    /// Where files from debuginfod are kept (default: the user's cache
    /// directory, `holter/debuginfod`).
    pub cache: Option<PathBuf>,
    /// Add ` (file.c:LINE)` to frames named from debug files (`--lines`).
    pub lines: bool,
}

impl DebugOptions {
    /// What the command line gives: the `--debuginfo` directories, the
    /// system directories, `DEBUGINFOD_URLS` from the environment.
    pub fn from_env(dirs: Vec<PathBuf>, lines: bool) -> DebugOptions {
        DebugOptions {
            dirs,
            system: true,
            debuginfod_urls: std::env::var("DEBUGINFOD_URLS")
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            cache: None,
            lines,
        }
    }

    /// Only `dir` (when given), with file:line: the library's
    /// [`super::Symbolizer::new`].
    pub fn only(dir: Option<&Path>) -> DebugOptions {
        DebugOptions {
            dirs: dir.map(Path::to_path_buf).into_iter().collect(),
            lines: true,
            ..DebugOptions::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && !self.system && self.debuginfod_urls.is_empty()
    }
}

/// Every place a debug file may be found.
#[derive(Debug)]
pub struct DebugSources {
    dirs: Vec<DebugDir>,
    debuginfod: Option<Debuginfod>,
}

impl DebugSources {
    pub fn new(opts: &DebugOptions) -> Result<DebugSources, SymbolizeError> {
        let mut dirs = opts
            .dirs
            .iter()
            .map(|d| DebugDir::new(d))
            .collect::<Result<Vec<_>, _>>()?;
        if opts.system {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let system = [
                Some(PathBuf::from("/usr/lib/debug")),
                home.map(|h| h.join(".debug")),
            ];
            dirs.extend(
                system
                    .into_iter()
                    .flatten()
                    .filter_map(|d| DebugDir::system(&d)),
            );
        }
        let debuginfod = (!opts.debuginfod_urls.is_empty())
            .then(|| Debuginfod::new(opts.debuginfod_urls.clone(), opts.cache.clone()));
        Ok(DebugSources { dirs, debuginfod })
    }

    /// What went wrong while fetching from debuginfod.
    pub fn errors(&self) -> Vec<String> {
        self.debuginfod
            .as_ref()
            .map(Debuginfod::errors)
            .unwrap_or_default()
    }

    /// The debug file of a binary (its build-id, and its path for the
    /// by-path layouts), from the first place that has it.
    pub fn find(&self, build_id: &[u8], path: &str) -> Option<PathBuf> {
        if build_id.is_empty() {
            return None;
        }
        self.dirs
            .iter()
            .find_map(|d| d.find(build_id, path))
            .or_else(|| self.debuginfod.as_ref()?.find(build_id))
    }
}

#[derive(Debug)]
pub struct DebugDir {
    root: PathBuf,
    /// Whether every ELF file under it is looked at on a miss.
    scan: bool,
    scanned: OnceLock<HashMap<Vec<u8>, PathBuf>>,
}

impl DebugDir {
    /// A directory the user gave: it must exist, and is scanned on a miss.
    pub fn new(root: &Path) -> Result<DebugDir, SymbolizeError> {
        if !root.is_dir() {
            return Err(SymbolizeError::DebugDir {
                path: root.to_path_buf(),
            });
        }
        Ok(DebugDir {
            root: root.to_path_buf(),
            scan: true,
            scanned: OnceLock::new(),
        })
    }

    /// A directory looked in by default (`/usr/lib/debug`): only its
    /// build-id and by-path layouts, none when it does not exist.
    pub fn system(root: &Path) -> Option<DebugDir> {
        root.is_dir().then(|| DebugDir {
            root: root.to_path_buf(),
            scan: false,
            scanned: OnceLock::new(),
        })
    }

    /// The debug file for a build-id, if the directory has one. `path` is
    /// the binary's path in the capture (untrusted: only a plain absolute
    /// path is joined, never one with `..`).
    pub fn find(&self, build_id: &[u8], path: &str) -> Option<PathBuf> {
        if build_id.is_empty() {
            return None;
        }
        let h = hex(build_id);
        let (head, rest) = h.split_at(2.min(h.len()));
        let by_id = self.root.join(".build-id").join(head);
        let mut candidates = vec![
            by_id.join(format!("{rest}.debug")),
            by_id.join(rest).join("debug"),
            by_id.join(rest).join("elf"),
            by_id.join(rest),
            self.root.join(format!("{h}.debug")),
        ];
        if let Some(rel) = plain_relative(path) {
            let mut with_debug = rel.as_os_str().to_owned();
            with_debug.push(".debug");
            candidates.push(self.root.join(with_debug));
            candidates.push(self.root.join(rel));
        }
        for c in candidates {
            if c.is_file() && elf_build_id(&c).as_deref() == Some(build_id) {
                return Some(c);
            }
        }
        if !self.scan {
            return None;
        }
        self.scanned
            .get_or_init(|| scan(&self.root))
            .get(build_id)
            .cloned()
    }
}

/// An absolute path made of plain components, relative to `/`.
fn plain_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if !p.is_absolute() || path.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
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
    let id = holter_format::elf::build_id(&obj)?;
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
    let segs = holter_format::elf::segments(&object::File::parse(&*data).ok()?);
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
    /// Its own function symbols (`.symtab`, with local functions a stripped
    /// binary lacks), sized: an address past a symbol's end is not its.
    symbols: SymbolTable,
}

impl DebugFile {
    pub fn open(path: &Path) -> Result<DebugFile, SymbolizeError> {
        let loader = Loader::new(path).map_err(|e| SymbolizeError::DebugFile {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        let symbols = std::fs::read(path)
            .ok()
            .and_then(|data| {
                let obj = object::File::parse(&*data).ok()?;
                let mut syms = holter_format::elf::symtab_functions(&obj);
                syms.retain(|s| s.size > 0);
                Some(SymbolTable::new(&syms))
            })
            .unwrap_or_default();
        Ok(DebugFile { loader, symbols })
    }

    /// Frames at an ELF virtual address from DWARF, outermost first (the
    /// function that holds the address, then the ones inlined into it).
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
        out.reverse();
        out
    }

    /// The function symbol of the file that contains `svma`, if any.
    pub fn symbol(&self, svma: u64) -> Option<&str> {
        self.symbols.lookup(svma)
    }
}
