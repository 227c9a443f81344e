//! The values of `holter-agent record`'s options that are durations and
//! sizes, parsed by the same functions in the agent and in `kubectl holter`,
//! which checks them before it starts an agent pod: a value is accepted by
//! both or refused by both, and means the same to both. Also how
//! `kubectl holter` writes a checked value back for the agent's command line
//! ([`duration_arg`]), exactly.

use std::time::Duration;

/// The shortest `--interval` (of cgroup and network snapshots).
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Parses `500ms`, `1.5s`, `10s`, `2m`, `1h`, `250us`, or a bare number of
/// seconds (`--duration`, `--interval`, `--linger`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: write e.g. 500ms, 10s or 2m"))?;
    let secs = match unit {
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "us" => value / 1e6,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(format!("`{s}`: a duration must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `--interval`: a duration of [`MIN_INTERVAL`] and up.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < MIN_INTERVAL {
        return Err(format!("`{s}`: the interval must be at least 10ms"));
    }
    Ok(d)
}

/// Parses `1048576`, `100K`, `100M`, `2G` (powers of 1024): `--max-size`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("`{s}`: unknown size unit (use K, M or G)")),
            };
            (&s[..i], mult)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size: write e.g. 100M"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}`: size out of range"))
}

/// A duration written so that [`parse_duration`] reads it back exactly:
/// `30s`, `1500ms`, else seconds with nine decimals (`0.666666667s`).
pub fn duration_arg(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}.{:09}s", d.as_secs(), d.subsec_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_interval("5ms").is_err());
        assert_eq!(parse_interval("10ms"), Ok(MIN_INTERVAL));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn a_duration_written_back_reads_the_same() {
        for s in [
            "1s",
            "30s",
            "600s",
            "1500ms",
            "10ms",
            "10.5ms",
            "250us",
            "0.1s",
            "1.0000001s",
            "2m",
            "1h",
            "0.666666666667s",
            "12345.678901234s",
        ] {
            let d = parse_duration(s).unwrap();
            let back = duration_arg(d);
            assert_eq!(parse_duration(&back), Ok(d), "{s} -> {back}");
        }
        assert_eq!(duration_arg(Duration::from_secs(30)), "30s");
        assert_eq!(duration_arg(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_arg(Duration::from_micros(250)), "0.000250000s");
    }
}
