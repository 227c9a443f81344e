//! Reading mapped files through the target's view, with a cache keyed by
//! file identity that remembers failures too.
//!
//! A mapped file is read first as `/proc/PID/map_files/START-END`, the very
//! file that is mapped, whatever its path became; else at its path inside the
//! process's root ([`crate::host::open::Root`]: links never leave the
//! container). Either way only a regular file is read, at most [`MAX_FILE`]
//! bytes, and it must be the file the kernel named (device and inode on the
//! open descriptor, or build-id).

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileKey {
    BuildId(Vec<u8>),
    /// (major, minor, inode).
    DevIno(u32, u32, u64),
    /// No identity from the kernel: the path in one process.
    Path(u32, String),
}

/// Where one mapping of the file can be read.
#[derive(Debug, Clone)]
pub struct Locator<'a> {
    pub pid: u32,
    /// The process's root directory, where it could be opened.
    pub root: Option<&'a Root>,
    pub path: &'a str,
    pub start: u64,
    pub end: u64,
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
    /// The symbols of the file behind `key`, read once; a failure is remembered.
    pub fn get_or_load(&mut self, key: FileKey, at: &Locator) -> Loaded {
        if let Some(hit) = self.entries.get(&key) {
            return hit.clone();
        }
        if let FileKey::BuildId(id) = &key {
            if let Some(b) = self.by_build_id.get(id) {
                return Ok(b.clone());
            }
        }
        let loaded = match load(&key, at, self.want_unwind) {
            Ok((b, sections)) => {
                let b = Arc::new(b);
                if let Some(s) = sections {
                    self.unwind
                        .entry(unwind_key(&b))
                        .or_insert_with(|| Arc::new(s));
                }
                Ok(b)
            }
            Err(e) => Err(e),
        };
        if let Ok(b) = &loaded {
            if !b.build_id.is_empty() {
                let b = self
                    .by_build_id
                    .entry(b.build_id.clone())
                    .or_insert_with(|| b.clone())
                    .clone();
                self.entries.insert(key, Ok(b.clone()));
                return Ok(b);
            }
        }
        self.entries.insert(key, loaded.clone());
        loaded
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

fn load(
    key: &FileKey,
    at: &Locator,
    want_unwind: bool,
) -> Result<(BinarySymbols, Option<Sections>), SymbolError> {
    let (path, _deleted) = clean_path(at.path);
    let via_map_files = PathBuf::from(format!(
        "/proc/{}/map_files/{:x}-{:x}",
        at.pid, at.start, at.end
    ));
    let mut tried = Vec::new();
    let mut found = None;
    match open::open_host(&via_map_files) {
        Ok(f) => found = Some(f),
        Err(e) => tried.push(e.to_string()),
    }
    if found.is_none() {
        // A path the process chose: resolved inside its root, never outside.
        match at.root.map(|r| r.open(path)) {
            Some(Ok(f)) => found = Some(f),
            Some(Err(e)) => tried.push(format!("{path} in the process's root: {e}")),
            None => tried.push(format!("{path}: the process's root is gone")),
        }
    }
    let Some(mut file) = found else {
        return Err(SymbolError::Read {
            path: at.path.to_string(),
            reason: tried.join("; "),
        });
    };
    match read_checked(&mut file, key, want_unwind) {
        Ok((info, sections)) => Ok((
            BinarySymbols {
                build_id: info.build_id,
                path: path.to_string(),
                segments: info.segments,
                symbols: info.symbols,
            },
            sections,
        )),
        Err(e) => {
            tried.push(format!("{}: {e}", file.path));
            Err(SymbolError::Read {
                path: at.path.to_string(),
                reason: tried.join("; "),
            })
        }
    }
}

/// Reads an open file if it is the one `key` names.
fn read_checked(
    file: &mut Opened,
    key: &FileKey,
    want_unwind: bool,
) -> Result<(elf::ElfInfo, Option<Sections>), String> {
    if let FileKey::DevIno(maj, min, ino) = key {
        if !file.is(*maj, *min, *ino) {
            return Err("replaced since it was mapped".into());
        }
    }
    let bytes = file.read_capped(MAX_FILE).map_err(|e| e.to_string())?;
    let info = elf::read(&bytes).map_err(|e| e.to_string())?;
    if let FileKey::BuildId(id) = key {
        if !id.is_empty() && *id != info.build_id {
            return Err("a different build-id than the one mapped".into());
        }
    }
    // Unwind sections come from the same bytes; a file without them (or
    // whose tables are refused) unwinds by frame pointers.
    let sections = want_unwind.then(|| crate::unwind::sections::read(&bytes).unwrap_or_default());
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

    /// Reads this test binary through its own /proc entries and remembers a failure.
    #[test]
    fn cache_reads_once_and_remembers_failures() {
        let me = std::process::id();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_str().unwrap();
        let line = super::super::maps::parse_executable(&maps)
            .into_iter()
            .find(|m| m.path == exe)
            .unwrap();
        let mut cache = FileCache::default();
        let root = Root::of_process(me).unwrap();
        let at = Locator {
            pid: me,
            root: Some(&root),
            path: &line.path,
            start: line.start,
            end: line.end,
        };
        let key = FileKey::DevIno(line.dev.0, line.dev.1, line.inode);
        let a = cache.get_or_load(key.clone(), &at).unwrap();
        assert!(!a.symbols.is_empty());
        let b = cache.get_or_load(key, &at).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // A wrong identity and no readable map_files entry: an error, kept.
        let bad = FileKey::DevIno(0, 0, 1);
        let gone = Locator {
            pid: me,
            root: Some(&root),
            path: &line.path,
            start: 1,
            end: 2,
        };
        assert!(cache.get_or_load(bad.clone(), &gone).is_err());
        assert!(cache.get_or_load(bad, &gone).is_err());
        assert_eq!(cache.len(), 2);
    }
}
