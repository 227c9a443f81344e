//! Cgroup and network snapshots on real containers (cgroup v1, root): the
//! reports against the kernel's own counters.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use holter_e2e::*;
use serde_json::Value;

/// `cpu.stat` of a v1 cpu directory, with `cpuacct.usage` (ns) added as `usage`.
fn cpu_stat(cg: &Cgroup) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = cg
        .read("cpu", "cpu.stat")
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect();
    m.insert(
        "usage".into(),
        cg.read("cpuacct", "cpuacct.usage").trim().parse().unwrap(),
    );
    m
}

/// The kernel's average CPU usage, in cores, between two readings `window` ns apart.
fn kernel_cores(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, window: u64) -> f64 {
    (after["usage"] - before["usage"]) as f64 / window as f64
}

fn json(out: &std::process::Output, what: &str) -> Value {
    serde_json::from_str(&ok_stdout(what, out)).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Records a cgroup's cpu directory for `duration` and returns `holter throttling --json`,
/// with the kernel's cpu.stat read just before and just after, and the time between.
fn record_throttling(
    cg: &Cgroup,
    duration: &str,
    collectors: &[&str],
) -> (Value, BTreeMap<String, u64>, BTreeMap<String, u64>, u64) {
    let dir = scratch("throttling");
    let file = dir.path().join("t.holter");
    let f = file.to_str().unwrap();
    let cpu_dir = cg.dir("cpu");
    let before = cpu_stat(cg);
    let t0 = Instant::now();
    let mut args = vec![
        "record",
        "--cgroup",
        cpu_dir.to_str().unwrap(),
        "--duration",
        duration,
        "--interval",
        "200ms",
        "-o",
        f,
    ];
    args.extend_from_slice(collectors);
    ok_stdout("agent", &agent(&args));
    let window = t0.elapsed().as_nanos() as u64;
    let after = cpu_stat(cg);
    // Snapshots after the first are written as differences (format 1.7):
    // the quota, which does not change, is not repeated; the usage counters
    // that do change are numeric edits, not text (and the reports below read
    // the snapshots whole, rebuilt).
    let bytes = std::fs::read(&file).unwrap();
    let records: Vec<holter_format::Record> =
        holter_format::Reader::new(&bytes[..]).unwrap().collect();
    let deltas: Vec<&holter_format::CgroupNumDelta> = records
        .iter()
        .filter_map(|r| match r {
            holter_format::Record::CgroupNumDelta(d) => Some(d),
            _ => None,
        })
        .collect();
    assert!(
        !deltas.is_empty(),
        "no cgroup snapshot written as a difference"
    );
    assert!(
        deltas
            .iter()
            .all(|d| d.changed.iter().all(|(n, _)| n != "cpu.cfs_quota_us")),
        "an unchanged file repeated in a difference"
    );
    assert!(
        deltas.iter().any(|d| !d.numbers.is_empty()),
        "no counter written as a numeric difference"
    );
    assert!(
        deltas.iter().all(|d| d
            .changed
            .iter()
            .all(|(n, _)| n != "cpuacct.usage" && n != "cpu.stat")),
        "a counter file written as text in a difference"
    );
    let report = json(&holter(&["throttling", f, "--json"]), "holter throttling");
    let text = ok_stdout("holter throttling", &holter(&["throttling", f]));
    assert!(
        text.contains("timeline") && text.contains("verdict:"),
        "{text}"
    );
    (report, before, after, window)
}

#[test]
fn a_container_held_to_a_fifth_of_a_cpu_is_throttled_as_the_kernel_says() {
    if !require_privileged("a_container_held_to_a_fifth_of_a_cpu_is_throttled_as_the_kernel_says")
        || !require_hierarchy(
            "a_container_held_to_a_fifth_of_a_cpu_is_throttled_as_the_kernel_says",
            "cpu",
        )
        || !require_hierarchy(
            "a_container_held_to_a_fifth_of_a_cpu_is_throttled_as_the_kernel_says",
            "cpuacct",
        )
    {
        return;
    }
    let cg = Cgroup::new("thr");
    cg.set("cpu", "cpu.cfs_period_us", "100000");
    cg.set("cpu", "cpu.cfs_quota_us", "20000");
    let c = Container::start(cg, &["sh", "-c", "while :; do :; done"]);
    c.workload_pid("sh");
    let (r, before, after, window) = record_throttling(&c.cgroup, "2500ms", &["--no-samples"]);

    let k = |m: &BTreeMap<String, u64>, key: &str| m[key];
    let k_periods = k(&after, "nr_periods") - k(&before, "nr_periods");
    let k_throttled = k(&after, "nr_throttled") - k(&before, "nr_throttled");
    let k_throttled_ns = k(&after, "throttled_time") - k(&before, "throttled_time");
    let k_pct = k_throttled as f64 * 100.0 / k_periods as f64;

    assert_eq!(r["cgroup"], format!("/{}", c.cgroup.name));
    assert_eq!(r["cgroup_version"], 1);
    assert_eq!(r["quota_cores"], 0.2);
    assert_eq!(r["quota_us"], 20000);
    assert_eq!(r["period_us"], 100000);
    let periods = r["periods"].as_u64().unwrap();
    let throttled = r["throttled_periods"].as_u64().unwrap();
    let pct = r["throttled_pct"].as_f64().unwrap();
    let thr_ns = r["throttled_ns"].as_u64().unwrap();
    eprintln!("report: {periods} periods, {throttled} throttled ({pct}%), {thr_ns} ns; kernel: {k_periods} periods, {k_throttled} throttled ({k_pct:.2}%), {k_throttled_ns} ns over {window} ns");
    // The capture lies inside the kernel's before/after window.
    assert!(periods <= k_periods && throttled <= k_throttled && thr_ns <= k_throttled_ns);
    assert!(
        periods >= 20,
        "2.5 s of a busy loop is ~25 periods, got {periods}"
    );
    assert!(
        (pct - k_pct).abs() <= 5.0,
        "report {pct}% vs kernel {k_pct:.2}%"
    );
    assert!(
        pct >= 50.0,
        "a busy loop under a 0.2 quota is throttled in most periods: {pct}"
    );
    // Throttled time, as a share of the time observed, agrees within 5 points.
    let span = r["end_ns"].as_u64().unwrap() - r["start_ns"].as_u64().unwrap();
    let share = thr_ns as f64 * 100.0 / span as f64;
    let k_share = k_throttled_ns as f64 * 100.0 / window as f64;
    assert!(
        (share - k_share).abs() <= 5.0,
        "throttled {share:.1}% of the capture vs kernel {k_share:.1}% of its window"
    );
    // Held at its quota in every period: 0.2 cores in the capture and in the
    // kernel's wider window alike, up to a period's quota (20 ms) at each end
    // of a 2.5 s capture (0.016 cores).
    let avg = r["usage_cores_avg"].as_f64().unwrap();
    let k_avg = kernel_cores(&before, &after, window);
    eprintln!("usage {avg:.4} cores, kernel {k_avg:.4}");
    assert!(
        (avg - k_avg).abs() <= 0.02,
        "usage {avg} cores vs the kernel's cpuacct.usage {k_avg:.3}"
    );
    assert!(
        (0.18..=0.21).contains(&avg),
        "usage {avg} cores under a 0.2 quota"
    );
    assert!(r["usage_cores_max"].as_f64().unwrap() >= avg);
    let intervals = r["intervals"].as_array().unwrap();
    assert!(
        (10..=14).contains(&intervals.len()),
        "{} intervals of 200ms in 2.5 s",
        intervals.len()
    );
    let sum: u64 = intervals
        .iter()
        .map(|i| i["periods"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, periods);
    for i in intervals {
        assert!(i["end_ns"].as_u64() > i["start_ns"].as_u64());
        assert!(i["throttled_ns"].as_u64().is_some() && i["usage_cores"].as_f64().is_some());
    }
    assert!(
        r["verdict"].as_str().unwrap().contains("raise the limit"),
        "{}",
        r["verdict"]
    );
}

/// Recorded with samples and syscalls on: the snapshots run next to them.
#[test]
fn an_unlimited_container_has_no_quota_and_no_throttling() {
    if !require_privileged("an_unlimited_container_has_no_quota_and_no_throttling")
        || !require_hierarchy(
            "an_unlimited_container_has_no_quota_and_no_throttling",
            "cpu",
        )
        || !require_hierarchy(
            "an_unlimited_container_has_no_quota_and_no_throttling",
            "cpuacct",
        )
    {
        return;
    }
    let c = Container::start(Cgroup::new("unl"), &["sh", "-c", "while :; do :; done"]);
    c.workload_pid("sh");
    let (r, before, after, window) = record_throttling(&c.cgroup, "1s", &["--syscalls"]);
    assert_eq!(
        after["nr_periods"], before["nr_periods"],
        "no quota: no enforcement periods"
    );
    assert_eq!(r["quota_cores"], Value::Null);
    assert_eq!(r["quota_us"], Value::Null);
    assert_eq!(r["periods"], 0);
    assert_eq!(r["throttled_periods"], 0);
    assert_eq!(r["throttled_pct"], 0.0);
    assert_eq!(r["throttled_ns"], 0);
    let avg = r["usage_cores_avg"].as_f64().unwrap();
    let k_avg = kernel_cores(&before, &after, window);
    assert!(
        (avg - k_avg).abs() <= 0.1,
        "usage {avg} cores vs the kernel's cpuacct.usage {k_avg:.3}"
    );
    assert!(
        r["verdict"].as_str().unwrap().starts_with("No CPU quota"),
        "{}",
        r["verdict"]
    );
}

/// A veth pair with one end in a container's network namespace; dropping it
/// deletes the pair (both ends go with the host end).
struct Veth {
    host: String,
}

impl Veth {
    /// The pair, the name of the container's end, and the /30 subnet's two
    /// addresses (host end, container end): a 10.x.y.0/30 no interface of the
    /// host has an address in, chosen at random (no fixed subnet to collide with).
    fn new(pid: u32, tag: u32) -> (Veth, String, String, String) {
        let host = format!("hv{tag}a");
        let inner = format!("hv{tag}b");
        let used = String::from_utf8(
            Command::new("ip")
                .args(["-4", "-o", "addr", "show"])
                .output()
                .expect("run ip (install iproute2)")
                .stdout,
        )
        .unwrap();
        let (host_ip, inner_ip) = loop {
            let id = random_id();
            let (x, y) = (
                u8::from_str_radix(&id[..2], 16).unwrap(),
                u8::from_str_radix(&id[2..4], 16).unwrap() & 0xfc,
            );
            let net = format!("10.{x}.");
            if !used.contains(&net) {
                break (format!("10.{x}.{y}.1"), format!("10.{x}.{y}.2"));
            }
        };
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("run ip (install iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let inside = |args: &[&str]| {
            let out = Command::new("nsenter")
                .args(["-t", &pid.to_string(), "-n", "-u", "--"])
                .args(args)
                .output()
                .expect("run nsenter");
            assert!(
                out.status.success(),
                "nsenter {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner]);
        let veth = Veth { host: host.clone() };
        ip(&["link", "set", &inner, "netns", &pid.to_string()]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host]);
        ip(&["link", "set", &host, "up"]);
        inside(&[
            "ip",
            "addr",
            "add",
            &format!("{inner_ip}/30"),
            "dev",
            &inner,
        ]);
        inside(&["ip", "link", "set", &inner, "up"]);
        inside(&["sh", "-c", "echo holter-ct > /proc/sys/kernel/hostname"]);
        (veth, inner, host_ip, inner_ip)
    }

    /// Sends `n` Ethernet frames of 100 bytes with an ethertype nobody handles
    /// (0x88b5, local experimental): the container's end receives and drops them.
    fn send_unhandled_frames(&self, n: usize) {
        let name = std::ffi::CString::new(self.host.as_str()).unwrap();
        // SAFETY: plain socket calls on a fresh fd and stack buffers.
        unsafe {
            let ifindex = libc::if_nametoindex(name.as_ptr());
            assert!(ifindex > 0, "no interface {}", self.host);
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            );
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_ifindex = ifindex as i32;
            addr.sll_halen = 6;
            addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
            let mut frame = [b'x'; 100];
            frame[..6].copy_from_slice(&[0xff; 6]);
            frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
            frame[12..14].copy_from_slice(&[0x88, 0xb5]);
            for _ in 0..n {
                let sent = libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(sent, 100, "sendto: {}", std::io::Error::last_os_error());
            }
            libc::close(fd);
        }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .output();
    }
}

#[test]
fn the_network_view_counts_bytes_and_drops_inside_the_container() {
    if !require_privileged("the_network_view_counts_bytes_and_drops_inside_the_container") {
        return;
    }
    if !require_tools(
        "the_network_view_counts_bytes_and_drops_inside_the_container",
        &["ip", "nsenter"],
        "iproute2, util-linux",
    ) {
        return;
    }
    // The container's own resolv.conf (bound over /etc/resolv.conf in its
    // mount namespace only): the capture must carry that one, not the host's.
    let conf_dir = scratch("net-resolv");
    let resolv = conf_dir.path().join("resolv.conf");
    let resolv_text = format!(
        "nameserver 10.96.0.10\nsearch holter-{}.svc.cluster.local\noptions ndots:5\n",
        &random_id()[..8]
    );
    std::fs::write(&resolv, &resolv_text).unwrap();
    let script = format!(
        "mount --bind {} /etc/resolv.conf && exec sleep 30",
        resolv.display()
    );
    let c = Container::start(Cgroup::new("net"), &["sh", "-c", &script]);
    let pid = c.workload_pid("sleep");
    let (veth, inner, host_ip, inner_ip) = Veth::new(pid, pid % 100_000);
    let dir = scratch("network");
    let file = dir.path().join("n.holter");
    let f = file.to_str().unwrap();
    let memory_dir = c.cgroup.dir("memory");
    // Ready once every collector is armed: the network view has taken its
    // first snapshot, so the traffic below falls between two of them.
    let rec = start_agent_ready(&[
        "record",
        "--cgroup",
        memory_dir.to_str().unwrap(),
        "--duration",
        "1500ms",
        "--interval",
        "100ms",
        "--no-samples",
        "-o",
        f,
    ]);
    veth.send_unhandled_frames(100);
    let udp = std::net::UdpSocket::bind(format!("{host_ip}:0")).unwrap();
    for _ in 0..50 {
        udp.send_to(&[b'y'; 1000], format!("{inner_ip}:9")).unwrap();
    }
    ok_stdout("holter-agent record", &rec.finish(Duration::from_secs(30)));

    let n = json(&holter(&["network", f, "--json"]), "holter network");
    let iface = n["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == inner.as_str())
        .unwrap_or_else(|| panic!("{inner} in {n:#}"));
    assert_eq!(iface["rx_dropped"], 100, "{iface:#}");
    assert_eq!(iface["tx_dropped"], 0);
    assert_eq!(iface["rx_errors"], 0);
    // 100 frames of 100 bytes + 50 UDP datagrams of 1000 bytes (1042 on the wire), plus ARP.
    let rx = iface["rx_bytes"].as_u64().unwrap();
    assert!(
        (100 * 100 + 50 * 1042..100 * 100 + 50 * 1042 + 2000).contains(&rx),
        "rx_bytes {rx}"
    );
    assert!(iface["rx_packets"].as_u64().unwrap() >= 150);
    assert!(iface["rx_bytes_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(
        n["udp"]["no_ports"], 50,
        "the datagrams reached a port nobody listens on"
    );
    assert_eq!(
        n["container"]["hostname"], "holter-ct",
        "the UTS namespace's hostname"
    );
    assert_eq!(
        n["container"]["resolv_conf"],
        resolv_text.as_str(),
        "the container's resolv.conf (the host's is {:?})",
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    );
    assert!(n["container"]["root_mount"]
        .as_str()
        .unwrap()
        .contains(" / / "));
    assert!(
        n["verdict"]
            .as_str()
            .unwrap()
            .contains(&format!("{inner}: 100 dropped")),
        "{}",
        n["verdict"]
    );
    // The host's own view of its end: the agent never counted the host side as the container's.
    assert!(n["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["name"] != veth.host.as_str()));
    // Format 1.5: after the first, network snapshots are differences whose
    // counters are numeric edits (the interfaces did not change: no text),
    // and `holter info --raw` gives every one of them back as raw text.
    let bytes = std::fs::read(&file).unwrap();
    let records: Vec<holter_format::Record> =
        holter_format::Reader::new(&bytes[..]).unwrap().collect();
    let (mut full, mut deltas) = (0, Vec::new());
    for r in &records {
        match r {
            holter_format::Record::NetSnapshot(_) => full += 1,
            holter_format::Record::NetDelta(d) => deltas.push(d),
            _ => {}
        }
    }
    assert!(
        full >= 1 && deltas.len() >= 5,
        "{full} full, {} deltas",
        deltas.len()
    );
    // /proc/net/dev keeps its lines (the interfaces did not change), so it
    // is always edits; /proc/net/snmp gains a line when a new ICMP message
    // type is first sent (`IcmpMsg: OutType3`): that one difference is text.
    assert!(deltas.iter().all(|d| d.dev.is_none()), "{deltas:#?}");
    let texts = deltas.iter().filter(|d| d.snmp.is_some()).count();
    assert!(texts * 2 < deltas.len(), "{deltas:#?}");
    assert!(deltas.iter().any(|d| !d.dev_numbers.is_empty()));
    let raw = ok_stdout("holter info --raw", &holter(&["info", f, "--raw"]));
    assert_eq!(
        raw.matches("network at ").count(),
        full + deltas.len(),
        "{raw}"
    );
    assert!(
        raw.contains(&format!("    {inner}: ")) || raw.contains(&format!(" {inner}: ")),
        "{raw}"
    );
}

#[test]
fn a_cgroup_that_does_not_exist_is_named() {
    let dir = scratch("nocg");
    let f = dir.path().join("x.holter");
    let out = agent(&[
        "record",
        "--cgroup",
        "/sys/fs/cgroup/cpu/holter-no-such-cgroup",
        "--duration",
        "100ms",
        "-o",
        f.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/sys/fs/cgroup/cpu/holter-no-such-cgroup"),
        "{err}"
    );
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn a_capture_without_snapshots_says_so() {
    let dir = scratch("nosnap");
    let file = dir.path().join("empty.holter");
    let w = holter_format::Writer::new(
        std::fs::File::create(&file).unwrap(),
        holter_format::Header::default(),
        holter_format::WriterOptions::default(),
    )
    .unwrap();
    w.finish(holter_format::Footer::default()).unwrap();
    let f = file.to_str().unwrap();
    for (cmd, what) in [
        ("throttling", "no cgroup snapshots"),
        ("memory", "no cgroup snapshots"),
        ("network", "no network snapshots"),
    ] {
        let out = holter(&[cmd, f]);
        assert!(
            !out.status.success(),
            "holter {cmd} on a capture without snapshots"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what) && err.contains(f), "holter {cmd}: {err}");
    }
}

/// A keyed v1 file (`memory.oom_control`) of a test cgroup.
fn keyed(cg: &Cgroup, hierarchy: &str, file: &str, key: &str) -> u64 {
    cg.read(hierarchy, file)
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in {file}"))
}

#[test]
fn an_oom_kill_under_a_v1_memory_limit_is_reported_with_samples_on() {
    if !require_privileged("an_oom_kill_under_a_v1_memory_limit_is_reported_with_samples_on")
        || !require_hierarchy(
            "an_oom_kill_under_a_v1_memory_limit_is_reported_with_samples_on",
            "memory",
        )
    {
        return;
    }
    let cg = Cgroup::new("oom");
    cg.set(
        "memory",
        "memory.limit_in_bytes",
        &(32u64 << 20).to_string(),
    );
    // `tail /dev/zero` buffers one endless line: it grows until the OOM killer
    // takes it. It starts once the agent records (the go file), so the kill
    // falls between two snapshots however slowly the agent starts.
    let dir = scratch("oom");
    let go = dir.path().join("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; tail /dev/zero; sleep 30",
        go.display()
    );
    let c = Container::start(cg, &["sh", "-c", &script]);
    c.workload_pid("sh");
    let oom_before = keyed(&c.cgroup, "memory", "memory.oom_control", "oom_kill ");
    let fail_before: u64 = c
        .cgroup
        .read("memory", "memory.failcnt")
        .trim()
        .parse()
        .unwrap();
    let file = dir.path().join("m.holter");
    let f = file.to_str().unwrap();
    // Samples on: the snapshots run next to the sampler.
    let rec = start_agent_ready(&[
        "record",
        "--cgroup",
        c.cgroup.dir("memory").to_str().unwrap(),
        "--duration",
        "1500ms",
        "--interval",
        "100ms",
        "-o",
        f,
    ]);
    std::fs::write(&go, "").unwrap();
    ok_stdout("holter-agent record", &rec.finish(Duration::from_secs(30)));
    let oom_after = keyed(&c.cgroup, "memory", "memory.oom_control", "oom_kill ");
    let fail_after: u64 = c
        .cgroup
        .read("memory", "memory.failcnt")
        .trim()
        .parse()
        .unwrap();
    let peak: u64 = c
        .cgroup
        .read("memory", "memory.max_usage_in_bytes")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(oom_after - oom_before, 1, "the kernel OOM-killed tail once");

    let m = json(&holter(&["memory", f, "--json"]), "holter memory");
    assert_eq!(m["cgroup"], format!("/{}", c.cgroup.name));
    assert_eq!(m["cgroup_version"], 1);
    assert_eq!(m["limit_bytes"], 32u64 << 20);
    assert_eq!(m["oom_kills"], oom_after - oom_before);
    assert_eq!(m["failcnt"], fail_after - fail_before);
    assert_eq!(m["peak_bytes"], peak);
    assert_eq!(
        m["max_events"],
        Value::Null,
        "v1 has failcnt, not memory.events"
    );
    assert!(m["samples"].as_array().unwrap().len() >= 10);
    assert!(
        m["verdict"]
            .as_str()
            .unwrap()
            .starts_with("1 process(es) OOM-killed"),
        "{}",
        m["verdict"]
    );
    let info = json(&holter(&["info", f, "--json"]), "holter info");
    assert_eq!(info["options"]["samples"], true);
    assert!(info["cgroup_snapshots"].as_u64().unwrap() >= 10);
    let text = ok_stdout("holter memory", &holter(&["memory", f]));
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.lines().any(|l| words(l) == "OOM kills 1"), "{text}");
}

/// Children of every thread of a process.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|s| s.parse::<u32>().ok()),
        );
    }
    out
}

fn ns_of(path: &str, ns: &str) -> String {
    std::fs::read_link(format!("{path}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn the_namespace_helper_is_inside_the_container_and_dies_with_the_agent() {
    if !require_privileged("the_namespace_helper_is_inside_the_container_and_dies_with_the_agent") {
        return;
    }
    let c = Container::start(Cgroup::new("helper"), &["sleep", "30"]);
    let pid = c.workload_pid("sleep");
    let dir = scratch("helper");
    let file = dir.path().join("h.holter");
    let mut rec = Command::new(bin("holter-agent"))
        .args(["record", "--pid", &pid.to_string(), "--no-samples", "-o"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let agent_pid = rec.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    let helper = loop {
        if let Some(&h) = children(agent_pid).first() {
            // Past the fork: wait until it has entered the namespaces.
            if ns_of(&format!("/proc/{h}"), "uts") == ns_of(&format!("/proc/{pid}"), "uts") {
                break h;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no namespace helper under the agent"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let container = format!("/proc/{pid}");
    let helper_dir = format!("/proc/{helper}");
    for ns in ["net", "uts", "mnt"] {
        assert_eq!(
            ns_of(&helper_dir, ns),
            ns_of(&container, ns),
            "helper's {ns} namespace"
        );
        assert_ne!(
            ns_of(&container, ns),
            ns_of("/proc/self", ns),
            "the container has its own {ns}"
        );
    }
    // The agent's own threads stay in the host's namespaces.
    for t in std::fs::read_dir(format!("/proc/{agent_pid}/task"))
        .unwrap()
        .flatten()
    {
        let t = t.path().display().to_string();
        for ns in ["net", "uts", "mnt"] {
            assert_eq!(
                ns_of(&t, ns),
                ns_of("/proc/self", ns),
                "agent thread {t} {ns}"
            );
        }
    }
    rec.kill().unwrap();
    rec.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while proc_state(helper).is_some_and(|s| s != 'Z') {
        assert!(
            Instant::now() < deadline,
            "the helper outlived the agent (SIGKILL)"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
