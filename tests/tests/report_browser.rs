//! The HTML report opened in headless Chromium: it renders (a screenshot is
//! taken), logs nothing to the console, its flame graph script runs (a click
//! zooms), and the page makes no network request (checked in Chromium's own
//! net log, with a control page that does make one to prove the check sees it).

use std::path::{Path, PathBuf};
use std::process::Command;

use holter_e2e::*;
use holter_format::*;

const SEC: u64 = 1_000_000_000;
const T0: u64 = 5_000 * SEC;
const KBASE: u64 = 0xffff_ffff_8100_0000;

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|c| which(c));
    if found.is_none() {
        let why =
            "chromium is not installed (Debian: apt-get install chromium; scripts/deps.sh does it)";
        skip("report_browser", why);
    }
    found
}

/// A capture with something in every section: kernel stacks (named from the
/// capture's kernel symbols), syscalls, a throttled v1 cgroup, a network view.
fn capture(path: &Path) {
    let header = Header {
        host: Host {
            hostname: "node-7".into(),
            kernel_release: "6.18.0".into(),
            arch: "x86_64".into(),
            page_size: 4096,
            boot_id: "0b0e".into(),
            cpus: 2,
        },
        agent_version: "0.1.0".into(),
        target: Target {
            kind: "container".into(),
            spec: "3f2a9c1b7e4d".into(),
            pids: vec![4242],
            cgroups: vec!["/sys/fs/cgroup/cpu/box".into()],
            container_id: Some("3f2a9c1b7e4d".repeat(5)),
        },
        options: Options {
            samples: true,
            sample_event: "cpu-clock".into(),
            frequency_hz: 99,
            syscalls: true,
            cgroup_interval_ns: SEC / 4,
            ..Options::default()
        },
        clock: ClockPair {
            monotonic_ns: T0,
            wall_ns: 1_764_400_000 * SEC,
        },
        unwind: "fp".into(),
        stack_bytes: 0,
        runtime: "docker".into(),
        container_name: "web-1".into(),
        syscall_mode: "ptrace".into(),
        off_cpu: false,
    };
    let file = std::fs::File::create(path).unwrap();
    let mut w = Writer::new(file, header, WriterOptions::default()).unwrap();
    let mut records = vec![
        Record::Process(Process {
            time_ns: T0,
            pid: 4242,
            ppid: 1,
            comm: "server".into(),
            ..Process::default()
        }),
        Record::KernelSymbols(KernelSymbols {
            symbols: [
                "do_syscall_64",
                "ksys_read",
                "vfs_read",
                "schedule",
                "hash_page",
            ]
            .iter()
            .enumerate()
            .map(|(i, n)| Symbol {
                start: KBASE + i as u64 * 0x100,
                size: 0x100,
                name: n.to_string(),
            })
            .collect(),
        }),
    ];
    let stacks: [&[u64]; 4] = [
        &[KBASE + 0x210, KBASE + 0x110, KBASE + 0x10],
        &[KBASE + 0x310, KBASE + 0x10],
        &[KBASE + 0x410, KBASE + 0x10],
        &[KBASE + 0x110, KBASE + 0x10],
    ];
    for (id, k) in stacks.iter().enumerate() {
        records.push(Record::Stack(Stack {
            id: id as u32,
            kernel: k.to_vec(),
            user: vec![],
            root: false,
        }));
    }
    for i in 0..200u64 {
        records.push(Record::Sample(Sample {
            time_ns: T0 + i * SEC / 50,
            pid: 4242,
            tid: 4242,
            cpu: (i % 2) as u32,
            stack_id: [0, 0, 0, 1, 2, 3, 0, 2][(i % 8) as usize],
            period: 10_101_010,
        }));
    }
    for i in 0..300u64 {
        records.push(Record::Syscall(Syscall {
            time_ns: T0 + i * SEC / 80,
            pid: 4242,
            tid: 4242,
            nr: [0, 1, 257][(i % 3) as usize],
            duration_ns: 2_000 + (i * 7_919) % 900_000,
            ret: if i % 30 == 2 { -2 } else { 64 },
            summary: if i % 3 == 2 {
                "\"/etc/app.conf\"".into()
            } else {
                "fd=3".into()
            },
            abi: String::new(),
        }));
    }
    // Each 250 ms: 25 periods, 5 to 20 of them throttled.
    let mut throttled = 0;
    for tick in 0..=16u64 {
        let t = T0 + tick * SEC / 4;
        let periods = tick * 25;
        if tick > 0 {
            throttled += 5 * (tick % 4 + 1);
        }
        records.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/box".into(),
            version: 1,
            controller: "cpu".into(),
            files: vec![
                (
                    "cpu.stat".into(),
                    format!(
                        "nr_periods {periods}\nnr_throttled {throttled}\nthrottled_time {}\n",
                        throttled * 30_000_000
                    ),
                ),
                ("cpu.cfs_quota_us".into(), "50000\n".into()),
                ("cpu.cfs_period_us".into(), "100000\n".into()),
            ],
        }));
        records.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/box".into(),
            version: 1,
            controller: "cpuacct".into(),
            files: vec![(
                "cpuacct.usage".into(),
                format!("{}\n", tick * 120_000_000 + tick % 3 * 9_000_000),
            )],
        }));
        records.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t,
            path: "/box".into(),
            version: 1,
            controller: "memory".into(),
            files: vec![
                (
                    "memory.usage_in_bytes".into(),
                    format!("{}\n", (40 + tick * 3) << 20),
                ),
                (
                    "memory.limit_in_bytes".into(),
                    format!("{}\n", 128u64 << 20),
                ),
                ("memory.failcnt".into(), "0\n".into()),
            ],
        }));
        records.push(Record::NetSnapshot(NetSnapshot {
            time_ns: t,
            dev: format!(
                "Inter-| Receive | Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n  eth0: {} {} 0 0 0 0 0 0 {} {} 0 0 0 0 0 0\n",
                tick * 150_000,
                tick * 100,
                tick * 90_000,
                tick * 80
            ),
            snmp: format!(
                "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\nTcp: 1 200 120000 -1 0 0 0 0 3 {} {} {} 0 0 0\n",
                tick * 100,
                tick * 80,
                tick / 4
            ),
        }));
    }
    records.push(Record::ContainerView(ContainerView {
        time_ns: T0,
        hostname: "server-7d9f".into(),
        resolv_conf: "nameserver 10.96.0.10\n".into(),
        root_mount: "1 0 0:52 / / rw - overlay overlay rw".into(),
    }));
    records.push(Record::Warning(Warning {
        time_ns: T0,
        message: "symbols: /app/server was deleted; its frames are named from the capture".into(),
    }));
    for r in &records {
        w.write(r).unwrap();
    }
    w.finish(Footer {
        end_ns: T0 + 4 * SEC,
        reason: "duration".into(),
        ..Footer::default()
    })
    .unwrap();
}

