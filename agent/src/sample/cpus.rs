//! Which CPUs are online: per-CPU events and rings are opened on each.

/// Online CPUs, from `/sys/devices/system/cpu/online` (e.g. `0-3,6`).
pub fn online() -> Vec<u32> {
    crate::host::node::read_text("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_list(&s))
        .unwrap_or_else(|| {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get() as u32)).collect()
        })
}

/// Parses a CPU list such as `0-3,6`.
pub fn parse_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_list("0-3,6\n"), Some(vec![0, 1, 2, 3, 6]));
        assert_eq!(parse_list("0"), Some(vec![0]));
        assert_eq!(parse_list("x"), None);
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("0-99999"), None);
        assert!(!online().is_empty());
    }
}
