//! The end of a capture (`host::reader::shutdown`): every reader is killed
//! and reaped, and none starts after. (A test binary of its own: the end
//! is for the whole process.)

#![cfg(target_os = "linux")]

use std::time::Duration;

use holter_agent::host::open::Root;
use holter_agent::host::reader;

#[test]
fn shutdown_ends_every_reader_and_starts_none() {
    reader::use_processes(env!("CARGO_BIN_EXE_holter-agent").into());
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("f"), "x").unwrap();
    let root = Root::at(t.path()).unwrap();
    let mut pids = vec![];
    for _ in 0..3 {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let dir = t.path().to_path_buf();
        std::thread::spawn(move || {
            let root = Root::at(&dir).unwrap();
            reader::read_prefix(&root, "/f", 1).unwrap();
            tx.send(reader::this_threads_reader().unwrap()).unwrap();
            let _ = done_rx.recv(); // alive until the end
        });
        pids.push((rx.recv().unwrap(), done_tx));
    }
    reader::read_prefix(&root, "/f", 1).unwrap();
    let own = reader::this_threads_reader().unwrap();
    let left = reader::shutdown(Duration::from_millis(500));
    assert!(left.is_empty(), "{left:?}");
    for pid in pids.iter().map(|p| p.0).chain([own]) {
        // Reaped: no such process (not even a zombie).
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "reader {pid} left"
        );
    }
    let after = reader::read_prefix(&root, "/f", 1);
    assert!(after.is_err());
    let e = after.unwrap_err();
    assert!(e.contains("ended") || e.contains("failed"), "{e}");
    let again = reader::read_prefix(&root, "/f", 1).unwrap_err();
    assert!(again.contains("the capture has ended"), "{again}");
}