/// What one headless Chromium run left: its log and the page's own requests.
struct Run {
    log: String,
    /// Console lines (`...:CONSOLE...] "message", source: ...`).
    console: Vec<String>,
    /// Requests the page made (its network isolation key is the file), by URL.
    page_requests: Vec<String>,
}

fn run_chromium(chromium: &Path, dir: &Path, page: &Path, mode: &[&str]) -> Run {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let netlog = dir.join(format!(
        "{}.netlog.json",
        page.file_name().unwrap().to_string_lossy()
    ));
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{log}",
        out.status
    );
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let text = std::fs::read_to_string(&netlog).expect("chromium wrote its net log");
    let v: serde_json::Value = serde_json::from_str(&text).expect("net log is JSON");
    let page_requests = v["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter_map(|e| {
            let p = &e["params"];
            let url = p["url"].as_str()?;
            let key = p["network_isolation_key"].as_str()?;
            // Chromium's own background requests have no page as their site.
            (key.starts_with("file://") && !url.starts_with("file:") && !url.starts_with("data:"))
                .then(|| url.to_string())
        })
        .collect();
    Run {
        log,
        console,
        page_requests,
    }
}

/// The text of the page's one script (the flame graph's).
fn flame_script(html: &str) -> String {
    let start = html.find("<script>").expect("the page has its script") + "<script>".len();
    let end = start + html[start..].find("</script>").unwrap();
    html[start..end].to_string()
}

/// `'sha256-…'` of a script, as a CSP source.
fn script_hash(script: &str) -> String {
    let csp = holter::doc::html::csp(script);
    let at = csp.find("'sha256-").unwrap();
    let end = at + 1 + csp[at + 1..].find('\'').unwrap();
    csp[at..=end].to_string()
}

