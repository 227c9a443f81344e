//! Whether a target is frozen (`docker pause`, `podman pause`, the cgroup
//! freezer): its tasks do not run, so nothing can be sampled or traced, and
//! a traced thread cannot stop to be detached. The v1 freezer's
//! `freezer.state` says `FROZEN` (`FREEZING` on the way); cgroup2's
//! `cgroup.events` says `frozen 1`.

use crate::host::mounts::Hierarchy;
use crate::host::proc::Proc;

/// Largest control file read here.
const MAX_FILE: usize = 4096;

/// What one control file says about freezing, if it is one that does.
pub fn file_says(name: &str, content: &str) -> Option<bool> {
    match name {
        "freezer.state" => Some(matches!(content.trim(), "FROZEN" | "FREEZING")),
        "cgroup.events" => Some(
            content
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["frozen", "1"]),
        ),
        _ => None,
    }
}

/// Whether any of a snapshot's files says frozen; `None`: none says.
pub fn frozen_in(files: &[(String, String)]) -> Option<bool> {
    files
        .iter()
        .filter_map(|(n, c)| file_says(n, c))
        .reduce(|a, b| a || b)
}

fn read_small(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64);
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE as u64)
        .read_to_end(&mut buf)
        .ok()?;
    String::from_utf8(buf).ok()
}

/// Whether the cgroups of task `tid` are frozen now (its v1 freezer
/// directory, its cgroup2 directory), read from the node's cgroupfs.
pub fn task_frozen(proc: &Proc, hierarchies: &[Hierarchy], tid: u32) -> bool {
    let Ok(lines) = proc.cgroup(tid) else {
        return false;
    };
    lines.iter().any(|m| {
        let file = if m.is_v2() {
            "cgroup.events"
        } else if m.controllers.iter().any(|c| c == "freezer") {
            "freezer.state"
        } else {
            return false;
        };
        m.dir(hierarchies)
            .and_then(|d| read_small(&d.join(file)))
            .and_then(|text| file_says(file, &text))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freezer_files() {
        assert_eq!(file_says("freezer.state", "FROZEN\n"), Some(true));
        assert_eq!(file_says("freezer.state", "FREEZING\n"), Some(true));
        assert_eq!(file_says("freezer.state", "THAWED\n"), Some(false));
        assert_eq!(
            file_says("cgroup.events", "populated 1\nfrozen 1\n"),
            Some(true)
        );
        assert_eq!(
            file_says("cgroup.events", "populated 1\nfrozen 0\n"),
            Some(false)
        );
        assert_eq!(file_says("cpu.stat", "frozen 1\n"), None);
        let files = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        // A hybrid layout: the v1 freezer frozen, the cgroup2 directory not.
        assert_eq!(
            frozen_in(&files(&[
                ("cgroup.events", "populated 1\nfrozen 0\n"),
                ("freezer.state", "FROZEN\n")
            ])),
            Some(true)
        );
        assert_eq!(frozen_in(&files(&[("cpu.stat", "x")])), None);
    }
}
