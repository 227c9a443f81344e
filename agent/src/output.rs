//! The capture file: made as a new file (0600, `O_EXCL`, never through a
//! link) under a random temporary name in the target directory, then renamed
//! to its name. The name is claimed at once when it is free (a capture cut by
//! `kill -9` is found under its name); an existing capture replaced with
//! `--force` is kept until the new one is complete and then renamed over. A
//! symbolic link, FIFO, device or directory at the name is refused even with
//! `--force`: renaming replaces the directory entry, it never follows it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("{0} already exists; pass --force to overwrite it")]
    Exists(PathBuf),
    #[error("{path} is a {kind}, not a capture: not overwritten, even with --force (remove it or choose another name)")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot rename {tmp} to {path}: {source} (the capture is kept as {tmp})")]
    Rename {
        tmp: PathBuf,
        path: PathBuf,
        source: io::Error,
    },
}

/// The capture file being written.
#[derive(Debug)]
pub struct Output {
    pub path: PathBuf,
    /// The temporary name while the capture still has to be renamed.
    pending: Option<PathBuf>,
}

/// What is at `path` now, without following a link.
fn existing(path: &Path) -> Option<std::fs::Metadata> {
    std::fs::symlink_metadata(path).ok()
}

fn refuse_non_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), OutputError> {
    use std::os::unix::fs::MetadataExt;
    if meta.file_type().is_file() {
        Ok(())
    } else {
        Err(OutputError::NotRegular {
            path: path.to_path_buf(),
            kind: crate::host::open::kind_of(meta.mode()),
        })
    }
}

