//! `holter-agent cat FILE`: a finished capture to stdout. The agent's image
//! holds nothing but the agent, so this is how a capture leaves its pod
//! (`kubectl exec POD -- /holter-agent cat FILE`).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CatError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path} is not a regular file (a link, FIFO, device or directory is refused)")]
    NotRegular { path: String },
    #[error("cannot copy {path}: {source}")]
    Copy { path: String, source: io::Error },
}

/// Copies the regular file `path` (never through a final symbolic link, never
/// blocking on a FIFO) to `out`; returns the bytes copied.
pub fn cat(path: &Path, out: &mut impl Write) -> Result<u64, CatError> {
    let name = || path.display().to_string();
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| CatError::Open {
            path: name(),
            source,
        })?;
    let meta = file.metadata().map_err(|source| CatError::Open {
        path: name(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(CatError::NotRegular { path: name() });
    }
    let n = io::copy(&mut file, out).map_err(|source| CatError::Copy {
        path: name(),
        source,
    })?;
    out.flush().map_err(|source| CatError::Copy {
        path: name(),
        source,
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_a_regular_file_and_refuses_links_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.holter");
        std::fs::write(&file, b"\x89HOLTER\nbytes").unwrap();
        let mut out = Vec::new();
        assert_eq!(cat(&file, &mut out).unwrap(), 13);
        assert_eq!(out, b"\x89HOLTER\nbytes");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = cat(&link, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, CatError::Open { .. }), "{e}");

        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = cat(&fifo, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, CatError::NotRegular { .. }), "{e}");
        assert!(cat(dir.path(), &mut Vec::new()).is_err());
    }
}
