//! `--redact`: what could identify people or secrets (argv, paths, the
//! container's hostname and resolver settings) is replaced by tokens. A token
//! is a keyed hash: the key is random, made once per agent run (one capture)
//! and never written, so the same path gives the same token within a capture
//! (the analyzer can still group by it) while guessing a path and hashing it
//! tells nothing without the key.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// The key: SipHash keys from the kernel's random source, once per process.
fn key() -> &'static std::collections::hash_map::RandomState {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    KEY.get_or_init(std::collections::hash_map::RandomState::new)
}

/// The token of a string: `#` and 16 hex digits.
pub fn token(s: &str) -> String {
    let mut h = key().build_hasher();
    h.write(s.as_bytes());
    // A second pass with a separator: 128 bits of hash state folded to 64.
    let a = h.finish();
    h.write_u8(0xff);
    let b = h.finish();
    format!("#{:016x}", a ^ b.rotate_left(32))
}

/// Kernel names that say nothing private: `[vdso]`, `//anon`, `socket:[12]`.
fn is_pseudo(s: &str) -> bool {
    s.is_empty()
        || (!s.starts_with('/') && (s.starts_with('[') || s.contains(":[")))
        || s.starts_with("//anon")
}

/// Names that are the same on every node: the cgroup mount points and the
/// controllers (alone or joined by commas, `name=systemd` included).
fn is_public_cgroup_name(c: &str) -> bool {
    const WORDS: &[&str] = &[
        "sys",
        "fs",
        "cgroup",
        "unified",
        "systemd",
        "name=systemd",
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "blkio",
        "io",
        "pids",
        "devices",
        "freezer",
        "net_cls",
        "net_prio",
        "perf_event",
        "hugetlb",
        "rdma",
        "misc",
    ];
    c.split(',').all(|w| WORDS.contains(&w))
}

/// What redaction does to one capture's strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redact {
    pub on: bool,
}

impl Redact {
    pub fn new(on: bool) -> Redact {
        Redact { on }
    }

    /// A path (or any free text): its token when redacting.
    pub fn path(&self, s: &str) -> String {
        if self.on && !is_pseudo(s) {
            token(s)
        } else {
            s.to_string()
        }
    }

