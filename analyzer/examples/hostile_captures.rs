//! Writes the hostile captures of `tests/common/hostile.rs` into a directory,
//! to measure `holter` on them (see bench/hostile.sh):
//! `cargo run --release --example hostile_captures -- DIR [NAME...]`.

#[path = "../tests/common/hostile.rs"]
mod hostile;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: hostile_captures DIR [NAME...]"));
    let only: Vec<String> = args.collect();
    std::fs::create_dir_all(&dir).expect("creating the directory");
    for (name, write, _) in hostile::ALL {
        if only.is_empty() || only.iter().any(|n| n == name) {
            let path = dir.join(format!("{name}.holter"));
            write(&path);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!("{} {len}", path.display());
        }
    }
}
