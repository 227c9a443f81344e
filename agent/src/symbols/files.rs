//! Reading mapped files through the target's view, with a cache keyed by
//! file identity that remembers failures too.
//!
//! A mapped file is read first as `/proc/PID/map_files/START-END`, the very
//! file that is mapped, whatever its path became; else at its path inside the
//! process's root ([`crate::host::open::Root`]: links never leave the
//! container). Either way only a regular file is read, at most [`MAX_FILE`]
//! bytes, and it must be the file the kernel named (device and inode on the
//! open descriptor, or build-id).
//!
//! A file that could not be opened (its process gone before the mapping was
//! read) is not remembered as a failure: the next process mapping the same
//! file, or the agent's own view, is tried instead. Only a file that was
//! opened, was the one mapped, and holds no readable ELF is a lasting failure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use holter_format::BinarySymbols;

use super::{elf, SymbolError};
use crate::host::open::{self, Opened, Root};
use crate::unwind::Sections;

/// Files larger than this are not read for symbols.
const MAX_FILE: u64 = 2 << 30;

/// How the kernel identifies a mapped file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKey {
    BuildId(Vec<u8>),
    /// (major, minor, inode).
    DevIno(u32, u32, u64),
    /// No identity from the kernel: the path in one process.
    Path(u32, String),
}

/// Where one mapping of the file can be read (owned: it is handed to the
/// reader thread, [`super::loader`]).
#[derive(Debug, Clone)]
pub struct Locator {
    pub pid: u32,
    /// The process's root directory, where it could be opened.
    pub root: Option<Arc<Root>>,
    pub path: String,
    pub start: u64,
    pub end: u64,
    /// Whether `/proc/PID/map_files/START-END` is tried first (not for the
    /// agent's own view, where `pid` is only the process that mapped it).
    pub map_files: bool,
}

/// The path without the ` (deleted)` mark the kernel appends.
pub fn clean_path(path: &str) -> (&str, bool) {
    match path.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (path, false),
    }
}

/// Whether a mapping path names a file that can hold ELF symbols.
pub fn is_file_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//anon") && !path.starts_with("/dev/zero")
}

pub type Loaded = Result<Arc<BinarySymbols>, SymbolError>;

/// What one read of a file gave: its symbols and unwind sections, or why not.
pub type Read = Result<(BinarySymbols, Option<Sections>), Failure>;

#[derive(Default)]
pub struct FileCache {
    entries: HashMap<FileKey, Loaded>,
    by_build_id: HashMap<Vec<u8>, Arc<BinarySymbols>>,
    /// Whether files are also read for their unwind sections.
    pub want_unwind: bool,
    /// Unwind sections by build-id (or path where there is none).
    unwind: HashMap<Vec<u8>, Arc<Sections>>,
}

/// The key of a file's unwind sections: its build-id, or its path.
fn unwind_key(b: &BinarySymbols) -> Vec<u8> {
    if b.build_id.is_empty() {
        b.path.as_bytes().to_vec()
    } else {
        b.build_id.clone()
    }
}

impl FileCache {
    /// The symbols of the file behind `key`, read once, from the first of
    /// `at` that opens the very file mapped, on this thread ([`read_any`]
    /// then [`FileCache::store`]; the sampler reads on a thread of its own).
    pub fn get_or_load(&mut self, key: FileKey, at: &[Locator]) -> Loaded {
        if let Some(hit) = self.lookup(&key) {
            return hit;
        }
        let path = at.first().map_or_else(String::new, |l| l.path.clone());
        let read = read_any(&key, at, self.want_unwind);
        self.store(key, &path, read)
    }

    /// What is known of `key` already: read (by key or build-id), or a lasting failure.
    pub fn lookup(&self, key: &FileKey) -> Option<Loaded> {
        if let Some(hit) = self.entries.get(key) {
            return Some(hit.clone());
        }
        if let FileKey::BuildId(id) = key {
            if let Some(b) = self.by_build_id.get(id) {
                return Some(Ok(b.clone()));
            }
        }
        None
    }

