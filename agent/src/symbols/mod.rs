//! Symbols a capture carries so that it symbolizes anywhere: function tables
//! of mapped ELF files (by build-id), kernel functions hit, JIT perf maps.
//! Parsing is pure ([`elf`], [`starts`], [`kallsyms`], [`perfmap`], [`maps`]); reading
//! files through a target's mount namespace is in [`files`], on reader
//! threads of their own ([`loader`]).

pub mod elf;
pub mod files;
pub mod hits;
pub mod kallsyms;
pub mod loader;
pub mod maps;
pub mod perfmap;
pub mod starts;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SymbolError {
    #[error("not an ELF file we can read: {0}")]
    Elf(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}
