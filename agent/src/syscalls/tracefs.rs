//! Tracepoint ids and field layouts from tracefs
//! (`events/SYSTEM/NAME/{id,format}`). Where no tracefs is mounted, one is
//! mounted on a private temporary directory for the time of the reads and
//! unmounted at once: a perf tracepoint event needs only the id.
//! [`parse_format`] is a pure function of the `format` file's text.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// Largest `format` or `id` file read.
const MAX_FILE: u64 = 64 << 10;

/// One field of a tracepoint record (offsets from the start of the raw data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: usize,
    pub size: usize,
}

/// A tracepoint: its perf id and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracepoint {
    pub id: u64,
    pub fields: Vec<Field>,
}

impl Tracepoint {
    /// `(offset, size)` of a field; `args[6]` is named `args`.
    pub fn field(&self, name: &str) -> Option<(usize, usize)> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| (f.offset, f.size))
    }
}

/// Parses the `format` file of a tracepoint: `ID:` and every `field:` line.
pub fn parse_format(text: &str) -> Option<Tracepoint> {
    let mut id = None;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("ID:") {
            id = rest.trim().parse().ok();
            continue;
        }
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut decl = None;
        let (mut offset, mut size) = (None, None);
        for part in rest.split(';') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("offset:") {
                offset = v.trim().parse().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.trim().parse().ok();
            } else if decl.is_none() && !part.is_empty() {
                decl = Some(part);
            }
        }
        // `unsigned long args[6]` -> `args`.
        let name = decl
            .and_then(|d| d.split_whitespace().last())
            .map(|n| n.split('[').next().unwrap_or(n).trim_start_matches('*'));
        if let (Some(name), Some(offset), Some(size)) = (name, offset, size) {
            fields.push(Field {
                name: name.to_string(),
                offset,
                size,
            });
        }
    }
    Some(Tracepoint { id: id?, fields })
}

/// Reads tracepoints from the node's tracefs, mounting one if needed.
pub struct Tracefs {
    root: PathBuf,
    /// A temporary mount of ours, unmounted and removed on drop.
    ours: Option<PathBuf>,
}

impl Tracefs {
    pub fn open() -> anyhow::Result<Tracefs> {
        if let Some(root) = mounted() {
            return Ok(Tracefs { root, ours: None });
        }
        let dir = temp_dir()?;
        if let Err(e) = nix::mount::mount(
            Some("tracefs"),
            &dir,
            Some("tracefs"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            None::<&str>,
        ) {
            let _ = std::fs::remove_dir(&dir);
            bail!("no tracefs is mounted and mounting one on {} failed ({e}): --syscalls=kernel needs root (CAP_SYS_ADMIN) and a kernel with tracefs (CONFIG_FTRACE); or use --syscalls=ptrace", dir.display());
        }
        Ok(Tracefs {
            root: dir.clone(),
            ours: Some(dir),
        })
    }

    /// The tracepoint `system:name`.
    pub fn tracepoint(&self, system: &str, name: &str) -> anyhow::Result<Tracepoint> {
        let text = self.format_text(system, name)?;
        parse_format(&text).with_context(|| {
            format!(
                "{}: no tracepoint id in it",
                self.format_path(system, name).display()
            )
        })
    }

    fn format_path(&self, system: &str, name: &str) -> PathBuf {
        self.root
            .join("events")
            .join(system)
            .join(name)
            .join("format")
    }

    /// The `format` file of `system:name` as text (its print format included).
    pub fn format_text(&self, system: &str, name: &str) -> anyhow::Result<String> {
        let path = self.format_path(system, name);
        read_capped(&path).with_context(|| {
            let hint = if system == "raw_syscalls" {
                "the kernel needs CONFIG_FTRACE_SYSCALLS for raw_syscalls; or use --syscalls=ptrace"
            } else {
                "the kernel needs CONFIG_FTRACE (tracepoints in tracefs)"
            };
            format!("tracepoint {system}:{name} ({}): {hint}", path.display())
        })
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if let Some(dir) = self.ours.take() {
            let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// A tracefs mount point of the agent's mount namespace.
fn mounted() -> Option<PathBuf> {
    let text = read_capped(Path::new("/proc/self/mountinfo")).ok()?;
    find_tracefs(&text)
}

/// The mount point of the first tracefs in a mountinfo text (directly, or
/// as `tracing/` under a debugfs mount).
pub fn find_tracefs(mountinfo: &str) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next();
        let point = left.split_whitespace().nth(4);
        if let (Some("tracefs"), Some(point)) = (fstype, point) {
            return Some(PathBuf::from(crate::host::mounts::unescape(point)));
        }
    }
    None
}

/// A fresh private directory for a temporary mount.
fn temp_dir() -> anyhow::Result<PathBuf> {
    let base = Path::new("/run");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    for i in 0..100u32 {
        let dir = base.join(format!("holter-tracefs-{}-{i}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    bail!(
        "cannot create a directory for tracefs under {}",
        base.display()
    )
}

use std::os::unix::fs::DirBuilderExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    const ENTER: &str = "name: sys_enter\nID: 443\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n\n\
print fmt: \"NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)\", REC->id\n";

    #[test]
    fn format_of_sys_enter() {
        let tp = parse_format(ENTER).unwrap();
        assert_eq!(tp.id, 443);
        assert_eq!(tp.field("common_type"), Some((0, 2)));
        assert_eq!(tp.field("id"), Some((8, 8)));
        assert_eq!(tp.field("args"), Some((16, 48)));
        assert_eq!(tp.field("ret"), None);
        assert!(parse_format("format:\n\tfield:long id;\toffset:8;\tsize:8;\n").is_none());
        assert!(parse_format("").is_none());
    }

    #[test]
    fn tracefs_in_mountinfo() {
        let mi = "22 1 0:21 / /proc rw - proc proc rw\n\
                  40 22 0:12 / /sys/kernel/tracing rw,nosuid - tracefs tracefs rw\n";
        assert_eq!(find_tracefs(mi), Some(PathBuf::from("/sys/kernel/tracing")));
        assert_eq!(find_tracefs("22 1 0:21 / /proc rw - proc proc rw\n"), None);
        let escaped = "40 22 0:12 / /a\\040b rw - tracefs tracefs rw\n";
        assert_eq!(find_tracefs(escaped), Some(PathBuf::from("/a b")));
    }
}