    /// Keeps the outcome of one read of `key` (from [`read_any`]): symbols
    /// and unwind sections (one copy per build-id), or a lasting failure (a
    /// file that is not ELF). A file no locator could open is not kept.
    pub fn store(&mut self, key: FileKey, path: &str, read: Read) -> Loaded {
        match read {
            Ok((b, sections)) => {
                let b = Arc::new(b);
                if let Some(s) = sections {
                    self.unwind
                        .entry(unwind_key(&b))
                        .or_insert_with(|| Arc::new(s));
                }
                let b = if b.build_id.is_empty() {
                    b
                } else {
                    self.by_build_id
                        .entry(b.build_id.clone())
                        .or_insert_with(|| b.clone())
                        .clone()
                };
                self.entries.insert(key, Ok(b.clone()));
                Ok(b)
            }
            Err(Failure::NotElf(e)) => {
                self.entries.insert(key, Err(e.clone()));
                Err(e)
            }
            Err(Failure::Unreachable(reason)) => Err(SymbolError::Read {
                path: path.to_string(),
                reason,
            }),
        }
    }

    /// Whether the file behind `key` was read (or found not to be ELF).
    pub fn settled(&self, key: &FileKey) -> Option<&Loaded> {
        self.entries.get(key)
    }

    /// The unwind sections of a file read with [`FileCache::want_unwind`].
    pub fn unwind_sections(&self, b: &BinarySymbols) -> Option<Arc<Sections>> {
        self.unwind.get(&unwind_key(b)).cloned()
    }

    /// Number of distinct files read successfully or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The first of `at` that opens the very file `key` names, read and parsed
/// (ELF symbols, and unwind sections if `want_unwind`). Blocking file I/O:
/// never on the sampler's thread.
pub fn read_any(key: &FileKey, at: &[Locator], want_unwind: bool) -> Read {
    let mut tried = Vec::new();
    for loc in at {
        match load(key, loc, want_unwind) {
            Ok(done) => return Ok(done),
            Err(Failure::NotElf(e)) => return Err(Failure::NotElf(e)),
            Err(Failure::Unreachable(reason)) => tried.push(reason),
        }
    }
    Err(Failure::Unreachable(if tried.is_empty() {
        "nowhere to read it from".into()
    } else {
        tried.join("; ")
    }))
}

/// Why a file gave no symbols.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Not opened, or not the file mapped: another locator may do.
    Unreachable(String),
    /// The very file mapped, and not an ELF file that can be read.
    NotElf(SymbolError),
}

/// The identity the kernel gave a mapped file: (major, minor, inode).
fn identity(key: &FileKey) -> Option<(u32, u32, u64)> {
    match key {
        FileKey::DevIno(maj, min, ino) => Some((*maj, *min, *ino)),
        _ => None,
    }
}

/// Opens the file one mapping names: `/proc/PID/map_files/START-END`
/// first, else its path inside the process's root; the very file the
/// kernel named when `expect` (major, minor, inode) is given. With the
/// notes of the ways that failed before, or all of them. Blocking file I/O
/// on a file system the container may control: done in a reader process
/// ([`crate::host::reader`]).
pub fn open_mapped(
    at: &Locator,
    expect: Option<(u32, u32, u64)>,
) -> Result<(Opened, Vec<String>), Vec<String>> {
    let (path, _deleted) = clean_path(&at.path);
    let mut tried = Vec::new();
    let mut found = None;
    if at.map_files {
        let via_map_files = PathBuf::from(format!(
            "/proc/{}/map_files/{:x}-{:x}",
            at.pid, at.start, at.end
        ));
        match open::open_host(&via_map_files) {
            Ok(f) => found = Some(f),
            Err(e) => tried.push(e.to_string()),
        }
    }
    if found.is_none() {
        // A path the process chose: resolved inside its root, never outside.
        match at.root.as_deref().map(|r| r.open(path)) {
            Some(Ok(f)) => found = Some(f),
            Some(Err(e)) => tried.push(format!("{path} in the root of pid {}: {e}", at.pid)),
            None => tried.push(format!("{path}: the root of pid {} is gone", at.pid)),
        }
    }
    let Some(file) = found else {
        return Err(tried);
    };
    if let Some((maj, min, ino)) = expect {
        if !file.is(maj, min, ino) {
            tried.push(format!("{}: replaced since it was mapped", file.path));
            return Err(tried);
        }
    }
    Ok((file, tried))
}

