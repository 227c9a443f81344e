//! `holter network`: per-interface traffic, drops and errors, and TCP
//! retransmits and resets, inside the target's network namespace.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{human_bytes, parse, round, ReportError};
use crate::doc::{col, num, t, Block, Cell, Doc, Fact, Table};
use crate::load::Capture;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interface {
    pub name: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
    pub rx_bytes_per_sec_max: f64,
    pub tx_bytes_per_sec_max: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tcp {
    pub in_segs: u64,
    pub out_segs: u64,
    pub retrans_segs: u64,
    /// Retransmitted / sent segments, in percent.
    pub retrans_pct: f64,
    pub out_rsts: u64,
    pub estab_resets: u64,
    pub attempt_fails: u64,
    pub in_errs: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Udp {
    pub in_datagrams: u64,
    pub out_datagrams: u64,
    pub no_ports: u64,
    pub in_errors: u64,
    pub rcvbuf_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    pub hostname: String,
    pub resolv_conf: String,
    pub root_mount: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub start_ns: u64,
    pub end_ns: u64,
    pub snapshots: usize,
    pub interfaces: Vec<Interface>,
    pub tcp: Tcp,
    pub udp: Udp,
    pub container: Option<View>,
    pub verdict: String,
}

pub fn report(c: &Capture) -> Result<Network, ReportError> {
    if c.net_snapshots.is_empty() {
        return Err(ReportError::NoNetSnapshots {
            path: c.path.display().to_string(),
        });
    }
    let mut snaps: Vec<_> = c.net_snapshots.iter().collect();
    snaps.sort_by_key(|s| s.time_ns);
    let devs: Vec<_> = snaps.iter().map(|s| parse::net_dev(&s.dev)).collect();
    let snmps: Vec<_> = snaps.iter().map(|s| parse::snmp(&s.snmp)).collect();
    let names: BTreeSet<&String> = devs.iter().flat_map(|d| d.keys()).collect();
    let start_ns = snaps[0].time_ns;
    let end_ns = snaps[snaps.len() - 1].time_ns;
    let wall = end_ns.saturating_sub(start_ns) as f64 / 1e9;
    let mut interfaces = Vec::new();
    for name in names {
        let mut i = Interface {
            name: name.clone(),
            ..Interface::default()
        };
        for k in 1..snaps.len() {
            let (Some(a), Some(b)) = (devs[k - 1].get(name), devs[k].get(name)) else {
                continue;
            };
            // An interface recreated between snapshots restarts its counters: a gap.
            if b.rx_bytes < a.rx_bytes || b.tx_bytes < a.tx_bytes || b.rx_packets < a.rx_packets {
                continue;
            }
            let d = |f: fn(&parse::DevCounters) -> u64| f(b).saturating_sub(f(a));
            i.rx_bytes += d(|c| c.rx_bytes);
            i.tx_bytes += d(|c| c.tx_bytes);
            i.rx_packets += d(|c| c.rx_packets);
            i.tx_packets += d(|c| c.tx_packets);
            i.rx_dropped += d(|c| c.rx_dropped);
            i.tx_dropped += d(|c| c.tx_dropped);
            i.rx_errors += d(|c| c.rx_errors);
            i.tx_errors += d(|c| c.tx_errors);
            let secs = snaps[k].time_ns.saturating_sub(snaps[k - 1].time_ns) as f64 / 1e9;
            if secs > 0.0 {
                i.rx_bytes_per_sec_max = i
                    .rx_bytes_per_sec_max
                    .max(round(d(|c| c.rx_bytes) as f64 / secs, 1));
                i.tx_bytes_per_sec_max = i
                    .tx_bytes_per_sec_max
                    .max(round(d(|c| c.tx_bytes) as f64 / secs, 1));
            }
        }
        if wall > 0.0 {
            i.rx_bytes_per_sec = round(i.rx_bytes as f64 / wall, 1);
            i.tx_bytes_per_sec = round(i.tx_bytes as f64 / wall, 1);
        }
        interfaces.push(i);
    }
    let total = |proto: &str, field: &str| -> u64 {
        let key = (proto.to_string(), field.to_string());
        snmps
            .windows(2)
            .filter_map(|w| {
                let a = *w[0].get(&key)?;
                let b = *w[1].get(&key)?;
                u64::try_from(b.checked_sub(a)?).ok()
            })
            .fold(0, u64::saturating_add)
    };
    let mut tcp = Tcp {
        in_segs: total("Tcp", "InSegs"),
        out_segs: total("Tcp", "OutSegs"),
        retrans_segs: total("Tcp", "RetransSegs"),
        retrans_pct: 0.0,
        out_rsts: total("Tcp", "OutRsts"),
        estab_resets: total("Tcp", "EstabResets"),
        attempt_fails: total("Tcp", "AttemptFails"),
        in_errs: total("Tcp", "InErrs"),
    };
    if tcp.out_segs > 0 {
        tcp.retrans_pct = round(tcp.retrans_segs as f64 * 100.0 / tcp.out_segs as f64, 2);
    }
    let udp = Udp {
        in_datagrams: total("Udp", "InDatagrams"),
        out_datagrams: total("Udp", "OutDatagrams"),
        no_ports: total("Udp", "NoPorts"),
        in_errors: total("Udp", "InErrors"),
        rcvbuf_errors: total("Udp", "RcvbufErrors"),
    };
    let container = c.container_views.first().map(|v| View {
        hostname: v.hostname.clone(),
        resolv_conf: v.resolv_conf.clone(),
        root_mount: v.root_mount.clone(),
    });
    let mut n = Network {
        start_ns,
        end_ns,
        snapshots: snaps.len(),
        interfaces,
        tcp,
        udp,
        container,
        verdict: String::new(),
    };
    n.verdict = verdict(&n);
    Ok(n)
}

fn verdict(n: &Network) -> String {
    let mut problems = Vec::new();
    for i in &n.interfaces {
        let drops = i.rx_dropped.saturating_add(i.tx_dropped);
        let errors = i.rx_errors.saturating_add(i.tx_errors);
        if drops.saturating_add(errors) > 0 {
            problems.push(format!("{}: {drops} dropped, {errors} errors", i.name));
        }
    }
    if n.tcp.retrans_pct >= 1.0 {
        problems.push(format!(
            "TCP retransmits {:.1}% of sent segments",
            n.tcp.retrans_pct
        ));
    }
    if n.tcp.out_rsts + n.tcp.estab_resets > 0 {
        problems.push(format!(
            "{} resets sent, {} established connections reset",
            n.tcp.out_rsts, n.tcp.estab_resets
        ));
    }
    if problems.is_empty() {
        "No drops, errors, retransmits or resets seen in the container's network namespace."
            .to_string()
    } else {
        format!("Look at: {}.", problems.join("; "))
    }
}

/// The report as blocks of the output layer: verdict, the container's own
/// view, interfaces, transport totals.
pub fn doc(n: &Network) -> Vec<Block> {
    let mut blocks = vec![Block::Verdict(n.verdict.clone())];
    if let Some(v) = &n.container {
        let dns: Vec<&str> = v
            .resolv_conf
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect();
        blocks.push(Block::Facts(vec![
            Fact::new("hostname", v.hostname.as_str()),
            Fact::new("root", Cell::code(&v.root_mount)),
            Fact::new(
                "dns",
                if dns.is_empty() {
                    "-".into()
                } else {
                    dns.join(", ")
                },
            ),
        ]));
    }
    blocks.push(Block::Para(vec![t(format!(
        "Over {:.2} s ({} snapshots).",
        n.end_ns.saturating_sub(n.start_ns) as f64 / 1e9,
        n.snapshots
    ))]));
    let mut table = Table::new(vec![
        col("interface"),
        num("rx"),
        num("tx"),
        num("rx/s"),
        num("tx/s"),
        num("rx packets"),
        num("tx packets"),
        num("rx drop"),
        num("tx drop"),
        num("rx err"),
        num("tx err"),
    ]);
    let bad = |v: u64| Cell::from(v).alarm(v > 0);
    for i in &n.interfaces {
        table.row(vec![
            Cell::code(&i.name),
            human_bytes(i.rx_bytes).into(),
            human_bytes(i.tx_bytes).into(),
            human_bytes(i.rx_bytes_per_sec as u64).into(),
            human_bytes(i.tx_bytes_per_sec as u64).into(),
            i.rx_packets.into(),
            i.tx_packets.into(),
            bad(i.rx_dropped),
            bad(i.tx_dropped),
            bad(i.rx_errors),
            bad(i.tx_errors),
        ]);
    }
    blocks.push(Block::Table(table));
    let (tcp, udp) = (&n.tcp, &n.udp);
    blocks.push(Block::Facts(vec![
        Fact::new(
            "TCP",
            Cell::text(format!(
                "{} segments in, {} out, {} retransmitted ({:.2}%), {} resets sent, {} established reset, {} failed connects, {} bad segments",
                tcp.in_segs, tcp.out_segs, tcp.retrans_segs, tcp.retrans_pct, tcp.out_rsts, tcp.estab_resets, tcp.attempt_fails, tcp.in_errs
            ))
            .alarm(tcp.retrans_pct >= 1.0),
        ),
        Fact::new(
            "UDP",
            format!(
                "{} datagrams in, {} out, {} to closed ports, {} receive errors ({} buffer full)",
                udp.in_datagrams, udp.out_datagrams, udp.no_ports, udp.in_errors, udp.rcvbuf_errors
            ),
        ),
    ]));
    blocks
}

/// `holter network` on a terminal.
pub fn to_text(n: &Network) -> String {
    crate::doc::text::render(&Doc { blocks: doc(n) })
}
