//! Writes the fixture capture of the current format version,
//! `fixtures/captures/format-MAJOR.MINOR-all-kinds.holter`: one record of
//! every kind this version writes (`format/tests/common/mod.rs`, the body of
//! this version). It never overwrites a file: fixtures of shipped versions are
//! immutable, so it refuses when the file exists.
//!
//! `cargo run -p holter-format --example make_fixture`

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;

fn main() {
    let name = format!(
        "format-{}.{}-all-kinds.holter",
        holter_format::VERSION_MAJOR,
        holter_format::VERSION_MINOR
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/captures")
        .join(&name);
    // Format 1.14: the 1.14 body (1.13's and the totals so far) repacked
    // into a packed record, its stacks in a stack batch; a later version
    // changes this line and adds its own test.
    let (bytes, _) = common::capture_1_14();
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "make_fixture: {}: {e}: fixtures of shipped versions are never overwritten",
                path.display()
            );
            std::process::exit(1);
        }
    };
    if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_all()) {
        eprintln!("make_fixture: {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("{} ({} bytes)", path.display(), bytes.len());
}
