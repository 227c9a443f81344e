//! Small formatting helpers of the report: dates, times, tracing coverage.

/// `2026-11-29 09:23:19 UTC` for nanoseconds since the Unix epoch.
pub fn utc(wall_ns: u64) -> String {
    let secs = wall_ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 so that the leap day ends each 4-year cycle.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Seconds from the capture start, for timelines: `12.25 s`.
pub fn when(ns_from_start: u64) -> String {
    format!("{:.2} s", ns_from_start as f64 / 1e9)
}

/// `120 recorded of 4000 counted (3.0%), 0 lost`.
pub fn tracing_line(q: &super::Quality) -> String {
    match q.syscalls_counted {
        Some(n) if n > 0 => format!(
            "{} recorded of {n} counted ({:.1}%), {} lost",
            q.syscalls_recorded,
            q.syscalls_recorded as f64 * 100.0 / n as f64,
            q.lost_syscalls
        ),
        _ if q.syscalls_recorded > 0 => {
            format!("{} recorded, {} lost", q.syscalls_recorded, q.lost_syscalls)
        }
        _ => "not traced".into(),
    }
}

/// `3 records of kinds newer than this holter were skipped`.
pub fn newer_records(n: u64) -> String {
    format!("{n} records of kinds newer than this holter were skipped")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // date -u -d @1700000000
        assert_eq!(utc(1_700_000_000_000_000_000), "2023-11-14 22:13:20 UTC");
        // date -u -d @951782400 (a leap day)
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(when(1_250_000_000), "1.25 s");
    }
}
