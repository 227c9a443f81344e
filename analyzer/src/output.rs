//! Writing an output file (report, flame graph) without being tricked by
//! what already sits at its path. A capture is often opened where it was
//! downloaded, next to files others control: a planted `app.html ->
//! ~/.bashrc` must not be followed. Outputs are written to a new temporary
//! file (created with `O_EXCL | O_NOFOLLOW`) in the same directory, then
//! renamed over the path: a rename replaces a symlink, it never writes
//! through it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error(
        "refusing to write {path}: it is {what}, not a regular file (a planted link could make \
         holter overwrite another file); remove it, or choose the output with -o"
    )]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("cannot write {path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

/// How strictly an existing file at the path is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// A default output beside the capture: anything but a regular file
    /// (a symlink, a FIFO, a device, a directory) is refused.
    Refuse,
    /// A path the user gave (`-o`): a FIFO or a device (`/dev/stdout`) is
    /// written as it is; anything else is replaced by rename.
    UserChoice,
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a special file (FIFO, socket or device)"
    }
}

/// Writes `path` through `write`, as described in the module documentation.
pub fn write_file(
    path: &Path,
    existing: Existing,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), OutputError> {
    let io_err = |error| OutputError::Io {
        path: path.into(),
        error,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_file() {
            let special = !meta.file_type().is_symlink() && !meta.is_dir();
            if existing == Existing::UserChoice && special {
                let mut out = BufWriter::new(File::create(path).map_err(io_err)?);
                return write(&mut out).and_then(|()| out.flush()).map_err(io_err);
            }
            if existing == Existing::Refuse || meta.is_dir() {
                return Err(OutputError::NotRegular {
                    path: path.into(),
                    what: kind(&meta),
                });
            }
        }
    }
    let (tmp, file) = create_temp(path).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    let written = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(())
}

/// A new file beside `path`, never an existing one, never through a link.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let mut last = None;
    for attempt in 0..16u32 {
        let tmp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_NOFOLLOW).mode(0o644);
        }
        match opts.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary name free")))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn put(path: &Path, existing: Existing, text: &str) -> Result<(), OutputError> {
        write_file(path, existing, |w| w.write_all(text.as_bytes()))
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("bashrc");
        std::fs::write(&victim, "safe").unwrap();
        let out = dir.path().join("app.html");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        let err = put(&out, Existing::Refuse, "evil").unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "safe");
        // Chosen with -o, the link is replaced, its target still untouched.
        put(&out, Existing::UserChoice, "report").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "safe");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "report");
        assert!(!std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn regular_files_are_replaced_and_no_temporary_stays() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.svg");
        put(&out, Existing::Refuse, "one").unwrap();
        put(&out, Existing::Refuse, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        assert!(put(&sub, Existing::UserChoice, "x").is_err());
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = put(&fifo, Existing::Refuse, "x").unwrap_err();
        assert!(err.to_string().contains("special file"), "{err}");
    }
}
