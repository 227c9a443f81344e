//! Decoding that tolerates records written by an older or newer minor version.

use serde::de::DeserializeOwned;

/// Zero bytes appended to a record that ends early: enough for the fields a
/// newer minor version may append (each reads as 0, `false`, `None` or empty).
const PAD: [u8; 64] = [0; 64];

/// Decodes one record. Trailing bytes (fields of a newer writer) are ignored;
/// a record that ends early (an older writer) has its missing trailing fields
/// read as zero values.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> postcard::Result<T> {
    match postcard::from_bytes(bytes) {
        Err(postcard::Error::DeserializeUnexpectedEnd) => {
            let mut padded = Vec::with_capacity(bytes.len() + PAD.len());
            padded.extend_from_slice(bytes);
            padded.extend_from_slice(&PAD);
            postcard::from_bytes(&padded)
        }
        other => other,
    }
}