    /// A cgroup path (`/kubepods/pod…/CONTAINER`, or a host path under
    /// `/sys/fs/cgroup`): its structure kept, each component a token except the
    /// few public names of the cgroup mounts and controllers. A component gets
    /// the same token wherever it appears, so the process lines, the snapshots
    /// and the header still match one another.
    pub fn cgroup_path(&self, path: &str) -> String {
        if !self.on {
            return path.to_string();
        }
        path.split('/')
            .map(|c| {
                if c.is_empty() || is_public_cgroup_name(c) {
                    c.to_string()
                } else {
                    token(c)
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A line of `/proc/PID/cgroup` (`ID:CONTROLLERS:PATH`): the hierarchy id
    /// and controllers kept, the path as [`Redact::cgroup_path`].
    pub fn cgroup_line(&self, line: &str) -> String {
        if !self.on {
            return line.to_string();
        }
        match line.splitn(3, ':').collect::<Vec<_>>()[..] {
            [id, controllers, path] => format!("{id}:{controllers}:{}", self.cgroup_path(path)),
            _ => token(line),
        }
    }

    /// An argument vector: left out when redacting.
    pub fn argv(&self, argv: Vec<String>) -> Vec<String> {
        if self.on {
            Vec::new()
        } else {
            argv
        }
    }

    /// A launched command line: the program's name, then a token per argument.
    pub fn command(&self, command: &[String]) -> String {
        if !self.on {
            return command.join(" ");
        }
        let mut parts = Vec::with_capacity(command.len());
        if let Some(first) = command.first() {
            parts.push(first.rsplit('/').next().unwrap_or(first).to_string());
        }
        parts.extend(command.iter().skip(1).map(|a| token(a)));
        parts.join(" ")
    }

    /// `resolv.conf`: each keyword kept (`nameserver`, `search`, `options`),
    /// each value a token; comments dropped.
    pub fn resolv_conf(&self, text: &str) -> String {
        if !self.on {
            return text.to_string();
        }
        let mut out = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = if keyword.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                keyword.to_string()
            } else {
                token(keyword)
            };
            out.push_str(&keyword);
            for w in words {
                out.push(' ');
                out.push_str(&token(w));
            }
            out.push('\n');
        }
        out
    }

    /// One mountinfo line: ids and flags kept, paths, source and option values tokens.
    pub fn mount_line(&self, line: &str) -> String {
        if !self.on || line.is_empty() {
            return line.to_string();
        }
        let (left, right) = line.split_once(" - ").unwrap_or((line, ""));
        let mut l: Vec<String> = left.split(' ').map(str::to_string).collect();
        for i in [3, 4] {
            if let Some(f) = l.get_mut(i) {
                if f != "/" {
                    *f = token(f);
                }
            }
        }
        let mut r: Vec<String> = right.split(' ').map(str::to_string).collect();
        if let Some(source) = r.get_mut(1) {
            *source = token(source);
        }
        if let Some(options) = r.get_mut(2) {
            *options = options
                .split(',')
                .map(|o| match o.split_once('=') {
                    Some((k, v)) => format!("{k}={}", token(v)),
                    None => o.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",");
        }
        format!("{} - {}", l.join(" "), r.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_keep_structure_and_controllers_and_token_each_name() {
        let r = Redact::new(true);
        let id = "0123456789abcdef0123456789abcdef";
        let t = token(id);
        let p = r.cgroup_path(&format!("/kubepods/podsecret/{id}"));
        assert_eq!(
            p,
            format!("/{}/{}/{t}", token("kubepods"), token("podsecret"))
        );
        assert_eq!(
            r.cgroup_path(&format!("/sys/fs/cgroup/cpu,cpuacct/{id}")),
            format!("/sys/fs/cgroup/cpu,cpuacct/{t}")
        );
        assert_eq!(
            r.cgroup_line(&format!("4:cpu,cpuacct:/{id}")),
            format!("4:cpu,cpuacct:/{t}")
        );
        assert_eq!(r.cgroup_line("0::/"), "0::/");
        assert_eq!(
            r.cgroup_line(&format!("1:name=systemd:/{id}")),
            format!("1:name=systemd:/{t}")
        );
        assert!(!r.cgroup_line("garbage-secret").contains("secret"));
        let off = Redact::new(false);
        assert_eq!(off.cgroup_line("4:cpu:/x"), "4:cpu:/x");
        assert_eq!(off.cgroup_path("/x/y"), "/x/y");
    }

    #[test]
    fn same_input_same_token_different_inputs_differ() {
        let r = Redact::new(true);
        let a = r.path("/home/alice/secret.txt");
        assert_eq!(a, r.path("/home/alice/secret.txt"));
        assert_ne!(a, r.path("/home/alice/secret.txu"));
        assert_eq!(a.len(), 17);
        assert!(a.starts_with('#'));
        assert!(!a.contains("alice"));
        assert_eq!(r.path("[vdso]"), "[vdso]");
        assert_eq!(r.path("socket:[123]"), "socket:[123]");
        assert_eq!(Redact::new(false).path("/x"), "/x");
    }

    #[test]
    fn the_key_is_not_a_constant() {
        // The FNV hash this replaced could be computed by anyone: not this one.
        let fnv = {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in b"/etc/passwd" {
                h ^= *b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        };
        let t = token("/etc/passwd");
        assert_ne!(t, format!("#{fnv:016x}"));
        // An unkeyed SipHash (what a guesser could compute) differs too.
        #[allow(deprecated)]
        let mut plain = std::hash::SipHasher::new();
        plain.write(b"/etc/passwd");
        assert!(!t.contains(&format!("{:016x}", plain.finish())));
    }

    #[test]
    fn commands_resolv_conf_and_mounts() {
        let r = Redact::new(true);
        let c = r.command(&["/usr/bin/mysql".into(), "--password=hunter2".into()]);
        assert!(c.starts_with("mysql #"), "{c}");
        assert!(!c.contains("hunter2"));
        let conf = r.resolv_conf("# corp\nnameserver 10.1.2.3\nsearch corp.example.com\n");
        assert!(conf.starts_with("nameserver #"), "{conf}");
        assert!(
            !conf.contains("10.1.2.3") && !conf.contains("corp"),
            "{conf}"
        );
        let m = r.mount_line(
            "40 22 0:50 / / rw - overlay overlay rw,lowerdir=/var/lib/secret-project/l",
        );
        assert!(m.starts_with("40 22 0:50 / / rw - overlay #"), "{m}");
        assert!(
            m.contains("lowerdir=#") && !m.contains("secret-project"),
            "{m}"
        );
    }
}
