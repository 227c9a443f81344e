//! The summary rows of the cgroup and network sections, as plain text: made
//! once here, drawn by both the HTML and the Markdown renderer.

use crate::cgroups::{
    human_bytes, memory::Memory, network::Network, network::View, throttling::Throttling,
};

/// One row of a summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
    /// The value is a path or a name, drawn as code.
    pub code: bool,
    /// The value points at a problem, drawn highlighted.
    pub alarm: bool,
}

fn fact(label: &'static str, value: String) -> Fact {
    Fact {
        label,
        value,
        code: false,
        alarm: false,
    }
}

fn code(label: &'static str, value: String) -> Fact {
    Fact {
        code: true,
        ..fact(label, value)
    }
}

fn alarm(label: &'static str, value: String, bad: bool) -> Fact {
    Fact {
        alarm: bad,
        ..fact(label, value)
    }
}

fn cores(v: Option<f64>) -> String {
    v.map_or("unknown".into(), |c| format!("{c:.2} cores"))
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

pub fn throttling(t: &Throttling) -> Vec<Fact> {
    let quota = match (t.quota_cores, t.quota_us, t.period_us) {
        (Some(q), Some(qu), Some(p)) => format!("{q:.2} cores ({qu} µs per {p} µs period)"),
        _ if !t.quota_known => "unknown (the snapshots hold no quota file)".into(),
        _ => "none (unlimited)".into(),
    };
    let mut v = vec![
        code("cgroup", t.cgroup.clone()),
        fact("cgroup version", format!("v{}", t.cgroup_version)),
        fact("quota", quota),
        alarm(
            "throttled periods",
            format!(
                "{} of {} ({:.1}%)",
                t.throttled_periods, t.periods, t.throttled_pct
            ),
            t.throttled_pct >= 5.0,
        ),
        fact(
            "throttled time",
            format!("{:.3} s", t.throttled_ns as f64 / 1e9),
        ),
        fact(
            "usage",
            format!(
                "avg {}, max {}",
                cores(t.usage_cores_avg),
                cores(t.usage_cores_max)
            ),
        ),
    ];
    if let Some(p) = t.cpu_pressure_pct {
        v.push(alarm(
            "CPU pressure",
            format!("tasks waited for a CPU {p:.1}% of the time"),
            p >= 10.0,
        ));
    }
    if t.gaps > 0 {
        v.push(fact(
            "gaps",
            format!(
                "{} interval(s): a counter went backwards (cgroup recreated)",
                t.gaps
            ),
        ));
    }
    v
}

pub fn memory(m: &Memory) -> Vec<Fact> {
    let mut v = vec![
        code("cgroup", m.cgroup.clone()),
        fact("cgroup version", format!("v{}", m.cgroup_version)),
        fact(
            "limit",
            format!(
                "{}{}",
                m.limit_bytes.map_or("none".into(), human_bytes),
                m.high_bytes
                    .map(|h| format!(", high {}", human_bytes(h)))
                    .unwrap_or_default()
            ),
        ),
        fact(
            "usage",
            format!(
                "{} → {} (max {}{})",
                human_bytes(m.usage_first_bytes),
                human_bytes(m.usage_last_bytes),
                human_bytes(m.usage_max_bytes),
                m.usage_max_pct_of_limit
                    .map(|p| format!(", {p:.1}% of limit"))
                    .unwrap_or_default()
            ),
        ),
        fact("kernel peak", m.peak_bytes.map_or("-".into(), human_bytes)),
    ];
    if m.cgroup_version == 1 {
        v.push(alarm(
            "limit hits (failcnt)",
            opt(m.failcnt),
            m.failcnt.unwrap_or(0) > 0,
        ));
    } else {
        v.push(fact(
            "events",
            format!(
                "max {}, high {}, oom {}",
                opt(m.max_events),
                opt(m.high_events),
                opt(m.oom_events)
            ),
        ));
    }
    v.push(alarm(
        "OOM kills",
        opt(m.oom_kills),
        m.oom_kills.unwrap_or(0) > 0,
    ));
    v.push(fact("major faults", opt(m.major_faults)));
    v.push(fact(
        "pressure",
        match &m.pressure {
            Some(p) => format!(
                "some {:.1}% of the time (avg10 max {:.2}), full {}",
                p.some_pct,
                p.some_avg10_max,
                p.full_pct.map_or("-".into(), |f| format!("{f:.1}%"))
            ),
            None => "not available (no memory.pressure: cgroup v1, or PSI disabled)".into(),
        },
    ));
    v
}

/// The container's own view: hostname, root mount, DNS servers.
pub fn container(c: &View) -> Vec<Fact> {
    let dns: Vec<&str> = c
        .resolv_conf
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    vec![
        fact("hostname", c.hostname.clone()),
        code("root", c.root_mount.clone()),
        fact("dns", dns.join(", ")),
    ]
}

/// TCP and UDP totals inside the container's network namespace.
pub fn transport(n: &Network) -> Vec<Fact> {
    let (t, u) = (&n.tcp, &n.udp);
    vec![
        alarm(
            "TCP",
            format!(
                "{} segments in, {} out, {} retransmitted ({:.2}%), {} resets sent, {} established reset, {} failed connects, {} bad segments",
                t.in_segs, t.out_segs, t.retrans_segs, t.retrans_pct, t.out_rsts, t.estab_resets, t.attempt_fails, t.in_errs
            ),
            t.retrans_pct >= 1.0,
        ),
        fact(
            "UDP",
            format!(
                "{} datagrams in, {} out, {} to closed ports, {} receive errors ({} buffer full)",
                u.in_datagrams, u.out_datagrams, u.no_ports, u.in_errors, u.rcvbuf_errors
            ),
        ),
    ]
}
