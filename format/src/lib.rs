//! The holter capture file: the contract between `holter-agent` on a node and
//! `holter` on a laptop.
//!
//! ```text
//! file    = magic[8] major:u16le minor:u16le frame*
//! frame   = len:u32le crc32c:u32le zstd(payload)[len]
//! payload = (kind:u16le len:u32le postcard(record)[len])*
//! ```
//! The first record is a [`Header`], the last a [`Footer`]; a file without a
//! footer is read as incomplete, never rejected. See [`Writer`] and [`Reader`].
//!
//! Kinds from 256 up are not records but encodings of records that the
//! [`Reader`] expands in place, so that every reader sees [`Record`]s:
//! [`packed`] (256, 1.12: records compressed with a built-in dictionary),
//! [`stack_batch`] (257, 1.13: `Stack` records) and [`sample_columns`] (258,
//! 1.13: a `SampleBatchLessPeriod` record). The agent writes them only when it
//! repacks a closed capture; an older reader skips them as unknown kinds and
//! says so.

pub mod args;
mod compat;
pub mod elf;
mod error;
pub mod numdelta;
pub mod packed;
mod reader;
mod records;
mod repack;
pub mod sample_columns;
pub mod stack_batch;
pub mod syscall_names;
mod syscall_tables;
pub mod taken;
mod writer;

pub use error::Error;
pub use reader::{weight, Budget, OverBudget, Reader};
pub use records::*;
pub use repack::{repack, RepackError, Repacked};
pub use writer::{Writer, WriterOptions};

/// The first eight bytes of every capture.
pub const MAGIC: [u8; 8] = *b"\x89HOLTER\n";
/// Readers refuse another major version.
pub const VERSION_MAJOR: u16 = 1;
/// A newer minor version only appends fields and record kinds
/// (1.1: [`SampleBatch`]; 1.2: `Header::unwind`, `Header::stack_bytes`, `Stack::root`;
/// 1.3: [`SyscallTotal`], `Syscall::abi`; 1.4: [`CgroupDelta`];
/// 1.5: `Header::runtime`, `Header::container_name`; 1.6: `BinarySymbols::unnamed`;
/// 1.7: [`CgroupNumDelta`], [`NetDelta`]: snapshot counters as numeric differences;
/// 1.8: `Header::syscall_mode`; 1.9: `SampleBatch::time_less_period_ns`;
/// 1.10: [`Record::SampleBatchLessPeriod`], the batches 1.9 writes, as a kind
/// that older readers skip with a note instead of reading no sample silently;
/// 1.11: [`OffCpuBatch`] (off-CPU intervals with their stacks), `Header::off_cpu`;
/// 1.12: [`packed`] records, compressed with a built-in zstd dictionary;
/// 1.13: [`stack_batch`] records, the stacks of a capture written together,
/// each as what it adds to an earlier one; [`sample_columns`] records,
/// sample batches with their times Rice-coded;
/// 1.14: [`Record::SyscallTotalSoFar`], [`Record::CountersSoFar`]: totals
/// written while recorded, so that a capture cut by `kill -9` holds them).
pub const VERSION_MINOR: u16 = 14;
/// Largest compressed frame a reader accepts.
pub const MAX_FRAME: u32 = 64 << 20;
/// Largest decompressed payload a reader accepts.
pub const MAX_PAYLOAD: usize = 64 << 20;
/// Largest single encoded record a writer accepts.
pub const MAX_RECORD: usize = 32 << 20;

/// Length of magic and version.
pub const PREAMBLE_LEN: usize = MAGIC.len() + 4;