/// The bytes of a mapped file, as a reader gave them.
#[derive(Debug)]
pub struct Fetched {
    /// The path it was opened at (a `map_files` entry, or inside the root).
    pub path: String,
    pub bytes: Vec<u8>,
    /// The ways that failed before.
    pub tried: Vec<String>,
}

/// [`open_mapped`] and the whole file read, at most `max` bytes, on this thread.
pub fn fetch_here(
    at: &Locator,
    expect: Option<(u32, u32, u64)>,
    max: u64,
) -> Result<Fetched, String> {
    let (mut file, mut tried) = open_mapped(at, expect).map_err(|t| t.join("; "))?;
    match file.read_capped(max) {
        Ok(bytes) => Ok(Fetched {
            path: file.path,
            bytes,
            tried,
        }),
        Err(e) => {
            tried.push(format!("{}: {e}", file.path));
            Err(tried.join("; "))
        }
    }
}

fn load(
    key: &FileKey,
    at: &Locator,
    want_unwind: bool,
) -> Result<(BinarySymbols, Option<Sections>), Failure> {
    let (path, _deleted) = clean_path(&at.path);
    let fetched = crate::host::reader::fetch_mapped(at, identity(key), MAX_FILE)
        .map_err(Failure::Unreachable)?;
    let mut tried = fetched.tried;
    match parse_checked(&fetched.bytes, key, want_unwind) {
        Ok((info, sections)) => Ok((
            BinarySymbols {
                build_id: info.build_id,
                path: path.to_string(),
                segments: info.segments,
                symbols: info.symbols,
                unnamed: info.unnamed,
            },
            sections,
        )),
        Err(Failure::NotElf(e)) => {
            tried.push(format!("{}: {e}", fetched.path));
            Err(Failure::NotElf(SymbolError::Read {
                path: at.path.clone(),
                reason: tried.join("; "),
            }))
        }
        Err(Failure::Unreachable(e)) => {
            tried.push(format!("{}: {e}", fetched.path));
            Err(Failure::Unreachable(tried.join("; ")))
        }
    }
}