/// Width and height from a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn html_report_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let dir = scratch("report-browser");
    let cap = dir.path().join("server.holter");
    capture(&cap);
    let out = ok_stdout("holter report", &holter(&["report", cap.to_str().unwrap()]));
    let html_path = PathBuf::from(out.trim());
    assert_eq!(html_path, dir.path().join("server.html"));
    let html = std::fs::read_to_string(&html_path).unwrap();

    // 1. It renders: a screenshot of the real size with something on it.
    let shot = dir.path().join("report.png");
    let run = run_chromium(
        &chromium,
        dir.path(),
        &html_path,
        &[
            "--window-size=1200,2000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&png), (1200, 2000));
    // A blank page of this size compresses to a few KiB.
    assert!(
        png.len() > 40_000,
        "screenshot is {} bytes: nearly blank?",
        png.len()
    );
    let kept = target_dir().join("report-screenshot.png");
    std::fs::copy(&shot, &kept).unwrap();
    eprintln!("screenshot: {}", kept.display());
    assert!(
        run.console.is_empty(),
        "console messages:\n{}",
        run.console.join("\n")
    );
    assert!(
        run.page_requests.is_empty(),
        "the page made requests: {:?}",
        run.page_requests
    );
    assert!(!run.log.contains("Uncaught"), "{}", run.log);

    // 2. The flame graph's script runs: a click on a frame zooms (and it
    // records the zoom in the URL), with no error.
    let click = dir.path().join("click.html");
    let probe = "<script>setTimeout(function(){\
        var g=document.querySelector('#frames g');\
        g.dispatchEvent(new MouseEvent('click',{bubbles:true}));\
        console.log('holter-test zoomed '+location.search+' unzoom='+document.getElementById('unzoom').getAttribute('class'));\
        },500);</script></body>";
    // The page allows only its own script, by hash: allow the probe's too.
    let probe_body = &probe["<script>".len()..probe.len() - "</script></body>".len()];
    let csp = holter::doc::html::csp(&flame_script(&html));
    let both = csp.replace(
        "script-src ",
        &format!("script-src {} ", script_hash(probe_body)),
    );
    assert!(html.contains(&csp), "the page's CSP is {csp:?}");
    let page = html.replace(&csp, &both).replace("</body>", probe);
    std::fs::write(&click, page).unwrap();
    let run = run_chromium(&chromium, dir.path(), &click, &["--dump-dom"]);
    assert_eq!(run.console.len(), 1, "console:\n{}", run.console.join("\n"));
    assert!(
        run.console[0].contains("holter-test zoomed ?x=")
            && !run.console[0].contains("unzoom=hide"),
        "{}",
        run.console[0]
    );
    assert!(run.page_requests.is_empty(), "{:?}", run.page_requests);

    // 3. A script injected into the page does not run: its CSP pins the
    // flame graph's script by hash (Chromium says it refused the other).
    let injected = dir.path().join("injected.html");
    std::fs::write(
        &injected,
        html.replace(
            "</body>",
            "<script>console.log('holter-test injected ran')</script></body>",
        ),
    )
    .unwrap();
    let run = run_chromium(&chromium, dir.path(), &injected, &["--dump-dom"]);
    assert!(
        !run.console.iter().any(|l| l.contains("injected ran")),
        "{}",
        run.console.join("\n")
    );
    assert!(
        run.console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "no CSP refusal logged:\n{}",
        run.console.join("\n")
    );

    // 4. Control: a page that does fetch is seen fetching, so (1) means something.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://holter-control.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let run = run_chromium(&chromium, dir.path(), &control, &["--dump-dom"]);
    assert_eq!(run.page_requests, ["http://holter-control.invalid/x.png"]);
}

/// Markup in every kind of string a capture carries, each a payload that
/// would log or fetch if it ever ran.
const PAYLOADS: &[&str] = &[
    "<img src=http://holter-xss.invalid/img onerror=console.log('holter-xss-1')>",
    "<script>console.log('holter-xss-2');fetch('http://holter-xss.invalid/f')</script>",
    "\"><svg onload=console.log('holter-xss-3')>",
    "]]><script>console.log('holter-xss-4')</script><![CDATA[",
    "'><iframe src=javascript:console.log('holter-xss-5')>",
    "<style>@import 'http://holter-xss.invalid/css';</style>\u{1b}[2J\u{0}",
];

fn hostile_capture(path: &Path) {
    let p = |i: usize| PAYLOADS[i % PAYLOADS.len()].to_string();
    let header = Header {
        host: Host {
            hostname: p(0),
            kernel_release: p(1),
            arch: "x86_64".into(),
            boot_id: p(2),
            cpus: 2,
            ..Host::default()
        },
        agent_version: p(3),
        target: Target {
            kind: p(4),
            spec: p(5),
            pids: vec![7],
            cgroups: vec![p(0)],
            container_id: Some(p(1)),
        },
        options: Options {
            samples: true,
            sample_event: p(2),
            syscalls: true,
            syscalls_filter: Some(p(3)),
            cgroup_interval_ns: SEC,
            ..Options::default()
        },
        clock: ClockPair {
            monotonic_ns: T0,
            wall_ns: 1_764_400_000 * SEC,
        },
        unwind: p(4),
        stack_bytes: 0,
        runtime: p(2),
        container_name: p(3),
        syscall_mode: p(4),
        off_cpu: false,
    };
    let file = std::fs::File::create(path).unwrap();
    let mut w = Writer::new(file, header, WriterOptions::default()).unwrap();
    let mut records = vec![
        Record::Process(Process {
            time_ns: T0,
            pid: 7,
            ppid: 1,
            comm: p(5),
            ..Process::default()
        }),
        Record::KernelSymbols(KernelSymbols {
            symbols: (0..PAYLOADS.len())
                .map(|i| Symbol {
                    start: KBASE + i as u64 * 0x100,
                    size: 0x100,
                    name: p(i),
                })
                .collect(),
        }),
        Record::ContainerView(ContainerView {
            time_ns: T0,
            hostname: p(1),
            resolv_conf: format!("nameserver {}\n", p(2)),
            root_mount: p(3),
        }),
        Record::Warning(Warning {
            time_ns: T0,
            message: p(4),
        }),
        Record::Counters(Counters {
            time_ns: T0,
            values: vec![(format!("syscall:{}", p(1)), 3), (p(2), 1)],
        }),
    ];
    for id in 0..PAYLOADS.len() as u64 {
        records.push(Record::Stack(Stack {
            id: id as u32,
            kernel: vec![KBASE + id * 0x100 + 0x10, KBASE + 0x10],
            user: vec![],
            root: false,
        }));
    }
    for i in 0..60u64 {
        records.push(Record::Sample(Sample {
            time_ns: T0 + i * SEC / 20,
            pid: 7,
            tid: 7,
            cpu: 0,
            stack_id: (i % PAYLOADS.len() as u64) as u32,
            period: 1,
        }));
        records.push(Record::Syscall(Syscall {
            time_ns: T0 + i * SEC / 20,
            pid: 7,
            tid: 7,
            nr: 0,
            duration_ns: 1000 + i,
            ret: -2,
            summary: p(i as usize),
            abi: String::new(),
        }));
    }
    for tick in 0..3u64 {
        records.push(Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: T0 + tick * SEC,
            path: p(tick as usize),
            version: 2,
            controller: String::new(),
            files: vec![
                ("cpu.max".into(), "50000 100000\n".into()),
                (
                    "cpu.stat".into(),
                    format!(
                        "usage_usec {}\nnr_periods {}\nnr_throttled {}\nthrottled_usec 0\n",
                        tick * 900_000,
                        tick * 10,
                        tick * 5
                    ),
                ),
                ("memory.current".into(), format!("{}\n", (tick + 1) << 20)),
                ("memory.max".into(), "max\n".into()),
            ],
        }));
    }
    for r in &records {
        w.write(r).unwrap();
    }
    w.finish(Footer {
        end_ns: T0 + 3 * SEC,
        reason: p(0),
        ..Footer::default()
    })
    .unwrap();
}

/// A report made from a capture full of markup: nothing from it runs or
/// loads (no console line, no CSP refusal: no element was even made, since
/// the text is escaped), and the flame graph's own script still works.
#[test]
fn hostile_report_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let dir = scratch("report-browser-hostile");
    let cap = dir.path().join("hostile.holter");
    hostile_capture(&cap);
    let out = ok_stdout("holter report", &holter(&["report", cap.to_str().unwrap()]));
    let html_path = PathBuf::from(out.trim());
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "one script: the page's own"
    );
    assert!(!html.contains('\u{1b}') && !html.contains('\u{0}'));

    let run = run_chromium(&chromium, dir.path(), &html_path, &["--dump-dom"]);
    assert!(
        run.console.is_empty(),
        "console messages:\n{}",
        run.console.join("\n")
    );
    assert!(
        run.page_requests.is_empty(),
        "the page made requests: {:?}",
        run.page_requests
    );
    assert!(!run.log.contains("holter-xss"), "{}", run.log);
    assert!(!run.log.contains("Uncaught"), "{}", run.log);
}
