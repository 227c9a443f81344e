//! `holter flamegraph` on synthetic captures: folded output checked exactly.

mod common;

use common::*;
use holter::filter::Filter;
use holter::flamegraph::{fold, write_folded, write_svg, SvgOptions};
use holter::load::Capture;
use holter::symbolize::Symbolizer;
use holter_format::{BinarySymbols, Record, Segment};

fn folded_of(records: &[Record], filter: &Filter) -> (String, holter::flamegraph::Quality) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.holter");
    write_capture(&path, records);
    let capture = Capture::load(&path).unwrap();
    let sym = Symbolizer::new(&capture, None).unwrap();
    let folded = fold(&capture, filter, &sym).unwrap();
    let mut out = Vec::new();
    write_folded(&folded, &mut out).unwrap();
    (String::from_utf8(out).unwrap(), folded.quality)
}

#[test]
fn folded_standard_capture() {
    let (text, q) = folded_of(&standard(), &Filter::default());
    assert_eq!(text, STANDARD_FOLDED);
    assert_eq!(q.samples, 10);
    assert_eq!(q.lost_samples, 4);
    // Frames per sample: 1x3, 2x2, 5x1, 2x1 (libc unnamed), 2x1, 2x2 (one unknown).
    assert_eq!(q.frames, 3 + 4 + 5 + 2 + 2 + 4);
    assert_eq!(q.symbolized_frames, 20 - 1 - 2);
    assert_eq!(
        q.line(),
        "10 samples, 4 lost samples, 85.0% of frames symbolized, unwind fp: 80.0% of stacks reached a root"
    );
}

#[test]
fn cli_folded_to_stdout_and_quality_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &standard());
    let o = holter(&["flamegraph", path.to_str().unwrap(), "--folded"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), STANDARD_FOLDED);
    assert_eq!(
        stderr(&o),
        "holter: 10 samples, 4 lost samples, 85.0% of frames symbolized, unwind fp: 80.0% of stacks reached a root\n"
    );
}

#[test]
fn cli_folded_to_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    let out = dir.path().join("out.folded");
    write_capture(&path, &standard());
    let o = holter(&[
        "flamegraph",
        path.to_str().unwrap(),
        "--folded",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), out.to_str().unwrap());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), STANDARD_FOLDED);
}

#[test]
fn cli_svg_defaults_next_to_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &standard());
    let o = holter(&["flamegraph", path.to_str().unwrap(), "--title", "My title"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg_path = dir.path().join("app.svg");
    assert_eq!(stdout(&o).trim(), svg_path.to_str().unwrap());
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..100.min(svg.len())]);
    assert!(svg.contains("My title"));
    assert!(svg.contains("10 samples, 4 lost samples, 85.0% of frames symbolized"));
    assert!(svg.contains("LazyCompile:*foo"));
    // inferno shows kernel frames without their `_[k]` mark, in their own color.
    assert!(svg.contains(">ksys_write (1 samples, 10.00%)<"), "{svg}");
}

#[test]
fn cli_svg_never_overwrites_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.svg");
    write_capture(&path, &standard());
    let o = holter(&["flamegraph", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        dir.path().join("odd.svg.svg").to_str().unwrap()
    );
    assert!(Capture::load(&path).is_ok());
}

