//! Parsers of raw cgroup and `/proc/net` files: pure functions of text.

use std::collections::BTreeMap;

/// `key value` lines (`cpu.stat`, `memory.stat`, `memory.events`, v1 `memory.oom_control`).
pub fn keyed(text: &str) -> BTreeMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k, v))
        })
        .collect()
}

/// A limit: a number of bytes (or microseconds), or `None` for unlimited.
/// v2 writes `max`; v1 writes `-1` (CPU quota) or a huge page-aligned number
/// (memory). `None` when the text is neither.
pub fn limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" | "-1" => Some(None),
        t => {
            let v: u64 = t.parse().ok()?;
            // v1's "no memory limit" is PAGE_COUNTER_MAX pages in bytes, near i64::MAX.
            Some((v < 1 << 62).then_some(v))
        }
    }
}

/// v2 `cpu.max`: `(quota_us or None when unlimited, period_us)`.
pub fn cpu_max(text: &str) -> Option<(Option<u64>, u64)> {
    let mut it = text.split_whitespace();
    let quota = limit(it.next()?)?;
    let period = it.next()?.parse().ok()?;
    Some((quota, period))
}

/// One line of a pressure file (`some` or `full`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PressureLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Total stall time, microseconds.
    pub total_us: u64,
}

/// The `some` and `full` lines of a PSI file.
pub type PressureLines = (Option<PressureLine>, Option<PressureLine>);

/// A PSI file: `(some, full)`; `full` is absent from `cpu.pressure` on old kernels.
pub fn pressure(text: &str) -> PressureLines {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let kind = it.next();
        let mut p = PressureLine::default();
        for field in it {
            let Some((k, v)) = field.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => p.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => p.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => p.avg300 = v.parse().unwrap_or(0.0),
                "total" => p.total_us = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        match kind {
            Some("some") => some = Some(p),
            Some("full") => full = Some(p),
            _ => {}
        }
    }
    (some, full)
}

/// Counters of one interface in `/proc/net/dev`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// `/proc/net/dev`: interface name → counters.
pub fn net_dev(text: &str) -> BTreeMap<String, DevCounters> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            if v.len() < 16 {
                return None;
            }
            Some((
                name.trim().to_string(),
                DevCounters {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                },
            ))
        })
        .collect()
}

/// `/proc/net/snmp`: `(protocol, field)` → value, from its header/value line pairs.
pub fn snmp(text: &str) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((p1, names)), Some((p2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if p1 != p2 {
            continue;
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse() {
                out.insert((p1.to_string(), n.to_string()), v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let k = keyed("nr_periods 25\nnr_throttled 24\nthrottled_time 1920000000\nbad\n");
        assert_eq!(k["nr_periods"], 25);
        assert_eq!(k["throttled_time"], 1_920_000_000);
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn limits() {
        assert_eq!(limit("max\n"), Some(None));
        assert_eq!(limit("-1\n"), Some(None));
        assert_eq!(limit("9223372036854771712\n"), Some(None));
        assert_eq!(limit("268435456\n"), Some(Some(268_435_456)));
        assert_eq!(limit("x"), None);
        assert_eq!(cpu_max("20000 100000\n"), Some((Some(20000), 100_000)));
        assert_eq!(cpu_max("max 100000\n"), Some((None, 100_000)));
        assert_eq!(cpu_max(""), None);
    }

    #[test]
    fn pressure_lines() {
        let (some, full) = pressure(
            "some avg10=73.96 avg60=39.87 avg300=11.11 total=43012593\n\
             full avg10=0.01 avg60=0.00 avg300=0.00 total=12\n",
        );
        let some = some.unwrap();
        assert_eq!(some.avg10, 73.96);
        assert_eq!(some.avg300, 11.11);
        assert_eq!(some.total_us, 43_012_593);
        assert_eq!(full.unwrap().total_us, 12);
        assert_eq!(
            pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n").1,
            None
        );
    }

    #[test]
    fn proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  \
eth0: 5000000   4000    1    7    0     0          0         0   300000    2000    0    3    0     0       0          0\n";
        let d = net_dev(text);
        assert_eq!(d.len(), 2);
        let e = d["eth0"];
        assert_eq!(e.rx_bytes, 5_000_000);
        assert_eq!(e.rx_packets, 4000);
        assert_eq!(e.rx_errors, 1);
        assert_eq!(e.rx_dropped, 7);
        assert_eq!(e.tx_bytes, 300_000);
        assert_eq!(e.tx_dropped, 3);
    }

    #[test]
    fn proc_net_snmp() {
        let text = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
Tcp: 1 200 120000 -1 40 2 0 29 1 5098 3503 4 0 31 0\n\
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
Udp: 77 0 2 78 1 0 0 0 0\n";
        let s = snmp(text);
        assert_eq!(s[&("Tcp".into(), "RetransSegs".into())], 4);
        assert_eq!(s[&("Tcp".into(), "OutRsts".into())], 31);
        assert_eq!(s[&("Tcp".into(), "MaxConn".into())], -1);
        assert_eq!(s[&("Udp".into(), "RcvbufErrors".into())], 1);
    }
}
