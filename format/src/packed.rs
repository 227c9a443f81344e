//! Packed records (format 1.12): records compressed together with a zstd
//! dictionary built into every reader.
//!
//! A capture is small when it is short or sampled slowly, and then what
//! costs is the text every capture repeats once: the names and layout of
//! `/proc/net/snmp`, `/proc/net/dev`, `memory.stat`, the PSI files, the
//! counters' names. zstd finds no earlier copy of them in the file; with a
//! dictionary that holds them, it does (a 99 Hz capture of 8 s: a quarter
//! fewer bytes after its header).
//!
//! ```text
//! record = kind:u16le(PACKED_KIND) len:u32le postcard(Packed)
//! Packed = dictionary:varint(u32)  zstd_frame:bytes
//! zstd_frame decompressed with dictionary number `dictionary`
//!            = (kind:u16le len:u32le postcard(record))*   (as a frame's payload)
//! ```
//! A packed record sits in an ordinary frame, so the framing, checksums and
//! damage recovery are unchanged. [`crate::Reader`] expands it in place: its
//! records come out in order where it stood, and a reader older than 1.12
//! skips it as a record kind it does not know (and says that records of a
//! newer kind were skipped). The agent packs a capture when it repacks it at
//! close ([`crate::repack`] with `pack`); frames written while recording are
//! never packed, so a capture cut by `kill -9` reads as before.
//!
//! Dictionaries are immutable: a capture packed with dictionary `n` must
//! stay readable, so `n` names these exact bytes forever (their SHA-256 is
//! checked by a test); a better dictionary takes a new number. Dictionary 1
//! is `format/dict/snapshots-1.dict`, made by `format/dict/make.sh`. A packed
//! record naming a dictionary this reader does not know is skipped with a
//! warning naming it. Packed records inside packed records are refused.

use serde::{Deserialize, Serialize};

/// The record kind of packed records: out of the range of record kinds, so
/// that it never collides with one.
pub const PACKED_KIND: u16 = 256;

/// The dictionary new captures are packed with.
pub const DICTIONARY: u32 = 1;

/// Dictionary 1: the text of cgroup, network and counter snapshots.
const DICTIONARY_1: &[u8] = include_bytes!("../dict/snapshots-1.dict");

/// The bytes of dictionary `n`, if this version knows it.
pub fn dictionary(n: u32) -> Option<&'static [u8]> {
    match n {
        1 => Some(DICTIONARY_1),
        _ => None,
    }
}

/// The body of a packed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Packed {
    /// The dictionary number (see [`dictionary`]).
    pub dictionary: u32,
    /// A zstd frame compressed with that dictionary; decompressed, a frame
    /// payload of records.
    pub zstd: Vec<u8>,
}

/// The packed record (kind, length and body) holding `payload` (records as
/// a frame's payload holds them), compressed at zstd `level` with
/// dictionary [`DICTIONARY`].
pub fn pack(payload: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let dict = dictionary(DICTIONARY).expect("the current dictionary is built in");
    let mut c = zstd::bulk::Compressor::with_dictionary(level, dict)?;
    let packed = Packed {
        dictionary: DICTIONARY,
        zstd: c.compress(payload)?,
    };
    let mut out = PACKED_KIND.to_le_bytes().to_vec();
    out.extend_from_slice(&[0; 4]);
    let mut out = postcard::to_extend(&packed, out).map_err(std::io::Error::other)?;
    let len = u32::try_from(out.len() - 6).map_err(std::io::Error::other)?;
    out[2..6].copy_from_slice(&len.to_le_bytes());
    Ok(out)
}
