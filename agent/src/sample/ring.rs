//! Reading records out of a perf ring buffer's data area: pure functions of
//! the bytes and the two counters, so wrap-around is tested on fixtures.

/// The bytes between `tail` and `head` of a ring whose data area is `data`
/// (a power-of-two size), as one or two slices (two where they wrap).
pub fn pending(data: &[u8], tail: u64, head: u64) -> (&[u8], &[u8]) {
    let size = data.len() as u64;
    if size == 0 || head <= tail {
        return (&[], &[]);
    }
    // The kernel never overwrites unread data; a larger gap is corruption: read one ring.
    let len = (head - tail).min(size) as usize;
    let start = (tail % size) as usize;
    let first = len.min(data.len() - start);
    (&data[start..start + first], &data[..len - first])
}

/// `struct perf_event_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub type_: u32,
    pub misc: u16,
    pub size: u16,
}

pub const HEADER_LEN: usize = 8;

pub fn header(bytes: &[u8]) -> Option<RecordHeader> {
    Some(RecordHeader {
        type_: u32::from_ne_bytes(bytes.get(0..4)?.try_into().ok()?),
        misc: u16::from_ne_bytes(bytes.get(4..6)?.try_into().ok()?),
        size: u16::from_ne_bytes(bytes.get(6..8)?.try_into().ok()?),
    })
}

/// Calls `f` with each whole record (header included) of the pending bytes
/// `a` then `b`; a record cut by the wrap is copied into `scratch`. Stops at a
/// malformed size. Returns the number of records seen.
pub fn for_each_record(
    a: &[u8],
    b: &[u8],
    scratch: &mut Vec<u8>,
    mut f: impl FnMut(RecordHeader, &[u8]),
) -> usize {
    let total = a.len() + b.len();
    let mut pos = 0usize;
    let mut count = 0;
    let mut hdr = [0u8; HEADER_LEN];
    while pos + HEADER_LEN <= total {
        copy_out(a, b, pos, &mut hdr);
        let Some(h) = header(&hdr) else { break };
        let size = h.size as usize;
        if size < HEADER_LEN || pos + size > total {
            break;
        }
        if pos + size <= a.len() {
            f(h, &a[pos..pos + size]);
        } else if pos >= a.len() {
            f(h, &b[pos - a.len()..pos - a.len() + size]);
        } else {
            scratch.clear();
            scratch.resize(size, 0);
            copy_out(a, b, pos, scratch);
            f(h, scratch);
        }
        pos += size;
        count += 1;
    }
    count
}

/// Copies `out.len()` bytes at `pos` of the concatenation `a ++ b` into `out`.
fn copy_out(a: &[u8], b: &[u8], pos: usize, out: &mut [u8]) {
    for (i, o) in out.iter_mut().enumerate() {
        let p = pos + i;
        *o = if p < a.len() { a[p] } else { b[p - a.len()] };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(type_: u32, body: &[u8]) -> Vec<u8> {
        let mut r = type_.to_ne_bytes().to_vec();
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_ne_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn pending_wraps() {
        let data: Vec<u8> = (0..16).collect();
        assert_eq!(pending(&data, 2, 6), (&data[2..6], &[][..]));
        let (a, b) = pending(&data, 14, 20);
        assert_eq!(a, &data[14..16]);
        assert_eq!(b, &data[0..4]);
        assert_eq!(pending(&data, 5, 5), (&[][..], &[][..]));
        // An impossible gap is clamped to one ring.
        let (a, b) = pending(&data, 0, 100);
        assert_eq!(a.len() + b.len(), 16);
    }

    #[test]
    fn records_across_the_wrap() {
        // Ring of 128 bytes holding three 24-byte records from offset 100: the second is cut by the wrap.
        let recs: Vec<Vec<u8>> = (1..=3).map(|t| record(t, &[t as u8; 16])).collect();
        let mut data = vec![0u8; 128];
        let stream: Vec<u8> = recs.concat();
        for (i, byte) in stream.iter().enumerate() {
            data[(100 + i) % 128] = *byte;
        }
        let (a, b) = pending(&data, 100, 100 + stream.len() as u64);
        let mut scratch = Vec::new();
        let mut seen = Vec::new();
        let n = for_each_record(a, b, &mut scratch, |h, bytes| {
            seen.push((h.type_, bytes.to_vec()));
        });
        assert_eq!(n, 3);
        for (i, (t, bytes)) in seen.iter().enumerate() {
            assert_eq!(*t, i as u32 + 1);
            assert_eq!(bytes, &recs[i]);
        }
    }

    #[test]
    fn malformed_sizes_stop() {
        let mut bad = record(9, &[0; 8]);
        bad[6..8].copy_from_slice(&4u16.to_ne_bytes()); // smaller than a header
        let mut scratch = Vec::new();
        assert_eq!(for_each_record(&bad, &[], &mut scratch, |_, _| {}), 0);
        let cut = record(9, &[0; 8]);
        assert_eq!(for_each_record(&cut[..10], &[], &mut scratch, |_, _| {}), 0);
    }
}
