//! Where the bytes of a capture go, by record kind: how many records, and
//! what the file shrinks by when that kind is left out (each kind's share of
//! the compressed file). The file is rewritten as the agent leaves a small
//! capture at close: written frame by frame, then repacked into one frame of
//! packed records at zstd level 19 (format 1.12, the built-in dictionary).
//! The last line is what the same records cost as the agent wrote them
//! while recording, a frame a second (level 3, no dictionary): what a capture
//! cut short, or too large to repack, pays.
//!
//! `cargo run --release -p holter-format --example bytes_by_kind -- FILE...`

use holter_format::{Footer, Reader, Record, Writer, WriterOptions};

/// The records of each frame of a capture file (read one frame at a time).
fn frames(file: &[u8]) -> Vec<Vec<Record>> {
    let pre = holter_format::PREAMBLE_LEN;
    let mut at = pre;
    let mut out = Vec::new();
    while at + 8 <= file.len() {
        let len = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        let end = (at + 8 + len).min(file.len());
        let mut one = file[..pre].to_vec();
        one.extend_from_slice(&file[at..end]);
        if let Ok(r) = Reader::new(&one[..]) {
            out.push(r.collect());
        }
        at = end;
    }
    out
}

/// The length of the capture rewritten without records of kind `skip`,
/// then repacked as the agent does at close (`as_written`: frame by frame as
/// given, not repacked).
fn rewrite(frames: &[Vec<Record>], skip: Option<u16>, as_written: bool) -> usize {
    let Some(Record::Header(h)) = frames.first().and_then(|f| f.first()) else {
        return 0;
    };
    let mut w = Writer::new(Vec::new(), (**h).clone(), WriterOptions::default()).unwrap();
    let mut footer = Footer::default();
    for frame in frames {
        for r in frame {
            match r {
                Record::Header(_) => {}
                Record::Footer(f) => footer = f.clone(),
                r if Some(r.kind()) != skip => w.write(r).unwrap(),
                _ => {}
            }
        }
        w.flush().unwrap();
    }
    let bytes = w.finish(footer).unwrap();
    if as_written {
        return bytes.len();
    }
    let mut out = Vec::new();
    holter_format::repack(&bytes[..], &mut out, 1 << 20, 19, true).unwrap();
    out.len()
}

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("bytes_by_kind: {path}: {e}");
                std::process::exit(1);
            }
        };
        if let Err(e) = Reader::new(&bytes[..]) {
            eprintln!("bytes_by_kind: {path}: {e}");
            std::process::exit(1);
        }
        let frames = frames(&bytes);
        let records: Vec<&Record> = frames.iter().flatten().collect();

        let all = rewrite(&frames, None, false);
        println!(
            "{path}: {} bytes in {} frames (rewritten and repacked as the agent does: {all})",
            bytes.len(),
            frames.len()
        );
        let mut kinds: Vec<u16> = records.iter().map(|r| r.kind()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut rows: Vec<(usize, String)> = kinds
            .into_iter()
            .filter(|&k| k != 1 && k != 18)
            .map(|k| {
                let n = records.iter().filter(|r| r.kind() == k).count();
                let without = rewrite(&frames, Some(k), false);
                let share = all.saturating_sub(without);
                (
                    share,
                    format!(
                        "  {:<16} {:>7} records {:>9} B compressed share ({:.1}%)",
                        Record::kind_name(k).unwrap_or("?"),
                        n,
                        share,
                        100.0 * share as f64 / all as f64
                    ),
                )
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        for (_, row) in rows {
            println!("{row}");
        }
        println!(
            "  the same records as written while recording (a frame a second, not repacked): {} bytes",
            rewrite(&frames, None, true)
        );
    }
}