/// Creates the capture file for `path`.
pub fn create(path: &Path, force: bool) -> Result<(File, Output), OutputError> {
    let replacing = match existing(path) {
        Some(_) if !force => return Err(OutputError::Exists(path.to_path_buf())),
        Some(meta) => {
            refuse_non_regular(path, &meta)?;
            true
        }
        None => false,
    };
    let (file, tmp) = create_temp(path)?;
    if replacing {
        return Ok((
            file,
            Output {
                path: path.to_path_buf(),
                pending: Some(tmp),
            },
        ));
    }
    // Claim the free name now; someone taking it meanwhile wins.
    match rename_noreplace(&tmp, path) {
        Ok(()) => Ok((
            file,
            Output {
                path: path.to_path_buf(),
                pending: None,
            },
        )),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.raw_os_error() == Some(libc::EEXIST) {
                Err(OutputError::Exists(path.to_path_buf()))
            } else {
                Err(OutputError::Create {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        }
    }
}

impl Output {
    /// Gives the finished capture its name (when it replaces an old one).
    pub fn commit(mut self) -> Result<(), OutputError> {
        let Some(tmp) = self.pending.take() else {
            return Ok(());
        };
        // The name may have become something else while recording.
        if let Some(meta) = existing(&self.path) {
            refuse_non_regular(&self.path, &meta).map_err(|e| OutputError::Rename {
                tmp: tmp.clone(),
                path: self.path.clone(),
                source: io::Error::other(e.to_string()),
            })?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|source| OutputError::Rename {
            tmp,
            path: self.path.clone(),
            source,
        })
    }

    /// Replaces the finished capture, `file` (this output's descriptor, read
    /// from its start), by what `rewrite` writes into a new file beside it
    /// (made as every capture file is), renamed over it once synced. On any
    /// error the capture stays as written and the new file is removed; the
    /// rename is skipped when the name no longer holds this capture.
    pub fn rewrite<T>(
        &self,
        file: &mut File,
        rewrite: impl FnOnce(&mut File, &mut File) -> io::Result<T>,
    ) -> io::Result<T> {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::MetadataExt;
        let at = self.writing_to().to_path_buf();
        let (mut new, tmp) =
            create_temp(&self.path).map_err(|e| io::Error::other(e.to_string()))?;
        let result = (|| {
            file.seek(SeekFrom::Start(0))?;
            let done = rewrite(file, &mut new)?;
            new.sync_all()?;
            let (there, ours) = (std::fs::symlink_metadata(&at)?, file.metadata()?);
            if (there.dev(), there.ino()) != (ours.dev(), ours.ino()) {
                return Err(io::Error::other(format!(
                    "{} no longer holds this capture",
                    at.display()
                )));
            }
            std::fs::rename(&tmp, &at)?;
            Ok(done)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Where the capture is being written now.
    pub fn writing_to(&self) -> &Path {
        self.pending.as_deref().unwrap_or(&self.path)
    }
}

/// A new file `.NAME.RANDOM.tmp` beside `path`: `O_CREAT | O_EXCL | O_NOFOLLOW`, 0600.
fn create_temp(path: &Path) -> Result<(File, PathBuf), OutputError> {
    let err = |source| OutputError::Create {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(io::Error::other("not a file name")))?
        .to_string_lossy()
        .into_owned();
    for _ in 0..16 {
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", random_u64()));
        let c = CString::new(tmp.as_os_str().as_bytes())
            .map_err(|_| err(io::Error::other("a NUL byte in the path")))?;
        // SAFETY: a valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EEXIST) {
                continue;
            }
            return Err(err(e));
        }
        // SAFETY: a descriptor just opened and owned here.
        let file = unsafe { File::from_raw_fd(fd) };
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        return Ok((file, tmp));
    }
    Err(err(io::Error::other("no free temporary name")))
}

fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let a = CString::new(from.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // The raw syscall: the musl of the static agent has no renameat2 wrapper.
    // SAFETY: valid C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) {
            // A filesystem without RENAME_NOREPLACE: a hard link fails on an existing name too.
            std::fs::hard_link(from, to)?;
            return std::fs::remove_file(from);
        }
        return Err(e);
    }
    Ok(())
}

/// 64 random bits from the kernel.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, 0) };
    if n != 8 {
        // Not secret here (a temporary name): the clock will do.
        return crate::clock::wall_ns() ^ u64::from(std::process::id());
    }
    u64::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_name_is_claimed_at_once_0600() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.holter");
        let (mut f, out) = create(&p, false).unwrap();
        assert_eq!(entries(t.path()), ["c.holter"]);
        f.write_all(b"x").unwrap();
        out.commit().unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert!(matches!(create(&p, false), Err(OutputError::Exists(_))));
    }

    #[test]
    fn force_replaces_a_file_at_the_end_with_a_new_inode() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.holter");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let old_ino = std::fs::metadata(&p).unwrap().ino();
        let (mut f, out) = create(&p, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "old",
            "kept until the end"
        );
        f.write_all(b"new").unwrap();
        out.commit().unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_ne!(m.ino(), old_ino);
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert_eq!(entries(t.path()), ["c.holter"]);
    }

    #[test]
    fn force_refuses_links_fifos_and_directories() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = t.path().join("link.holter");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let dangling = t.path().join("dangling.holter");
        std::os::unix::fs::symlink(t.path().join("created"), &dangling).unwrap();
        let fifo = t.path().join("fifo.holter");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (p, kind) in [
            (&link, "symbolic link"),
            (&dangling, "symbolic link"),
            (&fifo, "FIFO"),
        ] {
            match create(p, true) {
                Err(OutputError::NotRegular { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
        assert!(matches!(
            create(t.path(), true),
            Err(OutputError::NotRegular {
                kind: "directory",
                ..
            })
        ));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!t.path().join("created").exists());
        assert_eq!(
            entries(t.path()),
            ["dangling.holter", "fifo.holter", "link.holter", "victim"],
            "no temporary file left"
        );
    }

    #[test]
    fn a_link_planted_while_recording_is_replaced_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.holter");
        std::fs::write(&p, "old").unwrap();
        let (mut f, out) = create(&p, true).unwrap();
        f.write_all(b"new").unwrap();
        std::fs::remove_file(&p).unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let e = out.commit().unwrap_err();
        assert!(e.to_string().contains("kept as"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    /// A finished capture rewritten: the new file takes the name (and the
    /// place of a --force'd old one at commit), the old one and the temporary
    /// are gone; a failed rewrite leaves the capture as written.
    #[test]
    fn a_rewrite_replaces_the_capture_or_leaves_it() {
        use std::io::{Read, Write};
        for force in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.holter");
            if force {
                std::fs::write(&path, b"old").unwrap();
            }
            let (mut file, out) = create(&path, force).unwrap();
            file.write_all(b"written").unwrap();
            let n = out
                .rewrite(&mut file, |src, dst| {
                    let mut s = String::new();
                    src.read_to_string(&mut s)?;
                    dst.write_all(s.to_uppercase().as_bytes())?;
                    Ok(s.len())
                })
                .unwrap();
            assert_eq!(n, 7);
            let err = out.rewrite(&mut file, |_, dst| {
                dst.write_all(b"half")?;
                Err::<(), _>(io::Error::other("boom"))
            });
            assert!(err.is_err());
            out.commit().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"WRITTEN");
            assert_eq!(entries(dir.path()), ["c.holter"], "force {force}");
        }
    }
}
