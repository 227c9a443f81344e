//! cgroup v2 without a cgroup v2 machine: a fake cgroupfs in a temp dir,
//! started from `fixtures/cgroup-v2/box` and advanced over time (throttling,
//! memory growth to an OOM kill, pressure), read by the agent's reader, written
//! as a capture and reported by the analyzer. Every report field is checked.

use std::path::Path;

use holter::cgroups::{memory, throttling};
use holter::load::Capture;
use holter_agent::cgroup::{find_dirs, parse_mountinfo, parse_proc_cgroup, Snapshotter};
use holter_format::{Footer, Header, Record, Writer, WriterOptions};

const MIB: u64 = 1 << 20;
const SEC: u64 = 1_000_000_000;
const T0: u64 = 5_000 * SEC;

/// The counters the test moves; each step writes them into the fake tree.
#[derive(Clone, Copy, Default)]
struct State {
    usage_us: u64,
    periods: u64,
    throttled: u64,
    throttled_us: u64,
    current: u64,
    peak: u64,
    pgmajfault: u64,
    max_events: u64,
    oom: u64,
    oom_kill: u64,
    some_avg10: f64,
    some_us: u64,
    full_avg10: f64,
    full_us: u64,
    cpu_some_us: u64,
}

fn write_state(dir: &Path, s: &State) {
    let w = |f: &str, text: String| std::fs::write(dir.join(f), text).unwrap();
    w(
        "cpu.stat",
        format!(
            "usage_usec {}\nuser_usec {}\nsystem_usec {}\nnice_usec 0\nnr_periods {}\nnr_throttled {}\nthrottled_usec {}\nnr_bursts 0\nburst_usec 0\n",
            s.usage_us,
            s.usage_us * 9 / 10,
            s.usage_us / 10,
            s.periods,
            s.throttled,
            s.throttled_us
        ),
    );
    w("memory.current", format!("{}\n", s.current));
    w("memory.peak", format!("{}\n", s.peak));
    let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap();
    let stat: String = stat
        .lines()
        .map(|l| match l.split_once(' ') {
            Some(("anon", _)) => format!("anon {}\n", s.current),
            Some(("pgmajfault", _)) => format!("pgmajfault {}\n", s.pgmajfault),
            Some(("oom_kill", _)) => format!("oom_kill {}\n", s.oom_kill),
            _ => format!("{l}\n"),
        })
        .collect();
    w("memory.stat", stat);
    w(
        "memory.events",
        format!(
            "low 0\nhigh 0\nmax {}\noom {}\noom_kill {}\noom_group_kill 0\n",
            s.max_events, s.oom, s.oom_kill
        ),
    );
    w(
        "cpu.pressure",
        format!(
            "some avg10=0.00 avg60=0.00 avg300=0.00 total={}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            s.cpu_some_us
        ),
    );
    w(
        "memory.pressure",
        format!(
            "some avg10={:.2} avg60=0.00 avg300=0.00 total={}\nfull avg10={:.2} avg60=0.00 avg300=0.00 total={}\n",
            s.some_avg10, s.some_us, s.full_avg10, s.full_us
        ),
    );
}