/// Parses the bytes of the file `key` names (checked by build-id when the
/// kernel gave one; by device and inode when it was opened).
fn parse_checked(
    bytes: &[u8],
    key: &FileKey,
    want_unwind: bool,
) -> Result<(elf::ElfInfo, Option<Sections>), Failure> {
    let info = match elf::read(bytes) {
        Ok(info) => info,
        // Not ELF: the same file (by device and inode) or no identity to
        // tell; with a build-id from the kernel, this file is not the one mapped.
        Err(e) if matches!(key, FileKey::BuildId(_)) => {
            return Err(Failure::Unreachable(e.to_string()))
        }
        Err(e) => return Err(Failure::NotElf(e)),
    };
    if let FileKey::BuildId(id) = key {
        if !id.is_empty() && *id != info.build_id {
            return Err(Failure::Unreachable(
                "a different build-id than the one mapped".into(),
            ));
        }
    }
    // Unwind sections come from the same bytes; a file without them (or
    // whose tables are refused) unwinds by frame pointers.
    let sections = want_unwind.then(|| crate::unwind::sections::read(bytes).unwrap_or_default());
    Ok((info, sections))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean_path("/tmp/a (deleted)"), ("/tmp/a", true));
        assert_eq!(clean_path("/usr/bin/x"), ("/usr/bin/x", false));
        assert!(is_file_path("/usr/lib/libc.so.6"));
        assert!(!is_file_path("[vdso]"));
        assert!(!is_file_path("//anon"));
        assert!(!is_file_path(""));
    }

    /// Reads this test binary through its own /proc entries, once.
    #[test]
    fn cache_reads_once() {
        let (me, line) = own_executable();
        let root = Arc::new(Root::of_process(me).unwrap());
        let at = Locator {
            pid: me,
            root: Some(root.clone()),
            path: line.path.clone(),
            start: line.start,
            end: line.end,
            map_files: true,
        };
        let mut cache = FileCache::default();
        let key = FileKey::DevIno(line.dev.0, line.dev.1, line.inode);
        let a = cache
            .get_or_load(key.clone(), std::slice::from_ref(&at))
            .unwrap();
        assert!(!a.symbols.is_empty());
        let b = cache.get_or_load(key, &[at]).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
    }

    /// A process gone before its mapping was read does not poison the file:
    /// the next locator (another process, the agent's view) reads it, now or later.
    #[test]
    fn an_exited_process_does_not_poison_the_file() {
        let (me, line) = own_executable();
        let root = Arc::new(Root::of_process(me).unwrap());
        let key = FileKey::DevIno(line.dev.0, line.dev.1, line.inode);
        let gone = Locator {
            pid: u32::MAX - 1,
            root: None,
            path: line.path.clone(),
            start: line.start,
            end: line.end,
            map_files: true,
        };
        let live = Locator {
            pid: me,
            root: Some(root.clone()),
            ..gone.clone()
        };
        let mut cache = FileCache::default();
        assert!(cache
            .get_or_load(key.clone(), std::slice::from_ref(&gone))
            .is_err());
        assert!(cache
            .get_or_load(key.clone(), std::slice::from_ref(&gone))
            .is_err());
        assert!(cache.settled(&key).is_none(), "a miss is not remembered");
        assert!(cache
            .get_or_load(key.clone(), std::slice::from_ref(&live))
            .is_ok());
        let mut fresh = FileCache::default();
        assert!(fresh.get_or_load(key.clone(), &[gone, live]).is_ok());
        // The agent's own view (no map_files), checked by device and inode.
        let host = Arc::new(Root::at(std::path::Path::new("/")).unwrap());
        let own = Locator {
            pid: u32::MAX - 1,
            root: Some(host.clone()),
            path: line.path.clone(),
            start: 0,
            end: 0,
            map_files: false,
        };
        assert!(FileCache::default()
            .get_or_load(key, std::slice::from_ref(&own))
            .is_ok());
        // Another file at that path (wrong identity) is not read.
        let other = FileKey::DevIno(0, 0, 1);
        assert!(FileCache::default().get_or_load(other, &[own]).is_err());
    }

    /// The very file mapped, and not ELF: a lasting failure, read once.
    #[test]
    fn a_file_that_is_not_elf_is_remembered() {
        use std::os::unix::fs::MetadataExt;
        let path = std::env::temp_dir().join(format!("holter-not-elf-{}", std::process::id()));
        std::fs::write(&path, b"#!/bin/sh\nexit 0\n").unwrap();
        let m = std::fs::metadata(&path).unwrap();
        let (maj, min) = (libc::major(m.dev()), libc::minor(m.dev()));
        let key = FileKey::DevIno(maj, min, m.ino());
        let host = Arc::new(Root::at(std::path::Path::new("/")).unwrap());
        let at = Locator {
            pid: std::process::id(),
            root: Some(host.clone()),
            path: path.to_str().unwrap().to_string(),
            start: 0,
            end: 0,
            map_files: false,
        };
        let mut cache = FileCache::default();
        let first = cache.get_or_load(key.clone(), &[at]);
        std::fs::remove_file(&path).unwrap();
        assert!(first.is_err());
        assert!(matches!(cache.settled(&key), Some(Err(_))));
    }

    fn own_executable() -> (u32, super::super::maps::MapLine) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_str().unwrap().to_string();
        let line = super::super::maps::parse_executable(&maps)
            .into_iter()
            .find(|m| m.path == exe)
            .unwrap();
        (std::process::id(), line)
    }
}
