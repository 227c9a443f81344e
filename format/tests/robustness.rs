//! The reader trusts no byte: cut files, damaged frames and garbage give a
//! prefix of the records, warnings or an error, never a panic or an
//! allocation larger than the file justifies.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use holter_format::*;
use proptest::prelude::*;

/// Records the largest single allocation, to bound what a hostile file can
/// make the reader allocate: per thread, so that tests running side by side
/// (they allocate too) do not count in each other's measure.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // Not during the thread's teardown (its locals may be gone).
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Reads everything; returns (records, complete, warnings).
fn read_all(bytes: &[u8]) -> Result<(Vec<Record>, bool, Vec<String>), Error> {
    let mut r = Reader::new(bytes)?;
    let records: Vec<Record> = r.by_ref().collect();
    Ok((records, r.is_complete(), r.warnings().to_vec()))
}

#[test]
fn a_capture_cut_at_any_offset_reads_a_prefix() {
    let (bytes, all) = common::capture(6, 2);
    assert!(common::frame_offsets(&bytes).len() >= 4);
    for cut in 1..bytes.len() {
        let (records, complete, warnings) =
            read_all(&bytes[..cut]).unwrap_or_else(|e| panic!("cut at {cut}: error {e}"));
        assert!(
            !complete,
            "cut at {cut} of {} reads as complete",
            bytes.len()
        );
        assert_eq!(
            records[..],
            all[..records.len()],
            "cut at {cut}: not a prefix"
        );
        assert!(
            !warnings.is_empty(),
            "cut at {cut}: no warning says the capture is cut"
        );
    }
    let (records, complete, warnings) = read_all(&bytes).unwrap();
    assert!(complete && warnings.is_empty());
    assert_eq!(records, all);
}

#[test]
fn a_damaged_middle_frame_is_skipped_with_a_warning() {
    let (mut bytes, all) = common::capture(3, 1);
    let frames = common::frame_offsets(&bytes);
    // Frames: header, copy 1, copy 2, copy 3, footer. Damage copy 2's payload.
    assert_eq!(frames.len(), 5);
    let mid = frames[2] + 8 + (frames[3] - frames[2] - 8) / 2;
    bytes[mid] ^= 0x5a;
    let (records, complete, warnings) = read_all(&bytes).unwrap();
    let per_copy = common::body().len();
    let mut expected = all[..1 + per_copy].to_vec();
    expected.extend_from_slice(&all[1 + 2 * per_copy..]);
    assert_eq!(
        records, expected,
        "frames before and after the damage are read"
    );
    assert!(complete, "the footer after the damage is still read");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("checksum") && warnings[0].contains("skipped"),
        "{warnings:?}"
    );
}

#[test]
fn a_damaged_frame_length_is_recovered_from() {
    let (mut bytes, all) = common::capture(3, 1);
    let frames = common::frame_offsets(&bytes);
    for (i, value) in [(2usize, u32::MAX), (2, 3)] {
        let mut damaged = bytes.clone();
        damaged[frames[i]..frames[i] + 4].copy_from_slice(&value.to_le_bytes());
        let (records, complete, warnings) = read_all(&damaged).unwrap();
        assert!(
            complete,
            "length {value}: footer found again; warnings {warnings:?}"
        );
        assert!(!warnings.is_empty());
        let per_copy = common::body().len();
        assert_eq!(records[..1 + per_copy], all[..1 + per_copy]);
        assert_eq!(
            records[records.len() - 1 - per_copy..],
            all[all.len() - 1 - per_copy..]
        );
    }
    // Damage to the CRC itself: the frame is skipped, the rest read.
    bytes[frames[1] + 4] ^= 1;
    let (records, complete, _) = read_all(&bytes).unwrap();
    assert!(complete);
    assert_eq!(records.len(), all.len() - common::body().len());
}

#[test]
fn foreign_files_are_errors() {
    assert!(matches!(read_all(b""), Err(Error::Empty)));
    assert!(matches!(
        read_all(b"PK\x03\x04 a zip file"),
        Err(Error::NotACapture { .. })
    ));
    assert!(matches!(
        read_all(b"\x89HOLTEX\n\x01\x00\x00\x00"),
        Err(Error::NotACapture { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_all(&data);
    }

    #[test]
    fn random_frames_never_panic_or_overallocate(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
        bytes.extend_from_slice(&VERSION_MINOR.to_le_bytes());
        bytes.extend_from_slice(&data);
        LARGEST.with(|l| l.set(0));
        let (_, complete, _) = read_all(&bytes).unwrap();
        prop_assert!(!complete);
        // The reader's read chunk is 64 KiB; beyond it, nothing grows with claimed sizes.
        let largest = LARGEST.with(Cell::get);
        prop_assert!(largest <= 256 * 1024 + 4 * bytes.len(), "allocated {} for {} bytes", largest, bytes.len());
    }

    #[test]
    fn damage_anywhere_gives_records_of_the_original(pos in 0usize..10_000, flip in 1u8..=255) {
        let (mut bytes, all) = common::capture(4, 1);
        let pos = common::PREAMBLE + pos % (bytes.len() - common::PREAMBLE);
        bytes[pos] ^= flip;
        let (records, _, _) = read_all(&bytes).unwrap();
        for r in &records {
            prop_assert!(all.contains(r), "a record that was never written: {:?}", r);
        }
    }
}

/// A small file of zeros that decodes to a large model stops at its budget,
/// with what it read so far, a warning, and `over_budget` saying why.
#[test]
fn reading_stops_at_the_budget() {
    let mut bytes = Vec::new();
    let mut w = Writer::new(&mut bytes, Header::default(), WriterOptions::default()).unwrap();
    let n = 500_000;
    let batch = SampleBatch {
        time_deltas_ns: vec![0; n],
        pid: vec![0; n],
        tid: vec![0; n],
        cpu: vec![0; n],
        stack_id: vec![0; n],
        period: vec![0; n],
        time_less_period_ns: Vec::new(),
    };
    for _ in 0..4 {
        w.write(&Record::SampleBatch(batch.clone())).unwrap();
    }
    w.finish(Footer::default()).unwrap();
    assert!(bytes.len() < 20_000, "{}", bytes.len());

    // Unlimited: everything.
    let all: Vec<Record> = Reader::new(&bytes[..]).unwrap().collect();
    assert_eq!(all.len(), 6);

    let budget = Budget::for_file_len(bytes.len() as u64);
    let mut r = Reader::new(&bytes[..]).unwrap().with_budget(budget);
    let records: Vec<Record> = r.by_ref().collect();
    let over = r.over_budget().expect("over budget");
    assert_eq!(over.budget, budget);
    assert!(records.len() < all.len());
    let (decompressed, weight) = r.usage();
    assert!(decompressed <= budget.bytes && weight <= budget.bytes + weight_of_one(&batch));
    assert!(
        r.warnings().iter().any(|w| w.contains("budget")),
        "{:?}",
        r.warnings()
    );
    assert!(!r.is_complete());

    // A budget below one frame's payload stops on decompressed bytes.
    let mut r = Reader::new(&bytes[..])
        .unwrap()
        .with_budget(Budget { bytes: 1000 });
    let _ = r.by_ref().count();
    assert_eq!(r.over_budget().unwrap().what, "decompressed bytes");
}

fn weight_of_one(b: &SampleBatch) -> u64 {
    weight(&Record::SampleBatch(b.clone()))
}
