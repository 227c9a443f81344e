//! Any byte string read as a capture gives an error or records, never a panic.
//! Run: `cargo install cargo-fuzz && cd fuzz && cargo +nightly fuzz run reader`
//! (or with a stable toolchain: `RUSTC_BOOTSTRAP=1 cargo fuzz run reader`).
//! Seed it with a capture of every format version first:
//! `mkdir -p corpus/reader && cp ../fixtures/captures/*.holter corpus/reader/`.
//!
//! Each input is tried three ways, so the fuzzer reaches past the framing:
//! 1. as a whole file (preamble, frame lengths, checksums, zstd);
//! 2. as the decompressed payload of one well-formed frame after a good
//!    preamble: `kind len body` records of every kind, deltas included,
//!    decoded and then rebuilt into snapshots as the analyzer does (a delta
//!    applied to the last snapshot of its kind, hostile edits and all);
//! 3. split at its first 0xff byte into two texts: the numeric difference of
//!    the second from the first, when there is one, rebuilds it exactly;
//! 4. (format 1.12) as the records inside a packed record (compressed with
//!    the built-in dictionary) in one well-formed frame, and as the body of a
//!    packed record itself (its dictionary number and zstd frame hostile);
//! 5. (format 1.13) as the body of a stack batch record (columns, bases and
//!    frame counts hostile) in one well-formed frame; and, read as stacks
//!    (8 bytes a frame), written as a batch and expanded back exactly;
//! 6. (format 1.13) as the body of a samples record (Rice-coded times,
//!    hostile parameter, bits and columns) in one well-formed frame; and,
//!    read as times (8 bytes each), written as one and read back exactly.
#![no_main]

use holter_format::*;
use libfuzzer_sys::fuzz_target;

fn read(file: &[u8]) {
    let Ok(mut reader) = Reader::new(file) else {
        return;
    };
    let reader = reader.by_ref().take(100_000);
    let (mut cg, mut net): (Option<CgroupSnapshot>, Option<NetSnapshot>) = (None, None);
    for record in reader {
        match record {
            Record::CgroupSnapshot(s) => cg = Some(s),
            Record::CgroupDelta(d) => {
                if let Some(s) = cg.as_ref().and_then(|b| d.apply(b)) {
                    cg = Some(s);
                }
            }
            Record::CgroupNumDelta(d) => {
                if let Some(s) = cg.as_ref().and_then(|b| d.apply(b)) {
                    assert_eq!(s.time_ns, d.time_ns);
                    cg = Some(s);
                }
            }
            Record::NetSnapshot(s) => net = Some(s),
            Record::NetDelta(d) => {
                if let Some(s) = net.as_ref().and_then(|b| d.apply(b)) {
                    net = Some(s);
                }
            }
            Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => for _ in b.samples() {},
            Record::Stack(s) => {
                assert!(s.kernel.len() + s.user.len() <= 1 << 16);
            }
            r => {
                let _ = weight(&r);
            }
        }
    }
}

/// A file of a good preamble and one good frame holding `payload`.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    file.extend_from_slice(&VERSION_MINOR.to_le_bytes());
    if let Ok(z) = zstd::bulk::compress(payload, 1) {
        file.extend_from_slice(&(z.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32c::crc32c(&z).to_le_bytes());
        file.extend_from_slice(&z);
    }
    file
}

fuzz_target!(|data: &[u8]| {
    read(data);

    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    file.extend_from_slice(&VERSION_MINOR.to_le_bytes());
    if let Ok(z) = zstd::bulk::compress(data, 1) {
        file.extend_from_slice(&(z.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32c::crc32c(&z).to_le_bytes());
        file.extend_from_slice(&z);
        read(&file);
    }

    if let Ok(record) = packed::pack(data, 1) {
        read(&framed(&record));
    }
    let mut record = packed::PACKED_KIND.to_le_bytes().to_vec();
    record.extend_from_slice(&(data.len() as u32).to_le_bytes());
    record.extend_from_slice(data);
    read(&framed(&record));

    let mut record = stack_batch::STACKS_KIND.to_le_bytes().to_vec();
    record.extend_from_slice(&(data.len() as u32).to_le_bytes());
    record.extend_from_slice(data);
    read(&framed(&record));
    let stacks: Vec<Stack> = data
        .chunks(64)
        .enumerate()
        .map(|(i, c)| {
            let frames: Vec<u64> = c
                .chunks(8)
                .map(|f| f.iter().fold(0u64, |a, &b| a << 8 | u64::from(b)))
                .collect();
            let k = usize::from(c[0]) % (frames.len() + 1);
            Stack {
                id: i as u32 ^ u32::from(c[0]),
                kernel: frames[..k].to_vec(),
                user: frames[k..].to_vec(),
                root: c[0] & 1 == 1,
            }
        })
        .collect();
    if let Some(b) = stack_batch::StackBatch::new(&stacks) {
        assert_eq!(b.stacks().ok().as_deref(), Some(&stacks[..]));
    }

    let mut record = sample_columns::SAMPLES_KIND.to_le_bytes().to_vec();
    record.extend_from_slice(&(data.len() as u32).to_le_bytes());
    record.extend_from_slice(data);
    read(&framed(&record));
    let times: Vec<i64> = data
        .chunks(8)
        .map(|c| c.iter().fold(0i64, |a, &b| a << 8 | i64::from(b)))
        .collect();
    let n = times.len();
    let batch = SampleBatch {
        time_deltas_ns: Vec::new(),
        time_less_period_ns: times,
        pid: vec![1; n],
        tid: vec![2; n],
        cpu: (0..n as u32).collect(),
        stack_id: vec![3; n],
        period: vec![10_101_010; n],
    };
    if let Some(c) = sample_columns::SampleColumns::new(&batch) {
        assert_eq!(c.batch().ok().as_ref(), Some(&batch));
    }

    let cut = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    if let (Ok(old), Ok(new)) = (
        std::str::from_utf8(&data[..cut]),
        std::str::from_utf8(data.get(cut + 1..).unwrap_or(&[])),
    ) {
        if let Some(edits) = numdelta::diff(old, new) {
            assert_eq!(numdelta::apply(old, &edits).as_deref(), Some(new));
        }
    }
});