/// Lines of the standard folded output that start with `prefix`-matching roots
/// or contain `needle`, in order.
fn standard_lines(keep: impl Fn(&str) -> bool) -> String {
    STANDARD_FOLDED
        .lines()
        .filter(|l| keep(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn filter_by_pid() {
    let f = Filter {
        pids: vec![200],
        ..Filter::default()
    };
    let (text, q) = folded_of(&standard(), &f);
    assert_eq!(text, standard_lines(|l| l.starts_with("jitted;")));
    assert_eq!(q.samples, 2);
    let f = Filter {
        pids: vec![100, 200],
        ..Filter::default()
    };
    assert_eq!(folded_of(&standard(), &f).0, STANDARD_FOLDED);
}

#[test]
fn filter_by_tid_and_thread_name() {
    let worker = "app;main;app::work 2\n";
    let f = Filter {
        tids: vec![101],
        ..Filter::default()
    };
    assert_eq!(folded_of(&standard(), &f).0, worker);
    let f = Filter {
        comms: vec!["worker".into()],
        ..Filter::default()
    };
    assert_eq!(folded_of(&standard(), &f).0, worker);
}

#[test]
fn filter_by_process_name() {
    let f = Filter {
        comms: vec!["app".into()],
        ..Filter::default()
    };
    assert_eq!(
        folded_of(&standard(), &f).0,
        standard_lines(|l| l.starts_with("app;"))
    );
}

#[test]
fn filter_by_time() {
    // Samples at 2.0 and 2.5 s (the worker) and 3.0 s (the syscall).
    let f = Filter {
        from_secs: Some(2.0),
        to_secs: Some(3.0),
        ..Filter::default()
    };
    let (text, q) = folded_of(&standard(), &f);
    assert_eq!(
        text,
        standard_lines(|l| l.starts_with("app;main;app::work"))
    );
    assert_eq!(q.samples, 3);
    let f = Filter {
        from_secs: Some(4.1),
        ..Filter::default()
    };
    assert_eq!(
        folded_of(&standard(), &f).0,
        standard_lines(|l| l.starts_with("jitted"))
    );
    let f = Filter {
        to_secs: Some(1.0),
        ..Filter::default()
    };
    assert_eq!(folded_of(&standard(), &f).0, "app;main 2\n");
}

#[test]
fn cli_filters_combine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &standard());
    let p = path.to_str().unwrap();
    let o = holter(&[
        "flamegraph",
        p,
        "--folded",
        "--pid",
        "100",
        "--tid",
        "100",
        "--from",
        "2.9",
        "--to",
        "3.6",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "app;main;app::work;foo::bar(int);do_syscall_64_[k];ksys_write_[k] 1\napp;main;libc.so.6+0x123 1\n"
    );
    assert!(
        stderr(&o).starts_with("holter: 2 samples, 4 lost samples, 85.7%"),
        "{}",
        stderr(&o)
    );
    let o = holter(&[
        "flamegraph",
        p,
        "--folded",
        "--comm",
        "jitted",
        "--comm",
        "worker",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "app;main;app::work 2\njitted;[unknown];LazyCompile:*foo 2\n"
    );
}

#[test]
fn no_matching_sample_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &standard());
    let o = holter(&[
        "flamegraph",
        path.to_str().unwrap(),
        "--folded",
        "--pid",
        "999",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no sample matches --pid 999"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("10 samples"), "{}", stderr(&o));
    let o = holter(&[
        "flamegraph",
        path.to_str().unwrap(),
        "--from",
        "3",
        "--to",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--from 3 is after --to 1"),
        "{}",
        stderr(&o)
    );
    let o = holter(&["flamegraph", path.to_str().unwrap(), "--from", "-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn capture_without_samples_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.holter");
    write_capture(&path, &metadata());
    let o = holter(&["flamegraph", path.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds no samples"), "{}", stderr(&o));
    assert!(!dir.path().join("empty.svg").exists());
}

#[test]
fn incomplete_capture_is_drawn_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.holter");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = holter_format::Writer::new(file, header(), holter_format::WriterOptions::default())
        .unwrap();
    for r in standard() {
        w.write(&r).unwrap();
    }
    // Flushed but never finished: no footer, as after a SIGKILL.
    w.flush().unwrap();
    drop(w);
    let o = holter(&["flamegraph", path.to_str().unwrap(), "--folded"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), STANDARD_FOLDED);
    assert!(
        stderr(&o).contains("cut.holter is incomplete (no footer"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_file_is_named() {
    let o = holter(&["flamegraph", "/nonexistent/x.holter"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/x.holter: no such file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn later_mapping_replaces_earlier_from_its_time() {
    let binary = |id: u8, name: &str| {
        Record::BinarySymbols(BinarySymbols {
            build_id: vec![id],
            path: format!("/bin/v{id}"),
            segments: vec![Segment {
                file_offset: 0,
                vaddr: 0x1000,
                filesz: 0x1000,
            }],
            symbols: vec![sym(0x1000, 0x1000, name)],
            unnamed: vec![],
        })
    };
    let records = vec![
        process(300, "p"),
        mapping(0, 300, 0x10_0000, 0x10_1000, 0, "/bin/v1", &[1]),
        // Replaced at 2 s (an exec, or a new dlopen at the same place).
        mapping(2, 300, 0x10_0000, 0x10_1000, 0, "/bin/v2", &[2]),
        binary(1, "old_fn"),
        binary(2, "new_fn"),
        stack(1, &[0x10_0010], &[]),
        sample(1.0, 300, 300, 1),
        sample(1.9, 300, 300, 1),
        sample(2.0, 300, 300, 1),
    ];
    assert_eq!(
        folded_of(&records, &Filter::default()).0,
        "p;new_fn 1\np;old_fn 2\n"
    );
}

#[test]
fn root_is_the_process_name_at_sample_time() {
    let mut r = standard();
    // pid 100 execs at 3.2 s and is named `app2` from then on.
    r.push(Record::Process(holter_format::Process {
        time_ns: T0 + 3_200_000_000,
        pid: 100,
        comm: "app2".into(),
        ..Default::default()
    }));
    let (text, _) = folded_of(&r, &Filter::default());
    assert_eq!(
        text,
        "app2;main;leaf_c 1\napp2;main;libc.so.6+0x123 1\n".to_owned()
            + &standard_lines(|l| { !l.contains("leaf_c") && !l.contains("libc.so.6") })
    );
    let f = Filter {
        comms: vec!["app2".into()],
        ..Filter::default()
    };
    assert_eq!(
        folded_of(&r, &f).0,
        "app2;main;leaf_c 1\napp2;main;libc.so.6+0x123 1\n"
    );
}

#[test]
fn match_by_path_without_build_id_and_unknown_process() {
    let records = vec![
        mapping(0, 400, 0x20_0000, 0x20_1000, 0x3000, "/opt/tool", &[]),
        Record::BinarySymbols(BinarySymbols {
            build_id: vec![],
            path: "/opt/tool".into(),
            segments: vec![Segment {
                file_offset: 0x3000,
                vaddr: 0x8000,
                filesz: 0x1000,
            }],
            symbols: vec![sym(0x8000, 0, "tool_main"), sym(0x8800, 0, "tool_loop")],
            unnamed: vec![],
        }),
        stack(1, &[0x20_0900, 0x20_0101], &[]),
        stack(
            2,
            &[0x20_2000],
            &[0xffff_ffff_ffff_fe00, 0xffff_ffff_9000_0000],
        ),
        sample(1.0, 400, 400, 1),
        sample(1.0, 400, 400, 2),
        sample(1.0, 400, 400, 77),
    ];
    let (text, q) = folded_of(&records, &Filter::default());
    assert_eq!(
        text,
        "[pid 400];[missing stack] 1\n[pid 400];[unknown];[unknown]_[k] 1\n[pid 400];tool_main;tool_loop 1\n"
    );
    assert_eq!((q.frames, q.symbolized_frames), (4, 2));
}

#[test]
fn golden_svg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.holter");
    write_capture(&path, &standard());
    let capture = Capture::load(&path).unwrap();
    let sym = Symbolizer::new(&capture, None).unwrap();
    let folded = fold(&capture, &Filter::default(), &sym).unwrap();
    let opts = SvgOptions {
        title: "holter golden test".into(),
        subtitle: folded.quality.line(),
        diffable: true,
    };
    let mut svg = Vec::new();
    write_svg(&folded, &opts, &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        !svg.contains("function init"),
        "golden SVGs have no JavaScript"
    );
    // Facts of the standard capture, counted by hand from its samples
    // (stacks 1 ×3, 2 ×2, 3, 4, 5 of pid 100 `app`; 6 ×2 of pid 200 `jitted`):
    // each frame's title and width, whatever the golden file says.
    for (frame, n) in [
        ("all", 10),
        ("app", 8),
        ("main", 8),
        ("app::work", 3),
        ("foo::bar(int)", 1),
        ("do_syscall_64", 1),
        ("ksys_write", 1),
        ("leaf_c", 1),
        ("libc.so.6+0x123", 1),
        ("jitted", 2),
        ("LazyCompile:*foo", 2),
    ] {
        let pct = if n == 10 {
            "100%".to_string()
        } else {
            format!("{:.2}%", n as f64 * 10.0)
        };
        let title = format!("<title>{frame} ({n} samples, {pct})</title>");
        let at = svg
            .find(&title)
            .unwrap_or_else(|| panic!("no {title} in the SVG"));
        // The frame's <g>: its rect follows its title, `fg:w` its samples.
        let rect = &svg[at..];
        let rect = &rect[rect.find("<rect").unwrap()..];
        let rect = &rect[..rect.find("/>").unwrap()];
        if frame != "all" {
            assert!(
                rect.contains(&format!("fg:w=\"{n}\""))
                    && rect.contains(&format!("width=\"{:.4}%\"", n as f64 * 10.0)),
                "{frame}: {rect}"
            );
        }
    }
    // Blessing is explicit (scripts/bless.sh); the checks above and below still run.
    let golden = fixtures().join("flamegraph/standard.svg");
    if std::env::var("HOLTER_BLESS").as_deref() == Ok("flamegraph/standard.svg") {
        std::fs::write(&golden, &svg).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        svg == want,
        "{} differs from the SVG rendered now (first difference at line {}); \
         if the change is intended, regenerate it with scripts/bless.sh",
        golden.display(),
        svg.lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || svg.lines().count().min(want.lines().count()) + 1,
                |i| i + 1
            )
    );
}

#[test]
fn symbols_of_one_file_over_several_records_are_merged() {
    // The agent writes a file's symbols as it goes (the functions hit since
    // its previous record), so one build-id comes in several records.
    let mut records = Vec::new();
    for r in standard() {
        match r {
            Record::BinarySymbols(b) if b.symbols.len() >= 2 => {
                let half = b.symbols.len() / 2;
                for part in [&b.symbols[..half], &b.symbols[half..]] {
                    records.push(Record::BinarySymbols(BinarySymbols {
                        symbols: part.to_vec(),
                        ..b.clone()
                    }));
                }
            }
            r => records.push(r),
        }
    }
    assert!(records.len() > standard().len(), "a symbol table was split");
    let (folded, _) = folded_of(&records, &Filter::default());
    assert_eq!(folded, STANDARD_FOLDED);
}

/// Samples of one stack in many mapping epochs make one line when the
/// mapping changes leave their frames where they were, and separate lines
/// once a change moves a frame to another mapping; every sample counted.
#[test]
fn epochs_merge_unless_a_frame_moved() {
    let mut r = vec![process(7, "ep"), stack(0, &[0x1010, 0x9010], &[])];
    // 50 epochs whose new mappings (at 0x20000+) touch neither frame.
    for i in 0..50u64 {
        r.push(mapping(
            i,
            7,
            0x20_000 + i * 0x1000,
            0x21_000 + i * 0x1000,
            0,
            "/other",
            &[],
        ));
        r.push(sample(i as f64 + 0.5, 7, 7, 0));
    }
    r.insert(2, mapping(0, 7, 0x1000, 0x2000, 0, "/a", &[]));
    r.insert(3, mapping(0, 7, 0x9000, 0xa000, 0, "/b", &[]));
    // From second 60, the leaf's page belongs to another file.
    r.push(mapping(60, 7, 0x9000, 0xa000, 0, "/c", &[]));
    r.push(sample(60.5, 7, 7, 0));
    r.push(sample(61.5, 7, 7, 0));
    let (text, q) = folded_of(&r, &Filter::default());
    assert_eq!(q.samples, 52);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" 50") && l.contains("b+0x")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" 2") && l.contains("c+0x")),
        "{text}"
    );
}