fn copy_fixture(to: &Path) {
    let from = holter_e2e::repo_root().join("fixtures/cgroup-v2/box");
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Five snapshots one second apart; the fake cgroup: 0.5-core quota, 100 MiB limit.
fn steps() -> Vec<State> {
    let s0 = State::default();
    // 0.2 cores, no throttling; 20 MiB.
    let s1 = State {
        usage_us: 200_000,
        periods: 10,
        current: 20 * MIB,
        peak: 20 * MIB,
        ..s0
    };
    // At the quota: 0.5 cores, throttled 8 of 10 periods; 40 MiB; a few major faults.
    let s2 = State {
        cpu_some_us: 300_000,
        usage_us: 700_000,
        periods: 20,
        throttled: 8,
        throttled_us: 400_000,
        current: 40 * MIB,
        peak: 40 * MIB,
        pgmajfault: 3,
        ..s1
    };
    // Throttled every period; 60 MiB; pressure starts.
    let s3 = State {
        cpu_some_us: 800_000,
        usage_us: 1_200_000,
        periods: 30,
        throttled: 18,
        throttled_us: 900_000,
        current: 60 * MIB,
        peak: 60 * MIB,
        some_avg10: 2.5,
        some_us: 100_000,
        full_avg10: 1.0,
        full_us: 50_000,
        ..s2
    };
    // Near the limit: 90 MiB, the limit was hit 5 times, reclaim stalls.
    let s4 = State {
        cpu_some_us: 1_300_000,
        usage_us: 1_700_000,
        periods: 40,
        throttled: 28,
        throttled_us: 1_400_000,
        current: 90 * MIB,
        peak: 90 * MIB,
        pgmajfault: 10,
        max_events: 5,
        some_avg10: 10.0,
        some_us: 400_000,
        full_avg10: 5.0,
        full_us: 150_000,
        ..s3
    };
    // The limit reached, one process OOM-killed, usage falls back to 10 MiB.
    let s5 = State {
        cpu_some_us: 1_800_000,
        usage_us: 2_200_000,
        periods: 50,
        throttled: 38,
        throttled_us: 1_900_000,
        current: 10 * MIB,
        peak: 100 * MIB,
        pgmajfault: 25,
        max_events: 12,
        oom: 1,
        oom_kill: 1,
        some_avg10: 30.0,
        some_us: 1_000_000,
        full_avg10: 15.0,
        full_us: 550_000,
    };
    vec![s0, s1, s2, s3, s4, s5]
}

/// Runs the scenario through the agent's reader into a capture file and loads it.
fn record_fake_cgroup() -> Capture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cgroup2");
    let dir = root.join("box");
    copy_fixture(&dir);

    // Found the way the agent finds it: a mountinfo line and the process's cgroup line.
    let mountinfo = format!(
        "41 31 0:38 / {} rw,relatime - cgroup2 cgroup2 rw\n",
        root.display()
    );
    let dirs = find_dirs(
        None,
        &parse_mountinfo(&mountinfo),
        &[parse_proc_cgroup("0::/box\n")],
    )
    .unwrap();
    assert_eq!(dirs.len(), 1);
    assert_eq!(dirs[0].dir(), dir);
    let mut snap = Snapshotter::new(dirs.into_iter().next().unwrap());

    let file = tmp.path().join("fake.holter");
    let header = Header {
        clock: holter_format::ClockPair {
            monotonic_ns: T0,
            wall_ns: 1,
        },
        ..Header::default()
    };
    let out = std::fs::File::create(&file).unwrap();
    let mut w = Writer::new(out, header, WriterOptions::default()).unwrap();
    for (i, state) in steps().iter().enumerate() {
        write_state(&dir, state);
        let s = snap.snapshot(T0 + i as u64 * SEC);
        assert_eq!(s.files.len(), 15, "every v2 file of the fixture is read");
        w.write(&Record::CgroupSnapshot(s)).unwrap();
    }
    w.finish(Footer {
        end_ns: T0 + 5 * SEC,
        reason: "duration".into(),
        ..Footer::default()
    })
    .unwrap();
    Capture::load(&file).unwrap()
}

#[test]
fn throttling_report_of_a_fake_v2_cgroup() {
    let c = record_fake_cgroup();
    let t = throttling::report(&c).unwrap();
    assert_eq!(t.cgroup, "/box");
    assert_eq!(t.cgroup_version, 2);
    assert_eq!(t.quota_cores, Some(0.5));
    assert_eq!(t.quota_us, Some(50_000));
    assert_eq!(t.period_us, Some(100_000));
    assert_eq!(t.periods, 50);
    assert_eq!(t.throttled_periods, 38);
    assert_eq!(t.throttled_pct, 76.0);
    assert_eq!(t.throttled_ns, 1_900_000_000);
    assert_eq!(t.usage_cores_avg, Some(0.44));
    assert_eq!(t.usage_cores_max, Some(0.5));
    // Tasks waited for a CPU 1.8 s of the 5 s.
    assert_eq!(t.cpu_pressure_pct, Some(36.0));
    assert!(t.quota_known);
    assert_eq!(t.start_ns, T0);
    assert_eq!(t.end_ns, T0 + 5 * SEC);
    assert_eq!(t.gaps, 0);
    let want: Vec<throttling::Interval> = [
        (10, 0, 0, 0.2),
        (10, 8, 400_000_000, 0.5),
        (10, 10, 500_000_000, 0.5),
        (10, 10, 500_000_000, 0.5),
        (10, 10, 500_000_000, 0.5),
    ]
    .iter()
    .enumerate()
    .map(|(k, &(p, tp, tns, u))| throttling::Interval {
        start_ns: T0 + k as u64 * SEC,
        end_ns: T0 + (k as u64 + 1) * SEC,
        periods: Some(p),
        throttled_periods: Some(tp),
        throttled_ns: Some(tns),
        usage_cores: Some(u),
    })
    .collect();
    assert_eq!(t.intervals, want);
    assert!(
        t.verdict.contains("76% of periods") && t.verdict.contains("raise the limit"),
        "{}",
        t.verdict
    );
    let text = throttling::to_text(&t);
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("cores  throttled"))
            .count(),
        5,
        "one timeline bar per interval:\n{text}"
    );
}

