//! Every record kind written and read back; footer counts; frame flushing.

mod common;

use std::time::Duration;

use holter_format::*;

#[test]
fn every_record_kind_round_trips() {
    let (bytes, expected) = common::capture_with(common::header_1_11(), common::body_1_14, 1, 0);
    let mut r = Reader::new(&bytes[..]).unwrap();
    let got: Vec<Record> = r.by_ref().collect();
    assert_eq!(got, expected);
    assert!(r.is_complete());
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    assert_eq!(r.version(), (VERSION_MAJOR, VERSION_MINOR));
    // Every kind this version knows appears.
    let mut kinds: Vec<u16> = got.iter().map(Record::kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let known: Vec<u16> = (1..=64)
        .filter(|&k| Record::kind_name(k).is_some())
        .collect();
    assert_eq!(kinds, known);
}

#[test]
fn footer_counts_records_by_kind() {
    let (bytes, _) = common::capture(3, 1);
    let Some(Record::Footer(f)) = Reader::new(&bytes[..]).unwrap().last() else {
        panic!("no footer")
    };
    assert_eq!(f.reason, "duration");
    let samples = f
        .counts
        .iter()
        .find(|(k, _)| *k == Record::from(Sample::default()).kind())
        .unwrap()
        .1;
    assert_eq!(samples, 3);
    let headers = f.counts.iter().find(|(k, _)| *k == 1).unwrap().1;
    assert_eq!(headers, 1);
}

#[test]
fn frames_are_written_at_the_size_threshold() {
    let opts = WriterOptions {
        flush_bytes: 4096,
        ..Default::default()
    };
    let mut w = Writer::new(Vec::new(), common::header(), opts).unwrap();
    for i in 0..10_000u64 {
        w.write(
            &Sample {
                time_ns: i,
                pid: 1,
                tid: 1,
                cpu: 0,
                stack_id: (i % 7) as u32,
                period: 1,
            }
            .into(),
        )
        .unwrap();
    }
    let out = w.finish(common::footer()).unwrap();
    let frames = common::frame_offsets(&out).len();
    assert!(
        frames > 10,
        "{frames} frames for ~100 KiB of records at 4 KiB a frame"
    );
    assert_eq!(
        Reader::new(&out[..])
            .unwrap()
            .filter(|r| matches!(r, Record::Sample(_)))
            .count(),
        10_000
    );
}

#[test]
fn frames_are_written_when_the_interval_passes() {
    let opts = WriterOptions {
        flush_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let mut w = Writer::new(Vec::new(), common::header(), opts).unwrap();
    w.write(
        &Warning {
            time_ns: 1,
            message: "a".into(),
        }
        .into(),
    )
    .unwrap();
    assert!(!w.flush_if_due().unwrap(), "not due yet");
    std::thread::sleep(Duration::from_millis(25));
    assert!(w.flush_if_due().unwrap());
    assert_eq!(w.pending_bytes(), 0);
    assert!(!w.flush_if_due().unwrap(), "nothing pending");
}

#[test]
fn a_record_over_the_limit_is_refused_and_the_writer_goes_on() {
    let mut w = Writer::new(Vec::new(), common::header(), WriterOptions::default()).unwrap();
    let huge = Warning {
        time_ns: 0,
        message: "x".repeat(MAX_RECORD + 1),
    };
    assert!(matches!(
        w.write(&huge.into()),
        Err(Error::RecordTooLarge { .. })
    ));
    w.write(
        &Warning {
            time_ns: 0,
            message: "fine".into(),
        }
        .into(),
    )
    .unwrap();
    let out = w.finish(common::footer()).unwrap();
    let got: Vec<Record> = Reader::new(&out[..]).unwrap().collect();
    assert_eq!(got.len(), 3);
}

#[test]
fn a_newer_major_version_is_refused_with_advice() {
    let (mut bytes, _) = common::capture(1, 0);
    bytes[8] = 9;
    match Reader::new(&bytes[..]) {
        Err(e @ Error::UnsupportedVersion { major: 9, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("use a newer holter"), "{msg}");
            // Both versions named: the file's and the one this build reads.
            assert!(msg.contains(&format!("version 9.{VERSION_MINOR}")), "{msg}");
            assert!(
                msg.contains(&format!("reads format {VERSION_MAJOR}.{VERSION_MINOR}")),
                "{msg}"
            );
        }
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn the_estimated_length_follows_the_compression_ratio() {
    let mut w = Writer::new(Vec::new(), common::header(), WriterOptions::default()).unwrap();
    let write_samples = |w: &mut Writer<Vec<u8>>, from: u64| {
        for i in from..from + 20_000 {
            w.write(
                &Sample {
                    time_ns: i * 1000,
                    pid: 7,
                    tid: 7,
                    cpu: 0,
                    stack_id: (i % 13) as u32,
                    period: 1,
                }
                .into(),
            )
            .unwrap();
        }
    };
    write_samples(&mut w, 0);
    w.flush().unwrap();
    write_samples(&mut w, 20_000);
    let estimate = w.estimated_len();
    let raw_pending = w.pending_bytes() as u64;
    w.flush().unwrap();
    let actual = w.bytes_written();
    assert!(
        estimate < actual + raw_pending / 2,
        "pending records are counted compressed: {estimate} vs {actual}"
    );
    let error = estimate.abs_diff(actual) as f64 / actual as f64;
    assert!(error < 0.2, "estimate {estimate}, actual {actual}");
}
