use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("empty file: not a holter capture")]
    Empty,
    #[error("not a holter capture (bad magic bytes {found:02x?})")]
    NotACapture { found: Vec<u8> },
    #[error("capture format version {major}.{minor} is not supported: this holter reads format {supported}.{supported_minor} (any {supported}.x); use a newer holter")]
    UnsupportedVersion {
        major: u16,
        minor: u16,
        supported: u16,
        /// The newest minor version this build knows.
        supported_minor: u16,
    },
    #[error("cannot encode {kind} record: {source}")]
    Encode {
        kind: &'static str,
        source: postcard::Error,
    },
    #[error("{kind} record is {len} bytes, over the limit of {max}")]
    RecordTooLarge {
        kind: &'static str,
        len: usize,
        max: usize,
    },
}

/// Why a column record (a stack batch, a samples record) was refused: it
/// does not hold together; the reader skips it whole with this as warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