#[test]
fn memory_report_of_a_fake_v2_cgroup() {
    let c = record_fake_cgroup();
    let m = memory::report(&c).unwrap();
    assert_eq!(m.cgroup, "/box");
    assert_eq!(m.cgroup_version, 2);
    assert_eq!(m.limit_bytes, Some(100 * MIB));
    assert_eq!(m.high_bytes, None);
    assert_eq!(m.usage_first_bytes, 0);
    assert_eq!(m.usage_last_bytes, 10 * MIB);
    assert_eq!(m.usage_max_bytes, 90 * MIB);
    assert_eq!(m.peak_bytes, Some(100 * MIB));
    assert_eq!(m.usage_max_pct_of_limit, Some(90.0));
    assert_eq!(m.failcnt, None, "no failcnt in v2");
    assert_eq!(m.max_events, Some(12));
    assert_eq!(m.high_events, Some(0));
    assert_eq!(m.oom_events, Some(1));
    assert_eq!(m.oom_kills, Some(1));
    assert_eq!(m.major_faults, Some(25));
    let p = m.pressure.as_ref().expect("memory.pressure was read");
    assert_eq!(p.some_avg10_max, 30.0);
    assert_eq!(p.full_avg10_max, Some(15.0));
    assert_eq!(p.some_ns, 1_000_000_000);
    assert_eq!(p.full_ns, Some(550_000_000));
    assert_eq!(p.some_pct, 20.0);
    assert_eq!(p.full_pct, Some(11.0));
    assert_eq!(m.start_ns, T0);
    assert_eq!(m.end_ns, T0 + 5 * SEC);
    let points: Vec<(u64, u64, Option<u64>, Option<f64>)> = m
        .samples
        .iter()
        .map(|p| (p.time_ns, p.usage_bytes, p.limit_bytes, p.pct_of_limit))
        .collect();
    let want: Vec<_> = [0u64, 20, 40, 60, 90, 10]
        .iter()
        .enumerate()
        .map(|(k, &mib)| {
            (
                T0 + k as u64 * SEC,
                mib * MIB,
                Some(100 * MIB),
                Some(mib as f64),
            )
        })
        .collect();
    assert_eq!(points, want);
    assert!(
        m.verdict.starts_with("1 process(es) OOM-killed"),
        "{}",
        m.verdict
    );
    let text = memory::to_text(&m);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for want in [
        "OOM kills 1",
        "major faults 25",
        "events max 12, high 0, oom 1",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want}: {text}");
    }
}

#[test]
fn a_recreated_cgroup_is_a_gap_not_a_negative_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("box");
    copy_fixture(&dir);
    let mut snap = Snapshotter::new(holter_agent::cgroup::CgroupDir::v2(tmp.path(), "/box"));
    let file = tmp.path().join("gap.holter");
    let mut w = Writer::new(
        std::fs::File::create(&file).unwrap(),
        Header::default(),
        WriterOptions::default(),
    )
    .unwrap();
    let steps = steps();
    // 0 → s3, then the cgroup is recreated (counters restart at s1), then s2.
    for (k, s) in [steps[0], steps[3], steps[1], steps[2]].iter().enumerate() {
        write_state(&dir, s);
        w.write(&Record::CgroupSnapshot(snap.snapshot(T0 + k as u64 * SEC)))
            .unwrap();
    }
    w.finish(Footer::default()).unwrap();
    let c = Capture::load(&file).unwrap();
    let t = throttling::report(&c).unwrap();
    assert_eq!(t.gaps, 1);
    assert_eq!(t.intervals[1].periods, None);
    assert_eq!(t.intervals[1].usage_cores, None);
    assert_eq!(t.periods, 30 + 10);
    assert!(t
        .intervals
        .iter()
        .all(|i| i.usage_cores.is_none_or(|u| u >= 0.0)));
    let m = memory::report(&c).unwrap();
    assert_eq!(
        m.major_faults,
        Some(3 + 3),
        "0→3, reset to 0, 0→3: only growth counts"
    );
}
