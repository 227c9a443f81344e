//! `/proc/PID/maps` to the executable mappings of a process.

/// One executable mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLine {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub dev: (u32, u32),
    pub inode: u64,
    /// As the process sees it (inside its mount namespace); may end in ` (deleted)`.
    pub path: String,
}

/// The executable mappings of a `/proc/PID/maps` text.
pub fn parse_executable(text: &str) -> Vec<MapLine> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MapLine> {
    let mut it = line.splitn(6, ' ');
    let (start, end) = it.next()?.split_once('-')?;
    let perms = it.next()?;
    if perms.as_bytes().get(2) != Some(&b'x') {
        return None;
    }
    let pgoff = u64::from_str_radix(it.next()?, 16).ok()?;
    let (maj, min) = it.next()?.split_once(':')?;
    let inode = it.next()?.parse().ok()?;
    let path = it.next().unwrap_or("").trim_start().to_string();
    Some(MapLine {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        pgoff,
        dev: (
            u32::from_str_radix(maj, 16).ok()?,
            u32::from_str_radix(min, 16).ok()?,
        ),
        inode,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_lines_only() {
        let text = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 1234                       /usr/bin/calltree
55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:01 1234                       /usr/bin/calltree
7f1e2c028000-7f1e2c1bd000 r-xp 00028000 08:10 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f1e2c400000-7f1e2c401000 r-xp 00000000 00:00 0 
7ffd5a1f0000-7ffd5a1f2000 r-xp 00000000 00:00 0                          [vdso]
7f00000000-7f00001000 r-xp 00000000 fe:01 99                          /tmp/my app (deleted)
";
        let m = parse_executable(text);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].start, 0x55d0c0a01000);
        assert_eq!(m[0].pgoff, 0x1000);
        assert_eq!(m[0].dev, (0xfe, 1));
        assert_eq!(m[0].inode, 1234);
        assert_eq!(m[0].path, "/usr/bin/calltree");
        assert_eq!(m[1].dev, (8, 0x10));
        assert_eq!(m[2].path, "");
        assert_eq!(m[3].path, "[vdso]");
        assert_eq!(m[4].path, "/tmp/my app (deleted)");
    }
}
