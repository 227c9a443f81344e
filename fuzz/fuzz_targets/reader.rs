//! Any byte string read as a capture gives an error or records, never a panic.
//! Run: `cargo install cargo-fuzz && cd fuzz && cargo +nightly fuzz run reader`
//! (or with a stable toolchain: `RUSTC_BOOTSTRAP=1 cargo fuzz run reader`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = holter_format::Reader::new(data) {
        for _ in reader.by_ref() {}
        let _ = reader.is_complete();
    }
});
