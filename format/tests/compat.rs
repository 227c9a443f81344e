//! Schema evolution rules, written as tests (see `records.rs`):
//! appended fields and new record kinds keep files readable both ways;
//! anything else is a major version change. And the 1.0 fixture stays readable forever.

mod common;

use holter_format::*;
use serde::Serialize;

/// A capture made of raw `(kind, postcard bytes)` records, framed as the writer does.
fn raw_capture(records: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (kind, body) in records {
        payload.extend_from_slice(&kind.to_le_bytes());
        payload.extend_from_slice(&(body.len() as u32).to_le_bytes());
        payload.extend_from_slice(body);
    }
    let z = zstd::bulk::compress(&payload, 3).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    out.extend_from_slice(&(VERSION_MINOR + 1).to_le_bytes());
    out.extend_from_slice(&(z.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&z).to_le_bytes());
    out.extend_from_slice(&z);
    out
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap()
}

#[derive(Serialize)]
struct OlderSample {
    time_ns: u64,
    pid: u32,
    tid: u32,
    cpu: u32,
    stack_id: u32,
    // `period` did not exist yet.
}

#[derive(Serialize)]
struct NewerSample {
    time_ns: u64,
    pid: u32,
    tid: u32,
    cpu: u32,
    stack_id: u32,
    period: u64,
    weight: u64,
    note: Option<String>,
}

#[test]
fn a_field_missing_at_the_end_reads_as_zero() {
    let header = enc(&common::header());
    let old = enc(&OlderSample {
        time_ns: 5,
        pid: 1,
        tid: 2,
        cpu: 1,
        stack_id: 9,
    });
    let records: Vec<Record> = Reader::new(&raw_capture(&[(1, header), (7, old)])[..])
        .unwrap()
        .collect();
    assert_eq!(
        records[1],
        Record::Sample(Sample {
            time_ns: 5,
            pid: 1,
            tid: 2,
            cpu: 1,
            stack_id: 9,
            period: 0
        })
    );
}

#[test]
fn fields_appended_by_a_newer_writer_are_ignored() {
    let header = enc(&common::header());
    let new = enc(&NewerSample {
        time_ns: 5,
        pid: 1,
        tid: 2,
        cpu: 1,
        stack_id: 9,
        period: 7,
        weight: 3,
        note: Some("x".into()),
    });
    let bytes = raw_capture(&[(1, header), (7, new)]);
    let mut r = Reader::new(&bytes[..]).unwrap();
    assert_eq!(
        r.version(),
        (VERSION_MAJOR, VERSION_MINOR + 1),
        "a newer minor version is read"
    );
    let records: Vec<Record> = r.by_ref().collect();
    assert_eq!(
        records[1],
        Record::Sample(Sample {
            time_ns: 5,
            pid: 1,
            tid: 2,
            cpu: 1,
            stack_id: 9,
            period: 7
        })
    );
    assert!(
        r.warnings().iter().all(|w| !w.contains("decoded")),
        "{:?}",
        r.warnings()
    );
}

#[test]
fn unknown_record_kinds_are_skipped_and_counted() {
    let header = enc(&common::header());
    let warn = enc(&Warning {
        time_ns: 1,
        message: "after".into(),
    });
    let bytes = raw_capture(&[(1, header), (999, vec![1, 2, 3, 4]), (16, warn)]);
    let mut r = Reader::new(&bytes[..]).unwrap();
    let records: Vec<Record> = r.by_ref().collect();
    assert_eq!(
        records.len(),
        2,
        "the unknown kind is skipped, what follows it read"
    );
    assert_eq!(r.unknown_records(), 1);
}

#[test]
fn a_changed_field_type_is_not_compatible() {
    // Why changing a type needs a major version: the bytes no longer decode.
    #[derive(Serialize)]
    struct WarningWithNumber {
        time_ns: u64,
        message: u64,
    }
    let header = enc(&common::header());
    let bad = enc(&WarningWithNumber {
        time_ns: 1,
        message: u64::MAX,
    });
    let bytes = raw_capture(&[(1, header), (16, bad)]);
    let mut r = Reader::new(&bytes[..]).unwrap();
    let records: Vec<Record> = r.by_ref().collect();
    assert_eq!(records.len(), 1);
    assert!(
        r.warnings()
            .iter()
            .any(|w| w.contains("could not be decoded")),
        "{:?}",
        r.warnings()
    );
}

/// `fixtures/captures/format-1.0-all-kinds.holter`: one record of every 1.0 kind,
/// written by `common::capture(1, 0)` with the 1.0 body. Every later version must read it as it was.
/// Regenerate only with a deliberate format change: `HOLTER_BLESS=1 cargo test -p holter-format --test compat`.
#[test]
fn the_1_0_fixture_reads_back() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/captures/format-1.0-all-kinds.holter");
    let (bytes, expected) = common::capture_of(common::body_1_0, 1, 0);
    if std::env::var("HOLTER_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &bytes).unwrap();
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (create it with HOLTER_BLESS=1 cargo test -p holter-format --test compat)",
            path.display()
        )
    });
    let mut r = Reader::new(&stored[..]).unwrap();
    let records: Vec<Record> = r.by_ref().collect();
    assert_eq!(
        records, expected,
        "the 1.0 fixture no longer reads as written: the format broke compatibility"
    );
    assert!(r.is_complete());
}

/// Format 1.1 adds [`SampleBatch`]: the samples it expands to are the ones
/// given, times going backwards included; a 1.0 reader skips the record.
#[test]
fn sample_batches_expand_to_their_samples() {
    let samples: Vec<Sample> = (0..100u64)
        .map(|i| Sample {
            time_ns: 5_000_000_000 + i * 1_001_001 - (i % 3) * 2_000_000,
            pid: 7,
            tid: 7 + (i % 2) as u32,
            cpu: (i % 2) as u32,
            stack_id: (i / 10) as u32,
            period: 1_001_001,
        })
        .collect();
    let batch = SampleBatch::from_samples(&samples);
    assert_eq!(batch.len(), 100);
    assert_eq!(batch.samples().collect::<Vec<_>>(), samples);
    // Through a file, and with a cut column.
    let mut w = Writer::new(Vec::new(), common::header(), WriterOptions::default()).unwrap();
    w.write(&batch.clone().into()).unwrap();
    let bytes = w.finish(common::footer()).unwrap();
    let read: Vec<Record> = Reader::new(&bytes[..]).unwrap().collect();
    assert_eq!(read[1], Record::SampleBatch(batch.clone()));
    let mut cut = batch;
    cut.period.truncate(40);
    assert_eq!(cut.samples().count(), 40);
    assert!(SampleBatch::default().is_empty());
}
